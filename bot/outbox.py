"""Delivery of the outbox: every message Otklik sends, within the platform's limits.

A message is marked sent only after the platform accepted it. Rate limits (Telegram: about
30 messages a second in all, one a second per chat, 20 a minute per group) are kept by
:class:`RateLimiter`; a 429 puts the chat off for ``retry_after``; network errors and 5xx are
retried with exponential backoff; a chat that can never be reached is recorded and the
coordinators are told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.store import OutboxRow, Store

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


class Retry(Exception):
    """Try again later: after ``after`` seconds (429's retry_after) or with backoff."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Unreachable(Exception):
    """The chat can never receive messages (blocked the bot, deleted, not found)."""


class Rejected(Exception):
    """The platform refused this one message for good (a bug on our side): it is recorded."""


class Transport(Protocol):
    platform: str

    async def send(self, method: str, payload: dict[str, Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_second: float = 30.0
    per_chat_interval: float = 1.0
    group_per_minute: int = 20


@dataclass
class RateLimiter:
    """Sliding-window limits; ``monotonic`` is injectable so that tests control time."""

    limits: RateLimits = RateLimits()
    monotonic: Callable[[], float] = time.monotonic
    _recent: deque[float] = field(default_factory=deque)
    _last_in_chat: dict[int, float] = field(default_factory=dict)
    _group_recent: dict[int, deque[float]] = field(default_factory=dict)

    def wait_for(self, chat_id: int) -> float:
        """Seconds to wait before a message to this chat may go; 0 when it may go now."""
        now = self.monotonic()
        waits = [0.0]
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.limits.per_second:
            waits.append(1.0 - (now - self._recent[0]))
        last = self._last_in_chat.get(chat_id)
        if last is not None:
            waits.append(self.limits.per_chat_interval - (now - last))
        if chat_id < 0:
            recent = self._group_recent.setdefault(chat_id, deque())
            while recent and now - recent[0] >= 60.0:
                recent.popleft()
            if len(recent) >= self.limits.group_per_minute:
                waits.append(60.0 - (now - recent[0]))
        return max(waits)

    def record(self, chat_id: int) -> None:
        now = self.monotonic()
        self._recent.append(now)
        self._last_in_chat[chat_id] = now
        if chat_id < 0:
            self._group_recent.setdefault(chat_id, deque()).append(now)


class OutboxSender:
    def __init__(self, store: Store, transport: Transport, clock: Callable[[], datetime], *,
                 limits: RateLimits = RateLimits(),
                 on_unreachable: Callable[[str, int, str], Awaitable[None]] | None = None,
                 batch: int = 50) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.limiter = RateLimiter(limits)
        self.on_unreachable = on_unreachable
        self.batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver forever: sleep until the next message is due or somebody wakes us."""
        while True:
            self._wake.clear()
            delay = await self.send_due()
            if delay is None:
                delay = 30.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.01))

    async def send_due(self) -> float | None:
        """Send what is due now; seconds until the next due message (None: nothing pending)."""
        platform = self.transport.platform
        while True:
            now = self.clock()
            async with self.store.read() as tx:
                due = await tx.due_messages(platform, now, self.batch)
            if not due:
                break
            sent_any = False
            soonest: float | None = None
            for row in due:
                wait = self.limiter.wait_for(row.chat_id)
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
                await self._deliver(row)
                sent_any = True
            if not sent_any:
                return soonest
        async with self.store.read() as tx:
            next_at = await tx.next_due_at(platform)
        if next_at is None:
            return None
        return max((next_at - self.clock()).total_seconds(), 0.0)

    async def drain(self, max_seconds: float = 10.0) -> None:
        """Send until nothing is due (for tests and the demo); waits out rate limits."""
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            delay = await self.send_due()
            if delay is None:
                return
            await asyncio.sleep(min(max(delay, 0.001), 1.0))
        raise TimeoutError("the outbox did not drain in time")

    async def _deliver(self, row: OutboxRow) -> None:
        self.limiter.record(row.chat_id)
        try:
            result = await self.transport.send(row.method, row.payload)
        except Retry as e:
            after = e.after if e.after is not None else min(2.0 ** row.attempts, MAX_BACKOFF)
            log.warning("outbox %s to %s: %s; retry in %.1fs", row.id, row.chat_id, e, after)
            async with self.store.tx() as tx:
                await tx.mark_retry(row.id, self.clock() + timedelta(seconds=after), str(e))
            return
        except Unreachable as e:
            log.warning("outbox %s: chat %s unreachable: %s", row.id, row.chat_id, e)
            async with self.store.tx() as tx:
                await tx.mark_failed(row.id, str(e))
                await tx.fail_chat(row.platform, row.chat_id, str(e))
                first = await tx.mark_unreachable(row.platform, row.chat_id, str(e), self.clock())
            if first and self.on_unreachable is not None:
                await self.on_unreachable(row.platform, row.chat_id, str(e))
            return
        except Rejected as e:
            log.error("outbox %s (%s) rejected: %s", row.id, row.method, e)
            async with self.store.tx() as tx:
                await tx.mark_failed(row.id, str(e))
            return
        async with self.store.tx() as tx:
            await tx.mark_sent(row.id, self.clock(), result)
