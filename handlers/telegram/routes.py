"""Handler declarations that build a fresh aiogram ``Router`` on demand.

An aiogram router can be attached to one dispatcher only, so a module-level router would
tie the handlers to the first app built in a process (tests build many). Modules declare
their handlers on a :class:`Routes` with the same decorators, and the app builds routers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import F, Router

Handler = Callable[..., Any]


class Routes:
    """Handlers of one feature; ``chat_types`` are the chats they serve (private by default:
    group chats are incident sources, handled by their own routes)."""

    def __init__(self, name: str, chat_types: tuple[str, ...] = ("private",)) -> None:
        self.name = name
        self.chat_types = chat_types
        self._entries: list[tuple[str, tuple[Any, ...], Handler]] = []

    def _on(self, kind: str, filters: tuple[Any, ...]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._entries.append((kind, filters, handler))
            return handler
        return register

    def message(self, *filters: Any) -> Callable[[Handler], Handler]:
        return self._on("message", filters)

    def callback_query(self, *filters: Any) -> Callable[[Handler], Handler]:
        return self._on("callback_query", filters)

    def build(self) -> Router:
        router = Router(name=self.name)
        router.message.filter(F.chat.type.in_(set(self.chat_types)))
        router.callback_query.filter(F.message.chat.type.in_(set(self.chat_types)))
        for kind, filters, handler in self._entries:
            getattr(router, kind).register(handler, *filters)
        return router
