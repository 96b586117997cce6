"""Onboarding: the people of the config, invitations, binding chats, and refusing
strangers and deactivated people."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.storage import Storage, UnitOfWork
from bot.templates import Templates
from bot.usecases.common import Channel, Clock, Invitation
from bot.usecases.notifier import Notifier
from workflows.model import AuditEntry, Button, Person, Role, State
from workflows.visibility import in_municipality

log = logging.getLogger(__name__)

# The command menu of each role (setMyCommands for the person's Telegram chat), in order.
OVERSEE = (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER, Role.ADMIN, Role.HEAD)
COMMANDS: tuple[tuple[str, tuple[Role, ...]], ...] = (
    ("my", (Role.EXECUTOR,)), ("open", OVERSEE), ("incident", tuple(Role)),
    ("report", OVERSEE), ("export", OVERSEE), ("board", OVERSEE),
    ("templates", (Role.COORDINATOR,)), ("invite", (Role.ADMIN,)),
    ("cancel", tuple(Role)), ("help", tuple(Role)),
)


class Onboarding:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 channels: dict[str, Channel], notifier: Notifier, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.channels = channels
        self.notifier = notifier
        self.clock = clock
        # Which bot gave a chat its menu (a new token gives every menu again).
        self._bot = hashlib.sha256(config.telegram_token.encode()).hexdigest()[:16]

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
        a deactivated person); sent only when the chat was last given another menu, or by
        another bot (a restart with 300 people sent 300 menus, ten seconds of the outbox)."""
        chat_id = await uow.people.chat_of(person.id, "telegram")
        if chat_id is None or "telegram" not in self.channels:
            return
        scope = {"type": "chat", "chat_id": chat_id}
        commands = [{"command": c, "description": self.templates.phrase(f"command_{c}")}
                    for c, roles in COMMANDS if any(person.has(r) for r in roles)]
        menu = f"{self._bot} {json.dumps(commands, ensure_ascii=False)}"
        if await uow.chats.menu(chat_id) == menu:
            return
        if commands:
            await uow.outbox.enqueue("telegram", chat_id, "setMyCommands",
                             {"commands": commands, "scope": scope}, now)
        else:
            await uow.outbox.enqueue("telegram", chat_id, "deleteMyCommands", {"scope": scope}, now)
        await uow.chats.set_menu(chat_id, menu)
        self.notifier.wake_outbox()

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
            await self.notifier.send(uow, platform, old, self.templates.phrase("chat_unbound",
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
            await self.notifier.send_to_role(uow, Role.COORDINATOR, text,
                                    buttons=((Button("reassign", incident.id),),),
                                    version=incident.version, about=incident)

    async def refuse_inactive(self, person: Person, platform: str, chat_id: int,
                              what: str) -> None:
        """A deactivated person wrote or pressed: «Доступ закрыт»; audited."""
        now = self.clock()
        async with self.store.write() as uow:
            await self._audit_person(uow, person, "inactive", f"{platform}:{chat_id}: {what}",
                                     now, ok=False)
            await self.notifier.send(uow, platform, chat_id, self.templates.phrase("access_closed"))

    async def leave_group(self, chat_id: int) -> None:
        """A Telegram group not in ``[telegram] groups``: say once that it is not configured
        there, and leave it (both through the outbox, in this order)."""
        now = self.clock()
        async with self.store.write() as uow:
            if not await uow.chats.leave_group(chat_id, now):
                return
            await uow.audit.add(AuditEntry(None, None, "group_left", None, None, now,
                                          reason=f"telegram:{chat_id}"))
            await self.notifier.send(uow, "telegram", chat_id,
                             self.templates.phrase("group_not_watched", chat_id=chat_id))
            await uow.outbox.enqueue("telegram", chat_id, "leaveChat", {"chat_id": chat_id}, now)

    async def refuse_stranger(self, platform: str, chat_id: int, what: str) -> None:
        """Tell an unknown user they are not registered; audit the attempt."""
        now = self.clock()
        async with self.store.write() as uow:
            await uow.audit.add(AuditEntry(None, None, "stranger", None, None, now,
                                          reason=f"{platform}:{chat_id}: {what}", ok=False))
            await self.notifier.send(uow, platform, chat_id,
                                     self.templates.phrase("not_registered"))

    @staticmethod
    def may_invite(person: Person) -> bool:
        """Whether ``person`` may invite people: the admins."""
        return person.has(Role.ADMIN)

    async def invite(self, admin: Person, role: Role, department: str | None,
                     name: str, *, new: bool = False, rebind: int | None = None) -> Invitation:
        """A one-time invitation token for a new person.

        A name that an active person already has is never taken over: the answer is
        ``namesake`` and the admin chooses, explicitly, a new person (``new``) or moving that
        person's chat (``rebind``: their id; whoever opens the link becomes that person, and
        the old chat is told)."""
        now = self.clock()
        if not self.may_invite(admin):
            async with self.store.write() as uow:
                await uow.audit.add(AuditEntry(None, admin.id, "invite", None, None, now,
                                              reason="wrong_role", ok=False))
            return Invitation(False, code="wrong_role")
        if department is not None and (
                department not in self.config.departments
                or not in_municipality(admin, self.config.department_municipality.get(
                    department, admin.municipality))):
            return Invitation(False, code="unknown_department")
        if role in (Role.EXECUTOR, Role.DEPARTMENT_HEAD) and department is None:
            return Invitation(False, code="department_required")
        token = secrets.token_urlsafe(12)
        async with self.store.write() as uow:
            if rebind is not None:
                person = await uow.people.get(rebind)
                if (person is None or not person.active or person.name != name
                        or not in_municipality(admin, person.municipality)):
                    return Invitation(False, code="not_found")
                action = "invite_rebind"
            else:
                if not new and await uow.people.named(name):
                    return Invitation(False, code="namesake")
                # Of the admin's municipality (the region's admin invites the region's staff).
                person = await uow.people.add(Person(
                    0, name, frozenset({role}),
                    frozenset({department}) if department else frozenset(),
                    municipality=admin.municipality))
                action = "invite"
            await uow.invites.add(token, person.id, admin.id, now)
            await uow.audit.add(AuditEntry(None, admin.id, action, None, None, now,
                                          reason=f"{name} ({role.value}) #{person.id}"))
        return Invitation(True, token=token)

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
                await self.notifier.send(uow, platform, old, self.templates.phrase("chat_unbound",
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
                        await self.notifier.send(uow, p, chat, text)


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
    where = f" @{person.municipality}" if person.municipality else ""
    return (f"{person.name} [{roles}]" + (f" ({departments})" if departments else "") + where
            + state)
