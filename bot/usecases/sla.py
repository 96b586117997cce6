"""The SLA sweep: the pings that are due, interim answers whose date has come, feedback
windows that have passed; then the publications, letters and digest that are due."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.storage import Storage, UnitOfWork
from bot.usecases.common import Clock, Policies
from bot.usecases.digests import Digests
from bot.usecases.ledger import Ledger
from bot.usecases.letters import Letters
from bot.usecases.notifier import Notifier
from bot.usecases.publishing import Publishing
from workflows import transitions as core
from workflows.ladder import due
from workflows.model import AuditEntry, Incident, State
from workflows.sla import compute_deadlines


class Sweep:
    def __init__(self, store: Storage, policies: Policies, notifier: Notifier, ledger: Ledger,
                 publishing: Publishing, letters: Letters, digests: Digests,
                 clock: Clock) -> None:
        self.store = store
        self.policies = policies
        self.notifier = notifier
        self.ledger = ledger
        self.publishing = publishing
        self.letters = letters
        self.digests = digests
        self.clock = clock


    async def sweep(self, batch: int = 25) -> int:
        """Send the SLA pings that are due and wake interim answers whose date has come.

        Reads only incidents whose ``next_action_at`` has passed (an indexed column), so its
        cost does not grow with the incidents that are not due. Each batch commits its pings
        with the new steps: a restart neither repeats nor loses one. Returns the pings sent.
        """
        now = self.clock()
        sent = 0
        while True:
            async with self.store.write() as uow:
                rows = await uow.sla.due(now, batch)
                for incident, step in rows:
                    sent += await self._sweep_one(uow, incident, step, now)
            if len(rows) < batch:
                break
            await asyncio.sleep(0)  # updates go between small batches
        if self.publishing.publishers:
            sent += await self.publishing.publish_due()
        sent += await self.letters.send_due()
        await self.digests.daily_digest()
        return sent

    async def _sweep_one(self, uow: UnitOfWork, incident: Incident, step: int,
                         now: datetime) -> int:
        policy = self.policies.policy_of(incident)
        if incident.state is State.WAITING:
            if incident.promised_at is None or incident.promised_at > now:
                await uow.sla.set(incident.id, step, incident.promised_at)
                return 0
            answer_due = compute_deadlines(policy, incident.priority, now).answer
            out = core.resume(incident, None, now, answer_due=answer_due)
            await self.ledger.commit(uow, incident, out)
            await uow.drafts.delete(incident.id)  # the interim draft is kept in answers
            return len(out.notifications)
        if incident.state is State.AWAITING_FEEDBACK:
            if incident.feedback_until is not None and incident.feedback_until <= now:
                out = core.close(incident, None, now)  # the window passed quietly
                await self.ledger.commit(uow, incident, out)
                return len(out.notifications)
            await uow.sla.set(incident.id, step, incident.feedback_until)
            return 0
        d = due(incident, policy, step=step, now=now)
        for kind in dict.fromkeys(str(p.context["kind"]) for p in d.pings):
            await uow.audit.add(AuditEntry(incident.id, None, f"sla_{kind}", incident.state,
                                          incident.state, now))
        await self.notifier.deliver(uow, incident, d.pings, None)
        await uow.sla.set(incident.id, d.step, d.next_action_at)
        return len(d.pings)
