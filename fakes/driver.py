"""Drive an Otklik instance wired to the fake Bot API server, as its users would.

The real aiogram ``Bot`` talks HTTP to :class:`FakeTelegramServer` on loopback; the driver
plays users by pushing updates and reads what the bot sent from the server's record. Used by
the tests and by the offline demo.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import App
from bot.config import Config
from bot.outbox import RateLimits
from bot.vk_client import RetryPolicy
from fakes.telegram import Call, FakeTelegramServer, FakeUser

FAST = RateLimits(per_second=10_000, per_chat_interval=0.0, group_per_minute=10_000)
# VK backoff that still backs off (and can be measured), in milliseconds.
FAST_VK_RETRY = RetryPolicy(attempts=4, base_delay=0.02, max_delay=0.1)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Clock:
    """A clock that stands still until told to move."""

    now: datetime = field(default_factory=_now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class Driver:
    def __init__(self, server: FakeTelegramServer, config: Config,
                 clock: Callable[[], datetime]) -> None:
        self.server = server
        self.config = config
        self.clock = clock
        self.app: App | None = None

    async def start(self) -> App:
        self.app = App(self.config, clock=self.clock, limits=FAST, album_delay=0.05,
                       vk_retry=FAST_VK_RETRY, vk_rps=math.inf)
        await self.app.start()
        await self.app.settle()  # what the start queued (command menus) goes out now
        return self.app

    async def restart(self) -> App:
        """Stop Otklik as a crash would (nothing flushed beyond what is committed)."""
        assert self.app is not None
        await self.app.close()
        return await self.start()

    async def close(self) -> None:
        if self.app is not None:
            await self.app.close()

    async def step(self) -> None:
        """Let Otklik handle everything pushed so far and deliver what it queued."""
        assert self.app is not None
        while await self.app.poll_once():
            pass
        await self.app.settle()

    async def say(self, user: FakeUser, text: str | None = None, **kw: Any) -> dict[str, Any]:
        update = self.server.message(user, text, **kw)
        await self.step()
        return update

    def button(self, user: FakeUser, action: str, n: int | None = None,
               label: str | None = None) -> tuple[Call, str]:
        """The newest message sent to ``user`` with a button for ``action`` (on incident n)."""
        for call in reversed(self.server.sent_to(user.id)):
            for row in call.buttons:
                for b in row:
                    data = b.get("callback_data", "")
                    parts = data.split(":")
                    if parts[0] != "i" or parts[1] != action:
                        continue
                    if n is not None and parts[2] != str(n):
                        continue
                    if label is not None and label not in b["text"]:
                        continue
                    return call, data
        raise AssertionError(f"no {action!r} button for {user.first_name}: "
                             f"{[c.text for c in self.server.sent_to(user.id)][-3:]}")

    async def press(self, user: FakeUser, action: str, n: int | None = None,
                    label: str | None = None) -> dict[str, Any]:
        call, data = self.button(user, action, n, label)
        update = self.server.callback(user, call, data)
        await self.step()
        return update

    def texts(self, user: FakeUser) -> list[str]:
        return [c.text or "" for c in self.server.sent_to(user.id)]

    def last_text(self, user: FakeUser) -> str:
        texts = [t for t in self.texts(user) if t]
        return texts[-1] if texts else ""

    def alerts(self, user: FakeUser) -> list[str]:
        """Texts of the button answers given to ``user``'s presses."""
        ids = {u["callback_query"]["id"] for u in self._pushed()
               if "callback_query" in u and u["callback_query"]["from"]["id"] == user.id}
        return [c.params.get("text", "") for c in self.server.calls_to("answerCallbackQuery")
                if c.params.get("callback_query_id") in ids]

    def _pushed(self) -> list[dict[str, Any]]:
        return list(self.server.updates)
