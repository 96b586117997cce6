"""The ledger: how a transition's outcome is committed (the incident, its audit row, its
notifications, its place in the SLA sweep) and the bookkeeping that follows some transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.publishers import Publisher
from bot.storage import UnitOfWork
from bot.usecases.common import Policies, published_text
from bot.usecases.letters import Letters
from bot.usecases.notifier import Notifier
from workflows import transitions as core
from workflows.ladder import ladder_changed, next_action, restart_step
from workflows.model import DraftKind, Incident, Person, State
from workflows.regulation import Action


class Ledger:
    def __init__(self, policies: Policies, notifier: Notifier, letters: Letters,
                 publishers: dict[str, Publisher], suggester: Any = None) -> None:
        self.policies = policies
        self.notifier = notifier
        self.letters = letters
        # source → the publisher that posts approved answers there by itself
        self.publishers = publishers
        self.suggester = suggester


    async def commit(self, uow: UnitOfWork, before: Incident, out: core.Outcome,
                      actor: Person | None = None) -> Incident:
        now = out.audit.at
        after = out.incident
        if ladder_changed(before, after):
            step = restart_step(after, self.policies.policy_of(after), now=now)
        else:
            step, _ = await uow.sla.state(after.id)
        await uow.incidents.update(after, now, before.version, self.timer(after, step))
        await uow.audit.add(out.audit)
        await self.notifier.deliver(uow, after, out.notifications, actor)
        return after

    async def schedule(self, uow: UnitOfWork, incident: Incident, step: int) -> None:
        """Store when the incident next needs the sweep (:meth:`timer`)."""
        await uow.sla.set(incident.id, *self.timer(incident, step))

    def timer(self, incident: Incident, step: int) -> tuple[int, datetime | None]:
        """The SLA step and when the sweep next looks at the incident: its next SLA rung,
        the promised date of an interim answer, or the end of the resident's feedback."""
        if incident.state is State.WAITING:
            return step, incident.promised_at
        if incident.state is State.AWAITING_FEEDBACK:
            return step, incident.feedback_until
        return step, next_action(incident, self.policies.policy_of(incident), step=step)

    async def after(self, uow: UnitOfWork, incident: Incident, action: Action,
                     actor: Person | None, now: datetime) -> None:
        """Bookkeeping that follows some transitions: an approved answer is queued for its
        publisher; the published answer is kept; a draft that has served is cleared."""
        approved = (action in (Action.APPROVE, Action.EDIT_APPROVE)
                    and incident.state is State.APPROVED)
        if approved and incident.source in self.publishers:
            await uow.publications.add(incident.id, incident.version, now)
        if (approved and incident.approved_kind is DraftKind.FINAL
                and self.policies.procedure_for(incident).email_to):
            await self.letters.make_letter(uow, incident, now)
        if action is Action.PUBLISH:
            draft = await uow.drafts.get(incident.id)
            await uow.answers.add(incident.id, incident.approved_kind or DraftKind.FINAL,
                                published_text(incident, draft),
                                draft.attachments if draft else (), now,
                                actor.id if actor else None)
            if self.suggester is not None:  # the next suggestion reads it
                self.suggester.stale = True
        if action in (Action.REASSIGN, Action.REOPEN, Action.DECLINE):
            await uow.drafts.delete(incident.id)
