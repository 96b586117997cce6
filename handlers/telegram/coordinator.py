"""The coordinator's side: register forwarded posts, approve or return drafts, reassign,
publish, redirect, reject, reopen and close."""

from __future__ import annotations

import json
import re

from aiogram import Bot, F
from aiogram.types import CallbackQuery, Message

from bot.service import Service
from bot.store import ChatState
from handlers.telegram.common import (
    PLATFORM,
    HasRole,
    Mode,
    answer_result,
    refuse_message,
    say,
    version_of,
)
from handlers.telegram.executor import save_file
from handlers.telegram.render import Act
from handlers.telegram.routes import Routes
from workflows.model import Attachment, Button, Person, Role, Sighting

router = Routes("coordinator")

URL = re.compile(r"https?://\S+")

# Buttons that need a text from the coordinator first: the chat mode, the prompt, and the
# action (with its argument) that the text completes.
NEEDS_TEXT = {
    "return": ("return_reason", "return_prompt", ("return", "")),
    "edit_approve": ("edit_text", "edit_prompt", ("edit_approve", "")),
    "redirect": ("redirect_text", "redirect_prompt", ("redirect", "")),
    "reject": ("reject_reason", "reject_prompt", ("reject", "")),
    "reopen": ("reopen_reason", "reopen_prompt", ("reopen", "")),
    "urgent": ("urgent_deadline", "urgent_prompt", ("priority", "urgent")),
    "extend": ("extend_text", "extend_prompt", ("extend", "")),
}
MODE_ACTION = {mode: action for mode, _, action in NEEDS_TEXT.values()}


# --- registration -----------------------------------------------------------------------------

@router.message(Mode(None), HasRole(Role.COORDINATOR),
                F.text | F.photo | F.document | F.forward_origin)
async def intake(message: Message, bot: Bot, service: Service, person: Person) -> None:
    """A forwarded post, or a text with a link and photos: ask for the category."""
    if message.text and message.text.startswith("/"):
        await say(service, message.chat.id, service.templates.phrase("unknown_input"))
        return
    text = message.text or message.caption or ""
    source, url, author = _origin(message, text)
    attachment = None
    if message.photo or message.document:
        attachment, _ = await save_file(bot, service, message, 0)
    atts = [_att_dict(attachment)] if attachment else []
    rows = [[Button("cat", 0, key, label=c.name)] for key, c in service.config.categories.items()]
    await service.add_intake(person, message.chat.id, source=source, text=text, url=url,
                             author=author, attachments=atts,
                             media_group_id=message.media_group_id, category_buttons=rows)


def _origin(message: Message, text: str) -> tuple[str, str | None, str | None]:
    found = URL.search(text)
    url = found.group(0) if found else None
    origin = message.forward_origin
    author = None
    source = "manual"
    if origin is not None:
        source = "telegram"
        chat = getattr(origin, "chat", None)
        user = getattr(origin, "sender_user", None)
        if chat is not None:
            author = chat.title
            msg_id = getattr(origin, "message_id", None)
            if chat.username and msg_id and url is None:
                url = f"https://t.me/{chat.username}/{msg_id}"
        elif user is not None:
            author = user.full_name
        else:
            author = getattr(origin, "sender_user_name", None)
    if url and ("vk.com" in url or "vk.ru" in url):
        source = "vk"
    return source, url, author


def _att_dict(a: Attachment) -> dict[str, str | None]:
    return {"kind": a.kind, "file_id": a.file_id, "file_name": a.file_name,
            "mime_type": a.mime_type, "local_path": a.local_path}


@router.callback_query(Act.filter(F.a == "cat"))
async def pick_category(query: CallbackQuery, callback_data: Act, service: Service,
                        person: Person) -> None:
    t = service.templates
    async with service.store.read() as tx:
        row = await tx.intake(callback_data.n)
    if row is None or row["person_id"] != person.id:
        await query.answer(t.refusal("not_found"), show_alert=True)
        return
    if row["incident_id"] is not None:
        await query.answer(t.phrase("intake_gone"), show_alert=True)
        return
    atts = [Attachment(a["kind"], a["file_id"], a["file_name"], a["mime_type"], a["local_path"])
            for a in json.loads(row["attachments"])]
    result = await service.register(person, Sighting(
        source=row["source"], external_id=f"intake:{row['id']}", text=row["text"],
        category=callback_data.x, url=row["url"], author=row["author"],
        attachments=tuple(atts)))
    if result.ok and result.incident is not None:
        async with service.store.tx() as tx:
            await tx.update_intake(row["id"], incident_id=result.incident.id)
    await answer_result(query, t, result, 0)


# --- review and the rest ----------------------------------------------------------------------

