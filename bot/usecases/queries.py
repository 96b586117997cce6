"""Read-only views for the front ends: incidents, drafts, history, people, what a person
oversees."""

from __future__ import annotations

from bot.board.sessions import Sessions
from bot.storage import ChatState, Storage
from bot.usecases.common import Clock
from workflows.model import AuditEntry, Draft, Incident, Person, Role, State
from workflows.visibility import may_see, sees_everything


class Queries:
    def __init__(self, store: Storage, clock: Clock) -> None:
        self.store = store
        self.clock = clock


    async def incident(self, incident_id: int) -> Incident | None:
        async with self.store.read() as uow:
            return await uow.incidents.get(incident_id)

    async def draft(self, incident_id: int) -> Draft | None:
        async with self.store.read() as uow:
            return await uow.drafts.get(incident_id)

    async def registered_by_hand(self, incident_id: int) -> bool:
        """Whether a coordinator registered the incident (its source may then be changed)."""
        async with self.store.read() as uow:
            origin = await uow.incidents.origin(incident_id)
        return str(origin.get("external_id") or "").startswith("intake:")

    async def visible_incidents(self, person: Person, *, open_only: bool = True
                                ) -> list[Incident]:
        """What a person oversees: all for coordinators and curators, their departments for
        block owners, their own work for executors."""
        states = [s for s in State if s.is_open] if open_only else None
        async with self.store.read() as uow:
            if (person.has(Role.BLOCK_OWNER) or person.has(Role.DEPARTMENT_HEAD)
                    or sees_everything(person)):
                return [i for i in await uow.incidents.select(states=states) if may_see(person, i)]
            return await uow.incidents.select(states=states, executor_id=person.id)

    def may_see(self, person: Person, incident: Incident) -> bool:
        return may_see(person, incident)

    async def history(self, incident_id: int) -> list[AuditEntry]:
        async with self.store.read() as uow:
            return [e for e in await uow.audit.entries(incident_id) if e.ok]

    async def people(self) -> list[Person]:
        async with self.store.read() as uow:
            return await uow.people.all()

    async def person_for_chat(self, platform: str, chat_id: int) -> Person | None:
        async with self.store.read() as uow:
            return await uow.people.by_chat(platform, chat_id)

    async def in_chat(self, platform: str, chat_id: int
                      ) -> tuple[Person | None, ChatState | None]:
        """Who is bound to the chat, and the chat's mode."""
        async with self.store.read() as uow:
            return await uow.people.in_chat(platform, chat_id)

    async def board_link(self, person: Person) -> str:
        """A one-time token that signs ``person`` in to the board."""
        return await Sessions(self.store).issue_link(person, self.clock())
