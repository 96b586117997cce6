"""The Telegram side of I/O: building the aiogram ``Bot`` and delivering outbox calls with it."""

from __future__ import annotations

import os
from typing import Any

from aiogram import Bot, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    FSInputFile,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)

from bot.outbox import Rejected, Retry, Unreachable

# Telegram's words for a chat that is gone for good.
_GONE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked",
         "have no rights to send", "not enough rights", "group chat was upgraded")


INPUT_MEDIA = {"photo": InputMediaPhoto, "video": InputMediaVideo}


def make_bot(token: str, api_base: str, proxy: str | None = None) -> Bot:
    """The bot; with ``proxy`` (``http://``, ``socks5://``, ``socks4://``, through
    aiohttp-socks) every request to the Bot API goes through it."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), proxy=proxy)
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


def build_method(method: str, payload: dict[str, Any]) -> methods.TelegramMethod[Any]:
    """An aiogram method object from an outbox row (name and JSON parameters)."""
    cls = getattr(methods, method[0].upper() + method[1:], None)
    if cls is None:
        raise Rejected(f"unknown method {method}")
    params = dict(payload)
    if "reply_markup" in params:
        params["reply_markup"] = InlineKeyboardMarkup.model_validate(params["reply_markup"])
    for key in ("photo", "video", "document"):
        if isinstance(params.get(key), dict):
            params[key] = _upload(params[key])
    if "media" in params:
        params["media"] = [
            INPUT_MEDIA.get(m["type"], InputMediaDocument).model_validate(
                {**m, "media": _upload(m["media"]) if isinstance(m["media"], dict)
                 else m["media"]})
            for m in params["media"]
        ]
    return cls(**params)


def _upload(spec: dict[str, Any]) -> FSInputFile:
    """A file on disk to upload (``{"path": …, "name": …}``); gone files are refused for good."""
    path = spec.get("path") or ""
    if not os.path.isfile(path):
        raise Rejected(f"file to upload is gone: {path}")
    return FSInputFile(path, filename=spec.get("name") or None)


class TelegramTransport:
    platform = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, method: str, payload: dict[str, Any]) -> Any:
        call = build_method(method, payload)
        try:
            result = await self.bot(call)
        except TelegramRetryAfter as e:
            raise Retry(e.message, after=float(e.retry_after)) from None
        except (TelegramNetworkError, TelegramServerError) as e:
            raise Retry(str(e.message)) from None
        except TelegramForbiddenError as e:
            raise Unreachable(e.message) from None
        except TelegramMigrateToChat as e:
            raise Unreachable(f"{e.message} (migrated to {e.migrate_to_chat_id})") from None
        except (TelegramBadRequest, TelegramNotFound) as e:
            if any(word in e.message.lower() for word in _GONE):
                raise Unreachable(e.message) from None
            raise Rejected(e.message) from None
        except TelegramAPIError as e:
            raise Retry(e.message) from None
        if isinstance(result, list):
            return [r.model_dump(mode="json", exclude_none=True) for r in result]
        if hasattr(result, "model_dump"):
            return result.model_dump(mode="json", exclude_none=True)
        return result