@router.callback_query(Act.filter(F.a.in_({"approve", "published", "close", "remind"})))
async def direct(query: CallbackQuery, callback_data: Act, service: Service,
                 person: Person) -> None:
    result = await service.act(person, callback_data.n, callback_data.a,
                               version=version_of(callback_data))
    await answer_result(query, service.templates, result, callback_data.n)


@router.callback_query(Act.filter(F.a == "priority"))
async def priority(query: CallbackQuery, callback_data: Act, service: Service,
                   person: Person) -> None:
    result = await service.act(person, callback_data.n, "priority", arg=callback_data.x)
    await answer_result(query, service.templates, result, callback_data.n)


@router.callback_query(Act.filter(F.a.in_(set(NEEDS_TEXT))))
async def ask_text(query: CallbackQuery, callback_data: Act, service: Service,
                   person: Person) -> None:
    n = callback_data.n
    mode, prompt, (action, arg) = NEEDS_TEXT[callback_data.a]
    check = await service.act(person, n, action, version=version_of(callback_data),
                              dry_run=True, arg=arg if arg != "urgent" else None)
    await answer_result(query, service.templates, check, n, ok_text="")
    if not check.ok:
        return
    await service.set_mode(person, PLATFORM, mode, n, {"v": version_of(callback_data)})
    await say(service, query.from_user.id, service.templates.phrase(prompt, n=n),
              [[Button("abort", n)]])
    if action == "edit_approve":
        draft = await service.draft(n)
        if draft and draft.text:
            await say(service, query.from_user.id, f"<code>{_escape(draft.text)}</code>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.message(Mode(*MODE_ACTION), F.text)
async def got_text(message: Message, service: Service, person: Person,
                   chat_state: ChatState) -> None:
    n = chat_state.incident_id or 0
    action, arg = MODE_ACTION[chat_state.mode]
    result = await service.act(person, n, action, version=chat_state.data.get("v"),
                               text=message.text, arg=arg or None)
    if result.ok or result.code not in {"empty_reason", "bad_deadline"}:
        await service.clear_mode(person, PLATFORM)
    if not result.ok:
        await refuse_message(service, message, result, n)
    elif action != "edit_approve":  # approval answers with the publication package itself
        await say(service, message.chat.id, service.templates.phrase("reason_received"))


@router.callback_query(Act.filter(F.a == "reassign"))
async def reassign(query: CallbackQuery, callback_data: Act, service: Service,
                   person: Person) -> None:
    n = callback_data.n
    t = service.templates
    if not person.has(Role.COORDINATOR):
        await service.act(person, n, "reassign", target=person.id)  # audited refusal
        await query.answer(t.refusal("wrong_role"), show_alert=True)
        return
    check = await service.act(person, n, "reassign", version=version_of(callback_data),
                              dry_run=True)
    await answer_result(query, t, check, n, ok_text="")
    if not check.ok:
        return
    executors = [p for p in await service.people() if p.has(Role.EXECUTOR)]
    if not executors:
        await say(service, query.from_user.id, t.phrase("no_executors"))
        return
    incident = check.incident
    rows = [[Button("to", n, str(p.id), label=_who(service, p))] for p in executors
            if incident is None or p.id != incident.executor_id]
    await say(service, query.from_user.id, t.phrase("pick_executor", n=n), rows,
              version=incident.version if incident else None)


def _who(service: Service, p: Person) -> str:
    depts = ", ".join(service.config.departments.get(d, d) for d in sorted(p.departments))
    return f"{p.name} ({depts})" if depts else p.name


@router.callback_query(Act.filter(F.a == "to"))
async def reassign_to(query: CallbackQuery, callback_data: Act, service: Service,
                      person: Person) -> None:
    result = await service.act(person, callback_data.n, "reassign",
                               version=version_of(callback_data), target=int(callback_data.x))
    await answer_result(query, service.templates, result, callback_data.n)


# --- the first response -----------------------------------------------------------------------

@router.callback_query(Act.filter(F.a == "first_response"))
async def first_response(query: CallbackQuery, callback_data: Act, service: Service,
                         person: Person) -> None:
    """One tap: the primary answer naming the deadline, ready to publish."""
    n = callback_data.n
    check = await service.act(person, n, "first_response", dry_run=True)
    await answer_result(query, service.templates, check, n, ok_text="")
    if not check.ok or check.incident is None:
        return
    await say(service, query.from_user.id,
              service.templates.render("first_response_package", incident=check.incident),
              [[Button("fr_published", n)]])


@router.callback_query(Act.filter(F.a == "fr_published"))
async def first_response_published(query: CallbackQuery, callback_data: Act, service: Service,
                                   person: Person) -> None:
    result = await service.act(person, callback_data.n, "first_response")
    await answer_result(query, service.templates, result, callback_data.n)
