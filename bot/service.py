"""The application service: runs the core's transitions against storage, one transaction each.

A front end calls a method here with the acting person; the service loads what the transition
needs, calls the pure function from ``workflows.transitions``, and commits the new state, the
audit row and the outgoing messages together. A refusal is audited too, and reported back as a
:class:`Result` whose ``code`` the front end turns into a polite explanation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot import batching, letters
from bot.addresses import address_of
from bot.config import Config
from bot.logs import mask
from bot.mailer import Mailer, MailFailed, build_message
from bot.publishers import Publisher, PublishFailed, PublishLater
from bot.storage import ChatState, Storage, UnitOfWork
from bot.templates import Templates
from workflows import approval
from workflows import transitions as core
from workflows.answer_templates import (
    MAX_BUTTONS,
    MAX_TEXT,
    MAX_TITLE,
    AnswerTemplate,
    fill,
    unknown_placeholders,
)
from workflows.calendar import WorkingCalendar
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
)
from workflows.ladder import OWED, due, ladder_changed, next_action, restart_step
from workflows.model import (
    Attachment,
    AuditEntry,
    Button,
    Draft,
    DraftKind,
    Incident,
    Notification,
    Person,
    Priority,
    Role,
    Sighting,
    State,
)
from workflows.regulation import Action
from workflows.routing import pick_executor
from workflows.sla import Policy, compute_deadlines
from workflows.sources import PICKABLE
from workflows.visibility import may_see, out_of_scope, sees_everything

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Call = tuple[str, dict[str, Any]]
Rows = Sequence[Sequence[Button]]
# The command menu of each role (setMyCommands for the person's Telegram chat), in order.
OVERSEE = (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER, Role.ADMIN, Role.HEAD)
# The audience of the heads of the МЦУ (escalations reach them along with the curators).
HEADS = "heads"
COMMANDS: tuple[tuple[str, tuple[Role, ...]], ...] = (
    ("my", (Role.EXECUTOR,)), ("open", OVERSEE), ("incident", tuple(Role)),
    ("report", OVERSEE), ("export", OVERSEE), ("board", OVERSEE),
    ("templates", (Role.COORDINATOR,)), ("invite", (Role.ADMIN,)),
    ("cancel", tuple(Role)), ("help", tuple(Role)),
)


class Channel(Protocol):
    """How one platform draws a message: the API calls that deliver it."""

    platform: str

    def build(self, chat_id: int, text: str, buttons: Rows = (), *, version: int | None = None,
              attachments: Sequence[Attachment] = ()) -> list[Call]: ...


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    code: str = ""
    incident: Incident | None = None


class Service:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 channels: Sequence[Channel], policies: dict[str, Policy], clock: Clock,
                 wake_outbox: Callable[[], None] = lambda: None,
                 publishers: dict[str, Publisher] | None = None) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.channels = {c.platform: c for c in channels}
        self.policies = policies
        self.clock = clock
        self.wake_outbox = wake_outbox
        # source → the publisher that posts approved answers there by itself
        self.publishers = publishers or {}
        # Detection (workflows.triage.Triage), set by the app: judges messages that matched
        # no category (bot.possible); None: such messages are dropped.
        self.triage: Any = None
        # Suggestions from approved answers (bot.suggestions.Suggester), set by the app.
        self.suggester: Any = None
        self.mailer = Mailer(config)

    # --- people ------------------------------------------------------------------------------

    async def seed_people(self) -> None:
        """Make the people of the config what the config says: it is the truth for them.

        New people are added; names, roles and departments are applied; people removed from
        the config are deactivated (their open incidents go back to the coordinators with a
        reassign button); people invited in the chat are kept. People are keyed by the
        config's ``key``, else their ids (:attr:`PersonSettings.identity`), never by name. A
        chat bound to another active person is never moved. Every change is audited.
        """
        now = self.clock()
        async with self.store.write() as uow:
            known = await uow.people.from_config()
            unkeyed = [p for p, key in known if key is None]
            seen: set[int] = set()
            specs = self.config.seed_people()
            primary = {spec.identity for spec, _ in specs}
            for spec, wanted in specs:
                key = spec.identity
                person = await uow.people.by_key(key)
                for other in spec.identities[1:] if person is None else ():
                    # Known before under a weaker key (an id added, or a `key` given since):
                    # the same account, now under the stronger key.
                    found = None if other in primary else await uow.people.by_key(other)
                    if found is not None and found.id not in seen:
                        person = found
                        await uow.people.set_key(found.id, key)
                        break
                if person is None:  # a database from before keys: adopt the row once
                    person = await _legacy_match(uow, spec, unkeyed)
                    if person is not None:
                        unkeyed.remove(person)
                        await uow.people.set_key(person.id, key)
                if person is None:
                    person = await uow.people.add(wanted, from_config=True, key=key)
                    await self._audit_person(uow, person, "person_added", _describe(person), now)
                elif replace(wanted, id=person.id) != person:
                    updated = replace(wanted, id=person.id)
                    await uow.people.update(updated)
                    await self._audit_person(uow, person, "person_updated",
                                             f"{_describe(person)} → {_describe(updated)}", now)
                    person = updated
                seen.add(person.id)
                for platform, chat_id in (("telegram", spec.telegram_id), ("vk", spec.vk_id)):
                    if chat_id:
                        await self._seed_binding(uow, person, platform, chat_id, now)
            for person, _ in known:
                if person.id not in seen and person.active:
                    await self._deactivate(uow, person, now)
                    seen.add(person.id)  # (their menu is taken away below)
            for person in await uow.people.all():
                if person.active or person.id in seen:
                    await self._command_menu(uow, person, now)

    async def _command_menu(self, uow: UnitOfWork, person: Person, now: datetime) -> None:
        """The commands of the person's roles as the menu of their Telegram chat (none for
        a deactivated person)."""
        chat_id = await uow.people.chat_of(person.id, "telegram")
        if chat_id is None or "telegram" not in self.channels:
            return
        scope = {"type": "chat", "chat_id": chat_id}
        commands = [{"command": c, "description": self.templates.phrase(f"command_{c}")}
                    for c, roles in COMMANDS if any(person.has(r) for r in roles)]
        if commands:
            await uow.outbox.enqueue("telegram", chat_id, "setMyCommands",
                             {"commands": commands, "scope": scope}, now)
        else:
            await uow.outbox.enqueue("telegram", chat_id, "deleteMyCommands", {"scope": scope}, now)
        self.wake_outbox()

    async def _audit_person(self, uow: UnitOfWork, person: Person, action: str, reason: str,
                            now: datetime, ok: bool = True) -> None:
        await uow.audit.add(AuditEntry(None, person.id, action, None, None, now,
                                      reason=reason, ok=ok))

    async def _seed_binding(self, uow: UnitOfWork, person: Person, platform: str, chat_id: int,
                            now: datetime) -> None:
        current = await uow.people.by_chat(platform, chat_id)
        if current is not None and current.id == person.id:
            return
        if current is not None and current.active:
            # The chat is someone else's: never moved silently (an admin rebinds by /invite).
            log.warning("%s chat %s of [[people]] %r is bound to person %s; left as it is",
                        platform, chat_id, person.name, current.id)
            await self._audit_person(uow, person, "bind_conflict",
                                     f"{platform}:{chat_id} is bound to {current.name} "
                                     f"(#{current.id})", now, ok=False)
            return
        old = await uow.people.chat_of(person.id, platform)
        await uow.people.bind(person.id, platform, chat_id)
        await self._audit_person(uow, person, "bind", f"{platform}:{chat_id}", now)
        if old is not None and platform in self.channels:
            await self._send(uow, platform, old, self.templates.phrase("chat_unbound",
                                                                      name=person.name))

    async def _deactivate(self, uow: UnitOfWork, person: Person, now: datetime) -> None:
        """A person gone from the config: refused from now on; their open incidents go back
        to the coordinators with a reassign button."""
        await uow.people.update(replace(person, active=False))
        await self._audit_person(uow, person, "person_deactivated", _describe(person), now)
        for incident in await uow.incidents.select(states=[s for s in State if s.is_open],
                                           executor_id=person.id):
            await uow.audit.add(AuditEntry(incident.id, None, "executor_deactivated",
                                          incident.state, incident.state, now, person.name))
            text = self.templates.phrase("executor_deactivated", n=incident.id,
                                         name=person.name)
            await self.send_to_role(uow, Role.COORDINATOR, text,
                                    buttons=((Button("reassign", incident.id),),),
                                    version=incident.version)

    async def refuse_inactive(self, person: Person, platform: str, chat_id: int,
                              what: str) -> None:
        """A deactivated person wrote or pressed: «Доступ закрыт»; audited."""
        now = self.clock()
        async with self.store.write() as uow:
            await self._audit_person(uow, person, "inactive", f"{platform}:{chat_id}: {what}",
                                     now, ok=False)
            await self._send(uow, platform, chat_id, self.templates.phrase("access_closed"))

    async def leave_group(self, chat_id: int) -> None:
        """A Telegram group not in ``[telegram] groups``: say once that it is not configured
        there, and leave it (both through the outbox, in this order)."""
        now = self.clock()
        async with self.store.write() as uow:
            if not await uow.chats.leave_group(chat_id, now):
                return
            await uow.audit.add(AuditEntry(None, None, "group_left", None, None, now,
                                          reason=f"telegram:{chat_id}"))
            await self._send(uow, "telegram", chat_id,
                             self.templates.phrase("group_not_watched", chat_id=chat_id))
            await uow.outbox.enqueue("telegram", chat_id, "leaveChat", {"chat_id": chat_id}, now)

    async def person_for_chat(self, platform: str, chat_id: int) -> Person | None:
        async with self.store.read() as uow:
            return await uow.people.by_chat(platform, chat_id)

    async def refuse_stranger(self, platform: str, chat_id: int, what: str) -> None:
        """Tell an unknown user they are not registered; audit the attempt."""
        now = self.clock()
        async with self.store.write() as uow:
            await uow.audit.add(AuditEntry(None, None, "stranger", None, None, now,
                                          reason=f"{platform}:{chat_id}: {what}", ok=False))
            await self._send(uow, platform, chat_id, self.templates.phrase("not_registered"))

    async def invite(self, admin: Person, role: Role, department: str | None,
                     name: str, *, new: bool = False, rebind: int | None = None) -> Result:
        """A one-time invitation token for a new person.

        A name that an active person already has is never taken over: the answer is
        ``namesake`` and the admin chooses, explicitly, a new person (``new``) or moving that
        person's chat (``rebind``: their id; whoever opens the link becomes that person, and
        the old chat is told)."""
        now = self.clock()
        if not admin.has(Role.ADMIN):
            async with self.store.write() as uow:
                await uow.audit.add(AuditEntry(None, admin.id, "invite", None, None, now,
                                              reason="wrong_role", ok=False))
            return Result(False, "wrong_role")
        if department is not None and department not in self.config.departments:
            return Result(False, "unknown_department")
        if role in (Role.EXECUTOR, Role.DEPARTMENT_HEAD) and department is None:
            return Result(False, "department_required")
        token = secrets.token_urlsafe(12)
        async with self.store.write() as uow:
            if rebind is not None:
                person = await uow.people.get(rebind)
                if person is None or not person.active or person.name != name:
                    return Result(False, "not_found")
                action = "invite_rebind"
            else:
                if not new and await uow.people.named(name):
                    return Result(False, "namesake")
                person = await uow.people.add(Person(
                    0, name, frozenset({role}),
                    frozenset({department}) if department else frozenset()))
                action = "invite"
            await uow.invites.add(token, person.id, admin.id, now)
            await uow.audit.add(AuditEntry(None, admin.id, action, None, None, now,
                                          reason=f"{name} ({role.value}) #{person.id}"))
        return Result(True, token)

    async def accept_invite(self, token: str, platform: str, chat_id: int
                            ) -> tuple[Person | None, str]:
        """Bind the chat to the invited person: (the person, ""), or (None, why not):
        ``used`` (an unknown or used token), ``chat_taken`` (the chat is already another
        active person's; the invitation stays unused). The person's previous chat on the
        platform (a rebinding the admin chose) is told it is no longer connected."""
        now = self.clock()
        async with self.store.write() as uow:
            holder = await uow.people.by_chat(platform, chat_id)
            invited = await uow.invites.invited(token)
            if invited is not None and holder is not None and holder.active \
                    and holder.id != invited:
                await uow.audit.add(AuditEntry(None, holder.id, "accept_invite", None, None,
                                              now, reason=f"{platform}:{chat_id}: chat_taken",
                                              ok=False))
                return holder, "chat_taken"
            person_id = await uow.invites.use(token, now)
            if person_id is None:
                await uow.audit.add(AuditEntry(None, None, "accept_invite", None, None, now,
                                              reason=f"{platform}:{chat_id}: bad token", ok=False))
                return None, "used"
            old = await uow.people.chat_of(person_id, platform)
            await uow.people.bind(person_id, platform, chat_id)
            await uow.chats.clear_unreachable(platform, chat_id)
            await uow.audit.add(AuditEntry(None, person_id, "accept_invite", None, None, now,
                                          reason=platform if old in (None, chat_id) else
                                          f"{platform}: rebound from {old} to {chat_id}"))
            person = await uow.people.get(person_id)
            if person is not None and platform == "telegram":
                await self._command_menu(uow, person, now)
            if old not in (None, chat_id) and person is not None:
                await self._send(uow, platform, old, self.templates.phrase("chat_unbound",
                                                                          name=person.name))
            return person, ""

    async def tell_unreachable(self, platform: str, chat_id: int, reason: str) -> None:
        """Tell the coordinators, once, that somebody's chat cannot be reached."""
        async with self.store.write() as uow:
            who = await uow.people.by_chat(platform, chat_id)
            text = self.templates.phrase("undeliverable", who=who.name if who else chat_id,
                                         reason=reason)
            for person in await uow.people.all():
                if not person.has(Role.COORDINATOR) or (who and person.id == who.id):
                    continue
                for p, chat in await uow.people.chats_of(person.id):
                    # (a chat on a platform that is not wired, such as a vk_id without the
                    # VK chat, is skipped as in _deliver)
                    if (p, chat) != (platform, chat_id) and p in self.channels:
                        await self._send(uow, p, chat, text)

    async def people(self) -> list[Person]:
        async with self.store.read() as uow:
            return await uow.people.all()

    # --- registration ------------------------------------------------------------------------

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
        policy = self.policy_for(seen.source)
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
            # The address named in the text (issue 14), normalised, kept with the incident.
            incident = replace(out.incident, address=address_of(seen.text))
            await uow.incidents.add(incident, now, seen)
            await uow.incidents.add_attachments(incident_id, seen.attachments)
            await uow.audit.add(out.audit)
            await self._schedule(uow, incident, 0)
            people = await uow.people.all()
            # The Governor's networks: the head of the department assigns (002 3.12.3).
            heads = await self._heads_to_assign(uow, incident, people)
            executor = None
            if not heads:
                reachable = {p.id for p in people if p.has(Role.EXECUTOR)
                             and category.department in p.departments
                             and await uow.people.reachable(p.id, self.channels)}
                executor = pick_executor(category, people, await uow.incidents.open_load(),
                                         reachable)
            if executor is not None:
                routed = core.assign(incident, None, executor, now)
                incident = await self._commit(uow, incident, routed)
            await self._deliver(uow, incident, [Notification(
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
                await self._deliver(uow, incident, [approval.to_head(
                    incident, approval.executors_of(incident.department, people))], actor)
                await uow.audit.add(AuditEntry(incident.id, None, "to_head", incident.state,
                                              incident.state, now,
                                              ", ".join(h.name for h in heads)))
            elif executor is None:  # nobody of the department can receive it: say so at once
                department = self.config.departments.get(category.department,
                                                          category.department)
                await self.send_to_role(
                    uow, Role.COORDINATOR, self.templates.phrase(
                        "no_connected_executors", department=department, n=incident.id),
                    buttons=((Button("reassign", incident.id),),), version=incident.version)
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
                        await self._commit(uow, waiting, core.close(waiting, None, now))
                    elif await uow.incidents.by_external(seen.source, seen.external_id):
                        return Result(True, "existing", waiting)
                    else:
                        await uow.incidents.add_repeat(seen, waiting.id, now)  # this reply was seen
                        out = core.reopen(waiting, None, f"Житель ответил: {seen.text}", now)
                        incident = await self._commit(uow, waiting, out)
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
        await self._deliver(uow, incident, [
            Notification(to, "repeat", {"text": seen.text},
                         ((Button("show", incident.id),),)) for to in audience], None)

    async def add_intake(self, actor: Person, chat_id: int, *, source: str, text: str,
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
                await self._send(uow, platform, chat_id, t.phrase("intake_confirm"), [[
                    Button("intake_yes", intake_id, label=t.phrase("intake_yes")),
                    Button("intake_no", intake_id, label=t.phrase("intake_no"))]])
                return
            rows = [[replace(b, incident_id=intake_id) for b in row] for row in category_buttons]
            await self._send(uow, platform, chat_id, self.templates.phrase(prompt), rows)

    def policy_for(self, source: str) -> Policy:
        """The policy of a source: ``[sla.sources]``, else the policy of the same name (a
        message from ПОС, ``pos``, follows the ``pos`` policy), else the default one."""
        sla = self.config.settings.sla
        name = sla.sources.get(source) or (source if source in self.policies
                                           else sla.default_policy)
        return self.policies[name]

    def policy_of(self, incident: Incident) -> Policy:
        """The incident's policy: the one chosen on its card, else its source's."""
        if incident.policy and incident.policy in self.policies:
            return self.policies[incident.policy]
        return self.policy_for(incident.source)

    def procedure_for(self, incident: Incident) -> approval.Procedure:
        """The procedure of the incident's policy: approval chain, head, contact, letters."""
        return self.config.procedures.get(self.policy_for(incident.source).name,
                                          approval.DEFAULT)

    # --- transitions -------------------------------------------------------------------------

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
            incident = await self._commit(uow, incident, out, actor)
            await self._after(uow, incident, command.action, actor, now)
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
        procedure = self.procedure_for(inc)
        step = approval.step_of(await uow.audit.entries(inc.id))
        if action is Action.EDIT_APPROVE and not approval.is_last(procedure, step):
            raise core.Refused("wrong_role", AuditEntry(  # only the last step edits
                inc.id, actor.id, action, inc.state, None, now, "wrong_role", False))
        return approval.check_final(inc, actor, action, now, procedure=procedure, step=step,
                                    version=version)

    async def _transition(self, uow: UnitOfWork, inc: Incident, actor: Person, command: Command,
                          now: datetime, *, version: int | None) -> core.Outcome:
        policy = self.policy_of(inc)
        match command:
            case Take():
                return core.take(inc, actor, now, version=version)
            case Decline(reason=reason):
                out = core.decline(inc, actor, reason, now, version=version)
                if not self.procedure_for(inc).head_assigns:
                    return out
                # The heads pick another executor (002 3.12.3); the coordinators are told too.
                people = await uow.people.all()
                if not await self._heads_to_assign(uow, inc, people):
                    return out
                executors = [p for p in approval.executors_of(inc.department, people)
                             if p.id != actor.id]
                return core.Outcome(out.incident, out.audit, (
                    *out.notifications, approval.to_head(out.incident, executors)))
            case Submit():
                draft = await uow.drafts.get(inc.id) or Draft(inc.id, actor.id, "")
                procedure = self.procedure_for(inc)
                out = core.submit(inc, actor, draft, now, statuses=policy.result_statuses)
                approval.require_contact(inc, actor, now, procedure=procedure,
                                         contacted=await self._contacted(uow, inc))
                return approval.route_submission(out, procedure)
            case Approve(status=status) | EditApprove(status=status):
                draft = await uow.drafts.get(inc.id) or Draft(inc.id, actor.id, "")
                procedure = self.procedure_for(inc)
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
                executor = await uow.people.get(target)
                if executor is None:
                    raise core.Refused("not_an_executor", AuditEntry(
                        inc.id, actor.id, command.action, inc.state, None, now,
                        "not_an_executor", False))
                return approval.head_assign(inc, actor, executor, now, version=version)
            case Contact(note=note):
                return approval.record_contact(inc, actor, note, now)
            case Reassign(executor_id=target):
                executor = await uow.people.get(target)
                if executor is None:
                    raise core.Refused("not_an_executor", AuditEntry(
                        inc.id, actor.id, command.action, inc.state, None, now,
                        "not_an_executor", False))
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
                deadlines = compute_deadlines(self.policy_of(inc), priority,
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
        raise core.Refused("unknown_action", AuditEntry(
            inc.id, actor.id, command.action, inc.state, None, now, "unknown_action", False))

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
                policy and policy not in self.policies):
            raise core.Refused("unknown_action", AuditEntry(
                inc.id, actor.id, action, inc.state, None, now, "unknown_action", False))
        moved = replace(inc, source=source) if source is not None else replace(
            inc, policy=policy or "")
        deadlines = compute_deadlines(
            self.policy_of(moved), inc.priority, inc.registered_at,
            urgent_deadline=inc.answer_due if inc.priority is Priority.URGENT else None)
        first = deadlines.first_response if inc.first_response_at is None else \
            inc.first_response_due
        return core.reclock(inc, actor, now, source=source, policy=policy,
                            answer_due=deadlines.answer, first_response_due=first)

    def _recategorize(self, inc: Incident, actor: Person, key: str,
                      now: datetime) -> core.Outcome:
        """A corrected category: the department follows it."""
        category = self.config.categories.get(key)
        if category is None:
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
        from bot.learning import add_label

        await add_label(uow, incident.text, incident.category or "", person_id=actor.id,
                        at=now)
        category = self.config.categories[incident.category or ""]
        people = await uow.people.all()
        holder = next((p for p in people if p.id == incident.executor_id), None)
        if (holder is not None and category.department in holder.departments
                or incident.state not in {State.NEW, State.ASSIGNED}
                or await self._heads_to_assign(uow, incident, people)):
            return
        reachable = {p.id for p in people if p.has(Role.EXECUTOR)
                     and category.department in p.departments
                     and await uow.people.reachable(p.id, self.channels)}
        executor = pick_executor(category, people, await uow.incidents.open_load(), reachable)
        if executor is not None and executor.id != incident.executor_id:
            routed = (core.reassign(incident, actor, executor, now) if holder is not None
                      else core.assign(incident, actor, executor, now))
            await self._commit(uow, incident, routed, actor)

    async def _after(self, uow: UnitOfWork, incident: Incident, action: Action,
                     actor: Person | None, now: datetime) -> None:
        """Bookkeeping that follows some transitions: an approved answer is queued for its
        publisher; the published answer is kept; a draft that has served is cleared."""
        approved = (action in (Action.APPROVE, Action.EDIT_APPROVE)
                    and incident.state is State.APPROVED)
        if approved and incident.source in self.publishers:
            await uow.publications.add(incident.id, incident.version, now)
        if (approved and incident.approved_kind is DraftKind.FINAL
                and self.procedure_for(incident).email_to):
            await self._make_letter(uow, incident, now)
        if action is Action.PUBLISH:
            draft = await uow.drafts.get(incident.id)
            await uow.answers.add(incident.id, incident.approved_kind or DraftKind.FINAL,
                                _published_text(incident, draft),
                                draft.attachments if draft else (), now,
                                actor.id if actor else None)
            if self.suggester is not None:  # the next suggestion reads it (issue 14)
                self.suggester.stale = True
        if action in (Action.REASSIGN, Action.REOPEN, Action.DECLINE):
            await uow.drafts.delete(incident.id)
        if action is Action.CATEGORY and actor is not None:
            await self._after_recategorize(uow, incident, actor, now)

    async def _commit(self, uow: UnitOfWork, before: Incident, out: core.Outcome,
                      actor: Person | None = None) -> Incident:
        now = out.audit.at
        after = out.incident
        await uow.incidents.update(after, now, before.version)
        await uow.audit.add(out.audit)
        await self._deliver(uow, after, out.notifications, actor)
        step, _ = await uow.sla.state(after.id)
        if ladder_changed(before, after):
            step = restart_step(after, self.policy_of(after), now=now)
        await self._schedule(uow, after, step)
        return after

    async def _schedule(self, uow: UnitOfWork, incident: Incident, step: int) -> None:
        """Store when the incident next needs the sweep: its next SLA rung, or the promised
        date of an interim answer."""
        if incident.state is State.WAITING:
            await uow.sla.set(incident.id, step, incident.promised_at)
            return
        if incident.state is State.AWAITING_FEEDBACK:
            await uow.sla.set(incident.id, step, incident.feedback_until)
            return
        policy = self.policy_of(incident)
        await uow.sla.set(incident.id, step, next_action(incident, policy, step=step))

    # --- the SLA sweep -------------------------------------------------------------------------

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
        if self.publishers:
            sent += await self.publish_due()
        sent += await self.send_letters_due()
        await self.daily_digest()
        return sent

    async def _sweep_one(self, uow: UnitOfWork, incident: Incident, step: int,
                         now: datetime) -> int:
        policy = self.policy_of(incident)
        if incident.state is State.WAITING:
            if incident.promised_at is None or incident.promised_at > now:
                await uow.sla.set(incident.id, step, incident.promised_at)
                return 0
            answer_due = compute_deadlines(policy, incident.priority, now).answer
            out = core.resume(incident, None, now, answer_due=answer_due)
            await self._commit(uow, incident, out)
            await uow.drafts.delete(incident.id)  # the interim draft is kept in answers
            return len(out.notifications)
        if incident.state is State.AWAITING_FEEDBACK:
            if incident.feedback_until is not None and incident.feedback_until <= now:
                out = core.close(incident, None, now)  # the window passed quietly
                await self._commit(uow, incident, out)
                return len(out.notifications)
            await uow.sla.set(incident.id, step, incident.feedback_until)
            return 0
        d = due(incident, policy, step=step, now=now)
        for kind in dict.fromkeys(str(p.context["kind"]) for p in d.pings):
            await uow.audit.add(AuditEntry(incident.id, None, f"sla_{kind}", incident.state,
                                          incident.state, now))
        await self._deliver(uow, incident, d.pings, None)
        await uow.sla.set(incident.id, d.step, d.next_action_at)
        return len(d.pings)

    async def publish_due(self, batch: int = 20) -> int:
        """Post approved answers through their publishers; the number published.

        The network call happens outside any transaction; its outcome is committed with the
        state change. A permanent failure hands the coordinators the package to publish by
        hand, with the reason; the answer is never lost.
        """
        now = self.clock()
        async with self.store.read() as uow:
            due_rows = await uow.publications.due(now, batch)
        done = 0
        for incident_id, round_, attempts in due_rows:
            async with self.store.read() as uow:
                incident = await uow.incidents.get(incident_id)
                draft = await uow.drafts.get(incident_id)
                origin = await uow.incidents.origin(incident_id)
            if incident is None or incident.state is not State.APPROVED \
                    or incident.version != round_:
                async with self.store.write() as uow:  # overtaken (published by hand, reassigned)
                    await uow.publications.finish(incident_id, round_, "done", result="skipped")
                continue
            publisher = self.publishers[incident.source]
            text = _published_text(incident, draft)
            try:
                posted, note = await publisher.publish(incident, origin, text,
                                                       draft.attachments if draft else ())
            except PublishLater as e:
                delay = timedelta(seconds=min(30 * 2 ** attempts, 3600))
                async with self.store.write() as uow:
                    await uow.publications.finish(incident_id, round_, "pending", error=str(e),
                                                retry_at=self.clock() + delay)
                continue
            except PublishFailed as e:
                await self._publish_by_hand(incident, round_, str(e))
                continue
            async with self.store.write() as uow:
                now = self.clock()
                out = core.mark_published(incident, None, now, promised_at=(
                    draft.promised_date if draft else None),
                    feedback_window=self.config.feedback_window)
                incident = await self._commit(uow, incident, out)
                await self._after(uow, incident, Action.PUBLISH, None, now)
                await uow.publications.finish(incident_id, round_, "done", result=posted)
                if note:
                    await self._deliver(uow, incident, [Notification(
                        core.COORDINATORS, "published_note", {"note": note})], None)
            done += 1
        return done

    async def _publish_by_hand(self, incident: Incident, round_: int, reason: str) -> None:
        async with self.store.write() as uow:
            await uow.publications.finish(incident.id, round_, "failed", error=reason)
            await uow.audit.add(AuditEntry(incident.id, None, "publish_failed", incident.state,
                                          incident.state, self.clock(), reason))
            draft = await uow.drafts.get(incident.id)
            await self._deliver(uow, incident, [Notification(
                core.COORDINATORS, "publish_package",
                {"text": _published_text(incident, draft), "failure": reason},
                ((Button("published", incident.id),),), attach="draft")], None)

    @property
    def office_calendar(self) -> WorkingCalendar:
        """The working calendar of the default policy: when digests and notes go out."""
        return self.policies[self.config.settings.sla.default_policy].calendar

    def working_day_started(self) -> datetime | None:
        """The local time now, when it is a working day and its working hours have begun."""
        local = self.clock().astimezone(self.config.tz)
        calendar = self.office_calendar
        if not calendar.is_working_day(local.date()) or local.time() < calendar.start:
            return None
        return local

    async def daily_digest(self) -> bool:
        """At the start of each working day, once: the coordinators' digest of what is due
        today, overdue, waiting for review and waiting for interim dates, per department."""
        now = self.clock()
        local = self.working_day_started()
        if local is None:
            return False
        day, calendar = local.date(), self.office_calendar
        async with self.store.write() as uow:
            if await uow.jobs.last_day("digest") == day.isoformat():
                return False
            await uow.jobs.set_last_day("digest", day.isoformat())
            end_of_day = datetime.combine(day, calendar.end, tzinfo=self.config.tz)
            due = await uow.incidents.due_by(OWED, end_of_day)
            groups = {
                "overdue": [i for i in due if i.answer_due and i.answer_due < now],
                "due_today": [i for i in due if i.answer_due and i.answer_due >= now],
                "on_review": await uow.incidents.select(states=[State.ON_REVIEW]),
                "waiting": await uow.incidents.select(states=[State.WAITING]),
            }
            per_department: dict[str, int] = {}
            for i in groups["overdue"] + groups["due_today"]:
                name = self.config.departments.get(i.department or "", "—")
                per_department[name] = per_department.get(name, 0) + 1
            people = await uow.people.all()
            names = {p.id: p.name for p in people}
            text = self.templates.render("digest", day=local, groups=groups, names=names,
                                         per_department=sorted(per_department.items()))
            await self.send_to_role(uow, Role.COORDINATOR, text)
        return True

    async def send_to_role(self, uow: UnitOfWork, role: Role | tuple[Role, ...], text: str, *,
                           attachments: Sequence[Attachment] = (), buttons: Rows = (),
                           version: int | None = None) -> None:
        """A message to every chat of everyone with ``role`` (any of several roles: once
        each), in the caller's transaction."""
        roles = role if isinstance(role, tuple) else (role,)
        for person in await uow.people.all():
            if any(person.has(r) for r in roles):
                await self._send_to(uow, person, text, buttons, version=version,
                                    attachments=attachments)

    async def _send_to(self, uow: UnitOfWork, person: Person, text: str, buttons: Rows = (), *,
                       version: int | None = None, attachments: Sequence[Attachment] = (),
                       item: dict[str, Any] | None = None) -> bool:
        """A message to every chat of ``person`` on a wired platform; False: no chat at all.
        ``item``: a new incident told to a coordinator (:mod:`bot.batching`)."""
        chats = await uow.people.chats_of(person.id)
        for platform, chat_id in chats:
            if platform in self.channels:
                await self._send(uow, platform, chat_id, text, buttons, version=version,
                                 attachments=attachments,
                                 item=item if person.has(Role.COORDINATOR) else None)
        return bool(chats)

    # --- the Governor's networks (002 3.12) -----------------------------------------------------

    async def _heads_to_assign(self, uow: UnitOfWork, incident: Incident,
                               people: Sequence[Person]) -> list[Person]:
        """The heads of the department who assign this incident (reachable ones), or none:
        the policy does not ask for it, or the department has no reachable head (then it is
        routed as any other, and the coordinators can reassign)."""
        if not self.procedure_for(incident).head_assigns:
            return []
        return [p for p in approval.heads_of(incident.department, people)
                if await uow.people.reachable(p.id, self.channels)]

    async def _contacted(self, uow: UnitOfWork, incident: Incident) -> bool:
        """Whether the executor holding the incident recorded the contact with the resident."""
        return any(e.ok and e.action == Action.CONTACT and e.actor_id == incident.executor_id
                   for e in await uow.audit.entries(incident.id))

    async def contacted(self, incident_id: int) -> bool | None:
        """None where the procedure does not ask for the contact; else whether it is done."""
        async with self.store.read() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None or not self.procedure_for(incident).contact_required:
                return None
            return await self._contacted(uow, incident)

    async def _make_letter(self, uow: UnitOfWork, incident: Incident, now: datetime) -> None:
        """After the final approval: the answer letter as DOCX for the executor to sign, and
        the request to upload the signed PDF (002 3.12.6)."""
        names = {p.id: p.name for p in await uow.people.all()}
        executor = names.get(incident.executor_id or 0, "")
        path = Path(self.config.files_dir) / "letters" / \
            f"incident-{incident.id}-{incident.version}.docx"
        letters.make_letter(path, incident=incident, text=incident.approved_text or "",
                            executor=executor,
                            department=self.config.departments.get(incident.department or "",
                                                                   ""),
                            at=now.astimezone(self.config.tz))
        emails = self.procedure_for(incident).email_to
        await uow.letters.add(incident.id, incident.version, str(path), list(emails), now)
        await uow.audit.add(AuditEntry(incident.id, None, "letter_made", incident.state,
                                      incident.state, now, path.name))
        docx = Attachment("document", "", f"Ответ по инциденту {incident.id}.docx",
                          letters.DOCX_MIME, str(path))
        if incident.executor_id is None:
            return
        executor_person = await uow.people.get(incident.executor_id)
        if executor_person is not None:
            text = self.templates.phrase("letter_sign", n=incident.id,
                                         emails=", ".join(emails))
            await self._send_to(uow, executor_person, text,
                                ((Button("signed_pdf", incident.id),),),
                                version=incident.version, attachments=(docx,))

    async def letter_waiting(self, incident_id: int) -> dict[str, Any] | None:
        """The newest letter of the incident, or None."""
        async with self.store.read() as uow:
            return await uow.letters.newest(incident_id)

    async def letters_to_sign(self, person: Person) -> list[int]:
        """The incidents whose letter waits for ``person``'s signed PDF."""
        async with self.store.read() as uow:
            return await uow.letters.to_sign(person.id)

    async def receive_signed(self, actor: Person, incident_id: int,
                             attachment: Attachment) -> Result:
        """The signed letter as PDF from the executor: kept and audited; the letter is then
        due for :meth:`send_letters_due` (the caller sends it at once)."""
        now = self.clock()
        async with self.store.write() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None:
                return Result(False, "not_found")
            row = await uow.letters.newest(incident_id)
            code = ""
            if incident.executor_id != actor.id:
                code = "not_assigned"
            elif row is None:
                code = "no_letter"
            elif row["status"] != "unsigned":
                code = "letter_done"
            elif not letters.is_pdf(attachment.local_path, attachment.file_name,
                                    attachment.mime_type):
                code = "not_a_pdf"
            if code:
                await uow.audit.add(AuditEntry(incident_id, actor.id, "letter_signed",
                                              incident.state, None, now, code, ok=False))
                return Result(False, code, incident)
            await uow.letters.mark_signed(incident_id, row["round"], attachment.local_path,
                                          attachment.file_name or "signed.pdf", now)
            await uow.audit.add(AuditEntry(incident_id, actor.id, "letter_signed",
                                          incident.state, incident.state, now,
                                          attachment.file_name))
        return Result(True, incident=incident)

    async def send_letters_due(self, batch: int = 20) -> int:
        """E-mail the signed letters whose time has come; the number sent. The SMTP call is
        made outside any transaction; a failure is recorded and retried with backoff (up to
        an hour apart), and the coordinators are told once per letter; nothing is lost."""
        now = self.clock()
        async with self.store.read() as uow:
            rows = await uow.letters.due(now, batch)
        sent = 0
        for row in rows:
            async with self.store.read() as uow:
                incident = await uow.incidents.get(row["incident_id"])
                people = {p.id: p for p in await uow.people.all()}
            if incident is None:
                continue
            to = row["email_to"]
            executor = people.get(incident.executor_id or 0)
            parts = letters.render_parts(letters.letter_context(
                incident=incident, text=incident.approved_text or "",
                executor=executor.name if executor else "",
                department=self.config.departments.get(incident.department or "", ""),
                at=(row["created_at"] or now).astimezone(self.config.tz)))
            error = ""
            try:
                msg = build_message(
                    sender=self.mailer.sender, to=to, subject=parts["email_subject"],
                    body=parts["email_body"],
                    files=[(Path(row["pdf_path"]), row["pdf_name"] or "signed.pdf",
                            letters.PDF_MIME),
                           (Path(row["docx_path"]), f"Ответ по инциденту {incident.id}.docx",
                            letters.DOCX_MIME)])
                await self.mailer.send(msg)
            except MailFailed as e:
                error = mask(str(e))
            except OSError as e:  # a file gone from files_dir
                error = f"{type(e).__name__}: {e}"
            await self._letter_outcome(incident, row, to, error)
            sent += not error
        return sent

    async def _letter_outcome(self, incident: Incident, row: dict[str, Any], to: list[str],
                              error: str) -> None:
        now = self.clock()
        key = (incident.id, row["round"])
        async with self.store.write() as uow:
            if not error:
                await uow.letters.mark_sent(*key, now)
                await uow.audit.add(AuditEntry(incident.id, None, "email_sent", incident.state,
                                              incident.state, now, ", ".join(to)))
                text = self.templates.phrase("letter_sent", n=incident.id, emails=", ".join(to))
                if incident.executor_id is not None:
                    executor = await uow.people.get(incident.executor_id)
                    if executor is not None:
                        await self._send_to(uow, executor, text)
                await self.send_to_role(uow, Role.COORDINATOR, text)
                log.info("incident #%s: letter e-mailed to %s", incident.id, ", ".join(to))
                return
            attempts = row["attempts"] + 1
            retry_at = now + timedelta(seconds=min(300 * 2 ** (attempts - 1), 3600))
            await uow.letters.mark_retry(*key, attempts, error, retry_at)
            await uow.audit.add(AuditEntry(incident.id, None, "email_failed", incident.state,
                                          incident.state, now, error[:500]))
            log.warning("incident #%s: letter not e-mailed (attempt %s): %s", incident.id,
                        attempts, error)
            if attempts == 1:  # told once; the sweep keeps trying
                await self.send_to_role(uow, Role.COORDINATOR, self.templates.phrase(
                    "letter_failed", n=incident.id, reason=error,
                    at=retry_at.astimezone(self.config.tz).strftime("%H:%M")))

    # --- drafts ------------------------------------------------------------------------------

    async def draft_text(self, actor: Person, incident_id: int, text: str) -> Result:
        return await self._draft_change(actor, incident_id, "draft_text",
                                        lambda uow, now: uow.drafts.save_text(
                                            incident_id, actor.id, text, now))

    async def draft_add_text(self, actor: Person, incident_id: int, text: str) -> Result:
        """Add ``text`` to the draft's text as a new paragraph (a first text starts it), so
        that an answer longer than one message can be written and a caption replaces
        nothing."""
        async def add(uow: UnitOfWork, now: datetime) -> None:
            draft = await uow.drafts.get(incident_id)
            before = draft.text.rstrip() if draft and draft.text else ""
            await uow.drafts.save_text(incident_id, actor.id,
                                     f"{before}\n\n{text}" if before.strip() else text, now)
        return await self._draft_change(actor, incident_id, "draft_text", add)

    async def draft_attach(self, actor: Person, incident_id: int, attachment: Attachment,
                           file_unique_id: str, media_group_id: str | None) -> Result:
        return await self._draft_change(actor, incident_id, "draft_attach",
                                        lambda uow, now: uow.drafts.add_attachment(
                                            incident_id, actor.id, attachment, file_unique_id,
                                            media_group_id, now))

    async def draft_kind(self, actor: Person, incident_id: int, kind: DraftKind,
                         promised: datetime | None) -> Result:
        """Make the draft an interim answer promising the final one by ``promised``, or
        a final answer again."""
        return await self._draft_change(actor, incident_id, "draft_kind",
                                        lambda uow, now: uow.drafts.set_kind(
                                            incident_id, actor.id, kind, promised, now))

    async def draft_clear_attachments(self, actor: Person, incident_id: int) -> Result:
        return await self._draft_change(actor, incident_id, "draft_clear",
                                        lambda uow, now: uow.drafts.clear_attachments(incident_id))

    async def draft_cancel(self, actor: Person, incident_id: int) -> Result:
        return await self._draft_change(actor, incident_id, "draft_cancel",
                                        lambda uow, now: uow.drafts.delete(incident_id))

    async def _draft_change(self, actor: Person, incident_id: int, action: str,
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

    async def draft(self, incident_id: int) -> Draft | None:
        async with self.store.read() as uow:
            return await uow.drafts.get(incident_id)

    # --- reading -------------------------------------------------------------------------------

    async def incident(self, incident_id: int) -> Incident | None:
        async with self.store.read() as uow:
            return await uow.incidents.get(incident_id)

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

    # --- chat state ----------------------------------------------------------------------------

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

    # --- posts sent by hand, waiting for a decision (intake) -----------------------------------

    async def intake_post(self, intake_id: int) -> dict[str, Any] | None:
        """The post's fields (``person_id``, ``source``, ``text``, ``url``, ``author``,
        ``attachments`` as JSON text, ``incident_id`` once registered), or None."""
        async with self.store.read() as uow:
            return await uow.intake.get(intake_id)

    async def set_intake_source(self, intake_id: int, source: str) -> None:
        async with self.store.write() as uow:
            await uow.intake.set_source(intake_id, source)

    async def drop_intake(self, intake_id: int) -> None:
        async with self.store.write() as uow:
            await uow.intake.drop(intake_id)

    async def intake_registered(self, intake_id: int, incident_id: int) -> None:
        async with self.store.write() as uow:
            await uow.intake.update(intake_id, incident_id=incident_id)

    # --- messages ------------------------------------------------------------------------------

    async def say(self, platform: str, chat_id: int, text: str, buttons: Rows = (), *,
                  version: int | None = None, attachments: Sequence[Attachment] = ()) -> None:
        """Send a message to one chat (through the outbox, like everything else)."""
        async with self.store.write() as uow:
            await self._send(uow, platform, chat_id, text, buttons, version=version,
                             attachments=attachments)

    async def _send(self, uow: UnitOfWork, platform: str, chat_id: int, text: str,
                    buttons: Rows = (), *, version: int | None = None,
                    attachments: Sequence[Attachment] = (),
                    item: dict[str, Any] | None = None) -> None:
        now = self.clock()
        channel = self.channels[platform]
        if item is not None and await batching.merge(uow, channel, self.templates, platform,
                                                     chat_id, item, now):
            self.wake_outbox()
            return
        messages = channel.build(chat_id, text, buttons, version=version,
                                 attachments=attachments)
        mergeable = item is not None and len(messages) == 1
        for method, payload in messages:
            await uow.outbox.enqueue(platform, chat_id, method, payload, now,
                                     batch=batching.REGISTERED if mergeable else None,
                                     items=[item] if mergeable and item else None)
        self.wake_outbox()

    async def _deliver(self, uow: UnitOfWork, incident: Incident, notes: Sequence[Notification],
                       actor: Person | None) -> None:
        if not notes:
            return
        people = await uow.people.all()
        names = {p.id: p.name for p in people}
        for note in notes:
            recipients = self._audience(note.to, people, actor)
            if note.to == core.CURATORS and note.context.get("kind") == "escalation":
                # The head of the МЦУ is escalated to wherever the curators are.
                recipients += [p for p in self._audience(HEADS, people, actor)
                               if p not in recipients]
            if not recipients:
                continue
            attachments: Sequence[Attachment] = ()
            wants_draft = note.attach == "draft" or note.template == "review"
            draft = await uow.drafts.get(incident.id) if wants_draft else None
            if note.attach == "draft":
                attachments = draft.attachments if draft else ()
            elif note.attach == "incident":
                attachments = await uow.incidents.attachments(incident.id)
            links = [a.file_id for a in attachments if a.kind == "link"]
            context: dict[str, Any] = {
                "incident": incident, "draft": draft, "names": names,
                "category": self.config.categories.get(incident.category or ""),
                "department": self.config.departments.get(incident.department or "", ""),
                "executor": names.get(incident.executor_id or 0, ""),
                "actor": actor.name if actor else "Отклик", "links": links,
                "policy": self.policy_of(incident),
            }
            buttons = note.buttons
            if note.template == "card" and incident.category:  # *Шаблон: …* (issue 14)
                prefix = self.templates.label("tpl")
                offered = [t for t in await uow.templates.in_use(incident.category)
                           if not t.primary][:MAX_BUTTONS]
                buttons = (*buttons, *((Button("tpl", incident.id, str(t.id),
                                               label=f"{prefix}: {t.title}"),)
                                       for t in offered))
                # *Как в №…*: the executor's own, so the card's one recipient (issue 14).
                if self.suggester is not None and len(recipients) == 1:
                    context["suggestions"] = await self.suggester.offer(
                        uow, recipients[0], incident)
                    buttons = (*buttons, *self.suggestion_buttons(
                        incident, context["suggestions"]))
            text = self.templates.render(note.template, **(context | note.context))
            # A coordinator's chat that is behind gets new incidents in one summary.
            item = ({"n": incident.id, "category": context["category"].name
                     if context["category"] else "", "executor": context["executor"],
                     "text": incident.text[:60]}
                    if note.template == "registered" and note.to == core.COORDINATORS
                    and not attachments else None)
            for person in recipients:
                if not await self._send_to(uow, person, text, buttons, item=item,
                                           version=incident.version, attachments=attachments):
                    log.warning("person %s has no bound chat; %s not delivered",
                                person.id, note.template)

    @staticmethod
    def _audience(to: int | str, people: Sequence[Person], actor: Person | None) -> list[Person]:
        if isinstance(to, int):
            return [p for p in people if p.id == to and p.active]
        if to == core.COORDINATORS:
            role, block = Role.COORDINATOR, None
        elif to == core.CURATORS:
            role, block = Role.CURATOR, None
        elif to == HEADS:
            role, block = Role.HEAD, None
        elif to.startswith("block_owners:"):
            role, block = Role.BLOCK_OWNER, to.split(":", 1)[1]
        elif to.startswith("department_heads:"):
            department = to.split(":", 1)[1]
            return [p for p in people if approval.is_head_of(p, department)
                    and (actor is None or p.id != actor.id)]
        else:
            raise ValueError(f"unknown audience {to!r}")
        found = [p for p in people if p.has(role) and (actor is None or p.id != actor.id)]
        if block is not None:
            found = [p for p in found if block in p.departments]
        return found

    # --- answer templates (issue 14) ---------------------------------------------------------

    async def seed_answer_templates(self) -> None:
        """The config's ``[[answer_templates]]`` in the database, as the config says."""
        async with self.store.write() as uow:
            await uow.templates.sync_config(
                [(t.category, t.title.strip(), t.text)
                 for t in self.config.settings.answer_templates], self.clock())

    async def answer_templates(self, category: str | None = None) -> list[AnswerTemplate]:
        async with self.store.read() as uow:
            return await uow.templates.in_use(category)

    async def offered_templates(self, incident: Incident) -> list[AnswerTemplate]:
        """The *Шаблон: …* buttons of an incident: at most three of its category, the primary
        answer's template left out (it has its own button)."""
        if not incident.category:
            return []
        found = await self.answer_templates(incident.category)
        return [t for t in found if not t.primary][:MAX_BUTTONS]

    def template_values(self, incident: Incident) -> dict[str, str]:
        """The fixed values a template may use; nothing else is reachable from its text."""
        tz = self.config.tz
        category = self.config.categories.get(incident.category or "")

        def local(t: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
            return t.astimezone(tz).strftime(fmt) if t else ""
        return {
            "address": incident.address or self.templates.phrase("no_address"),
            "deadline": local(incident.answer_due),
            "department": self.config.departments.get(incident.department or "", ""),
            "category": category.name if category else "",
            "number": str(incident.id),
            "registered": local(incident.registered_at, "%d.%m.%Y"),
            "today": local(self.clock(), "%d.%m.%Y"),
        }

    async def filled_template(self, incident: Incident, template_id: int) -> str | None:
        """The template's text filled for the incident; None when it is gone or belongs to
        another category (a stale or forged button)."""
        async with self.store.read() as uow:
            found = await uow.templates.get(template_id)
        if found is None or found.category != incident.category:
            return None
        return fill(found.text, self.template_values(incident))

    async def primary_answer(self, incident: Incident) -> str | None:
        """The primary answer from the category's «Первичный ответ» template, if it has one."""
        for t in await self.answer_templates(incident.category) if incident.category else []:
            if t.primary:
                return fill(t.text, self.template_values(incident))
        return None

    # --- suggestions from approved answers (issue 14) -----------------------------------------

    async def offered_suggestions(self, person: Person, incident: Incident) -> list[Any]:
        """The *Как в №…* offers (``bot.suggestions.Suggestion``) for ``person`` working on
        ``incident``: past answers of its category inside their scope, at most three."""
        if self.suggester is None:
            return []
        async with self.store.read() as uow:
            return await self.suggester.offer(uow, person, incident)

    def suggestion_buttons(self, incident: Incident, offered: Sequence[Any]
                           ) -> list[tuple[Button, ...]]:
        prefix = self.templates.label("sug")
        return [(Button("sug", incident.id, str(s.incident_id),
                        label=f"{prefix} №{s.incident_id}"),) for s in offered]

    async def suggested_answer(self, person: Person, incident: Incident,
                               past_id: int) -> str | None:
        """The answer of past incident ``past_id`` for a press on its button; None when it
        could not have been offered to ``person`` here (a stale or forged button)."""
        if self.suggester is None:
            return None
        async with self.store.read() as uow:
            return await self.suggester.answer(uow, person, incident, past_id)

    async def add_answer_template(self, actor: Person, category: str, title: str,
                                  text: str) -> Result:
        """A template typed by a coordinator: refused with a reason, never half-saved."""
        if not actor.has(Role.COORDINATOR):
            return Result(False, "wrong_role")
        if category not in self.config.categories:
            return Result(False, "bad_button")
        if len(title) > MAX_TITLE:
            return Result(False, "template_title_long")
        if len(text) > MAX_TEXT:
            return Result(False, "template_text_long")
        if unknown_placeholders(text):
            return Result(False, "template_placeholder")
        async with self.store.write() as uow:
            if any(t.title.casefold() == title.casefold()
                   for t in await uow.templates.in_use(category)):
                return Result(False, "template_exists")
            new_id = await uow.templates.add(category, title, text, "chat", actor.id,
                                                  self.clock())
        return Result(True, str(new_id))

    async def delete_answer_template(self, actor: Person, template_id: int) -> Result:
        if not actor.has(Role.COORDINATOR):
            return Result(False, "wrong_role")
        async with self.store.write() as uow:
            gone = await uow.templates.delete(template_id, self.clock())
        return Result(gone, "" if gone else "stale")


def _published_text(incident: Incident, draft: Draft | None) -> str:
    return incident.approved_text or (draft.text if draft else "")


async def _legacy_match(uow: UnitOfWork, spec: Any, unkeyed: list[Person]) -> Person | None:
    """The row a config person had before people were keyed: by their bound chat, else (the
    only such row) by name."""
    for person in unkeyed:
        for platform, chat_id in (("telegram", spec.telegram_id), ("vk", spec.vk_id)):
            if chat_id and await uow.people.chat_of(person.id, platform) == chat_id:
                return person
    named = [p for p in unkeyed if p.name == spec.name]
    return named[0] if len(named) == 1 else None


def _describe(person: Person) -> str:
    roles = ",".join(sorted(person.roles))
    departments = ",".join(sorted(person.departments))
    state = "" if person.active else ", inactive"
    return f"{person.name} [{roles}]" + (f" ({departments})" if departments else "") + state
