"""Answers to incidents found in Telegram groups: a reply to the resident's message.

A publication goes out in parts — the photos (an album, or one photo), then the text in as
many messages as it needs (4,096 characters each, cut between paragraphs or sentences:
:func:`bot.templates.split_plain`), each a reply to the resident's message. Every part is
recorded as soon as Telegram accepted it (``publication_parts``), so a retry after a failure
(a 502 on the text after the album went out) sends only the parts that did not go: the group
never gets the album twice. Should storage fail right after a part went out, the part is
remembered in memory until it can be recorded; only a crash in that moment repeats it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    FSInputFile,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)

from bot.publishers import PublishFailed, PublishLater
from bot.storage import Storage
from bot.templates import split_plain
from workflows.model import Attachment, Incident

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
ALBUM_LIMIT = 10


class TelegramGroupPublisher:
    def __init__(self, bot: Bot, store: Storage | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.bot = bot
        self.store = store  # where the parts are recorded (None: not recorded, as in tests)
        self.clock = clock
        # Parts that went out while storage failed: (incident, round, part) → result.
        self._unrecorded: dict[tuple[int, int, int], str] = {}

    async def publish(self, incident: Incident, origin: dict[str, str | None], text: str,
                      attachments: Sequence[Attachment]) -> tuple[str, str | None]:
        thread, reply_to = origin.get("thread") or "", origin.get("reply_to")
        if not thread.startswith("tg:") or not reply_to:
            raise PublishFailed("неизвестно, где писал житель")
        chat_id = int(thread.removeprefix("tg:"))
        reply = ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=False)
        photos = [a for a in attachments if a.kind in ("photo", "video")
                  and (a.file_id or a.local_path)][:ALBUM_LIMIT]
        parts: list[Callable[[], Awaitable[Any]]] = []
        if len(photos) > 1:
            parts.append(lambda: self.bot.send_media_group(
                chat_id, [(InputMediaVideo if a.kind == "video" else InputMediaPhoto)(
                    media=_media(a)) for a in photos],
                reply_parameters=reply))
        elif photos and photos[0].kind == "video":
            parts.append(lambda: self.bot.send_video(chat_id, _media(photos[0]),
                                                     reply_parameters=reply))
        elif photos:
            parts.append(lambda: self.bot.send_photo(chat_id, _media(photos[0]),
                                                     reply_parameters=reply))
        else:
            parts.append(_nothing)
        for chunk in split_plain(text, TEXT_LIMIT) or [text]:
            parts.append(lambda chunk=chunk: self.bot.send_message(  # type: ignore[misc]
                chat_id, chunk, parse_mode=None, reply_parameters=reply))
        key = (incident.id, incident.version)
        done = await self._done(*key)
        try:
            for number, send in enumerate(parts):
                if number in done:
                    continue
                result = await send()
                done[number] = _describe(result)
                await self._record(*key, number, done[number])
        except TelegramRetryAfter as e:
            raise PublishLater(str(e)) from None
        except TelegramForbiddenError:
            raise PublishFailed("бот не может писать в эту группу") from None
        except TelegramBadRequest as e:
            if "replied not found" in e.message or "reply" in e.message.lower():
                raise PublishFailed("сообщение жителя удалено") from None
            raise PublishFailed(f"Telegram отклонил ответ: {e.message}") from None
        except Exception as e:  # noqa: BLE001 - network, 5xx, a proxy's HTML page: later
            raise PublishLater(f"{type(e).__name__}: {e}"[:300]) from None
        first_text = json.loads(done[1])
        return f"{chat_id}:{first_text[0]}", None

    async def _done(self, incident_id: int, round_: int) -> dict[int, str]:
        done: dict[int, str] = {}
        if self.store is not None:
            async with self.store.read() as uow:
                done = await uow.publications.parts(incident_id, round_)
        for (i, r, part), result in self._unrecorded.items():
            if (i, r) == (incident_id, round_):
                done[part] = result
        return done

    async def _record(self, incident_id: int, round_: int, part: int, result: str) -> None:
        self._unrecorded[(incident_id, round_, part)] = result
        if self.store is None:
            return
        for (i, r, p), res in list(self._unrecorded.items()):
            async with self.store.write() as uow:
                await uow.publications.add_part(i, r, p, res, self.clock())
            del self._unrecorded[(i, r, p)]


async def _nothing() -> None:
    return None


def _describe(result: Any) -> str:
    """The message ids a part became, as JSON: ``[12]`` or ``[12, 13, 14]`` for an album."""
    messages = result if isinstance(result, list) else [result] if result is not None else []
    return json.dumps([m.message_id for m in messages if isinstance(m, Message)])


def _media(a: Attachment) -> str | InputFile:
    """A Telegram file id, or the file on disk (photos sent from VK have no Telegram id)."""
    return a.file_id or FSInputFile(a.local_path or "")
