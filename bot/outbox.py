"""Delivery of the outbox: every message Otklik sends, within the platform's limits.

A message is marked "sending" before the platform call and "sent" only after the platform
accepted it; no failure of one send stops the sender (see :class:`OutboxSender`). Rate
limits (Telegram: about 30 messages a second in all, one a second per chat, 20 a minute per
group) are kept by :class:`RateLimiter`; a 429 puts the chat off for ``retry_after``;
network errors, 5xx and any other failure are retried with exponential backoff; a chat that
can never be reached is recorded and the coordinators are told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.storage import OutboxRow, Storage, UnitOfWork

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0  # the longest wait before one message is tried again
MAX_PAUSE = 60.0  # the longest pause of the sender after a fault of its own (storage)


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


SAFETY = 0.05  # the share of a limit left unused: requests arrive with a jitter


def with_margin(limits: RateLimits, safety: float = SAFETY) -> RateLimits:
    """The limits the sender keeps: a little under the platform's, so that the jitter of
    the requests' arrival never makes a strict server answer 429."""
    return RateLimits(per_second=max(limits.per_second * (1 - safety), 1.0),
                      per_chat_interval=limits.per_chat_interval * (1 + safety),
                      group_per_minute=max(int(limits.group_per_minute * (1 - safety)), 1))


@dataclass
class RateLimiter:
    """Sliding-window limits; ``monotonic`` is injectable so that tests control time."""

    limits: RateLimits = RateLimits()
    monotonic: Callable[[], float] = time.monotonic
    # Spread the messages evenly (1/per_second apart) instead of in bursts at the start of
    # each second: a burst arriving with jitter is what a strict server answers 429 to.
    even: bool = False
    _slot: float = float("-inf")  # the moment the next message may go (``even``)
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
        if self.even:
            waits.append(self._slot - now)
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
        # The next slot follows the schedule: a send that went a little late (the loop was
        # busy) does not push every later one back.
        interval = 1.0 / self.limits.per_second
        self._slot = (self._slot if now - self._slot <= interval / 2 else now) + interval
        self._recent.append(now)
        self._last_in_chat[chat_id] = now
        if chat_id < 0:
            self._group_recent.setdefault(chat_id, deque()).append(now)

    def done(self, chat_id: int) -> None:
        """A message to the chat has been answered: the chat's interval counts from now. It
        reached the server at some moment between :meth:`record` and now; a request held up
        before it left (the loop busy, a connection being made) must not let the next one
        arrive too soon after it."""
        self._last_in_chat[chat_id] = self.monotonic()


Outcome = Callable[[UnitOfWork], Awaitable[object]]


