"""The executor's side: take or decline an incident, write the answer with photos and
documents, preview it and send it for approval; /my lists their open work."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path

from aiogram import Bot, F
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.service import Service
from bot.store import ChatState
from handlers.telegram.albums import Albums
from handlers.telegram.common import (
    PLATFORM,
    HasRole,
    Mode,
    answer_result,
    refuse_message,
    say,
    version_of,
)
from handlers.telegram.render import Act
from handlers.telegram.routes import Routes
from workflows.dates import parse_local
from workflows.model import Attachment, Button, DraftKind, Person, Role, State

log = logging.getLogger(__name__)
router = Routes("executor")

WRITING = "writing"
ACCEPTED_DOCUMENTS = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/msword",
}


@router.callback_query(Act.filter(F.a == "take"))
async def take(query: CallbackQuery, callback_data: Act, service: Service,
               person: Person) -> None:
    result = await service.act(person, callback_data.n, "take", version=version_of(callback_data))
    await answer_result(query, service.templates, result, callback_data.n)
    if result.ok:
        await _start_writing(service, person, query.from_user.id, callback_data.n)


@router.callback_query(Act.filter(F.a == "decline"))
async def decline(query: CallbackQuery, callback_data: Act, service: Service,
                  person: Person) -> None:
    n = callback_data.n
    check = await service.act(person, n, "decline", version=version_of(callback_data),
                              dry_run=True)
    await answer_result(query, service.templates, check, n, ok_text="")
    if check.ok:
        await service.set_mode(person, PLATFORM, "decline_reason", n,
                               {"v": version_of(callback_data)})
        await say(service, query.from_user.id, service.templates.phrase("decline_prompt", n=n),
                  [[Button("abort", n)]])


@router.message(Mode("decline_reason"), F.text)
async def decline_reason(message: Message, service: Service, person: Person,
                         chat_state: ChatState) -> None:
    n = chat_state.incident_id or 0
    result = await service.act(person, n, "decline", version=chat_state.data.get("v"),
                               text=message.text)
    if result.ok or result.code != "empty_reason":
        await service.clear_mode(person, PLATFORM)
    if result.ok:
        await say(service, message.chat.id, service.templates.phrase("reason_received"))
    else:
        await refuse_message(service, message, result, n)


@router.callback_query(Act.filter(F.a == "answer"))
async def answer(query: CallbackQuery, callback_data: Act, service: Service,
                 person: Person) -> None:
    n = callback_data.n
    incident = await service.incident(n)
    code = ""
    if incident is None:
        code = "not_found"
    elif incident.executor_id != person.id:
        code = "not_assigned"
    elif incident.state is not State.IN_PROGRESS:
        code = "wrong_state"
    if code:
        await query.answer(service.templates.refusal(code, n=n), show_alert=True)
        return
    await query.answer()
    await _start_writing(service, person, query.from_user.id, n)


async def _start_writing(service: Service, person: Person, chat_id: int, n: int) -> None:
    """Writing mode; a draft already saved (returned, or written before a restart) is shown
    with its buttons so that nothing has to be typed again."""
    await service.set_mode(person, PLATFORM, WRITING, n)
    await say(service, chat_id, service.templates.phrase("write_answer", n=n))
    if await service.draft(n) is not None:
        await send_preview(service, chat_id, n)


# --- writing the draft ------------------------------------------------------------------------

async def _target(service: Service, message: Message, person: Person,
                  chat_state: ChatState | None) -> int | None:
    """Which incident a draft message belongs to: the one being written, or the only one in
    progress. With several in progress the executor is asked to pick (nothing is lost: the
    message stays in the chat)."""
    if chat_state is not None and chat_state.mode == WRITING and chat_state.incident_id:
        return chat_state.incident_id
    mine = [i for i in await service.visible_incidents(person)
            if i.executor_id == person.id and i.state is State.IN_PROGRESS]
    if len(mine) == 1:
        await service.set_mode(person, PLATFORM, WRITING, mine[0].id)
        return mine[0].id
    t = service.templates
    if not mine:
        await say(service, message.chat.id, t.phrase("no_active"))
    else:
        await say(service, message.chat.id, t.phrase("pick_incident"),
                  [[Button("answer", i.id, label=f"№{i.id}: {i.text[:40]}")] for i in mine])
    return None


@router.message(Mode(WRITING, None), HasRole(Role.EXECUTOR), F.text & ~F.text.startswith("/"))
async def draft_text(message: Message, service: Service, person: Person,
                     chat_state: ChatState | None) -> None:
    n = await _target(service, message, person, chat_state)
    if n is None:
        return
    result = await service.draft_text(person, n, message.text or "")
    if not result.ok:
        await refuse_message(service, message, result, n)
        return
    await send_preview(service, message.chat.id, n)


@router.message(Mode(WRITING, None), HasRole(Role.EXECUTOR), F.photo | F.document)
async def draft_file(message: Message, bot: Bot, service: Service, person: Person,
                     chat_state: ChatState | None, albums: Albums) -> None:
    n = await _target(service, message, person, chat_state)
    if n is None:
        return
    attachment, unique_id = await save_file(bot, service, message, n)
    if attachment is None:
        await say(service, message.chat.id, service.templates.phrase("unsupported_file"))
        return
    result = await service.draft_attach(person, n, attachment, unique_id, message.media_group_id)
    if not result.ok:
        await refuse_message(service, message, result, n)
        return
    if message.caption:
        await service.draft_text(person, n, message.caption)
    # An album arrives as one update per photo: show one preview once the files stop coming.
    key = f"draft:{person.id}:{n}"
    albums.settle_later(key, lambda: send_preview(service, message.chat.id, n))


async def save_file(bot: Bot, service: Service, message: Message,
                    n: int) -> tuple[Attachment | None, str]:
    """The photo or document of a message, downloaded to disk so that the answer survives
    the chat being cleared. A failed download keeps the Telegram file id all the same."""
    if message.photo:
        photo = message.photo[-1]
        file_id, unique_id, kind = photo.file_id, photo.file_unique_id, "photo"
        name, mime = f"{unique_id}.jpg", "image/jpeg"
    elif message.document:
        doc = message.document
        mime = doc.mime_type or ""
        name = doc.file_name or f"{doc.file_unique_id}"
        if mime not in ACCEPTED_DOCUMENTS and not name.lower().endswith((".pdf", ".docx")):
            return None, ""
        file_id, unique_id, kind = doc.file_id, doc.file_unique_id, "document"
    else:
        return None, ""
    target = Path(service.config.files_dir) / str(n) / f"{unique_id}-{Path(name).name}"
    local: str | None = str(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        await bot.download(file_id, destination=target)
    except Exception:  # noqa: BLE001 - the file id still works; the copy is a safety net
        log.warning("could not download %s for incident %s", file_id, n, exc_info=True)
        local = None
    return Attachment(kind, file_id, name, mime, local), unique_id


async def send_preview(service: Service, chat_id: int, n: int) -> None:
    draft = await service.draft(n)
    incident = await service.incident(n)
    if incident is None:
        return
    atts = draft.attachments if draft else ()
    text = service.templates.render(
        "preview", incident=incident, draft=draft,
        photos=sum(a.kind == "photo" for a in atts),
        documents=sum(a.kind == "document" for a in atts))
    rows = [[Button("submit", n)], [Button("edit_text", n), Button("clear_attachments", n)],
            [Button("final", n) if draft and draft.kind is DraftKind.INTERIM
             else Button("interim", n), Button("cancel", n)]]
    if not atts:
        rows[1] = [Button("edit_text", n)]
    await say(service, chat_id, text, rows)


# --- interim answers --------------------------------------------------------------------------

@router.callback_query(Act.filter(F.a == "interim"))
async def interim(query: CallbackQuery, callback_data: Act, service: Service) -> None:
    """An interim answer promises the final one by a date: pick it with a button."""
    n = callback_data.n
    await query.answer()
    await say(service, query.from_user.id, service.templates.phrase("promise_prompt"),
              [[Button("promise", n, "1"), Button("promise", n, "3"), Button("promise", n, "7")],
               [Button("promise", n, "pick")]])


@router.callback_query(Act.filter(F.a == "promise"))
async def promise(query: CallbackQuery, callback_data: Act, service: Service,
                  person: Person) -> None:
    n = callback_data.n
    if callback_data.x == "pick":
        await query.answer()
        await service.set_mode(person, PLATFORM, "promise_date", n)
        await say(service, query.from_user.id, service.templates.phrase("promise_prompt"),
                  [[Button("abort", n)]])
        return
    day = service.clock().astimezone(service.config.tz).date() + timedelta(
        days=int(callback_data.x or "1"))
    await _promise(service, person, query.from_user.id, n, day, query)


@router.message(Mode("promise_date"), F.text)
async def promise_date(message: Message, service: Service, person: Person,
                       chat_state: ChatState) -> None:
    n = chat_state.incident_id or 0
    when = parse_local(message.text or "", service.clock(), service.config.tz)
    if when is None or when.date() <= service.clock().astimezone(service.config.tz).date():
        await say(service, message.chat.id, service.templates.refusal("bad_deadline"))
        return
    await service.set_mode(person, PLATFORM, WRITING, n)
    await _promise(service, person, message.chat.id, n, when.date(), None)


async def _promise(service: Service, person: Person, chat_id: int, n: int, day: date,
                   query: CallbackQuery | None) -> None:
    # The executor is asked for the final answer at the start of the promised working day.
    incident = await service.incident(n)
    calendar = service.policy_for(incident.source if incident else "").calendar
    at = calendar.next_working_moment(datetime.combine(day, time(0, 0), tzinfo=calendar.tz))
    result = await service.draft_kind(person, n, DraftKind.INTERIM, at)
    if query is not None:
        await answer_result(query, service.templates, result, n)
    if result.ok:
        await send_preview(service, chat_id, n)


@router.callback_query(Act.filter(F.a == "final"))
async def final(query: CallbackQuery, callback_data: Act, service: Service,
                person: Person) -> None:
    n = callback_data.n
    result = await service.draft_kind(person, n, DraftKind.FINAL, None)
    await answer_result(query, service.templates, result, n)
    if result.ok:
        await send_preview(service, query.from_user.id, n)


@router.callback_query(Act.filter(F.a == "submit"))
async def submit(query: CallbackQuery, callback_data: Act, service: Service,
                 person: Person) -> None:
    n = callback_data.n
    result = await service.act(person, n, "submit")
    t = service.templates
    if not result.ok and result.code == "empty_reason":
        await query.answer(t.phrase("draft_needs_text"), show_alert=True)
        return
    await answer_result(query, t, result, n, ok_text=t.phrase("draft_submitted", n=n))
    if result.ok:
        await service.clear_mode(person, PLATFORM)
        await say(service, query.from_user.id, t.phrase("draft_submitted", n=n))


@router.callback_query(Act.filter(F.a == "edit_text"))
async def edit_text(query: CallbackQuery, callback_data: Act, service: Service,
                    person: Person) -> None:
    await answer(query, callback_data, service, person)


@router.callback_query(Act.filter(F.a == "clear_attachments"))
async def clear_attachments(query: CallbackQuery, callback_data: Act, service: Service,
                            person: Person) -> None:
    n = callback_data.n
    result = await service.draft_clear_attachments(person, n)
    await answer_result(query, service.templates, result, n,
                        ok_text=service.templates.phrase("draft_cleared"))
    if result.ok:
        await send_preview(service, query.from_user.id, n)


@router.callback_query(Act.filter(F.a == "cancel"))
async def cancel_draft(query: CallbackQuery, callback_data: Act, service: Service,
                       person: Person) -> None:
    n = callback_data.n
    result = await service.draft_cancel(person, n)
    await answer_result(query, service.templates, result, n)
    if result.ok:
        await service.clear_mode(person, PLATFORM)
        await say(service, query.from_user.id, service.templates.phrase("draft_cancelled", n=n))


@router.message(Command("my"))
async def my(message: Message, service: Service, person: Person) -> None:
    mine = [i for i in await service.visible_incidents(person) if i.executor_id == person.id]
    t = service.templates
    if not mine:
        await say(service, message.chat.id, t.phrase("nothing_open"))
        return
    groups = _group(mine)
    text = t.render("list", title="Мои обращения", groups=groups, names={})
    rows = [[Button("show", i.id, label=f"№{i.id}")] for i in mine[:50]]
    await say(service, message.chat.id, text, rows)


def _group(incidents: list) -> list[tuple[State, list]]:
    order = list(State)
    out: dict[State, list] = {}
    for i in sorted(incidents, key=lambda i: (order.index(i.state), i.id)):
        out.setdefault(i.state, []).append(i)
    return list(out.items())
