"""Webhook mode: Telegram POSTs each update to ``[telegram] webhook_url``; Otklik serves them
on ``[telegram] listen``, behind the reverse proxy that terminates TLS.

Every request must carry ``X-Telegram-Bot-Api-Secret-Token`` equal to ``[telegram]
secret_token`` (compared in constant time): without it the answer is 401, with a wrong one 403,
and nothing is handled. An update goes the way a polled one goes (``App._feed``: the
dispatcher, its claim and effects in one transaction by :func:`bot.updates.apply_once`, the
answers after the commit), in its chat's lane: one chat's updates one at a time, in the order
they came; different chats concurrently, as :func:`bot.updates.by_chat` does for a polled
batch. The answer is 200 only once the update was stored, was a repeat, or the person was told
(the confirmation rule of polling); when none of these happened (:class:`~bot.updates.NotSaved`,
or Otklik is stopping) it is 503, and Telegram delivers the update again later. As in polling,
that chat's later updates wait for it: they are answered 503 too, unhandled, until it is
handled (or for :data:`HOLD` seconds at most, should Telegram give it up).

aiogram's ``SimpleRequestHandler`` is not used: it answers 200 before handling (in the
background), or without it after 55 s; either way Telegram would take as delivered an update
that may never be stored.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.updates import NotSaved

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HOLD = 300.0  # seconds a chat's updates wait for its earlier one that was not saved


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # FIFO: the order they came
    users: int = 0


class WebhookServer:
    """The aiohttp server of the webhook: ``POST path`` with one update per request."""

    def __init__(self, bot: Bot, feed: Callable[[Update], Awaitable[None]],
                 chat_of: Callable[[Update], Hashable], secret: str, path: str, *,
                 on_update: Callable[[], None] | None = None) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self.bot = bot
        self.feed = feed
        self.chat_of = chat_of
        self.secret = secret.encode()
        self.path = path or "/"
        self.on_update = on_update
        self._lanes: dict[Hashable, _Lane] = {}
        # chat → its first update not saved, and until when its later ones wait for it
        self._held: dict[Hashable, tuple[int, float]] = {}
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(self.path, self.handle)
        return app

    async def start(self, listen: str, *, reuse_port: bool = False) -> None:
        """Listen on ``host:port``; :class:`OSError` when it cannot (a port in use).
        ``reuse_port``: several workers listen on the one address (SO_REUSEPORT: the kernel
        spreads the connections among them)."""
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, int(port), reuse_port=reuse_port or None).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("Telegram webhook listening on %s (POST %s)", listen, self.path)

    async def idle(self) -> None:
        """Wait until no request is in hand."""
        await self._idle.wait()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            log.warning("webhook request from %s without the secret token: refused",
                        request.remote)
            return web.Response(status=401, text="Unauthorized")
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.secret):
            log.warning("webhook request from %s with a wrong secret token: refused",
                        request.remote)
            return web.Response(status=403, text="Forbidden")
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except (ValueError, ValidationError):  # not JSON, or not an update
            return web.Response(status=400, text="Bad Request: expected an Update")
        self._in_hand += 1
        self._idle.clear()
        try:
            await self._in_lane(update)
        except NotSaved as e:
            log.info("webhook: update %s answered 503 (%s): Telegram delivers it again",
                     update.update_id, e)
            return web.Response(status=503, text="not saved: deliver it again later")
        finally:
            self._in_hand -= 1
            if not self._in_hand:
                self._idle.set()
        if self.on_update is not None:
            self.on_update()
        return web.json_response({})

    async def _in_lane(self, update: Update) -> None:
        """Handle ``update`` after the updates of its chat that came before it."""
        chat = self.chat_of(update)
        lane = self._lanes.setdefault(chat, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                held = self._held.get(chat)
                if held is not None and held[1] < time.monotonic():
                    del self._held[chat]  # given up by Telegram: the chat goes on
                    held = None
                elif held is not None and update.update_id > held[0]:
                    raise NotSaved(f"waits for update {held[0]} of its chat")
                try:
                    await self.feed(update)
                except NotSaved:
                    if held is None:
                        self._held[chat] = (update.update_id, time.monotonic() + HOLD)
                    raise
                if held is not None and held[0] == update.update_id:
                    del self._held[chat]
        finally:
            lane.users -= 1
            if not lane.users:
                del self._lanes[chat]
