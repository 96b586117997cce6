"""Answers to incidents found in Telegram groups: a reply to the resident's message."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    FSInputFile,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    ReplyParameters,
)

from bot.publishers import PublishFailed, PublishLater
from workflows.model import Attachment, Incident


class TelegramGroupPublisher:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def publish(self, incident: Incident, origin: dict[str, str | None], text: str,
                      attachments: Sequence[Attachment]) -> tuple[str, str | None]:
        thread, reply_to = origin.get("thread") or "", origin.get("reply_to")
        if not thread.startswith("tg:") or not reply_to:
            raise PublishFailed("неизвестно, где писал житель")
        chat_id = int(thread.removeprefix("tg:"))
        reply = ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=False)
        photos = [a for a in attachments if a.kind in ("photo", "video")
                  and (a.file_id or a.local_path)][:10]
        try:
            if len(photos) > 1:
                await self.bot.send_media_group(
                    chat_id, [(InputMediaVideo if a.kind == "video" else InputMediaPhoto)(
                        media=_media(a)) for a in photos],
                    reply_parameters=reply)
            elif photos and photos[0].kind == "video":
                await self.bot.send_video(chat_id, _media(photos[0]), reply_parameters=reply)
            elif photos:
                await self.bot.send_photo(chat_id, _media(photos[0]), reply_parameters=reply)
            sent = await self.bot.send_message(chat_id, text, parse_mode=None,
                                               reply_parameters=reply)
        except (TelegramRetryAfter, TelegramNetworkError, TelegramServerError) as e:
            raise PublishLater(str(e)) from None
        except TelegramForbiddenError:
            raise PublishFailed("бот не может писать в эту группу") from None
        except TelegramBadRequest as e:
            if "replied not found" in e.message or "reply" in e.message.lower():
                raise PublishFailed("сообщение жителя удалено") from None
            raise PublishFailed(f"Telegram отклонил ответ: {e.message}") from None
        return f"{chat_id}:{sent.message_id}", None


def _media(a: Attachment) -> str | InputFile:
    """A Telegram file id, or the file on disk (photos sent from VK have no Telegram id)."""
    return a.file_id or FSInputFile(a.local_path or "")
