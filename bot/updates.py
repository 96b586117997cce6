"""An incoming update (a Telegram update, a VK event) is confirmed only after its effects are
stored.

:func:`apply_once` runs the handler of one update in the storage's unit of work: the
claim of the update and everything the handler changes commit in one transaction, and the
press is answered only after that. A redelivered update (claimed already) is skipped. A
storage fault (the database locked by another process, the disk full) rolls everything back
and the update is handled again after a pause (0.5, 1, 2, 4 s); when storage is still failing
the front end tells the person «Не удалось сохранить — повторите через минуту», so nothing
the person did is dropped without a word. The front end confirms the update to the platform
only when it was stored, was a repeat, or the person was told; :class:`NotSaved` says none of
these happened, and the update must stay unconfirmed so that the platform delivers it again.

Updates of different chats are handled concurrently, each chat's strictly in order
(:func:`by_chat`); the answer to a press is sent once its update is stored, without holding
up the chat's next update (:func:`answer_later`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.storage import AlreadyHandled, ChatState, Storage, StorageFault, after_commit

log = logging.getLogger(__name__)

# What the front ends (handlers/) use of the storage, without importing it.
__all__ = ["NOT_SAVED", "Applied", "ChatState", "NotSaved", "StorageFault", "StoredCursor",
           "after_commit", "apply_once", "pause"]

RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

# How long a claimed update id is remembered (``processed_updates``), then forgotten by the
# nightly purge. Safe: Telegram keeps an unconfirmed update for at most 24 hours, and VK's
# long poll history is shorter still, so no redelivery comes a week later. Forgetting also
# helps: after a week without updates Telegram may start its ids afresh at random, and an old
# remembered id must not refuse a new update.
KEEP_UPDATES = timedelta(days=7)
NOT_SAVED = "not_saved"  # the phrase of templates/texts.toml


async def forget_updates(store: Storage, before: datetime, *, batch: int = 2000) -> int:
    """Forget the updates claimed before ``before`` in small transactions. The number
    forgotten."""
    return await store.delete_in_batches(
        lambda uow, n: uow.updates.purge(before, n), batch=batch)


async def pause(seconds: float) -> None:
    """The wait between two attempts (a seam for tests: what happens meanwhile)."""
    await asyncio.sleep(seconds)


class NotSaved(Exception):
    """An update could not be stored and the person could not be told: do not confirm it."""


@dataclass(frozen=True, slots=True)
class Applied:
    status: str  # "done" | "duplicate" | "not_saved"
    result: Any = None
    reason: str = ""


async def apply_once(store: Storage, platform: str, update_id: int,
                     clock: Callable[[], datetime], handle: Callable[[], Awaitable[Any]], *,
                     delays: Sequence[float] | None = None) -> Applied:
    """Handle one update once, its claim and effects in one transaction; retried on storage
    faults after ``delays`` (default :data:`RETRY_DELAYS`). Other exceptions (bugs) are
    raised with nothing stored."""
    delays = RETRY_DELAYS if delays is None else delays
    for attempt in range(len(delays) + 1):
        try:
            async with store.handling(platform, update_id, clock()) as unit:
                async with store.read() as uow:
                    seen = await uow.updates.seen(platform, update_id)
                if seen:  # nothing begun: leaving the unit stores nothing
                    log.info("%s update %s delivered again: ignored", platform, update_id)
                    raise AlreadyHandled(f"{platform} update {update_id}")
                result = await handle()
        except AlreadyHandled:
            return Applied("duplicate")
        except StorageFault as e:
            reason = f"{type(e).__name__}: {e}"
            if attempt == len(delays):
                log.error("%s update %s not saved after %d attempts (%s): the person is told "
                          "to repeat", platform, update_id, attempt + 1, reason)
                return Applied(NOT_SAVED, reason=reason)
            if attempt == 0:
                log.warning("%s update %s not saved (%s); retrying with backoff", platform,
                            update_id, reason)
            await pause(delays[attempt])
            continue
        if attempt:
            log.warning("%s update %s saved on attempt %d", platform, update_id, attempt + 1)
        answer_later(unit.run_after_commit())
        return Applied("done", result)
    raise AssertionError("unreachable")


class StoredCursor:
    """A front end's place in a stream (a long poll's ``ts``), kept in the storage."""

    def __init__(self, store: Storage, source: str, key: str) -> None:
        self.store, self.source, self.key = store, source, key

    async def load(self) -> int:
        """The stored value (0 when none was stored)."""
        async with self.store.read() as uow:
            return await uow.cursors.get(self.source, self.key)

    async def save(self, value: int) -> None:
        """Keep ``value`` (a cursor never moves back); :class:`StorageFault` when it fails."""
        async with self.store.write() as uow:
            await uow.cursors.set(self.source, self.key, value)


# Answers to presses under way (run after their update was stored), until they are done.
_answering: set[asyncio.Task[None]] = set()


def answer_later(answers: Awaitable[None]) -> None:
    """Send the answers to a press (stored already) without waiting for them: the chat's
    next update need not wait for Telegram's round trip. :func:`settle_answers` waits."""
    task = asyncio.ensure_future(answers)
    _answering.add(task)
    task.add_done_callback(_answering.discard)


async def settle_answers() -> None:
    """Wait until the answers under way are sent."""
    while _answering:
        await asyncio.wait(set(_answering))


Item = TypeVar("Item")


async def by_chat(items: Sequence[Item], chat: Callable[[Item], Hashable],
                  handle: Callable[[Item], Awaitable[None]]) -> list[Item]:
    """Handle ``items`` (one batch of updates, in the platform's order): those of one chat
    strictly one after another, different chats concurrently. ``handle`` deals with the
    failures of one item itself; :class:`NotSaved` stops its chat: that item and the
    chat's later ones are returned, unhandled (the other chats go on)."""
    lanes: dict[Hashable, list[Item]] = {}
    for item in items:
        lanes.setdefault(chat(item), []).append(item)

    async def lane(queue: list[Item]) -> list[Item]:
        for i, item in enumerate(queue):
            try:
                await handle(item)
            except NotSaved:
                return queue[i:]
        return []

    if len(lanes) == 1:  # one chat: no task to start
        return await lane(next(iter(lanes.values())))
    left = {id(item) for rest in await asyncio.gather(*(lane(q) for q in lanes.values()))
            for item in rest}
    return [item for item in items if id(item) in left]
