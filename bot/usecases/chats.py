"""The state of a person's chat: what their next message means (a reason, a date, a draft)."""

from __future__ import annotations

from typing import Any

from bot.storage import ChatState, Storage
from workflows.model import Person


class Chats:
    def __init__(self, store: Storage) -> None:
        self.store = store


    async def set_mode(self, person: Person, platform: str, mode: str,
                       incident_id: int | None, data: dict[str, Any] | None = None) -> None:
        async with self.store.write() as uow:
            await uow.chat_modes.set(person.id, platform, mode, incident_id, data)

    async def mode(self, person: Person, platform: str) -> ChatState | None:
        async with self.store.read() as uow:
            return await uow.chat_modes.get(person.id, platform)

    async def clear_mode(self, person: Person, platform: str) -> None:
        async with self.store.write() as uow:
            await uow.chat_modes.clear(person.id, platform)

    async def chat_answered(self, platform: str, chat_id: int) -> None:
        """A person wrote from this chat: it is reachable again (a later failure is news)."""
        async with self.store.write() as uow:
            await uow.chats.clear_unreachable(platform, chat_id)
