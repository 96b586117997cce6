"""Intake: messages become incidents. Registering and routing, watching a thread (a reply
that reopens, a repeat), possible complaints (:mod:`bot.possible`), and the posts a
coordinator sends by hand that wait for their category."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.addresses import address_of
from bot.config import Config
from bot.storage import Storage, UnitOfWork
from bot.templates import Templates
from bot.usecases.common import (
    Channel,
    Clock,
    Policies,
    Result,
    heads_to_assign,
    reachable_executors,
)
from bot.usecases.ledger import Ledger
from bot.usecases.notifier import Notifier
from bot.usecases.problems import Problems
from workflows import approval
from workflows import transitions as core
from workflows.model import (
    AuditEntry,
    Button,
    Incident,
    Notification,
    Person,
    Role,
    Sighting,
    State,
)
from workflows.routing import pick_executor
from workflows.sla import compute_deadlines
from workflows.visibility import working_in


class Intake:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 channels: dict[str, Channel], policies: Policies, notifier: Notifier,
                 ledger: Ledger, clock: Clock, triage: Any = None,
                 problems: Problems | None = None) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.channels = channels
        self.policies = policies
        self.notifier = notifier
        self.ledger = ledger
        self.clock = clock
        # Detection (workflows.triage.Triage): judges messages that matched no category
        # (bot.possible); None: such messages are dropped.
        self.triage = triage
        # One problem, many complaints: a new complaint like an open one is offered to merge.
        self.problems = problems


    async def register(self, actor: Person | None, seen: Sighting) -> Result:
        """Register an incident (``actor`` None: found by a source) and route it by its
        category to an executor.

        Idempotent by the source's natural key: a message seen again gives the incident it
        already became (``code`` "existing"); a further complaint of the same author in the
        same thread is linked to the open incident as a repeat (``code`` "repeat").
        """
        now = self.clock()
        category = self.config.categories.get(seen.category or "")
        if category is None:
            return Result(False, "unknown_category")
        municipality = self.config.municipality_of(seen.thread, seen.municipality, actor)
        if not self.config.category_serves(category.key, municipality):
            return Result(False, "unknown_category")  # a category of another municipality
        policy = self.policies.policy_for(seen.source, municipality)
        deadlines = compute_deadlines(policy, seen.priority, now)
        if seen.due is not None:  # the platform set the deadline itself
            deadlines = replace(deadlines, answer=seen.due, first_response=(
                min(deadlines.first_response, seen.due) if deadlines.first_response else None))
        subcategory = seen.subcategory if seen.subcategory in self.config.subcategories.get(
            category.key, ()) else None
        async with self.store.write() as uow:
            existing = await uow.incidents.by_external(seen.source, seen.external_id)
            if existing is not None:
                return Result(True, "existing", existing)
            if seen.thread and seen.author_id:
                open_one = await uow.incidents.open_in_thread(seen.thread, seen.author_id)
                if open_one is not None:
                    await self._link_repeat(uow, open_one, seen, now)
                    return Result(True, "repeat", open_one)
            incident_id = await uow.incidents.reserve_id()
            try:
                out = core.register(
                    incident_id, source=seen.source, text=seen.text, category=category.key,
                    department=category.department, priority=seen.priority, now=now,
                    actor=actor, url=seen.url, author=seen.author,
                    first_response_due=deadlines.first_response, answer_due=deadlines.answer,
                    subcategory=subcategory)
            except core.Refused as r:
                await uow.audit.add(r.audit)
                return Result(False, r.code)
            # The address named in the text, normalised, kept with the incident.
            incident = replace(out.incident, address=address_of(seen.text),
                               municipality=municipality)
            await uow.incidents.add(incident, now, seen)
            await uow.incidents.add_attachments(incident_id, seen.attachments)
            await uow.audit.add(out.audit)
            await self.ledger.schedule(uow, incident, 0)
            # Routed within the municipality (the region's staff work everywhere).
            people = working_in(await uow.people.all(), municipality)
            # Where the procedure says so (the Governor's networks), the head of the
            # department assigns.
            heads = await heads_to_assign(uow, incident, people, self.policies,
                                          self.channels)
            executor = None
            if not heads:
                reachable = await reachable_executors(uow, people, category.department,
                                                      self.channels)
                executor = pick_executor(category, people, await uow.incidents.open_load(),
                                         reachable)
            if executor is not None:
                routed = core.assign(incident, None, executor, now)
                incident = await self.ledger.commit(uow, incident, routed)
            await self.notifier.deliver(uow, incident, [Notification(
                actor.id if actor else core.COORDINATORS, "registered",
                {"routed": executor is not None, "found": actor is None,
                 "to_head": ", ".join(h.name for h in heads)},
                ((Button("first_response", incident.id), Button("reassign", incident.id)),)
                # Found by a source: the category is the detection's guess, to correct.
                + (((Button("recat", incident.id),),) if actor is None else ())
                # ПОС sets the deadline itself (3.10.3): one tap to type it.
                + (((Button("due", incident.id),),) if policy.name == "pos"
                   and seen.due is None else ()))],
                actor)
            if heads:
                await self.notifier.deliver(uow, incident, [approval.to_head(
                    incident, approval.executors_of(incident.department, people))], actor)
                await uow.audit.add(AuditEntry(incident.id, None, "to_head", incident.state,
                                              incident.state, now,
                                              ", ".join(h.name for h in heads)))
            elif executor is None:  # nobody of the department can receive it: say so at once
                department = self.config.departments.get(category.department,
                                                          category.department)
                await self.notifier.send_to_role(
                    uow, Role.COORDINATOR, self.templates.phrase(
                        "no_connected_executors", department=department, n=incident.id),
                    buttons=((Button("reassign", incident.id),),), version=incident.version,
                    about=incident)
            if self.problems is not None:
                await self.problems.suggest(uow, incident)
        return Result(True, "registered", incident)

    async def observe(self, seen: Sighting) -> Result:
        """A message in a watched thread (a VK post's comments, a Telegram group).

        From the author of an incident whose final answer is out and still in its feedback
        window, it reopens the incident to the same executor, quoting the resident. Otherwise,
        when it matched a category (``seen.category``), it becomes an incident or a repeat.
        """
        if seen.thread and seen.author_id:
            now = self.clock()
            async with self.store.write() as uow:
                waiting = await uow.incidents.open_in_thread(seen.thread, seen.author_id)
                if (waiting is not None and waiting.state is State.AWAITING_FEEDBACK
                        and waiting.feedback_until is not None):
                    if now >= waiting.feedback_until:
                        # The window has passed but no sweep has closed it yet: close it as
                        # the sweep would, so that the message is judged as a new complaint
                        # and not linked as a repeat to an incident that is about to close.
                        await self.ledger.commit(uow, waiting, core.close(waiting, None, now))
                    elif await uow.incidents.by_external(seen.source, seen.external_id):
                        return Result(True, "existing", waiting)
                    else:
                        await uow.incidents.add_repeat(seen, waiting.id, now)  # this reply was seen
                        out = core.reopen(waiting, None, f"Житель ответил: {seen.text}", now)
                        incident = await self.ledger.commit(uow, waiting, out)
                        await uow.drafts.delete(incident.id)
                        return Result(True, "reopened", incident)
        if seen.category is None:
            return await self.possible(seen)
        return await self.register(None, seen)

    async def possible(self, seen: Sighting) -> Result:
        """A message that matched no category: when it reads like a complaint, the
        coordinators get it as «Возможное обращение» (see bot.possible)."""
        from bot import possible

        return await possible.observe(self, seen)

    async def _link_repeat(self, uow: UnitOfWork, incident: Incident, seen: Sighting,
                           now: datetime) -> None:
        await uow.incidents.add_repeat(seen, incident.id, now)
        await uow.audit.add(AuditEntry(incident.id, None, "repeat", incident.state,
                                      incident.state, now, seen.text[:500]))
        audience: list[int | str] = [core.COORDINATORS]
        if incident.executor_id is not None:
            audience.append(incident.executor_id)
        await self.notifier.deliver(uow, incident, [
            Notification(to, "repeat", {"text": seen.text},
                         ((Button("show", incident.id),),)) for to in audience], None)

    async def add(self, actor: Person, chat_id: int, *, source: str, text: str,
                         url: str | None, author: str | None,
                         attachments: list[dict[str, Any]], media_group_id: str | None,
                         category_buttons: Sequence[Sequence[Button]],
                         platform: str = "telegram", confirm: bool = False,
                         prompt: str = "pick_category") -> None:
        """Keep a post the coordinator sent and ask for its category, in one transaction
        (``confirm``: a plain text, first asked whether to register it at all).

        The items of an album after the first join the same intake (or, once registered,
        the incident) silently: one prompt per post.
        """
        now = self.clock()
        async with self.store.write() as uow:
            existing = (await uow.intake.by_group(actor.id, media_group_id)
                        if media_group_id else None)
            if existing is not None:
                await uow.intake.update(
                    existing["id"], text=existing["text"] or text,
                    attachments=json.loads(existing["attachments"]) + attachments)
                return
            intake_id = await uow.intake.add(actor.id, source, text, url, author, attachments,
                                            media_group_id, now)
            if confirm:
                t = self.templates
                await self.notifier.send(uow, platform, chat_id, t.phrase("intake_confirm"), [[
                    Button("intake_yes", intake_id, label=t.phrase("intake_yes")),
                    Button("intake_no", intake_id, label=t.phrase("intake_no"))]])
                return
            rows = [[replace(b, incident_id=intake_id) for b in row] for row in category_buttons]
            await self.notifier.send(uow, platform, chat_id, self.templates.phrase(prompt), rows)

    async def post(self, intake_id: int) -> dict[str, Any] | None:
        """The post's fields (``person_id``, ``source``, ``text``, ``url``, ``author``,
        ``attachments`` as JSON text, ``incident_id`` once registered), or None."""
        async with self.store.read() as uow:
            return await uow.intake.get(intake_id)

    async def set_source(self, intake_id: int, source: str) -> None:
        async with self.store.write() as uow:
            await uow.intake.set_source(intake_id, source)

    async def drop(self, intake_id: int) -> None:
        async with self.store.write() as uow:
            await uow.intake.drop(intake_id)

    async def registered(self, intake_id: int, incident_id: int) -> None:
        async with self.store.write() as uow:
            await uow.intake.update(intake_id, incident_id=incident_id)
