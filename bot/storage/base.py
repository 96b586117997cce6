"""What the rest of the bot sees of the storage: a :class:`Storage` that opens units of
work, each with the repositories (:mod:`bot.storage.repositories`) as attributes, and the
plain values they return. Nothing here belongs to one database engine.

- ``async with storage.read() as uow`` — queries only; each sees committed data (inside an
  update being handled, also that update's own changes).
- ``async with storage.write() as uow`` — changes that commit together when the block ends
  without an exception, or not at all. Inside an update being handled (see
  :meth:`Storage.handling`) it joins the update's transaction.
- ``async with storage.handling(platform, update_id, now)`` — every change the update's
  handler makes, with the claim of the update (``uow.updates.claim``), in one transaction.

Ids of new rows are allocated by the implementation and returned; claiming due work is a
repository method (``outbox.claim``), so several writers may share one database.
"""

from __future__ import annotations

import asyncio
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.storage import repositories as r


class StorageError(Exception):
    """The storage refused or failed an operation."""


class StorageFault(StorageError):
    """A transient storage fault: the database locked by another process beyond the busy
    timeout, the disk full, an I/O error. What failed is retried."""


class AlreadyHandled(Exception):
    """The update of this unit of work was claimed already (delivered twice)."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    platform: str
    chat_id: int
    method: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class ChatState:
    mode: str
    incident_id: int | None
    data: dict[str, Any]


class UnitOfWork(Protocol):
    """The repositories of one unit of work."""

    people: r.People
    chats: r.Chats
    invites: r.Invites
    incidents: r.Incidents
    sla: r.Sla
    jobs: r.Jobs
    drafts: r.Drafts
    answers: r.Answers
    problems: r.Problems
    cursors: r.Cursors
    publications: r.Publications
    audit: r.Audit
    outbox: r.Outbox
    updates: r.Updates
    chat_modes: r.ChatModes
    intake: r.Intake
    templates: r.Templates
    letters: r.Letters
    possible: r.Possible
    labels: r.Labels
    board: r.Board
    heartbeat: r.Heartbeat
    reports: r.Reports


class UpdateHandling(Protocol):
    """The unit of work of one incoming update (see :meth:`Storage.handling`)."""

    def after_commit(self, action: Callable[[], Awaitable[object]]) -> None: ...

    async def run_after_commit(self) -> None: ...


class Storage(ABC):
    @abstractmethod
    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work for queries."""

    @abstractmethod
    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work whose changes commit together."""

    @abstractmethod
    def handling(self, platform: str, update_id: int,
                 now: datetime) -> AbstractAsyncContextManager[UpdateHandling]:
        """The unit of one update: its claim and every change made while handling it commit
        together; :class:`AlreadyHandled` when it was claimed before."""

    @abstractmethod
    async def checkpoint(self) -> None:
        """Make the stored data complete on disk (a clean stop does this)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def delete_in_batches(self, delete: Callable[[UnitOfWork, int], Awaitable[int]],
                                *, batch: int) -> int:
        """Run ``delete(uow, batch)`` (deleting at most ``batch`` rows, returning how many it
        deleted) in one short write unit after another until a unit deletes fewer: the write
        lock is never held long, and updates go between the units. The number deleted."""
        total = 0
        while True:
            async with self.write() as uow:
                deleted = await delete(uow, batch)
            total += deleted
            if deleted < batch:
                return total
            await asyncio.sleep(0)


class _Bound(Protocol):
    open: bool
    task: asyncio.Task[Any] | None

    def after_commit(self, action: Callable[[], Awaitable[object]]) -> None: ...


_unit: contextvars.ContextVar[Any] = contextvars.ContextVar("unit_of_work", default=None)


def bind_unit(unit: _Bound) -> contextvars.Token[Any]:
    return _unit.set(unit)


def release_unit(token: contextvars.Token[Any]) -> None:
    _unit.reset(token)


def current_unit() -> Any:
    """The unit of the update this task is handling, if any."""
    unit = _unit.get()
    if unit is None or not unit.open or asyncio.current_task() is not unit.task:
        return None
    return unit


async def after_commit(action: Callable[[], Awaitable[object]]) -> None:
    """Run ``action`` once the changes of the update in hand are stored (at once outside an
    update): what tells a person "done" must not run before it is done."""
    unit = current_unit()
    if unit is not None:
        unit.after_commit(action)
    else:
        await action()
