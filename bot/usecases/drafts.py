"""Drafts: the answer the assigned executor writes (text, attachments, interim or final),
refused to anyone else and outside the work on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.storage import Storage, UnitOfWork
from bot.usecases.common import Clock, Result
from workflows.model import Attachment, AuditEntry, DraftKind, Person, Role, State


class Drafts:
    def __init__(self, store: Storage, clock: Clock) -> None:
        self.store = store
        self.clock = clock


    async def set_text(self, actor: Person, incident_id: int, text: str) -> Result:
        return await self._change(actor, incident_id, "draft_text",
                                        lambda uow, now: uow.drafts.save_text(
                                            incident_id, actor.id, text, now))

    async def add_text(self, actor: Person, incident_id: int, text: str) -> Result:
        """Add ``text`` to the draft's text as a new paragraph (a first text starts it), so
        that an answer longer than one message can be written and a caption replaces
        nothing."""
        async def add(uow: UnitOfWork, now: datetime) -> None:
            draft = await uow.drafts.get(incident_id)
            before = draft.text.rstrip() if draft and draft.text else ""
            await uow.drafts.save_text(incident_id, actor.id,
                                     f"{before}\n\n{text}" if before.strip() else text, now)
        return await self._change(actor, incident_id, "draft_text", add)

    async def attach(self, actor: Person, incident_id: int, attachment: Attachment,
                           file_unique_id: str, media_group_id: str | None) -> Result:
        return await self._change(actor, incident_id, "draft_attach",
                                        lambda uow, now: uow.drafts.add_attachment(
                                            incident_id, actor.id, attachment, file_unique_id,
                                            media_group_id, now))

    async def set_kind(self, actor: Person, incident_id: int, kind: DraftKind,
                         promised: datetime | None) -> Result:
        """Make the draft an interim answer promising the final one by ``promised``, or
        a final answer again."""
        return await self._change(actor, incident_id, "draft_kind",
                                        lambda uow, now: uow.drafts.set_kind(
                                            incident_id, actor.id, kind, promised, now))

    async def clear_attachments(self, actor: Person, incident_id: int) -> Result:
        return await self._change(actor, incident_id, "draft_clear",
                                        lambda uow, now: uow.drafts.clear_attachments(incident_id))

    async def cancel(self, actor: Person, incident_id: int) -> Result:
        return await self._change(actor, incident_id, "draft_cancel",
                                        lambda uow, now: uow.drafts.delete(incident_id))

    async def _change(self, actor: Person, incident_id: int, action: str,
                            change: Callable[[UnitOfWork, datetime], Awaitable[object]]) -> Result:
        now = self.clock()
        async with self.store.write() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None:
                return Result(False, "not_found")
            code = ""
            if not actor.has(Role.EXECUTOR):
                code = "wrong_role"
            elif incident.executor_id != actor.id:
                code = "not_assigned"
            elif incident.state is not State.IN_PROGRESS:
                code = "wrong_state"
            if code:
                await uow.audit.add(AuditEntry(incident_id, actor.id, action, incident.state,
                                              None, now, code, ok=False))
                return Result(False, code, incident)
            await change(uow, now)
        return Result(True, incident=incident)
