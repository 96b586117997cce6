"""Onboarding: /start with an invitation, /invite for admins, /help and /cancel."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.service import Service
from handlers.telegram.common import PLATFORM, Mode, say
from handlers.telegram.render import Act
from handlers.telegram.routes import Routes
from workflows.model import Button, Person, Role

router = Routes("onboarding")


@router.message(CommandStart())
async def start(message: Message, command: CommandObject, service: Service,
                person: Person | None, bot_username: str) -> None:
    t = service.templates
    if command.args:
        bound = await service.accept_invite(command.args.strip(), PLATFORM, message.chat.id)
        if bound is None:
            await say(service, message.chat.id, t.phrase("invite_used"))
            return
        person = bound
    if person is None:
        await service.refuse_stranger(PLATFORM, message.chat.id, "/start")
        return
    roles = ", ".join(t.phrase_raw("roles", r) for r in sorted(person.roles))
    await say(service, message.chat.id, t.phrase("welcome", name=person.name, roles=roles))


@router.message(Command("help"))
async def help_(message: Message, service: Service) -> None:
    await say(service, message.chat.id, service.templates.phrase("help"))


@router.message(Command("cancel"))
async def cancel(message: Message, service: Service, person: Person) -> None:
    await service.clear_mode(person, PLATFORM)
    await say(service, message.chat.id, service.templates.phrase("aborted"))


@router.callback_query(Act.filter(F.a == "abort"))
async def abort(query: CallbackQuery, service: Service, person: Person) -> None:
    await service.clear_mode(person, PLATFORM)
    await query.answer(service.templates.phrase("aborted"))


# --- invitations ------------------------------------------------------------------------------

@router.message(Command("invite"))
async def invite(message: Message, command: CommandObject, service: Service, person: Person,
                 bot_username: str) -> None:
    t = service.templates
    if not person.has(Role.ADMIN):
        await service.invite(person, Role.EXECUTOR, None, "")  # audited refusal
        await say(service, message.chat.id, t.refusal("wrong_role"))
        return
    if not command.args:
        rows = [(Button("inv_role", 0, r.value, label=t.phrase_raw("roles", r.value)),)
                for r in Role]
        await say(service, message.chat.id, t.phrase("invite_pick_role"), rows)
        return
    parts = command.args.split(maxsplit=2)
    try:
        role = Role(parts[0])
    except ValueError:
        await say(service, message.chat.id, t.phrase("invite_usage"))
        return
    department = parts[1] if len(parts) > 1 and parts[1] in service.config.departments else None
    name_start = 2 if department else 1
    name = " ".join(parts[name_start:]).strip()
    if not name:
        await say(service, message.chat.id, t.phrase("invite_usage"))
        return
    await _issue(service, message.chat.id, person, role, department, name, bot_username)


@router.callback_query(Act.filter(F.a == "inv_role"))
async def invite_role(query: CallbackQuery, callback_data: Act, service: Service,
                      person: Person) -> None:
    t = service.templates
    if not person.has(Role.ADMIN):
        await query.answer(t.refusal("wrong_role"), show_alert=True)
        return
    await query.answer()
    rows = [(Button("inv_dept", 0, f"{callback_data.x}/{key}", label=name),)
            for key, name in service.config.departments.items()]
    if callback_data.x != Role.EXECUTOR:
        rows.append((Button("inv_dept", 0, f"{callback_data.x}/", label="—"),))
    await say(service, query.from_user.id, t.phrase("invite_pick_department"), rows)


@router.callback_query(Act.filter(F.a == "inv_dept"))
async def invite_department(query: CallbackQuery, callback_data: Act, service: Service,
                            person: Person) -> None:
    t = service.templates
    if not person.has(Role.ADMIN):
        await query.answer(t.refusal("wrong_role"), show_alert=True)
        return
    role, _, department = callback_data.x.partition("/")
    await service.set_mode(person, PLATFORM, "invite_name", None,
                           {"role": role, "department": department or None})
    await query.answer()
    await say(service, query.from_user.id, t.phrase("invite_ask_name"))


@router.message(Mode("invite_name"), F.text)
async def invite_name(message: Message, service: Service, person: Person, chat_state,
                      bot_username: str) -> None:
    data = chat_state.data
    await service.clear_mode(person, PLATFORM)
    await _issue(service, message.chat.id, person, Role(data["role"]), data["department"],
                 (message.text or "").strip(), bot_username)


async def _issue(service: Service, chat_id: int, admin: Person, role: Role,
                 department: str | None, name: str, bot_username: str) -> None:
    t = service.templates
    result = await service.invite(admin, role, department, name)
    if not result.ok:
        await say(service, chat_id, t.refusal(result.code))
        return
    link = f"https://t.me/{bot_username}?start={result.code}"
    await say(service, chat_id, t.phrase("invite_link", name=name,
                                         role=t.phrase_raw("roles", role.value), link=link))
