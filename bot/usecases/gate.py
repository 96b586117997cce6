"""The gate every update passes, on every platform: claimed once (its effects and its claim
in one transaction, :func:`bot.updates.apply_once`), and a front end's place in a stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.storage import Storage
from bot.updates import Applied, StoredCursor, apply_once
from bot.usecases.common import Clock


class Gate:
    def __init__(self, store: Storage, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def apply_once(self, platform: str, update_id: int,
                         handle: Callable[[], Awaitable[Any]], *,
                         delays: Sequence[float] | None = None) -> Applied:
        """Handle one update once (see :func:`bot.updates.apply_once`)."""
        return await apply_once(self.store, platform, update_id, self.clock, handle,
                                delays=delays)

    def cursor(self, source: str, key: str) -> StoredCursor:
        """A stored place in a stream (a long poll's ``ts``)."""
        return StoredCursor(self.store, source, key)