class OutboxSender:
    """Delivers the outbox of one platform, forever: no failure of one send stops it.

    A row is marked "sending" before the platform call and "sent" after it. Every failure of
    one send — the platform's refusals, a proxy's HTML 502, a dropped connection, any
    exception of the transport — is retried with backoff; a storage fault while recording an
    outcome (the database locked by another process, the disk full) keeps the outcome in
    memory and records it when storage is back, so a message the platform accepted is never
    sent again by this process. Only a crash between the call and its record repeats a
    message: at the next start the rows still "sending" are sent again — at most one
    duplicate per chat per crash, since a chat has one message in flight at a time (messages
    to different chats are in flight at once: the round trip does not cap the rate).
    """

    def __init__(self, store: Storage, transport: Transport, clock: Callable[[], datetime], *,
                 limits: RateLimits = RateLimits(),
                 on_unreachable: Callable[[str, int, str], Awaitable[None]] | None = None,
                 batch: int = 50, concurrency: int = 30) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.limiter = RateLimiter(with_margin(limits), even=True)
        self.concurrency = concurrency
        self.on_unreachable = on_unreachable
        self.batch = batch
        self._wake = asyncio.Event()
        self._recording = asyncio.Lock()
        self._recovered = False
        # Outcomes of sends that storage could not record yet, by outbox row id.
        self._unrecorded: dict[int, Outcome] = {}
        self._fault: str | None = None  # the sender's current fault, logged once

    def wake(self) -> None:
        self._wake.set()

    def restarted(self) -> None:
        """This process (again) became the one that sends: the rows left "sending" by a
        sender that died meanwhile (another worker, the leader before) are sent again."""
        self._recovered = False

    async def run(self) -> None:
        """Deliver forever: sleep until the next message is due or somebody wakes us. A
        failure backs off (1 s, doubling up to a minute) and is logged once, with its reason,
        until delivery works again."""
        pause = 1.0
        while True:
            self._wake.clear()
            try:
                delay = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - whatever it is, the sender goes on
                self._fault_began(_reason(e), pause)
                delay, pause = pause, min(pause * 2, MAX_PAUSE)
            else:
                pause = 1.0
                self._fault_ended()
                if delay is None:
                    delay = 30.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.01))

    def _fault_began(self, reason: str, pause: float) -> None:
        if self._fault != reason:
            log.warning("%s outbox: %s; retrying with backoff (from %.0f s)",
                        self.transport.platform, reason, pause)
            self._fault = reason

    def _fault_ended(self) -> None:
        if self._fault is not None:
            log.warning("%s outbox: delivering again after: %s", self.transport.platform,
                        self._fault)
            self._fault = None

    async def send_due(self) -> float | None:
        """Send what is due now; seconds until the next due message (None: nothing pending).
        Messages to different chats are in flight at once (up to ``concurrency``); a chat
        has at most one, so each chat receives its messages in order. Returns when every
        send it began is recorded. A storage fault is raised (``run`` backs off); nothing
        is lost by it."""
        platform = self.transport.platform
        if not self._recovered:
            async with self.store.write() as uow:
                again = await uow.outbox.recover_sending(platform)
            if again:
                log.warning("%s outbox: %d message(s) interrupted by a restart are sent again"
                            " (each may arrive twice)", platform, again)
            self._recovered = True
        await self._record_unrecorded()
        flying: dict[asyncio.Task[None], int] = {}  # send → its chat
        fault: BaseException | None = None
        try:
            while True:
                soonest: float | None = None
                due: list[OutboxRow] = []
                if fault is None:
                    now = self.clock()
                    async with self.store.read() as uow:
                        due = await uow.outbox.due(platform, now,
                                                    self.batch + len(flying))
                chosen: list[OutboxRow] = []
                for row in due:
                    if len(flying) + len(chosen) >= self.concurrency:
                        break
                    if row.chat_id in flying.values():
                        continue
                    wait = self.limiter.wait_for(row.chat_id)
                    if wait > 0:
                        soonest = wait if soonest is None else min(soonest, wait)
                        continue
                    self.limiter.record(row.chat_id)
                    chosen.append(row)
                if chosen:  # all marked in one transaction
                    async with self.store.write() as uow:
                        payloads = [await uow.outbox.claim(row.id) for row in chosen]
                    for row, payload in zip(chosen, payloads, strict=True):
                        if payload is None:  # another sender took it, or merged since read
                            continue
                        row = replace(row, payload=payload)  # a summary may have grown
                        flying[asyncio.create_task(self._deliver(row))] = row.chat_id
                if not flying:
                    if chosen:  # every one was merged meanwhile: look again
                        continue
                    if due:
                        return soonest
                    break
                done, _ = await asyncio.wait(list(flying), timeout=soonest,
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del flying[task]
                    if task.exception() is not None and fault is None:
                        fault = task.exception()
        except BaseException:
            for task in flying:
                task.cancel()
            await asyncio.gather(*flying, return_exceptions=True)
            raise
        if fault is not None:
            raise fault
        async with self.store.read() as uow:
            next_at = await uow.outbox.next_due_at(platform)
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
        """The platform call of a row marked "sending", and the record of its outcome."""
        outcome: Outcome
        first: list[bool] = []  # set by the outcome of an unreachable chat
        gone = ""
        try:
            try:
                result = await self.transport.send(row.method, row.payload)
            finally:
                self.limiter.done(row.chat_id)
        except Unreachable as e:
            log.warning("outbox %s: chat %s unreachable: %s", row.id, row.chat_id, e)
            gone = str(e)

            async def outcome(uow: UnitOfWork) -> None:
                await uow.outbox.mark_failed(row.id, gone)
                await uow.outbox.fail_chat(row.platform, row.chat_id, gone)
                first.append(await uow.chats.mark_unreachable(row.platform, row.chat_id, gone,
                                                       self.clock()))
        except Rejected as e:
            log.error("outbox %s (%s) rejected: %s", row.id, row.method, e)
            reason = str(e)

            async def outcome(uow: UnitOfWork) -> None:
                await uow.outbox.mark_failed(row.id, reason)
        except Exception as e:  # noqa: BLE001 - Retry, and anything else: transient
            reason = e.args[0] if isinstance(e, Retry) and e.args else _reason(e)
            after = (e.after if isinstance(e, Retry) and e.after is not None
                     else min(2.0 ** row.attempts, MAX_BACKOFF))
            # Once per message: the first failure; later attempts only at debug level.
            log.log(logging.WARNING if row.attempts == 0 else logging.DEBUG,
                    "outbox %s to %s: %s; retrying (next in %.1fs)", row.id, row.chat_id,
                    reason, after)
            at = self.clock() + timedelta(seconds=after)

            async def outcome(uow: UnitOfWork) -> None:
                await uow.outbox.mark_retry(row.id, at, reason)
        else:
            sent_at = self.clock()
            if row.attempts:
                log.info("outbox %s to %s delivered after %d attempt(s)", row.id, row.chat_id,
                         row.attempts + 1)

            kept = sent_ids(result)

            async def outcome(uow: UnitOfWork) -> None:
                await uow.outbox.mark_sent(row.id, sent_at, kept)
        self._unrecorded[row.id] = outcome
        await self._record_unrecorded()
        if first and first[0] and self.on_unreachable is not None:
            try:
                await self.on_unreachable(row.platform, row.chat_id, gone)
            except Exception as e:  # noqa: BLE001 - the chat is recorded; only the note is lost
                log.warning("could not tell the coordinators about chat %s: %s", row.chat_id,
                            _reason(e))

    async def _record_unrecorded(self) -> None:
        """Write the outcomes kept while storage failed, oldest first; a storage fault is
        raised with the rest still kept (the rows stay "sending": not sent again)."""
        async with self._recording:  # sends finishing at once record each outcome once
            outcomes = list(self._unrecorded.items())
            if not outcomes:
                return
            async with self.store.write() as uow:  # those waiting together, in one unit
                for _, outcome in outcomes:
                    await outcome(uow)
            for msg_id, _ in outcomes:
                del self._unrecorded[msg_id]


def sent_ids(result: Any) -> Any:
    """What the outbox keeps of the platform's answer: the sent message's id (a list of ids
    for an album), or the answer itself when it is a plain value (``True``, a VK id)."""
    if isinstance(result, dict):
        return result.get("message_id", result.get("id"))
    if isinstance(result, list):
        return [sent_ids(r) for r in result]
    return result


async def purge_sent(store: Storage, before: datetime, *, batch: int = 2000) -> int:
    """Delete the outbox rows finished before ``before`` in small transactions; pending and
    sending rows are never deleted. The number deleted."""
    return await store.delete_in_batches(
        lambda uow, n: uow.outbox.purge(before, n), batch=batch)


def _reason(e: BaseException) -> str:
    """One line for the log: the kind of failure and its message, cut short (an HTML error
    page of a proxy would fill the screen)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__
