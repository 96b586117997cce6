"""The end-to-end journeys with two workers in webhook mode (issue 13: "the end-to-end journeys
pass on PostgreSQL with 2 workers in webhook mode").

With ``OTKLIK_TEST_WORKERS=2`` (and ``OTKLIK_TEST_DATABASE``, see tests/pg.py) the ``otklik``
fixture is a :class:`TwoWorkers`: two Otklik apps on the one database, both serving the
webhook on one address (SO_REUSEPORT, as ``otklik run --workers 2`` does), and the fake Bot
API posting each update on a new connection, so that the kernel spreads the updates between
them. The first app is the leader: its outbox senders deliver what either queued. The tests
read the first app (``otklik.app``); the database is the same.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable

from aiogram.types import Update

from bot.app import App
from bot.updates import settle_answers
from bot.webhook import WebhookServer
from fakes.driver import FAST, FAST_VK_RETRY
from tests.harness import Harness, load

ENV = "OTKLIK_TEST_WORKERS"
SECRET = "otklik_two-workers_secret"
GROUPS = "groups = [-1001234567890]\n"
Feed = Callable[[Update], Awaitable[None]]


def on_two_workers() -> bool:
    return os.environ.get(ENV) == "2"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TwoWorkers(Harness):
    """The harness with two workers behind Telegram's webhook."""

    other: App | None = None
    hooks: list[WebhookServer] = []  # noqa: RUF012 - replaced per start

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        port = free_port()
        path = self.config.path
        text = path.read_text(encoding="utf-8")
        if 'mode = "webhook"' not in text:
            path.write_text(text.replace(GROUPS, GROUPS + (
                'mode = "webhook"\n'
                f'webhook_url = "http://127.0.0.1:{port}/telegram/hook"\n'
                f'listen = "127.0.0.1:{port}"\n'
                f'secret_token = "{SECRET}"\n'), 1), encoding="utf-8")
            self.config = load(path)
        self.server.webhook_new_connections = True

    def _app(self) -> App:
        app = App(self.config, clock=self.clock, limits=FAST, album_delay=0.05,
                  vk_retry=FAST_VK_RETRY, vk_rps=math.inf)
        app.reuse_port = True
        return app

    async def start(self) -> App:
        self.app, self.other = self._app(), self._app()
        await self.app.start()
        await self.other.start()
        self.hooks = []
        self.handled = [0, 0]  # updates each worker handled
        for i, app in enumerate((self.app, self.other)):
            feed = app._feed

            async def counted(update: Update, feed: Feed = feed, i: int = i) -> None:
                self.handled[i] += 1
                await feed(update)

            app._feed = counted  # type: ignore[method-assign]
            hook = await app.start_webhook()
            assert hook is not None
            self.hooks.append(hook)
        await self.app.settle()
        return self.app

    async def step(self) -> None:
        """Until the webhook took every update (each answered once committed), then the
        answers and album follow-ups of both workers, and the leader's outbox."""
        deadline = time.monotonic() + 30
        while self.server.pending:
            if time.monotonic() > deadline:
                raise AssertionError("the workers did not take every update in 30 s")
            await asyncio.sleep(0.005)
        assert self.app is not None and self.other is not None
        await settle_answers()
        await self.other.albums.settle()
        await self.app.settle()

    async def close(self) -> None:
        for hook in self.hooks:
            await hook.close()
        self.hooks = []
        if self.other is not None:
            await self.other.close()
            self.other = None
        await super().close()

    async def restart(self) -> App:
        await self.close()
        return await self.start()
