"""Benchmark: delivering 1,000 messages to 200 chats through the outbox.

The real aiogram ``Bot`` sends to the fake Bot API, which answers every request after a
round trip of ``--latency`` seconds (80 ms by default; Telegram's is typically 50–150 ms) and
enforces Telegram's limits with 429s (30 a second in all, one a second per chat). The outbox
is pre-filled with ``--sent`` messages sent earlier (100,000 by default), each row as the
sender stores it. Prints msg/s, the 429s, and the cost of one ``outbox.due`` query; the last
line is the ratio of the rate to Telegram's 30 msg/s (target ≥ 0.9, 0 × 429). Not a test.

    .venv/bin/python bench/bench_outbox.py [--sent 100000] [--latency 0.08]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.outbox import OutboxSender
from bot.storage import Storage, open_storage
from bot.storage.sqlite import ts
from bot.telegram_api import TelegramTransport, make_bot
from fakes.telegram import FakeTelegramServer

MESSAGES, CHATS = 1000, 200
# What Telegram answers to a sendMessage with a keyboard, as the outbox stored it before.
REPLY = {"message_id": 1, "date": 1764662400, "chat": {"id": 1, "type": "private",
         "first_name": "Иван", "last_name": "Петров", "username": "ivan"},
         "from": {"id": 7000000001, "is_bot": True, "first_name": "Отклик",
                  "username": "otklik_demo_bot"},
         "text": "Инцидент №123 назначен вам: яма на дороге у дома 5 по улице Ленина",
         "reply_markup": {"inline_keyboard": [[{"text": "Взять в работу",
                                                "callback_data": "take:123:1"}]]}}


async def prefill(store: Storage, sent: int) -> None:
    """``sent`` messages delivered a day ago, as today's code keeps them."""
    then = datetime.now(UTC) - timedelta(days=1)
    payload = json.dumps({"chat_id": 1, "text": REPLY["text"],
                          "reply_markup": REPLY["reply_markup"]}, ensure_ascii=False)
    result = json.dumps(store_result(REPLY))
    async with store.write() as uow:
        for start in range(0, sent, 10_000):
            await uow.conn.executemany(
                "INSERT INTO outbox (platform, chat_id, method, payload, status, attempts,"
                " next_attempt_at, created_at, sent_at, result)"
                " VALUES ('telegram', ?, 'sendMessage', ?, 'sent', 1, ?, ?, ?, ?)",
                [(1000 + i % 500, payload, ts(then), ts(then), ts(then), result)
                 for i in range(start, min(start + 10_000, sent))])


def store_result(reply: dict) -> object:
    """What the sender keeps of a reply (the code under test decides)."""
    from bot import outbox
    keep = getattr(outbox, "sent_ids", None)
    return keep(reply) if keep else reply


async def main(sent: int, latency: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_storage(Path(tmp) / "bench.sqlite3")
        await prefill(store, sent)
        async with FakeTelegramServer(latency=latency, enforce_limits=True) as tg:
            bot = make_bot("123:abc", tg.api_base)
            sender = OutboxSender(store, TelegramTransport(bot), lambda: datetime.now(UTC))
            now = datetime.now(UTC)
            async with store.write() as uow:
                for i in range(MESSAGES):
                    chat = 1 + i % CHATS
                    await uow.outbox.enqueue("telegram", chat, "sendMessage",
                                     {"chat_id": chat, "text": f"Сообщение {i // CHATS + 1}"}, now)
            started = time.perf_counter()
            async with store.read() as uow:
                await uow.outbox.due("telegram", now, 50)
            query_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            await sender.drain(max_seconds=600)
            elapsed = time.perf_counter() - started
            await bot.session.close()
            delivered = [c for c in tg.calls if c.ok and c.method == "sendMessage"]
            order_kept = all(
                [int(c.params["text"].split()[-1]) for c in delivered if c.chat_id == chat]
                == list(range(1, MESSAGES // CHATS + 1)) for chat in range(1, CHATS + 1))
            size = (Path(tmp) / "bench.sqlite3").stat().st_size
        await store.close()
    rate = len(delivered) / elapsed
    print(f"sent rows before: {sent}; round trip {latency * 1000:.0f} ms")
    print(f"outbox.due: {query_ms:.1f} ms; database {size / 2**20:.1f} MiB")
    print(f"delivered {len(delivered)}/{MESSAGES} in {elapsed:.1f} s: {rate:.1f} msg/s;"
          f" 429s: {tg.too_many}; per-chat order kept: {order_kept}")
    print(f"ratio to 30 msg/s: {rate / 30:.2f}")
    return rate


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.08)
    args = parser.parse_args()
    asyncio.run(main(args.sent, args.latency))
