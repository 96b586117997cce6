"""Wiring, the composition root: the store, the use cases, the Telegram bot and dispatcher,
and the outbox senders.

Updates are fetched with ``getUpdates``; those of one chat are handled one at a time, in
order, different chats concurrently (:func:`bot.updates.by_chat`). The next ``getUpdates``
(which confirms them to Telegram) is only made after the whole batch was handled and
committed, so a crash never loses an update that Telegram believes delivered. With
``[telegram] mode = "webhook"`` Telegram posts them instead (:mod:`bot.webhook`), each
answered once it is handled and committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Update, User
from aiohttp import web
from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

from bot import health, possible
from bot.board import Board
from bot.config import TOKEN_ENV, Config
from bot.learning import Learner, build_triage
from bot.logs import mask
from bot.morphology import make_lemmatizer
from bot.outbox import OutboxSender, RateLimits, purge_sent
from bot.publishers import Publisher
from bot.publishers.telegram_group import TelegramGroupPublisher
from bot.publishers.vk import VkPublisher
from bot.scheduler import Poller, start_scheduler, stop_scheduler
from bot.sources import vk_wall
from bot.sources.http_intake import make_app as make_intake_app
from bot.sources.vk_wall import VkWallSource
from bot.storage import StorageError, backup, open_storage
from bot.storage.election import RETRY, Alone, election
from bot.suggestions import Suggester
from bot.telegram_api import TelegramTransport, make_bot
from bot.templates import Templates
from bot.updates import KEEP_UPDATES, NotSaved, by_chat, forget_updates, settle_answers
from bot.usecases import Channel
from bot.usecases import build as build_usecases
from bot.vk_client import DEFAULT_RETRY, GROUP_RPS, USER_RPS, RetryPolicy, VkClient
from bot.vk_transport import VkTransport, outbox_client
from bot.webhook import WebhookServer
from handlers.telegram import chat, groups
from handlers.telegram.albums import Albums
from handlers.telegram.common import Context
from handlers.telegram.render import TelegramChannel
from handlers.vk.front import VkFrontEnd
from handlers.vk.render import VkChannel
from workflows.detection import Detector
from workflows.suggestions import terms as suggestion_terms
from workflows.triage import Triage

log = logging.getLogger(__name__)

# Exit codes of a failed start (``otklik run``), for the service manager and the admin.
EXIT_FAILED = 1  # a long-running part died: restart me
EXIT_CONFIG = 2
EXIT_TOKEN = 3
EXIT_STORAGE = 4
EXIT_NETWORK = 5
# How long a stop waits for the update in hand (SIGTERM and Ctrl-C stop within 10 s).
STOP_GRACE = 7.0
# The updates Otklik handles (getUpdates and setWebhook ask for these only).
ALLOWED_UPDATES = ["message", "callback_query"]


class Stopping(NotSaved):
    """A stop was requested: the update is left unconfirmed, for the next start."""


def chat_of(update: Update) -> int:
    """The chat an update belongs to (its lane: a chat's updates are handled in order)."""
    if update.message is not None:
        return update.message.chat.id
    if (query := update.callback_query) is not None:
        return query.message.chat.id if query.message is not None else query.from_user.id
    return -update.update_id  # nothing else is asked for; alone in its lane


class DutyDied(Exception):
    """A part only the leader runs (the outbox sender, the VK long poll) died."""


class StartError(Exception):
    """Otklik cannot start (or run on); ``message`` says what is wrong and what to do."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        self.health = health.Health(clock)
        self.poll_backoff = 5.0  # seconds after the first failed poll, growing to 60
        self.webhook_check_every = 30.0  # webhook mode: getWebhookInfo for /healthz
        # Stopping: the update in hand is finished, the next one is left for the next start.
        self._stopping = False
        self._stop_requested: asyncio.Event | None = None
        self._handling = 0
        self._poll_task: asyncio.Task[None] | None = None
        self._main_task: asyncio.Task[Any] | None = None
        self._died: asyncio.Future[str] | None = None
        # Several workers on one PostgreSQL (``otklik run --workers N``): the listening
        # sockets are shared (SO_REUSEPORT) and one elected worker leads (bot.storage.election).
        self.reuse_port = False
        self.leader_retry = RETRY
        self.election: Alone = Alone()
        self.on_ready: Callable[[], None] | None = None  # run(): serving (a supervisor waits)

    async def start(self) -> None:
        """Open the database, reach Telegram and wire everything; :class:`StartError` with
        one line for the admin when that fails (everything opened so far is closed by
        :meth:`close`)."""
        config = self.config
        self._main_task = asyncio.current_task()
        try:
            self.store = await open_storage(config.database)
        except (StorageError, OSError, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise StartError(EXIT_STORAGE, f"cannot open the database {config.database}: "
                                           f"{reason}; check the `database` path in "
                                           f"{config.path}, the folder's permissions and "
                                           "free disk space") from None
        self.election = election(config.database, retry=self.leader_retry,
                                 on_notify=self._wake_outboxes)
        self.templates = Templates(config.tz)
        self.templates.municipalities = {k: m.name for k, m in config.municipalities.items()}
        self.templates.zones = {k: m.tz for k, m in config.municipalities.items()
                                if m.tz != config.tz}
        self.bot: Bot = make_bot(config.telegram_token, config.telegram_api_base,
                                 config.telegram_proxy)
        # Everything the use cases need is built first; they are built once, complete.
        self.outbox = OutboxSender(self.store, TelegramTransport(self.bot), self.clock,
                                   limits=self.limits, on_unreachable=self._unreachable)
        channels: list[Channel] = [TelegramChannel(self.templates)]
        publishers: dict[str, Publisher] = {
            groups.SOURCE: TelegramGroupPublisher(self.bot, self.store, self.clock)}
        vk_client = self._vk_chat_outbox()
        if vk_client is not None:
            channels.append(VkChannel(self.templates))
        publishers.update(self._vk_publishers())
        # Keywords (the config's, or the bundled dictionary's) plus the model learned from
        # the coordinators' labels, retrained by the scheduler (bot.learning).
        detector = build_triage(config, make_lemmatizer())
        self.learner = Learner(self.store, detector)
        # Suggestions from approved answers: the same lemmas as detection, compacted by the
        # detection job.
        self.suggester = Suggester(
            self.store, lambda text: suggestion_terms(detector.detector.lemmas(text)))
        self.usecases = build_usecases(
            self.store, config, self.templates, channels, config.policies, self.clock,
            wake_outbox=self._wake_outboxes, publishers=publishers, triage=detector,
            suggester=self.suggester)
        await self.usecases.onboarding.seed_people()
        await self.usecases.answers.seed()
        me = await self._reach_telegram()
        log.info("connected to Telegram as @%s", me.username)
        self.dispatcher = Dispatcher(usecases=self.usecases, albums=self.albums,
                                     bot_username=me.username or "", detector=detector)
        self.dispatcher.update.outer_middleware(self._in_hand)
        self.dispatcher.update.outer_middleware(Context(self.usecases))
        self.dispatcher.include_routers(groups.router.build(), chat.router.build())
        self._start_vk_sources(detector)
        if vk_client is not None:
            await self._start_vk_chat(vk_client, me.username or "")

    async def _unreachable(self, platform: str, chat_id: int, reason: str) -> None:
        """An outbox found a chat unreachable: the coordinators are told (once)."""
        await self.usecases.onboarding.tell_unreachable(platform, chat_id, reason)

    def _wake_outboxes(self) -> None:
        """Messages were queued: every outbox sender looks (a follower's are the leader's
        to send: it is told by ``NOTIFY``)."""
        self.outbox.wake()
        if self.vk_outbox is not None:
            self.vk_outbox.wake()
        self.election.poke()

    async def poll_once(self, long_poll: int = 0) -> int:
        """Fetch one batch of updates and handle them (each chat's in order, chats
        concurrently); the number confirmed: those before the first update left."""
        try:
            updates = await self.bot.get_updates(offset=self._offset, timeout=long_poll,
                                                 allowed_updates=ALLOWED_UPDATES)
        except TelegramConflictError as e:
            if "webhook" not in e.message:
                raise  # another process polls with this token
            # Back from mode = "webhook": the webhook goes, its pending updates come here.
            log.warning("a webhook was set for this bot (an earlier mode = \"webhook\"): "
                        "deleted, polling instead")
            await self.bot.delete_webhook(drop_pending_updates=False)
            return 0
        if not updates:
            return 0
        left = await by_chat(updates, chat_of, self._feed)
        if not left:
            self._offset = updates[-1].update_id + 1
            return len(updates)
        # Left unconfirmed, Telegram delivers it again, with the updates after it: those
        # handled meanwhile (of other chats) are recognised by their claims and skipped.
        self._offset = left[0].update_id
        return sum(1 for u in updates if u.update_id < left[0].update_id)

    async def _feed(self, update: Update) -> None:
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Stopping:
            raise
        except NotSaved as e:
            # Neither stored nor told: leave it unconfirmed, Telegram delivers it again.
            log.warning("update %s left for redelivery: %s", update.update_id, e)
            raise
        except Exception:
            log.exception("update %s failed", update.update_id)

    async def settle(self) -> None:
        """Let the answers to presses and pending album follow-ups run and deliver
        everything due."""
        await settle_answers()
        await self.albums.settle()
        await self.outbox.drain()
        if self.vk_outbox is not None:
            await self.vk_outbox.drain()
            await self.outbox.drain()  # a VK chat found unreachable is reported in Telegram

    async def _reach_telegram(self) -> User:
        """``getMe``: a refused token is final; an unreachable Telegram is retried with
        backoff for ``[telegram] start_timeout`` seconds."""
        settings = self.config.settings.telegram
        where = self.config.telegram_api_base
        deadline = time.monotonic() + settings.start_timeout
        delay = 1.0
        while True:
            left = deadline - time.monotonic()
            try:
                return await self.bot.get_me(request_timeout=max(int(min(left, 20)), 1))
            except TelegramUnauthorizedError:
                raise StartError(EXIT_TOKEN, f"Telegram refused the token (401): check "
                                             f"{TOKEN_ENV}") from None
            except TelegramNotFound:
                raise StartError(EXIT_CONFIG, f"{where} answered 404 Not Found to getMe: "
                                              "check the token's form (digits:letters) and "
                                              "[telegram] api_base") from None
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter,
                    ClientDecodeError, ProxyConnectionError, ProxyError, ProxyTimeoutError,
                    OSError, TimeoutError) as e:
                reason = mask(str(e) or type(e).__name__)
            left = deadline - time.monotonic()
            if left <= 0:
                proxy = "[telegram] proxy" if self.config.telegram_proxy else \
                    "the network, or set [telegram] proxy"
                raise StartError(EXIT_NETWORK, f"Telegram is unreachable at {where} "
                                               f"({reason}) after {settings.start_timeout:g} s"
                                               f" of retries: check {proxy}")
            pause = min(delay, left)
            log.warning("Telegram unreachable at %s (%s); retrying in %.2g s", where, reason,
                        pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, 15.0)

    async def _in_hand(self, handler: Callable[[Any, dict[str, Any]], Awaitable[Any]],
                       event: Any, data: dict[str, Any]) -> Any:
        """Outer middleware: counts the update being handled, and once a stop is requested
        lets no further update begin (it stays unconfirmed and comes again after a start)."""
        if self._stopping:
            raise Stopping
        self._handling += 1
        try:
            return await handler(event, data)
        finally:
            self._handling -= 1

    def request_stop(self) -> None:
        """SIGTERM / Ctrl-C: finish the update in hand, then stop (see :meth:`run`)."""
        if self._stop_requested is not None:
            log.info("stopping: finishing the update in hand")
            self._stopping = True
            self._stop_requested.set()
            if self._handling == 0 and self._poll_task is not None:
                self._poll_task.cancel()  # waiting in getUpdates: nothing in hand
        elif self._main_task is not None:  # still starting: stop at once
            self._main_task.cancel()

    async def _poll_loop(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                handled = await self.poll_once(long_poll=25)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                self.health.poll_failed(mask(f"{type(e).__name__}: {e}"))
                pause = min(self.poll_backoff * failures, 60.0)
                log.warning("Telegram polling failed (%s: %s); retrying in %.0f s",
                            type(e).__name__, e, pause)
                await self._save_health()
                await asyncio.sleep(pause)
            else:
                failures = 0
                self.health.polled(handled)
                await self._save_health()

    async def _save_health(self, *, force: bool = False) -> None:
        try:
            await self.health.save(self.store, force=force)
        except Exception as e:  # health must never stop the work
            log.warning("health not recorded: %s", e)

    def _watch(self, name: str) -> Callable[[str], None]:
        """A callback for a part that must never stop: its death ends :meth:`run`."""
        def died(reason: str) -> None:
            if self._died is not None and not self._died.done():
                self._died.set_result(f"{name}: {reason}")
        return died

    async def run(self, sweep_every: float = 30.0) -> None:
        """Poll Telegram, deliver the outbox and sweep the SLA timers until cancelled or
        :meth:`request_stop`. If a long-running part (the outbox sender, polling, the
        scheduler, the VK long poll or outbox) dies, :class:`StartError` with
        :data:`EXIT_FAILED`: the process must exit and be restarted, never run half-alive."""
        loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._died = loop.create_future()
        self.health.sweep_every = sweep_every
        self.health.started(self.config.settings.telegram.mode)
        await self._save_health(force=True)
        intake = await self.start_http_intake()  # first: a port in use ends the start here
        try:
            webhook = await self.start_webhook()
        except BaseException:
            if intake is not None:
                await intake.cleanup()
            raise
        tasks = {asyncio.create_task(self._lead(sweep_every), name="the leader's duties"),
                 asyncio.create_task(self.election.run(), name="the leader election")}
        if type(self.election) is not Alone:  # several workers: a follower's own models
            tasks.add(asyncio.create_task(self._refresh_models(), name="the models' refresh"))
        self._poll_task = (
            asyncio.create_task(self._poll_loop(), name="Telegram polling") if webhook is None
            else asyncio.create_task(self._watch_webhook(webhook), name="Telegram webhook"))
        stop = asyncio.create_task(self._stop_requested.wait(), name="stop")
        if self.on_ready is not None:  # listening, and the webhook set
            self.on_ready()
        watched = {*tasks, self._poll_task}
        try:
            done, _ = await asyncio.wait({*watched, stop, self._died},
                                         return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                await self._finish_in_hand()
                return
            if self._died in done:
                reason = self._died.result()
            else:
                task = next(t for t in done if t in watched)
                error = None if task.cancelled() else task.exception()
                reason = str(error) if isinstance(error, DutyDied) else \
                    f"{task.get_name()}: " + (
                        f"{type(error).__name__}: {error}" if error else "stopped")
            log.critical("%s stopped; exiting so that the service manager restarts Otklik",
                         reason)
            raise StartError(EXIT_FAILED, f"{mask(reason)} — stopped; exiting so that the "
                                          "service manager restarts Otklik")
        finally:
            stop.cancel()
            if intake is not None:
                await intake.cleanup()
            if webhook is not None:
                await webhook.close()
            for task in (*tasks, self._poll_task):
                task.cancel()
            await asyncio.gather(*tasks, self._poll_task, stop, return_exceptions=True)
            self._poll_task = None
            self._stop_requested = None
            self.health.stopped()
            await self._save_health(force=True)

    async def _lead(self, sweep_every: float) -> None:
        """While this process leads (always, with SQLite): the outbox senders, the VK long
        poll and the scheduler (the SLA sweep, the notes, the VK wall pollers, the nightly
        jobs). They stop when the leadership is lost and start again when it is won back;
        :class:`DutyDied` when one of them dies."""
        while True:
            self.health.leading = self.election.leading.is_set()
            await self.election.leading.wait()
            self.health.leading = True
            self.outbox.restarted()  # "sending" rows a dead leader left are sent again
            if self.vk_outbox is not None:
                self.vk_outbox.restarted()
            tasks = {asyncio.create_task(self.outbox.run(), name="the outbox sender")}
            tasks.update(self._vk_chat_tasks())
            scheduler = start_scheduler(self.usecases, self.store, every_seconds=sweep_every,
                                        pollers=self._jobs(), health=self.health,
                                        on_died=self._watch("the scheduler"))
            lost = asyncio.create_task(self.election.following.wait())
            try:
                done, _ = await asyncio.wait({*tasks, lost},
                                             return_when=asyncio.FIRST_COMPLETED)
                if lost not in done:
                    task = done.pop()
                    error = None if task.cancelled() else task.exception()
                    raise DutyDied(f"{task.get_name()}: " + (
                        f"{type(error).__name__}: {error}" if error else "stopped"))
            finally:
                lost.cancel()
                await stop_scheduler(scheduler)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, lost, return_exceptions=True)
                self.health.leading = False

    async def _refresh_models(self) -> None:
        """A follower's detection model and suggestions' index live in its memory: they are
        brought up to date as often as the leader's detection job does with its own."""
        every = vk_wall.poll_seconds(self.config.settings.detection.retrain_every)
        while True:
            await asyncio.sleep(every)
            if self.election.leading.is_set():
                continue  # the leader's detection job does it
            try:
                await self.learner.retrain()
                await self.suggester.refresh(compact=True)
            except Exception:
                log.exception("the detection model or the suggestions were not refreshed; "
                              "the next run retries")

    async def _finish_in_hand(self) -> None:
        """Let the update in hand and pending album follow-ups finish (at most
        :data:`STOP_GRACE` seconds), then hand back."""
        assert self._poll_task is not None
        done, _ = await asyncio.wait({self._poll_task}, timeout=STOP_GRACE)
        if not done:
            log.warning("the update in hand did not finish in %.0f s; stopping anyway",
                        STOP_GRACE)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settle_answers(), timeout=2.0)
            await asyncio.wait_for(self.albums.settle(), timeout=2.0)
        log.info("stopped cleanly")

    async def start_http_intake(self) -> web.AppRunner | None:
        """The HTTP server of ``[http] listen``: ``GET /healthz`` always, the intake
        (``POST /api/incidents``) when there is an intake token."""
        listen = self.config.settings.http.listen
        if not listen:
            return None
        if self.config.http_token:
            app = make_intake_app(self.usecases.intake, self.config.http_token)
        else:
            log.warning("http.listen is set but there is no http.token: only /healthz and "
                        "/board served")
            app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        public_url = self.config.settings.http.public_url
        Board(self.store, self.usecases, secure_cookie=public_url.startswith("https://")).add_routes(app)
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, int(port), reuse_port=self.reuse_port or None).start()
        except OSError as e:
            await runner.cleanup()
            raise StartError(EXIT_CONFIG, f"cannot listen on {listen} ([http] listen): "
                                          f"{e.strerror or e}") from None
        log.info("HTTP server listening on %s (/healthz, /board%s)", listen,
                 ", /api/incidents" if self.config.http_token else "")
        return runner

    async def start_webhook(self) -> WebhookServer | None:
        """Webhook mode: listen on ``[telegram] listen``, then ``setWebhook`` (the pending
        updates kept: Telegram delivers them to the webhook)."""
        settings = self.config.settings.telegram
        if settings.mode != "webhook":
            return None
        server = WebhookServer(self.bot, self._feed, chat_of, self.config.telegram_secret,
                               urlsplit(settings.webhook_url).path,
                               on_update=lambda: self.health.polled(1))
        try:
            await server.start(settings.listen, reuse_port=self.reuse_port)
        except OSError as e:
            raise StartError(EXIT_CONFIG, f"cannot listen on {settings.listen} ([telegram] "
                                          f"listen): {e.strerror or e}") from None
        try:
            await self.bot.set_webhook(settings.webhook_url,
                                       secret_token=self.config.telegram_secret,
                                       allowed_updates=ALLOWED_UPDATES,
                                       drop_pending_updates=False)
        except TelegramBadRequest as e:
            await server.close()
            raise StartError(EXIT_CONFIG, f"Telegram refused the webhook {settings.webhook_url}"
                                          f" ({e.message}): check [telegram] webhook_url in "
                                          f"{self.config.path}") from None
        except Exception as e:
            await server.close()
            raise StartError(EXIT_NETWORK, f"setWebhook failed ({mask(str(e) or type(e).__name__)})"
                                           ": check the network or [telegram] proxy") from None
        except BaseException:
            await server.close()
            raise
        log.info("Telegram delivers updates to %s", settings.webhook_url)
        return server

    async def _watch_webhook(self, server: WebhookServer) -> None:
        """Webhook mode's counterpart of the polling loop, for /healthz: every
        :attr:`webhook_check_every` seconds ``getWebhookInfo`` — is the webhook still ours, and
        could Telegram deliver since the last look? On a stop, the requests in hand finish."""
        assert self._stop_requested is not None
        url = self.config.settings.telegram.webhook_url
        seen = utcnow()  # Telegram's errors before this start are not ours to report
        while not self._stopping:
            try:
                info = await self.bot.get_webhook_info()
            except Exception as e:
                self.health.poll_failed(mask(f"getWebhookInfo: {type(e).__name__}: {e}"))
            else:
                error = info.last_error_date
                if info.url != url:
                    self.health.poll_failed(f"the webhook is {info.url or 'not set'!r}, not "
                                            f"{url!r}: did something call deleteWebhook?")
                elif error is not None and error > seen:
                    seen = error
                    self.health.poll_failed(f"Telegram could not deliver an update to {url}: "
                                            f"{info.last_error_message}")
                    log.warning("Telegram could not deliver an update to %s: %s", url,
                                info.last_error_message)
                else:
                    self.health.polled(0)
            await self._save_health()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), self.webhook_check_every)
        await server.idle()

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            doc = await health.live_report(self.store, self.health)
        except Exception as e:
            return web.json_response({"status": "failing", "problems": [
                mask(f"the database cannot be read: {e}")]}, status=503)
        return web.json_response(doc, status=200 if doc["status"] == "ok" else 503,
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))

    # --- VK: the watched communities and the answers published there ---------------------

    def _start_vk_sources(self, detector: Detector | Triage) -> None:
        """Watch the walls of ``vk.communities`` (service token), when it is there."""
        tokens, vk = self.config.vk_tokens, self.config.settings.vk
        if tokens["service_token"] and self.config.vk_communities:
            self.vk_wall = VkWallSource(self._vk_client(tokens["service_token"], USER_RPS),
                                        self.usecases.intake, detector,
                                        communities=self.config.vk_communities,
                                        group_id=vk.group_id)

    def _vk_publishers(self) -> dict[str, Publisher]:
        """Answers to VK incidents published as comments of the community (community token;
        photos with the user token of a community admin; read back with the service token)."""
        tokens, vk = self.config.vk_tokens, self.config.settings.vk
        if not (tokens["token"] and vk.group_id):
            return {}
        user = (self._vk_client(tokens["user_token"], USER_RPS)
                if tokens["user_token"] else None)
        reader = (self._vk_client(tokens["service_token"], USER_RPS)
                  if tokens["service_token"] and self.config.vk_communities else user)
        return {vk_wall.SOURCE: VkPublisher(
            self._vk_client(tokens["token"], GROUP_RPS), vk.group_id, user, reader=reader)}

    def _vk_client(self, token: str, rps: float) -> VkClient:
        """The client of a token, shared by everything that uses the token, so that VK's
        per-token request limit is kept by one limiter."""
        if token not in self._vk_clients:
            self._vk_clients[token] = VkClient(token, self.config.vk_api_base,
                                               rps=self.vk_rps or rps, retry=self.vk_retry,
                                               proxy=self.config.vk_proxy)
        return self._vk_clients[token]

    def _pollers(self) -> list[Poller]:
        if self.vk_wall is None:
            return []
        every = vk_wall.poll_seconds(self.config.settings.vk.poll_every)
        return [("vk_wall", every, self._poll_vk_wall)]

    async def _poll_vk_wall(self) -> None:
        """Poll the watched walls and record each community's state for /healthz."""
        assert self.vk_wall is not None
        try:
            await self.vk_wall.poll_once()
        finally:
            for owner_id in self.vk_wall.communities:
                self.health.vk_source(owner_id, self.vk_wall.faults.get(owner_id))
            await self._save_health()

    def _jobs(self) -> list[Poller]:
        """The pollers, detection's retraining, the nightly backup when ``[backup] dir`` is
        set, and the nightly purge of sent outbox rows."""
        jobs = [*self._pollers(), *self._detection_jobs()]
        directory = self.config.backup_dir
        if directory is not None:
            settings = self.config.settings.backup
            source, tz, clock = self.config.database, self.config.tz, self.clock
            at = datetime.strptime(settings.at, "%H:%M").time()

            async def nightly() -> None:
                await backup.nightly_job(source, directory, settings.keep, clock, tz, at)

            jobs.append(("backup", 600.0, nightly))
        jobs.append(("outbox-purge", 600.0, self.purge_outbox))
        return jobs

    async def purge_outbox(self) -> int:
        """Once a night (after ``[backup] at``, local time): delete the outbox rows finished
        more than ``[storage] keep_sent`` ago (messages still to send are never deleted) and
        forget the update ids claimed more than :data:`bot.updates.KEEP_UPDATES` ago. The
        number of outbox rows deleted."""
        now = self.clock()
        local = now.astimezone(self.config.tz)
        at = datetime.strptime(self.config.settings.backup.at, "%H:%M").time()
        day = local.date().isoformat()
        async with self.store.read() as uow:
            done = await uow.jobs.last_day("outbox-purge")
        if done == day or local.time() < at:
            return 0
        deleted = await purge_sent(self.store, now - self.config.settings.storage.keep_sent_delta)
        forgotten = await forget_updates(self.store, now - KEEP_UPDATES)
        async with self.store.write() as uow:
            await uow.jobs.set_last_day("outbox-purge", day)
        if deleted:
            log.info("outbox: %d message(s) sent before %s purged", deleted,
                     self.config.settings.storage.keep_sent)
        if forgotten:
            log.info("updates: %d processed update id(s) older than %d days forgotten",
                     forgotten, KEEP_UPDATES.days)
        return deleted

    def _detection_jobs(self) -> list[Poller]:
        every = vk_wall.poll_seconds(self.config.settings.detection.retrain_every)
        return [("detection", every, self.detection_tick)]

    async def detection_tick(self) -> None:
        """Retrain the detection model on new labels; send the digest of waiting possible
        complaints; index the answers published since and compact the suggestions' index."""
        await self.learner.retrain()
        await possible.digest(self.usecases.intake)
        await self.suggester.refresh(compact=True)

    # --- VK: the community chat, where executors and coordinators work too ----------------

    def _vk_chat_outbox(self) -> VkClient | None:
        """With the community token and its id: the community's client and an outbox sender
        for VK (the chat itself starts in :meth:`_start_vk_chat`); None without them."""
        token, group_id = self.config.vk_tokens["token"], self.config.settings.vk.group_id
        if not (token and group_id):
            return None
        client = self._vk_client(token, GROUP_RPS)
        rps = self.vk_rps or GROUP_RPS
        self.vk_outbox = OutboxSender(
            self.store, VkTransport(outbox_client(client), self.templates), self.clock,
            limits=RateLimits(per_second=rps, per_chat_interval=0.0, group_per_minute=10**6),
            on_unreachable=self._unreachable)
        return client

    async def _start_vk_chat(self, client: VkClient, telegram_username: str) -> None:
        """The Bots Long Poll of the community chat, handled by ``handlers.vk``."""
        group_id = self.config.settings.vk.group_id
        self.vk_chat = VkFrontEnd(self.usecases, client, group_id,
                                  settle_later=self.albums.settle_later,
                                  telegram_username=telegram_username,
                                  api_base=self.config.vk_api_base,
                                  proxy=self.config.vk_proxy)
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
        """Close whatever :meth:`start` opened (also after a failed start); the database is
        checkpointed, so that the ``.sqlite3`` file alone holds everything."""
        if self.vk_chat is not None:
            await self.vk_chat.close()
        for client in self._vk_clients.values():
            client.api.http.close()
        await self.albums.close()
        if hasattr(self, "bot"):
            await self.bot.session.close()
        if hasattr(self, "store"):
            try:
                await self.store.checkpoint()
            except Exception as e:
                log.warning("the database was not checkpointed: %s", e)
            await self.store.close()
