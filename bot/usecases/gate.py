"""The gate every update passes, on every platform: claimed once (its effects and its claim
in one transaction, :func:`bot.updates.apply_once`), and admitted: who writes from the chat,
in which mode, or a polite refusal of a stranger or a deactivated person (audited)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage import ChatState, Storage
from bot.updates import Applied, StoredCursor, apply_once
from bot.usecases.common import Clock
from bot.usecases.onboarding import Onboarding
from bot.usecases.queries import Queries
from workflows.model import Person


@dataclass(frozen=True, slots=True)
class Admission:
    """Who writes, and their chat's mode; ``refused``: the phrase of the refusal already
    sent and audited (``not_registered``, ``access_closed``), the update goes no further."""

    person: Person | None
    chat_state: ChatState | None = None
    refused: str = ""


class Gate:
    def __init__(self, store: Storage, queries: Queries, onboarding: Onboarding,
                 clock: Clock) -> None:
        self.store = store
        self.queries = queries
        self.onboarding = onboarding
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

    async def admit(self, platform: str, chat_id: int, what: str, *,
                    starting: bool = False) -> Admission:
        """The person bound to the chat and the chat's mode. A stranger, or a person gone
        from the config, is told so and audited (``what``: what they did), unless they are
        ``starting`` (/start, an invitation link): :func:`handlers.flows.start` judges that."""
        person, state = await self.queries.in_chat(platform, chat_id)
        if person is None and not starting:
            await self.onboarding.refuse_stranger(platform, chat_id, what)
            return Admission(None, refused="not_registered")
        if person is not None and not person.active and not starting:
            await self.onboarding.refuse_inactive(person, platform, chat_id, what)
            return Admission(person, refused="access_closed")
        return Admission(person, state)
