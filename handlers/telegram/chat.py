"""The Telegram private chat: every update handed to the shared flows (``handlers.flows``).

Telegram's own parts stay here: inline buttons answered with a toast or an alert, files
downloaded from Telegram and kept on disk, forwarded posts read for their origin.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiogram import Bot, F
from aiogram.types import CallbackQuery, Message

from bot.updates import ChatState, after_commit
from bot.usecases import UseCases
from handlers import flows
from handlers.invites import invite_links
from handlers.telegram.albums import Albums
from handlers.telegram.common import PLATFORM
from handlers.telegram.render import Act
from handlers.telegram.routes import Routes
from workflows.model import Attachment, Person, Role

log = logging.getLogger(__name__)
router = Routes("chat")

ACCEPTED_DOCUMENTS = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/msword",
}


def turn_for(usecases: UseCases, chat_id: int, person: Person | None,
             chat_state: ChatState | None, bot_username: str) -> flows.Turn:
    return flows.Turn(usecases, PLATFORM, chat_id, person, chat_state,
                      invite_link=invite_links(usecases, bot_username))


@router.callback_query(Act.filter())
async def button(query: CallbackQuery, callback_data: Act, usecases: UseCases,
                 person: Person, chat_state: ChatState | None, bot_username: str) -> None:
    turn = turn_for(usecases, query.from_user.id, person, chat_state, bot_username)
    await flows.press(turn, flows.Press(callback_data.a, callback_data.n,
                                        None if callback_data.v < 0 else callback_data.v,
                                        callback_data.x))
    await after_commit(lambda: query.answer(turn.toast.strip() or None, show_alert=turn.alert))


@router.callback_query()
async def unknown_button(query: CallbackQuery, usecases: UseCases) -> None:
    await after_commit(lambda: query.answer(usecases.templates.refusal("unknown_action"),
                                            show_alert=True))


@router.message(F.forward_origin)
async def forwarded(message: Message, bot: Bot, usecases: UseCases, person: Person,
                    chat_state: ChatState | None, bot_username: str, albums: Albums) -> None:
    """A resident's post forwarded by a coordinator: registered after a category."""
    turn = turn_for(usecases, message.chat.id, person, chat_state, bot_username)
    if not person.has(Role.COORDINATOR):
        await _files_or_text(message, bot, usecases, turn, albums)
        return
    source, url, author = _origin(message)
    attachment = await save_file(bot, usecases, message, 0) if _has_file(message) else None
    await flows.intake(turn, message.text or message.caption or "",
                       [attachment[0]] if attachment and attachment[0] else [],
                       source=source, url=url, author=author,
                       media_group_id=message.media_group_id)


@router.message(F.text)
async def text(message: Message, usecases: UseCases, person: Person | None,
               chat_state: ChatState | None, bot_username: str) -> None:
    turn = turn_for(usecases, message.chat.id, person, chat_state, bot_username)
    if person is None:  # only /start reaches here without a person
        await flows.start(turn, (message.text or "").partition(" ")[2].strip())
        return
    await flows.text(turn, message.text or "")


@router.message(F.photo | F.document | F.video)
async def files(message: Message, bot: Bot, usecases: UseCases, person: Person,
                chat_state: ChatState | None, bot_username: str, albums: Albums) -> None:
    turn = turn_for(usecases, message.chat.id, person, chat_state, bot_username)
    await _files_or_text(message, bot, usecases, turn, albums)


@router.message()
async def anything_else(message: Message, usecases: UseCases) -> None:
    await usecases.notifier.say(PLATFORM, message.chat.id,
                                usecases.templates.phrase("unknown_input"))


async def _files_or_text(message: Message, bot: Bot, usecases: UseCases, turn: flows.Turn,
                         albums: Albums) -> None:
    if not _has_file(message):
        await flows.text(turn, message.text or "")
        return
    incident = turn.chat_state.incident_id if turn.chat_state else None
    attachment, unique_id = await save_file(bot, usecases, message, incident or 0)
    await flows.attach(turn, attachment, unique_id, message.media_group_id, message.caption,
                       albums.settle_later)


def _has_file(message: Message) -> bool:
    return bool(message.photo or message.document or message.video)


def _origin(message: Message) -> tuple[str, str | None, str | None]:
    origin = message.forward_origin
    chat = getattr(origin, "chat", None)
    user = getattr(origin, "sender_user", None)
    if chat is not None:
        msg_id = getattr(origin, "message_id", None)
        url = f"https://t.me/{chat.username}/{msg_id}" if chat.username and msg_id else None
        return "telegram", url, chat.title
    if user is not None:
        return "telegram", None, user.full_name
    return "telegram", None, getattr(origin, "sender_user_name", None)


async def save_file(bot: Bot, usecases: UseCases, message: Message,
                    n: int) -> tuple[Attachment | None, str]:
    """The photo, video or document of a message, downloaded to disk so that the answer
    survives the chat being cleared. A failed download (Telegram gives bots files of up to
    20 MB) keeps the Telegram file id all the same."""
    if message.photo:
        photo = message.photo[-1]
        file_id, unique_id, kind = photo.file_id, photo.file_unique_id, "photo"
        name, mime = f"{unique_id}.jpg", "image/jpeg"
    elif message.video:
        video = message.video
        file_id, unique_id, kind = video.file_id, video.file_unique_id, "video"
        mime = video.mime_type or "video/mp4"
        name = video.file_name or f"{unique_id}.{mime.rpartition('/')[2] or 'mp4'}"
    elif message.document:
        doc = message.document
        mime = doc.mime_type or ""
        name = doc.file_name or f"{doc.file_unique_id}"
        if mime not in ACCEPTED_DOCUMENTS and not name.lower().endswith((".pdf", ".docx")):
            return None, ""
        file_id, unique_id, kind = doc.file_id, doc.file_unique_id, "document"
    else:
        return None, ""
    target = Path(usecases.config.files_dir) / str(n) / f"{unique_id}-{Path(name).name}"
    local: str | None = str(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        await bot.download(file_id, destination=target)
    except Exception:  # noqa: BLE001 - the file id still works; the copy is a safety net
        log.warning("could not download %s for incident %s", file_id, n, exc_info=True)
        local = None
    return Attachment(kind, file_id, name, mime, local), unique_id
