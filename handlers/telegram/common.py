"""The outer middleware of every Telegram update: who is writing, and in which mode.

``Context`` is the outer middleware of every update: it drops redeliveries (by update id),
looks up the bound person, refuses strangers politely (with an audit row), and passes the
person and their chat mode to the handlers. The claim of the update and everything its
handler changes commit in one transaction (:func:`bot.updates.apply_once`), and presses are
answered after that commit; a storage fault is retried with backoff, and when storage keeps
failing the person is told «Не удалось сохранить — повторите через минуту». If even that
cannot be said, :class:`~bot.updates.NotSaved` keeps the update unconfirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.updates import NOT_SAVED, NotSaved, after_commit
from bot.usecases import UseCases

log = logging.getLogger(__name__)
PLATFORM = "telegram"


class Context(BaseMiddleware):
    def __init__(self, app: UseCases) -> None:
        self.app = app

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        applied = await self.app.gate.apply_once(
            PLATFORM, event.update_id, lambda: self._handle(handler, event, data))
        if applied.status == NOT_SAVED:
            await self._tell_not_saved(event)
        return applied.result

    async def _tell_not_saved(self, event: Update) -> None:
        """Storage keeps failing: say so directly (the outbox is in the same storage)."""
        text = self.app.templates.phrase(NOT_SAVED)
        try:
            if event.callback_query is not None:
                await event.callback_query.answer(text, show_alert=True)
            elif event.message is not None and event.message.chat.type == "private":
                await event.message.answer(text, parse_mode=None)
            else:  # a resident's message in a group: nobody to tell; Telegram sends it again
                raise NotSaved(f"update {event.update_id}: storage keeps failing")
        except NotSaved:
            raise
        except Exception as e:
            raise NotSaved(f"update {event.update_id}: {e}") from e

    async def _handle(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                      event: Update, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        chat = data.get("event_chat")
        if user is None:
            return None
        if chat is not None and chat.type != "private":
            # Group chats are incident sources, not a place to work: no person, no refusal.
            data["person"] = None
            data["chat_state"] = None
            return await handler(event, data)
        admitted = await self.app.gate.admit(PLATFORM, user.id, _describe(event),
                                             starting=_is_start(event))
        if admitted.refused:
            if (query := event.callback_query) is not None:
                text = self.app.templates.phrase(admitted.refused)
                await after_commit(lambda: query.answer(text, show_alert=True))
            return None
        data["person"] = admitted.person
        data["chat_state"] = admitted.chat_state
        return await handler(event, data)


def _is_start(event: Update) -> bool:
    return bool(event.message and event.message.text
                and event.message.text.startswith("/start"))


def _describe(event: Update) -> str:
    if event.message is not None:
        return "message"
    if event.callback_query is not None:
        return f"button {event.callback_query.data}"
    return event.event_type
