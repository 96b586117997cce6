"""The notifier: turns the core's notifications and the use cases' messages into outbox rows.

Everything Otklik says goes through here, in the caller's transaction: who a notification is
for (:func:`audience`), how each platform draws it (the channels), and the coordinators' new
incidents merged into one summary when their chat is behind (:mod:`bot.batching`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from bot import batching
from bot.config import Config
from bot.storage import Storage, UnitOfWork
from bot.templates import Templates
from bot.usecases.common import Channel, Clock, Policies, Rows
from workflows import approval
from workflows import transitions as core
from workflows.answer_templates import MAX_BUTTONS
from workflows.model import Attachment, Button, Incident, Notification, Person, Role
from workflows.visibility import in_municipality, working_in

log = logging.getLogger(__name__)

# The audience of the heads of the МЦУ (escalations reach them along with the curators).
HEADS = "heads"
# The audience of the block owners of a department: "block_owners_of:<department key>".
DEPARTMENT_OWNERS = "block_owners_of:"


class Notifier:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 channels: dict[str, Channel], policies: Policies, clock: Clock,
                 wake_outbox: Callable[[], None], suggester: Any = None) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.channels = channels
        self.policies = policies
        self.clock = clock
        self.wake_outbox = wake_outbox
        # Suggestions from approved answers (bot.suggestions.Suggester) on the executor's card.
        self.suggester = suggester

    async def say(self, platform: str, chat_id: int, text: str, buttons: Rows = (), *,
                  version: int | None = None, attachments: Sequence[Attachment] = ()) -> None:
        """Send a message to one chat (through the outbox, like everything else)."""
        async with self.store.write() as uow:
            await self.send(uow, platform, chat_id, text, buttons, version=version,
                            attachments=attachments)

    async def send(self, uow: UnitOfWork, platform: str, chat_id: int, text: str,
                   buttons: Rows = (), *, version: int | None = None,
                   attachments: Sequence[Attachment] = (),
                   item: dict[str, Any] | None = None) -> None:
        """A message to one chat in the caller's transaction; ``item``: a new incident told
        to a coordinator, merged into the summary when the chat is behind."""
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

    async def send_to(self, uow: UnitOfWork, person: Person, text: str, buttons: Rows = (), *,
                      version: int | None = None, attachments: Sequence[Attachment] = (),
                      item: dict[str, Any] | None = None) -> bool:
        """A message to every chat of ``person`` on a wired platform; False: no chat at all.
        ``item``: a new incident told to a coordinator (:mod:`bot.batching`)."""
        chats = await uow.people.chats_of(person.id)
        for platform, chat_id in chats:
            if platform in self.channels:
                await self.send(uow, platform, chat_id, text, buttons, version=version,
                                attachments=attachments,
                                item=item if person.has(Role.COORDINATOR) else None)
        return bool(chats)

    async def send_to_role(self, uow: UnitOfWork, role: Role | tuple[Role, ...], text: str, *,
                           attachments: Sequence[Attachment] = (), buttons: Rows = (),
                           version: int | None = None,
                           about: Incident | None = None) -> None:
        """A message to every chat of everyone with ``role`` (any of several roles: once
        each), in the caller's transaction; ``about`` an incident: only to those of its
        municipality and the region's staff."""
        roles = role if isinstance(role, tuple) else (role,)
        for person in await uow.people.all():
            if about is not None and not in_municipality(person, about.municipality):
                continue
            if any(person.has(r) for r in roles):
                await self.send_to(uow, person, text, buttons, version=version,
                                   attachments=attachments)

    async def deliver(self, uow: UnitOfWork, incident: Incident, notes: Sequence[Notification],
                      actor: Person | None) -> None:
        """The core's notifications about ``incident``, rendered and sent to their audience."""
        if not notes:
            return
        people = await uow.people.all()
        names = {p.id: p.name for p in people}
        for note in notes:
            # A municipality's people hear only of its incidents; the region's staff of all.
            recipients = working_in(audience(note.to, people, actor), incident.municipality)
            if note.to == core.CURATORS and note.context.get("kind") == "escalation":
                # The head of the МЦУ is escalated to wherever the curators are.
                recipients += [p for p in audience(HEADS, people, actor)
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
                "policy": self.policies.policy_of(incident),
            }
            buttons = note.buttons
            if note.template == "card" and incident.category:  # *Шаблон: …* buttons
                prefix = self.templates.label("tpl")
                offered = [t for t in await uow.templates.in_use(incident.category)
                           if not t.primary][:MAX_BUTTONS]
                buttons = (*buttons, *((Button("tpl", incident.id, str(t.id),
                                               label=f"{prefix}: {t.title}"),)
                                       for t in offered))
                # *Как в №…*: the executor's own, so the card's one recipient.
                if self.suggester is not None and len(recipients) == 1:
                    context["suggestions"] = await self.suggester.offer(
                        uow, recipients[0], incident)
                    buttons = (*buttons, *suggestion_buttons(
                        self.templates, incident, context["suggestions"]))
            text = self.templates.render(note.template, **(context | note.context))
            # A coordinator's chat that is behind gets new incidents in one summary.
            item = ({"n": incident.id, "category": context["category"].name
                     if context["category"] else "", "executor": context["executor"],
                     "text": incident.text[:60],
                     **({"municipality": self.templates.municipality(incident)}
                        if self.templates.municipalities else {})}
                    if note.template == "registered" and note.to == core.COORDINATORS
                    and not attachments else None)
            for person in recipients:
                if not await self.send_to(uow, person, text, buttons, item=item,
                                          version=incident.version, attachments=attachments):
                    log.warning("person %s has no bound chat; %s not delivered",
                                person.id, note.template)


def audience(to: int | str, people: Sequence[Person], actor: Person | None) -> list[Person]:
    """Who a notification addressed ``to`` reaches (the actor is never told of their own act):
    a person's id, the coordinators, the curators, the heads, the block owners of a
    department (``block_owners_of:<department key>``), the heads of a department."""
    if isinstance(to, int):
        return [p for p in people if p.id == to and p.active]
    if to == core.COORDINATORS:
        role, department = Role.COORDINATOR, None
    elif to == core.CURATORS:
        role, department = Role.CURATOR, None
    elif to == HEADS:
        role, department = Role.HEAD, None
    elif to.startswith(DEPARTMENT_OWNERS):
        role, department = Role.BLOCK_OWNER, to.removeprefix(DEPARTMENT_OWNERS)
    elif to.startswith("department_heads:"):
        key = to.split(":", 1)[1]
        return [p for p in people if approval.is_head_of(p, key)
                and (actor is None or p.id != actor.id)]
    else:
        raise ValueError(f"unknown audience {to!r}")
    found = [p for p in people if p.has(role) and (actor is None or p.id != actor.id)]
    if department is not None:
        found = [p for p in found if department in p.departments]
    return found


def suggestion_buttons(templates: Templates, incident: Incident, offered: Sequence[Any]
                       ) -> list[tuple[Button, ...]]:
    """The *Как в №…* buttons of the offered suggestions."""
    prefix = templates.label("sug")
    return [(Button("sug", incident.id, str(s.incident_id),
                    label=f"{prefix} №{s.incident_id}"),) for s in offered]
