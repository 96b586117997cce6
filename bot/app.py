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

from bot import possible
from bot.config import Config
from bot.learning import Learner, build_triage
from bot.morphology import make_lemmatizer
from bot.outbox import OutboxSender, RateLimits
from bot.publishers.telegram_group import TelegramGroupPublisher
from bot.publishers.vk import VkPublisher
from bot.scheduler import Poller, start_scheduler
from bot.service import Service
from bot.sources import vk_wall
from bot.sources.http_intake import make_app as make_intake_app
from bot.sources.vk_wall import VkWallSource
from bot.store import Store
from bot.telegram_api import TelegramTransport, make_bot
from bot.templates import Templates
from bot.vk_client import DEFAULT_RETRY, GROUP_RPS, USER_RPS, RetryPolicy, VkClient
from bot.vk_transport import VkTransport, outbox_client
from handlers.telegram import chat, groups
from handlers.telegram.albums import Albums
from handlers.telegram.common import Context
from handlers.telegram.render import TelegramChannel
from handlers.vk.front import VkFrontEnd
from handlers.vk.render import VkChannel
from workflows.detection import Detector
from workflows.triage import Triage

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class App:
    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utcnow,
                 limits: RateLimits = RateLimits(), album_delay: float = 1.0,
                 vk_retry: RetryPolicy = DEFAULT_RETRY, vk_rps: float | None = None) -> None:
        self.config = config
        self.clock = clock
        self.limits = limits
        self.albums = Albums(album_delay)
        self._offset: int | None = None
        # VK: backoff of transient errors, and requests per second per token (None: VK's
        # limit for the token's type; tests pass math.inf).
        self.vk_retry = vk_retry
        self.vk_rps = vk_rps
        self.vk_wall: VkWallSource | None = None
        self._vk_clients: dict[str, VkClient] = {}  # one per token: one rate limit per token
        # VK community chat (handlers/vk): set up by _start_vk_chat when configured.
        self.vk_chat: VkFrontEnd | None = None
        self.vk_outbox: OutboxSender | None = None

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
        # Keywords (the config's, or the bundled dictionary's) plus the model learned from
        # the coordinators' labels, retrained by the scheduler (bot.learning).
        detector = build_triage(config, make_lemmatizer())
        self.service.triage = detector
        self.learner = Learner(self.store, detector)
        self.dispatcher = Dispatcher(service=self.service, albums=self.albums,
                                     bot_username=me.username or "", detector=detector)
        self.dispatcher.update.outer_middleware(Context(self.service))
        self.dispatcher.include_routers(groups.router.build(), chat.router.build())
        self._start_vk_sources(detector)
        await self._start_vk_chat(me.username or "")

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
        if self.vk_outbox is not None:
            await self.vk_outbox.drain()
            await self.outbox.drain()  # a VK chat found unreachable is reported in Telegram

    async def run(self, sweep_every: float = 30.0) -> None:
        """Poll Telegram, deliver the outbox and sweep the SLA timers until cancelled."""
        sender = asyncio.create_task(self.outbox.run(), name="outbox")
        scheduler = start_scheduler(self.service, every_seconds=sweep_every,
                                    pollers=[*self._pollers(), *self._detection_jobs()])
        intake = await self.start_http_intake()
        vk_tasks = self._vk_chat_tasks()
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
            for task in vk_tasks:
                task.cancel()

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

    # --- VK: the watched communities and the answers published there ---------------------

    def _start_vk_sources(self, detector: Detector | Triage) -> None:
        """Watch the walls of ``vk.communities`` (service token) and publish answers to VK
        incidents as comments of the community (community token; photos with the user token
        of a community admin). Each half is on when its token is there."""
        tokens, vk = self.config.vk_tokens, self.config.settings.vk
        if tokens["service_token"] and vk.communities:
            self.vk_wall = VkWallSource(self._vk_client(tokens["service_token"], USER_RPS),
                                        self.service, detector, communities=vk.communities,
                                        group_id=vk.group_id)
        if tokens["token"] and vk.group_id:
            user = (self._vk_client(tokens["user_token"], USER_RPS)
                    if tokens["user_token"] else None)
            reader = self.vk_wall.client if self.vk_wall is not None else user
            self.service.publishers[vk_wall.SOURCE] = VkPublisher(
                self._vk_client(tokens["token"], GROUP_RPS), vk.group_id, user, reader=reader)

    def _vk_client(self, token: str, rps: float) -> VkClient:
        """The client of a token, shared by everything that uses the token, so that VK's
        per-token request limit is kept by one limiter."""
        if token not in self._vk_clients:
            self._vk_clients[token] = VkClient(token, self.config.vk_api_base,
                                               rps=self.vk_rps or rps, retry=self.vk_retry)
        return self._vk_clients[token]

    def _pollers(self) -> list[Poller]:
        if self.vk_wall is None:
            return []
        every = vk_wall.poll_seconds(self.config.settings.vk.poll_every)
        return [("vk_wall", every, self.vk_wall.poll_once)]

    def _detection_jobs(self) -> list[Poller]:
        every = vk_wall.poll_seconds(self.config.settings.detection.retrain_every)
        return [("detection", every, self.detection_tick)]

    async def detection_tick(self) -> None:
        """Retrain the detection model on new labels; send the digest of waiting possible
        complaints."""
        await self.learner.retrain()
        await possible.digest(self.service)

    # --- VK: the community chat, where executors and coordinators work too ----------------

    async def _start_vk_chat(self, telegram_username: str) -> None:
        """With the community token and its id: the VK channel for the service, an outbox
        sender for VK, and the Bots Long Poll handled by ``handlers.vk``."""
        token, group_id = self.config.vk_tokens["token"], self.config.settings.vk.group_id
        if not (token and group_id):
            return
        client = self._vk_client(token, GROUP_RPS)
        self.service.channels[VkChannel.platform] = VkChannel(self.templates)
        rps = self.vk_rps or GROUP_RPS
        self.vk_outbox = OutboxSender(
            self.store, VkTransport(outbox_client(client), self.templates), self.clock,
            limits=RateLimits(per_second=rps, per_chat_interval=0.0, group_per_minute=10**6),
            on_unreachable=self.service.tell_unreachable)
        wake_telegram, wake_vk = self.service.wake_outbox, self.vk_outbox.wake

        def wake() -> None:
            wake_telegram()
            wake_vk()

        self.service.wake_outbox = wake
        self.vk_chat = VkFrontEnd(self.service, client, group_id,
                                  settle_later=self.albums.settle_later,
                                  telegram_username=telegram_username,
                                  api_base=self.config.vk_api_base)
        await self.vk_chat.start()

    async def poll_vk_once(self) -> int:
        """One Bots Long Poll request without waiting; the events handled (tests, demo)."""
        assert self.vk_chat is not None, "the VK chat is not configured"
        return await self.vk_chat.poll_once(wait=0)

    def _vk_chat_tasks(self) -> list[asyncio.Task[None]]:
        if self.vk_chat is None or self.vk_outbox is None:
            return []
        return [asyncio.create_task(self.vk_chat.run(), name="vk-longpoll"),
                asyncio.create_task(self.vk_outbox.run(), name="vk-outbox")]

    async def close(self) -> None:
        if self.vk_chat is not None:
            await self.vk_chat.close()
        for client in self._vk_clients.values():
            client.api.http.close()
        await self.albums.close()
        await self.bot.session.close()
        await self.store.close()
