"""The outer middleware of every Telegram update: who is writing, and in which mode.

``Context`` is the outer middleware of every update: it drops redeliveries (by update id),
looks up the bound person, refuses strangers politely (with an audit row), and passes the
person and their chat mode to the handlers. An update is marked processed only after its
handler finished, so an update whose handling crashed is not silently lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.service import Service

log = logging.getLogger(__name__)
PLATFORM = "telegram"


class Context(BaseMiddleware):
    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        store = self.service.store
        async with store.read() as tx:
            if await tx.seen_update(PLATFORM, event.update_id):
                log.info("update %s delivered again: ignored", event.update_id)
                return None
        result = await self._handle(handler, event, data)
        async with store.tx() as tx:
            await tx.claim_update(PLATFORM, event.update_id, self.service.clock())
        return result

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
        person = await self.service.person_for_chat(PLATFORM, user.id)
        if person is None and not _is_start(event):
            await self.service.refuse_stranger(PLATFORM, user.id, _describe(event))
            if event.callback_query is not None:
                await event.callback_query.answer(
                    self.service.templates.phrase("not_registered"), show_alert=True)
            return None
        if person is not None and not person.active and not _is_start(event):
            # Gone from the config: refused at the door, with an audit row.
            await self.service.refuse_inactive(person, PLATFORM, user.id, _describe(event))
            if event.callback_query is not None:
                await event.callback_query.answer(
                    self.service.templates.phrase("access_closed"), show_alert=True)
            return None
        data["person"] = person
        state = None
        if person is not None:
            async with self.service.store.read() as tx:
                state = await tx.chat_state(person.id, PLATFORM)
        data["chat_state"] = state
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
