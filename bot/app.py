"""Wiring: the store, the service, the Telegram bot and dispatcher, and the outbox sender.

Updates are fetched with ``getUpdates`` and handled one at a time; the next ``getUpdates``
(which confirms them to Telegram) is only made after the whole batch was handled and
committed, so a crash never loses an update that Telegram believes delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiohttp import web

from bot.config import Config
from bot.morphology import make_lemmatizer
from bot.outbox import OutboxSender, RateLimits
from bot.publishers.telegram_group import TelegramGroupPublisher
from bot.scheduler import start_scheduler
from bot.service import Service
from bot.sources.http_intake import make_app as make_intake_app
from bot.store import Store
from bot.telegram_api import TelegramTransport, make_bot
from bot.templates import Templates
from handlers.telegram import chat, groups
from handlers.telegram.albums import Albums
from handlers.telegram.common import Context
from handlers.telegram.render import TelegramChannel
from workflows.detection import Detector

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class App:
    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utcnow,
                 limits: RateLimits = RateLimits(), album_delay: float = 1.0) -> None:
        self.config = config
        self.clock = clock
        self.limits = limits
        self.albums = Albums(album_delay)
        self._offset: int | None = None

    async def start(self) -> None:
        config = self.config
        self.store = await Store.open(config.database)
        self.templates = Templates(config.tz)
        self.bot: Bot = make_bot(config.telegram_token, config.telegram_api_base)
        self.service = Service(self.store, config, self.templates,
                               [TelegramChannel(self.templates)], config.policies, self.clock,
                               publishers={groups.SOURCE: TelegramGroupPublisher(self.bot)})
        self.outbox = OutboxSender(self.store, TelegramTransport(self.bot), self.clock,
                                   limits=self.limits,
                                   on_unreachable=self.service.tell_unreachable)
        self.service.wake_outbox = self.outbox.wake
        await self.service.seed_people()
        me = await self.bot.get_me()
        detection = config.settings.detection
        detector = Detector.from_config(
            ((c.key, c.keywords, c.stop_words) for c in config.settings.categories),
            make_lemmatizer(), min_length=detection.min_length, stop_words=detection.stop_words)
        self.dispatcher = Dispatcher(service=self.service, albums=self.albums,
                                     bot_username=me.username or "", detector=detector)
        self.dispatcher.update.outer_middleware(Context(self.service))
        self.dispatcher.include_routers(groups.router.build(), chat.router.build())

    async def poll_once(self, long_poll: int = 0) -> int:
        """Fetch one batch of updates and handle them in order; the number handled."""
        updates = await self.bot.get_updates(offset=self._offset, timeout=long_poll,
                                             allowed_updates=["message", "callback_query"])
        for update in updates:
            try:
                await self.dispatcher.feed_update(self.bot, update)
            except Exception:
                log.exception("update %s failed", update.update_id)
            self._offset = update.update_id + 1
        return len(updates)

    async def settle(self) -> None:
        """Let pending album follow-ups run and deliver everything due."""
        await self.albums.settle()
        await self.outbox.drain()

    async def run(self, sweep_every: float = 30.0) -> None:
        """Poll Telegram, deliver the outbox and sweep the SLA timers until cancelled."""
        sender = asyncio.create_task(self.outbox.run(), name="outbox")
        scheduler = start_scheduler(self.service, every_seconds=sweep_every)
        intake = await self.start_http_intake()
        try:
            while True:
                try:
                    await self.poll_once(long_poll=25)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("polling failed; retrying in 5 s")
                    await asyncio.sleep(5)
        finally:
            if intake is not None:
                await intake.cleanup()
            scheduler.shutdown(wait=False)
            sender.cancel()

    async def start_http_intake(self) -> web.AppRunner | None:
        listen = self.config.settings.http.listen
        if not listen:
            return None
        if not self.config.http_token:
            log.warning("http.listen is set but there is no http.token: intake not started")
            return None
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(make_intake_app(self.service, self.config.http_token))
        await runner.setup()
        await web.TCPSite(runner, host, int(port)).start()
        log.info("HTTP intake listening on %s", listen)
        return runner

    async def close(self) -> None:
        await self.albums.close()
        await self.bot.session.close()
        await self.store.close()
