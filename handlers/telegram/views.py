"""Looking things up: /open lists open incidents by state, /incident N shows one with its
history and the buttons its viewer may press; anything unrecognised gets a hint."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.service import Service
from handlers.telegram.common import say
from handlers.telegram.executor import _group
from handlers.telegram.render import Act
from handlers.telegram.routes import Routes
from workflows.model import Person, Role
from workflows.transitions import actions_for

router = Routes("views")
fallback = Routes("fallback")

OVERSEERS = (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER, Role.ADMIN)


@router.message(Command("open"))
async def open_incidents(message: Message, service: Service, person: Person) -> None:
    t = service.templates
    if not any(person.has(r) for r in OVERSEERS):
        await say(service, message.chat.id, t.phrase("not_allowed") + " /my")
        return
    incidents = await service.visible_incidents(person)
    if not incidents:
        await say(service, message.chat.id, t.phrase("nothing_open"))
        return
    names = {p.id: p.name for p in await service.people()}
    text = t.render("list", title="Открытые обращения", groups=_group(incidents), names=names)
    await say(service, message.chat.id, text)


@router.message(Command("incident"))
async def incident_command(message: Message, command: CommandObject, service: Service,
                           person: Person) -> None:
    arg = (command.args or "").strip().lstrip("№#")
    if not arg.isdigit():
        await say(service, message.chat.id, service.templates.phrase("incident_usage"))
        return
    await show(service, person, message.chat.id, int(arg))


@router.callback_query(Act.filter(F.a == "show"))
async def show_button(query: CallbackQuery, callback_data: Act, service: Service,
                      person: Person) -> None:
    await query.answer()
    await show(service, person, query.from_user.id, callback_data.n)


async def show(service: Service, person: Person, chat_id: int, n: int) -> None:
    t = service.templates
    incident = await service.incident(n)
    if incident is None or not service.may_see(person, incident):
        await say(service, chat_id, t.refusal("not_found" if incident is None else "not_visible"))
        return
    names = {p.id: p.name for p in await service.people()}
    text = t.render(
        "detail", incident=incident, history=await service.history(n), names=names,
        category=service.config.categories.get(incident.category or ""),
        department=service.config.departments.get(incident.department or "", ""),
        executor=names.get(incident.executor_id or 0, ""))
    await say(service, chat_id, text, actions_for(incident, person), version=incident.version)


@fallback.message()
async def unknown(message: Message, service: Service) -> None:
    await say(service, message.chat.id, service.templates.phrase("unknown_input"))


@fallback.callback_query()
async def unknown_button(query: CallbackQuery, service: Service) -> None:
    await query.answer(service.templates.refusal("unknown_action"), show_alert=True)
