"""Albums arrive as one update per item; act once when the album has stopped growing.

Every item is saved as it arrives (nothing waits in memory but the follow-up message), and
``settle_later`` runs the follow-up — a preview, a category prompt — once no further item of
the same album came for ``delay`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Albums:
    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self._pending: dict[str, asyncio.Task[None]] = {}

    def settle_later(self, key: str, action: Callable[[], Awaitable[object]]) -> None:
        previous = self._pending.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._pending[key] = asyncio.create_task(self._run(key, action))

    async def _run(self, key: str, action: Callable[[], Awaitable[object]]) -> None:
        await asyncio.sleep(self.delay)
        self._pending.pop(key, None)
        try:
            await action()
        except Exception:
            log.exception("album follow-up %s failed", key)

    async def settle(self) -> None:
        """Wait until every pending follow-up has run (tests, the demo, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
