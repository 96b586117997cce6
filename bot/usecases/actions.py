"""Incident actions: may this person take this action now, and take it (the transition,
its guards, what it needs from the storage, and its after-effects through the ledger)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.config import Config
from bot.learning import add_label
from bot.publishers import Publisher
from bot.storage import Storage, UnitOfWork
from bot.templates import Templates
from bot.usecases.common import (
    Channel,
    Clock,
    Policies,
    Result,
    heads_to_assign,
    published_text,
    reachable_executors,
)
from bot.usecases.ledger import Ledger
from bot.usecases.problems import Problems
from workflows import approval, problems
from workflows import transitions as core
from workflows.commands import (
    Approve,
    ChangePolicy,
    ChangeSource,
    Close,
    Command,
    Contact,
    Decline,
    EditApprove,
    Extend,
    FirstResponse,
    HeadAssign,
    Merge,
    PlatformDue,
    Publish,
    Reassign,
    Recategorize,
    Redirect,
    RedirectTo,
    Reject,
    Remind,
    Reopen,
    Return,
    SetPriority,
    Submit,
    Take,
    Unmerge,
)
from workflows.model import AuditEntry, Draft, Incident, Person, Priority, Role, State
from workflows.regulation import Action
from workflows.routing import pick_executor
from workflows.sla import compute_deadlines
from workflows.sources import PICKABLE
from workflows.visibility import in_municipality, out_of_scope, working_in


class Actions:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 channels: dict[str, Channel], policies: Policies, ledger: Ledger,
                 publishers: dict[str, Publisher], clock: Clock,
                 problems: Problems | None = None) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.channels = channels
        self.policies = policies
        self.ledger = ledger
        self.publishers = publishers
        self.clock = clock
        self.problems = problems


    async def act(self, actor: Person, incident_id: int, command: Command, *,
                  version: int | None = None) -> Result:
        """Run one command of ``actor`` on an incident: the single entry point of the buttons
        (``version``: the version of the card pressed)."""
        now = self.clock()
        async with self.store.write() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None:
                return Result(False, "not_found")
            if out_of_scope(actor, incident):
                await uow.audit.add(AuditEntry(incident.id, actor.id, command.action,
                                              incident.state, None, now, "not_visible",
                                              ok=False))
                return Result(False, "not_visible", incident)
            try:
                out = await self._transition(uow, incident, actor, command, now,
                                             version=version)
            except core.Refused as r:
                await uow.audit.add(r.audit)
                return Result(False, r.code, incident)
            incident = await self.ledger.commit(uow, incident, out, actor)
            await self.ledger.after(uow, incident, command.action, actor, now)
            if command.action is Action.CATEGORY:
                await self._after_recategorize(uow, incident, actor, now)
            problems = self.problems if command.action is Action.PUBLISH else None
            draft = await uow.drafts.get(incident.id) if problems is not None else None
        if problems is not None:
            # Published by hand: the complaints of its problem get the answer through their
            # publishers (outside the transaction, like any publication).
            await problems.publish_to_complaints(
                incident, published_text(incident, draft), draft.attachments if draft else ())
        return Result(True, incident=incident)

    async def may(self, actor: Person, incident_id: int, action: Action, *,
                  version: int | None = None) -> Result:
        """Whether ``actor`` may take ``action`` on the incident now: the regulation, the step
        of the incident's approval chain, a source's fixed key. The front end asks before it
        prompts for a reason or a choice, so nobody types one for nothing; a refusal is
        audited like any other."""
        now = self.clock()
        async with self.store.write() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None:
                return Result(False, "not_found")
            try:
                if out_of_scope(actor, incident):
                    raise core.Refused("not_visible", AuditEntry(
                        incident.id, actor.id, action, incident.state, None, now,
                        "not_visible", ok=False))
                await self._check(uow, incident, actor, action, now, version)
            except core.Refused as r:
                await uow.audit.add(r.audit)
                return Result(False, r.code, incident)
        return Result(True, incident=incident)

    async def _check(self, uow: UnitOfWork, inc: Incident, actor: Person, action: Action,
                     now: datetime, version: int | None) -> None:
        role = None
        if action in (Action.APPROVE, Action.EDIT_APPROVE, Action.RETURN):
            role = await self._chain_role(uow, inc, actor, action, now, version)
        elif action is Action.SOURCE:
            await self._source_fixed(uow, inc, actor, now)
        core.guard(inc, actor, action, now, version=version, role=role)

    async def _chain_role(self, uow: UnitOfWork, inc: Incident, actor: Person, action: Action,
                          now: datetime, version: int | None) -> Role:
        """The role of the approval step an approval or a return is given at; refused when
        ``actor`` does not stand there, or edits before the last step."""
        procedure = self.policies.procedure_for(inc)
        step = approval.step_of(await uow.audit.entries(inc.id))
        if action is Action.EDIT_APPROVE and not approval.is_last(procedure, step):
            raise core.Refused("wrong_role", AuditEntry(  # only the last step edits
                inc.id, actor.id, action, inc.state, None, now, "wrong_role", False))
        return approval.check_final(inc, actor, action, now, procedure=procedure, step=step,
                                    version=version)

    async def _transition(self, uow: UnitOfWork, inc: Incident, actor: Person, command: Command,
                          now: datetime, *, version: int | None) -> core.Outcome:
        policy = self.policies.policy_of(inc)
        match command:
            case Take():
                return core.take(inc, actor, now, version=version)
            case Decline(reason=reason):
                out = core.decline(inc, actor, reason, now, version=version)
                if not self.policies.procedure_for(inc).head_assigns:
                    return out
                # The heads of the department pick another executor; the coordinators are
                # told too.
                people = working_in(await uow.people.all(), inc.municipality)
                if not await heads_to_assign(uow, inc, people, self.policies, self.channels):
                    return out
                executors = [p for p in approval.executors_of(inc.department, people)
                             if p.id != actor.id]
                return core.Outcome(out.incident, out.audit, (
                    *out.notifications, approval.to_head(out.incident, executors)))
            case Submit():
                draft = await uow.drafts.get(inc.id) or Draft(inc.id, actor.id, "")
                procedure = self.policies.procedure_for(inc)
                out = core.submit(inc, actor, draft, now, statuses=policy.result_statuses)
                approval.require_contact(inc, actor, now, procedure=procedure,
                                         contacted=await self._contacted(uow, inc))
                return approval.route_submission(out, procedure)
            case Approve(status=status) | EditApprove(status=status):
                draft = await uow.drafts.get(inc.id) or Draft(inc.id, actor.id, "")
                procedure = self.policies.procedure_for(inc)
                step = approval.step_of(await uow.audit.entries(inc.id))
                if isinstance(command, Approve) and not approval.is_last(procedure, step):
                    return approval.approve_step(inc, actor, now, procedure=procedure,
                                                 step=step, kind=draft.kind.value,
                                                 version=version)
                role = await self._chain_role(uow, inc, actor, command.action, now, version)
                edited = command.text if isinstance(command, EditApprove) else None
                return core.approve(inc, actor, draft, now, edited_text=edited, version=version,
                                    auto_publish=inc.source in self.publishers,
                                    result_status=status or None,
                                    statuses=policy.result_statuses, role=role)
            case Return(reason=reason):
                role = await self._chain_role(uow, inc, actor, Action.RETURN, now, version)
                return approval.mark_head_return(core.return_draft(
                    inc, actor, reason, now, version=version, role=role), role)
            case HeadAssign(executor_id=target):
                executor = await self._executor(uow, inc, actor, command, target, now)
                return approval.head_assign(inc, actor, executor, now, version=version)
            case Contact(note=note):
                return approval.record_contact(inc, actor, note, now)
            case Reassign(executor_id=target):
                executor = await self._executor(uow, inc, actor, command, target, now)
                if inc.state is State.NEW and inc.executor_id is None:
                    return core.assign(inc, actor, executor, now, version=version)
                return core.reassign(inc, actor, executor, now, version=version)
            case SetPriority(priority=priority, due=urgent_due):
                if priority is not Priority.URGENT:
                    urgent_due = None
                elif urgent_due is None or urgent_due <= now:
                    raise core.Refused("bad_deadline", AuditEntry(
                        inc.id, actor.id, command.action, inc.state, None, now,
                        "bad_deadline", False))
                deadlines = compute_deadlines(self.policies.policy_of(inc), priority,
                                              inc.registered_at, urgent_deadline=urgent_due)
                return core.set_priority(inc, actor, priority, now, answer_due=deadlines.answer)
            case Extend(due=answer_due, reason=reason):
                return core.extend(inc, actor, answer_due, reason, now)
            case FirstResponse():
                return core.first_response(inc, actor, now)
            case Remind():
                return core.remind(inc, actor, now)
            case Publish():
                draft = await uow.drafts.get(inc.id)
                return core.mark_published(inc, actor, now, version=version,
                                           promised_at=draft.promised_date if draft else None,
                                           feedback_window=self.config.feedback_window)
            case Redirect() | RedirectTo():
                return await self._redirect(uow, inc, actor, now, command, version=version)
            case PlatformDue(due=answer_due):
                return core.platform_due(inc, actor, answer_due, now)
            case ChangeSource(source=value):
                await self._source_fixed(uow, inc, actor, now)
                return self._reclock(inc, actor, now, source=value)
            case ChangePolicy(policy=value):
                return self._reclock(inc, actor, now, policy=value)
            case Recategorize(category=key):
                return self._recategorize(inc, actor, key, now)
            case Reject(reason=reason):
                return core.reject(inc, actor, reason, now, version=version)
            case Reopen(reason=reason):
                return core.reopen(inc, actor, reason, now, version=version)
            case Close():
                return core.close(inc, actor, now, version=version)
            case Merge(problem_id=lead_id):
                return await self._merge(uow, inc, actor, lead_id, now)
            case Unmerge():
                return await self._unmerge(uow, inc, actor, now)
        raise core.Refused("unknown_action", AuditEntry(
            inc.id, actor.id, command.action, inc.state, None, now, "unknown_action", False))

    @staticmethod
    async def _executor(uow: UnitOfWork, inc: Incident, actor: Person, command: Command,
                        person_id: int, now: datetime) -> Person:
        """The person an incident is given to; refused when there is none of that id."""
        executor = await uow.people.get(person_id)
        # (an executor of another municipality is nobody here: a forged button)
        if executor is None or not in_municipality(executor, inc.municipality):
            raise core.Refused("not_an_executor", AuditEntry(
                inc.id, actor.id, command.action, inc.state, None, now, "not_an_executor",
                False))
        return executor

    async def _redirect(self, uow: UnitOfWork, inc: Incident, actor: Person, now: datetime,
                        command: Redirect | RedirectTo, *, version: int | None
                        ) -> core.Outcome:
        """Redirect to an organisation of ``[[organisations]]`` or a typed one. The answer
        that tells the resident where the message went becomes the draft, on review."""
        organisation = None
        if isinstance(command, RedirectTo):
            organisation = self.config.organisations.get(command.organisation)
            if organisation is None:
                raise core.Refused("unknown_action", AuditEntry(
                    inc.id, actor.id, command.action, inc.state, None, now, "unknown_action",
                    False))
            to, note = organisation.name, ""
        else:
            to, note = command.to.strip(), command.note.strip()
        out = core.redirect(inc, actor, to, note, now, version=version, answer=True)
        within = organisation.answer_within if organisation else self.config.redirect_within
        answer = self.templates.phrase(
            "redirect_answer", to=organisation.to if organisation else to,
            due=(now + within).astimezone(self.config.tz).strftime("%d.%m.%Y"))
        await uow.drafts.delete(inc.id)
        await uow.drafts.save_text(inc.id, actor.id, answer, now)
        return out

    async def _merge(self, uow: UnitOfWork, inc: Incident, actor: Person, lead_id: int,
                     now: datetime) -> core.Outcome:
        """«Объединить»: the complaint joins the problem of ``lead_id`` (a lone incident
        becomes a problem so). Never across what the coordinator cannot see, never a problem
        into another (its complaints would be lost from sight)."""
        lead = await uow.incidents.get(lead_id)

        def refused(code: str) -> core.Refused:
            return core.Refused(code, AuditEntry(inc.id, actor.id, Action.MERGE, inc.state,
                                                 None, now, code, ok=False))
        if lead is None:
            raise refused("not_found")
        if out_of_scope(actor, lead) or lead.municipality != inc.municipality:
            raise refused("not_visible")  # (a problem is of one municipality)
        if await uow.problems.complaints(inc.id):
            raise refused("has_complaints")
        out = problems.merge(inc, lead, actor, now)
        await uow.problems.link(inc.id, lead.id, inc.state, inc.executor_id, actor.id, now)
        return out

    async def _unmerge(self, uow: UnitOfWork, inc: Incident, actor: Person,
                       now: datetime) -> core.Outcome:
        """«Разъединить»: the complaint goes back to the state and the executor it had (new,
        for the coordinator to route, when that executor has left)."""
        core.guard(inc, actor, Action.UNMERGE, now)
        link = await uow.problems.unlink(inc.id)
        state, executor_id = State.NEW, None
        if link is not None:
            executor = (await uow.people.get(link["prev_executor_id"])
                        if link["prev_executor_id"] is not None else None)
            if executor is not None and executor.has(Role.EXECUTOR):
                state, executor_id = State(link["prev_state"]), executor.id
        return problems.unmerge(inc, actor, now, state=state, executor_id=executor_id)

    async def _source_fixed(self, uow: UnitOfWork, inc: Incident, actor: Person,
                            now: datetime) -> None:
        """Refuse a new source for an incident a source found: only one registered by hand
        (from an intake) may change it."""
        origin = await uow.incidents.origin(inc.id)
        if not str(origin.get("external_id") or "").startswith("intake:"):
            raise core.Refused("source_fixed", AuditEntry(
                inc.id, actor.id, Action.SOURCE, inc.state, None, now, "source_fixed", False))

    def _reclock(self, inc: Incident, actor: Person, now: datetime, *,
                 source: str | None = None, policy: str | None = None) -> core.Outcome:
        """A new source or policy from the card, and the deadlines that follow from it
        (counted from the registration, as if it had come so)."""
        action = Action.SOURCE if source is not None else Action.POLICY
        if (source is not None and source not in PICKABLE and source != inc.source) or (
                policy and policy not in self.policies.named):
            raise core.Refused("unknown_action", AuditEntry(
                inc.id, actor.id, action, inc.state, None, now, "unknown_action", False))
        moved = replace(inc, source=source) if source is not None else replace(
            inc, policy=policy or "")
        deadlines = compute_deadlines(
            self.policies.policy_of(moved), inc.priority, inc.registered_at,
            urgent_deadline=inc.answer_due if inc.priority is Priority.URGENT else None)
        first = deadlines.first_response if inc.first_response_at is None else \
            inc.first_response_due
        return core.reclock(inc, actor, now, source=source, policy=policy,
                            answer_due=deadlines.answer, first_response_due=first)

    def _recategorize(self, inc: Incident, actor: Person, key: str,
                      now: datetime) -> core.Outcome:
        """A corrected category: the department follows it."""
        category = self.config.categories.get(key)
        if category is None or not self.config.category_serves(key, inc.municipality):
            raise core.Refused("unknown_category", AuditEntry(
                inc.id, actor.id, Action.CATEGORY, inc.state, None, now, "unknown_category",
                False))
        return core.recategorize(inc, actor, key, category.department, now)

    async def _after_recategorize(self, uow: UnitOfWork, incident: Incident, actor: Person,
                                  now: datetime) -> None:
        """The corrected category is a labelled example for detection (bot.learning). An
        incident not yet taken whose executor is not of the new category's department goes,
        as at registration, to a reachable executor of it (or stays, for the coordinator to
        reassign: the reply says so)."""
        await add_label(uow, incident.text, incident.category or "", person_id=actor.id,
                        at=now)
        category = self.config.categories[incident.category or ""]
        people = working_in(await uow.people.all(), incident.municipality)
        holder = next((p for p in people if p.id == incident.executor_id), None)
        if (holder is not None and category.department in holder.departments
                or incident.state not in {State.NEW, State.ASSIGNED}
                or await heads_to_assign(uow, incident, people, self.policies, self.channels)):
            return
        reachable = await reachable_executors(uow, people, category.department, self.channels)
        executor = pick_executor(category, people, await uow.incidents.open_load(), reachable)
        if executor is not None and executor.id != incident.executor_id:
            routed = (core.reassign(incident, actor, executor, now) if holder is not None
                      else core.assign(incident, actor, executor, now))
            await self.ledger.commit(uow, incident, routed, actor)

    async def _contacted(self, uow: UnitOfWork, incident: Incident) -> bool:
        """Whether the executor holding the incident recorded the contact with the resident."""
        return any(e.ok and e.action == Action.CONTACT and e.actor_id == incident.executor_id
                   for e in await uow.audit.entries(incident.id))

    async def contacted(self, incident_id: int) -> bool | None:
        """None where the procedure does not ask for the contact; else whether it is done."""
        async with self.store.read() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None or not self.policies.procedure_for(incident).contact_required:
                return None
            return await self._contacted(uow, incident)
