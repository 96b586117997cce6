"""The outbox sends to different chats at once, over the real aiogram ``Bot`` to the fake Bot
API with a round trip and Telegram's limits enforced: each chat receives its messages in
order, no chat ever has two messages in flight (a crash repeats at most one per chat), and
the limits are kept with a margin (no 429)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.outbox import OutboxSender, RateLimiter, RateLimits, with_margin
from bot.storage import open_storage
from bot.telegram_api import TelegramTransport, make_bot
from fakes.telegram import FakeTelegramServer

CHATS, EACH = 12, 3


class Watching(TelegramTransport):
    """The real transport, noting what is in flight."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.in_flight: list[int] = []
        self.most_at_once = 0
        self.same_chat_at_once = False

    async def send(self, method: str, payload: dict[str, Any]) -> Any:
        chat = payload["chat_id"]
        self.same_chat_at_once |= chat in self.in_flight
        self.in_flight.append(chat)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        try:
            return await super().send(method, payload)
        finally:
            self.in_flight.remove(chat)


class HeldUp(Watching):
    """The first request to each chat leaves late (the loop was busy, a connection was being
    made): the chat's next message must still reach the server a whole interval after it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.held: set[int] = set()

    async def send(self, method: str, payload: dict[str, Any]) -> Any:
        if payload["chat_id"] not in self.held:
            self.held.add(payload["chat_id"])
            await asyncio.sleep(0.5)
        return await super().send(method, payload)


@pytest.mark.parametrize("transport_class", [Watching, HeldUp])
async def test_concurrent_sending_keeps_order_and_limits(
        tmp_path: Path, transport_class: type[Watching]) -> None:
    store = await open_storage(tmp_path / "o.sqlite3")
    now = datetime.now(UTC)
    async with store.write() as uow:
        for i in range(CHATS * EACH):
            chat = 1 + i % CHATS
            await uow.outbox.enqueue("telegram", chat, "sendMessage",
                             {"chat_id": chat, "text": f"{i // CHATS + 1}"}, now)
        # A group: 20 a minute, one a second, like a private chat here.
        for i in range(EACH):
            await uow.outbox.enqueue("telegram", -100, "sendMessage",
                                     {"chat_id": -100, "text": f"{i + 1}"}, now)
    async with FakeTelegramServer(latency=0.04, enforce_limits=True) as tg:
        bot = make_bot("123:abc", tg.api_base)
        transport = transport_class(bot)
        sender = OutboxSender(store, transport, lambda: datetime.now(UTC), limits=RateLimits())
        try:
            await sender.drain(max_seconds=60)
        finally:
            await bot.session.close()
            await store.close()
        assert tg.too_many == 0
        assert transport.most_at_once > 1  # concurrent indeed
        assert not transport.same_chat_at_once
        for chat in [*range(1, CHATS + 1), -100]:
            texts = [c.params["text"] for c in tg.sent_to(chat)]
            assert texts == [str(k) for k in range(1, EACH + 1)], (chat, texts)


def test_sender_keeps_a_margin_and_spreads_messages_evenly() -> None:
    now = [0.0]
    limiter = RateLimiter(with_margin(RateLimits()), monotonic=lambda: now[0], even=True)
    limiter.record(1)
    assert limiter.wait_for(1) > 1.0  # one a second per chat, and a margin
    assert limiter.wait_for(2) == pytest.approx(1 / 28.5)  # not a burst of 30 at once
    now[0] = 0.04  # a little late: the next slot follows the schedule, not the late send
    limiter.record(2)
    assert limiter.wait_for(3) == pytest.approx(2 / 28.5 - 0.04)
