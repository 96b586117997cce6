"""Telegram group chats the bot is a member of: residents' complaints become incidents, and a
resident's reply after an answer reopens it. Only the groups listed in ``[telegram] groups``
are watched; the bot says once in any other group that it is not configured there, and leaves.
"""

from __future__ import annotations

from aiogram import F
from aiogram.types import Message

from bot.usecases import UseCases
from handlers.telegram.routes import Routes
from workflows.detection import Detector
from workflows.model import Sighting
from workflows.triage import Triage

router = Routes("groups", chat_types=("group", "supergroup"))
SOURCE = "telegram_group"


def message_link(message: Message) -> str | None:
    chat = message.chat
    if chat.username:
        return f"https://t.me/{chat.username}/{message.message_id}"
    if str(chat.id).startswith("-100"):  # a supergroup without a public name
        return f"https://t.me/c/{str(chat.id)[4:]}/{message.message_id}"
    return None


def unwatched(message: Message, usecases: UseCases) -> bool:
    """A group that is not in ``[telegram] groups``: not a source."""
    return message.chat.id not in usecases.config.telegram_groups


@router.message(unwatched)
async def unwatched_group(message: Message, usecases: UseCases) -> None:
    """Say once that the group is not configured, and leave it."""
    await usecases.onboarding.leave_group(message.chat.id)


@router.message(F.text | F.caption)
async def group_message(message: Message, usecases: UseCases,
                        detector: Detector | Triage) -> None:
    user = message.from_user
    if user is None or user.is_bot:
        return
    text = message.text or message.caption or ""
    found = detector.match(text)
    await usecases.intake.observe(Sighting(
        source=SOURCE, external_id=f"{message.chat.id}:{message.message_id}", text=text,
        category=found.category if found else None, url=message_link(message),
        author=user.full_name, author_id=str(user.id), thread=f"tg:{message.chat.id}",
        reply_to=str(message.message_id)))
