"""Webhook mode (issue 13 item 3): the fake Bot API posts updates over real HTTP to Otklik's
webhook server, with the secret header. An update goes the way a polled one goes — claimed
once with its effects, one chat's in order, different chats together — and is answered 200
only once it is stored: a storage fault gives 503 and Telegram's next delivery is handled."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.exceptions import TelegramConflictError

from bot import health, updates, webhook
from bot.app import EXIT_CONFIG, StartError
from bot.config import Config
from bot.updates import NotSaved
from bot.webhook import SECRET_HEADER, WebhookServer
from fakes.telegram import FakeTelegramServer
from tests.harness import (
    CONFIG,
    COORDINATOR,
    PETROV,
    SIDOROVA,
    Clock,
    Harness,
    load,
    write_config,
)
from tests.test_concurrent_updates import ends, record
from tests.test_reliability_outbox import second_process, short_busy_timeout
from tests.test_reliability_updates import NOT_SAVED, claimed, register
from tests.test_start_stop import free_port

SECRET = "otklik_Webhook-secret_42"
GROUPS = "groups = [-1001234567890]\n"


def webhook_config(directory: Path, server: FakeTelegramServer, port: int) -> Config:
    path = write_config(directory, server)
    text = path.read_text(encoding="utf-8").replace(GROUPS, GROUPS + (
        'mode = "webhook"\n'
        f'webhook_url = "http://127.0.0.1:{port}/telegram/hook"\n'
        f'listen = "127.0.0.1:{port}"\n'
        f'secret_token = "{SECRET}"\n'))
    path.write_text(text, encoding="utf-8")
    return load(path)


async def until(check: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        await asyncio.sleep(0.01)


class WebhookHarness(Harness):
    """The harness with Telegram posting to the webhook instead of Otklik polling."""

    webhook: WebhookServer | None = None

    async def step(self) -> None:
        await until(lambda: self.server.pending == 0, "the webhook to accept every update")
        assert self.app is not None
        await self.app.settle()

    def url(self) -> str:
        return self.config.settings.telegram.webhook_url


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(updates, "RETRY_DELAYS", (0.01, 0.01, 0.01))


@pytest.fixture
async def hooked(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                 ) -> AsyncIterator[WebhookHarness]:
    """Otklik started in webhook mode: the webhook served and set (no outbox sender or
    scheduler running: :meth:`WebhookHarness.step` settles, as the polling harness does)."""
    h = WebhookHarness(server, webhook_config(tmp_path, server, free_port()), clock)
    await h.start()
    assert h.app is not None
    h.webhook = await h.app.start_webhook()
    try:
        yield h
    finally:
        if h.webhook is not None:
            await h.webhook.close()
        await h.close()


@pytest.fixture
def locker(hooked: WebhookHarness) -> Iterator[sqlite3.Connection]:
    assert hooked.app is not None
    conn = second_process(hooked.app)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def post(url: str, update: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session, \
            session.post(url, json=update, headers=headers) as response:
        return response.status


def message(update_id: int, user: Any, text: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1764000000, "text": text,
        "chat": {"id": user.id, "type": "private"}, "from": user.to_api()}}


def accepted(server: FakeTelegramServer, update_id: int) -> int:
    return sum(1 for u, status in server.webhook_posts if u == update_id and status == 200)


async def test_the_webhook_is_set_with_the_secret_and_getupdates_is_not_used(
        hooked: WebhookHarness) -> None:
    [call] = hooked.server.calls_to("setWebhook")
    assert call.params["url"] == hooked.url()
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "callback_query"]
    assert call.params.get("drop_pending_updates") in (None, False)  # pending ones come
    assert hooked.server.calls_to("getUpdates") == []
    app = hooked.app
    assert app is not None
    assert (await app.bot.get_webhook_info()).url == hooked.url()
    with pytest.raises(TelegramConflictError):  # as Telegram does while a webhook is set
        await app.bot.get_updates()


async def test_back_in_polling_mode_the_old_webhook_is_deleted_and_nothing_lost(
        otklik: Harness, server: FakeTelegramServer) -> None:
    app = otklik.app
    assert app is not None
    server.webhook_retry = 3600.0  # Telegram cannot reach the old webhook meanwhile
    await app.bot.set_webhook(f"http://127.0.0.1:{free_port()}/tg", secret_token=SECRET)
    update = server.message(PETROV, "/help")
    await until(lambda: server.webhook_posts != [], "a failed post to the old webhook")
    assert await app.poll_once() == 0  # 409: the webhook is deleted
    assert [c.params.get("drop_pending_updates") for c in server.calls_to("deleteWebhook")] \
        in ([None], [False])
    await otklik.step()  # the update that waited for the webhook comes by getUpdates
    assert await claimed(app, update["update_id"])
    assert otklik.texts(PETROV) != []


async def test_a_press_via_the_webhook_is_handled_once_when_delivered_again(
        hooked: WebhookHarness) -> None:
    app = hooked.app
    assert app is not None
    n = await register(hooked)
    update = await hooked.press(PETROV, "take", n)
    assert (await hooked.incident(n)).state == "in_progress"
    answers = len(hooked.alerts(PETROV))
    hooked.server.redeliver(update["update_id"])  # Telegram posts the same update again
    await hooked.step()
    assert accepted(hooked.server, update["update_id"]) == 2  # both posts answered 200
    takes = [e for e in await hooked.audit() if e.action == "take" and e.ok]
    assert len(takes) == 1
    assert len(hooked.alerts(PETROV)) == answers  # the press is not answered twice
    assert await claimed(app, update["update_id"])


async def test_a_request_without_or_with_a_wrong_secret_is_refused_and_not_handled(
        hooked: WebhookHarness) -> None:
    app = hooked.app
    assert app is not None
    server = hooked.server
    server.webhook = None  # deliver by hand, not by the fake's own poster
    update = message(777, PETROV, "/help")
    assert await post(hooked.url(), update, secret=None) == 401
    assert await post(hooked.url(), update, secret="otklik_Webhook-secret_43") == 403
    assert await post(hooked.url(), update, secret="") == 403
    await app.settle()
    assert not await claimed(app, 777)
    assert hooked.texts(PETROV) == []
    assert await post(hooked.url(), update) == 200
    await app.settle()
    assert await claimed(app, 777)
    assert hooked.texts(PETROV) != []


async def test_one_chats_updates_are_handled_in_order_and_other_chats_meanwhile(
        hooked: WebhookHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = hooked.app
    assert app is not None
    hooked.server.webhook = None  # post by hand: the order of arrival is the test's

    seen = record(app, monkeypatch, slow={101})
    first = asyncio.create_task(post(hooked.url(), message(101, PETROV, "/help")))
    await until(lambda: ("start", PETROV.id, 101) in seen, "the first update in hand")
    statuses = await asyncio.gather(
        post(hooked.url(), message(102, PETROV, "/my")),
        post(hooked.url(), message(201, SIDOROVA, "/help")), first)
    assert statuses == [200, 200, 200]
    assert ends(seen, PETROV.id) == [101, 102]
    # Petrov's slow first update held up his second one, not Sidorova's.
    assert seen.index(("start", PETROV.id, 102)) > seen.index(("end", PETROV.id, 101))
    assert seen.index(("end", SIDOROVA.id, 201)) < seen.index(("end", PETROV.id, 101))


async def test_a_chats_later_updates_wait_for_its_update_not_saved(
        hooked: WebhookHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in polling: an update neither stored nor told stops its chat until Telegram
    delivers it again; other chats go on."""
    app = hooked.app
    assert app is not None
    hooked.server.webhook = None  # post by hand: Telegram may post the chat's next one early
    seen = record(app, monkeypatch, fail={101: NotSaved("disk full")})
    url = hooked.url()
    assert await post(url, message(101, PETROV, "/help")) == 503
    assert await post(url, message(102, PETROV, "/my")) == 503  # waits for 101
    assert await post(url, message(201, SIDOROVA, "/help")) == 200
    assert ends(seen, PETROV.id) == []
    assert await post(url, message(102, PETROV, "/my")) == 503  # still waiting
    assert await post(url, message(101, PETROV, "/help")) == 200  # delivered again: saved
    assert await post(url, message(102, PETROV, "/my")) == 200
    assert ends(seen, PETROV.id) == [101, 102]
    assert ends(seen, SIDOROVA.id) == [201]


async def test_a_chat_waits_for_its_update_not_saved_only_so_long(
        hooked: WebhookHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = hooked.app
    assert app is not None
    hooked.server.webhook = None
    monkeypatch.setattr(webhook, "HOLD", 0.0)  # Telegram gave the update up at once
    seen = record(app, monkeypatch, fail={101: NotSaved("disk full")})
    assert await post(hooked.url(), message(101, PETROV, "/help")) == 503
    assert await post(hooked.url(), message(102, PETROV, "/my")) == 200
    assert ends(seen, PETROV.id) == [102]


async def test_a_storage_fault_is_answered_503_and_the_next_delivery_is_handled(
        hooked: WebhookHarness, locker: sqlite3.Connection) -> None:
    app = hooked.app
    assert app is not None
    server = hooked.server
    n = await register(hooked)
    await short_busy_timeout(app)
    server.webhook_retry = 1.0  # Telegram retries a while later
    locker.execute("BEGIN IMMEDIATE")  # another process writes, longer than every retry
    # ...and the person cannot even be told: the update is neither stored nor answered.
    server.fail_next("answerCallbackQuery", error_code=502, description="Bad Gateway",
                     html=True)
    call, data = hooked.button(PETROV, "take", n)
    update_id = server.callback(PETROV, call, data)["update_id"]
    await until(lambda: (update_id, 503) in server.webhook_posts, "a 503 for the update")
    locker.execute("ROLLBACK")
    assert not await claimed(app, update_id)
    assert (await hooked.incident(n)).state == "assigned"
    await hooked.step()  # Telegram posts it again: now it is stored and answered 200
    assert [s for u, s in server.webhook_posts if u == update_id] == [503, 200]
    assert (await hooked.incident(n)).state == "in_progress"
    # The «not saved» answer was tried (and failed with the 502), then the real one.
    assert hooked.alerts(PETROV)[-2:] == [NOT_SAVED, "Готово."]


async def test_two_otklik_processes_on_one_database_handle_an_update_once(
        hooked: WebhookHarness, server: FakeTelegramServer, tmp_path: Path,
        clock: Clock) -> None:
    """Two processes behind a load balancer, one SQLite database: the same update posted to
    both at once is handled by one of them (the claim is in the storage); both answer 200."""
    n = await register(hooked)
    other_dir = tmp_path / "second"
    other_dir.mkdir()
    config = webhook_config(other_dir, server, free_port())
    text = config.path.read_text(encoding="utf-8").replace(
        'database = "otklik.sqlite3"', f'database = "{tmp_path / "otklik.sqlite3"}"')
    config.path.write_text(text, encoding="utf-8")
    second = WebhookHarness(server, load(config.path), clock)
    await second.start()
    try:
        assert second.app is not None
        second.webhook = await second.app.start_webhook()  # the webhook is now the second's
        server.webhook = None  # the balancer: posted by hand to both
        call, data = hooked.button(PETROV, "take", n)
        update = server.callback(PETROV, call, data)
        statuses = await asyncio.gather(post(hooked.url(), update), post(second.url(), update))
        assert statuses == [200, 200]
        for h in (hooked, second):
            assert h.app is not None
            await h.app.settle()
        takes = [e for e in await hooked.audit() if e.action == "take" and e.ok]
        assert len(takes) == 1
        assert (await hooked.incident(n)).state == "in_progress"
    finally:
        if second.webhook is not None:
            await second.webhook.close()
        await second.close()


async def test_run_in_webhook_mode_serves_updates_and_stops_cleanly(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    h = Harness(server, webhook_config(tmp_path, server, free_port()), clock)
    await h.start()
    app = h.app
    assert app is not None
    app.webhook_check_every = 0.05
    task = asyncio.create_task(app.run(sweep_every=3600))
    try:
        await until(lambda: server.webhook is not None, "setWebhook")
        server.message(COORDINATOR, "/help")
        await until(lambda: bool(h.texts(COORDINATOR)), "the answer to /help")
        await until(lambda: len(server.calls_to("getWebhookInfo")) >= 2, "the webhook checks")
        assert app.health.parts["polling"]["ok"]
        assert app.health.parts["polling"]["last_update_at"] is not None
        doc = await health.live_report(app.store, app.health)
        assert health.render(doc).splitlines()[1].startswith("telegram webhook: OK; last webhook")
        app.request_stop()
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await h.close()
    assert server.webhook is not None  # kept: Telegram holds the updates until the next start
    assert server.calls_to("deleteWebhook") == []


def test_the_secret_may_come_from_the_environment_and_is_checked_there_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import SECRET_TOKEN_ENV, ConfigError, load_config
    from bot.config_warnings import config_warnings

    path = tmp_path / "otklik.toml"
    path.write_text(CONFIG.format(token="", api_base="https://api.telegram.org").replace(
        GROUPS, GROUPS + 'mode = "webhook"\nwebhook_url = "https://otklik.example.ru/tg"\n'
                         'listen = "127.0.0.1:8443"\n'), encoding="utf-8")
    monkeypatch.setenv(SECRET_TOKEN_ENV, "from-the-environment_1")
    config = load_config(path)
    assert config.telegram_secret == "from-the-environment_1"
    assert not any("secret_token" in w for w in config_warnings(config))
    monkeypatch.setenv(SECRET_TOKEN_ENV, "with space")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"{path}: telegram.secret_token ({SECRET_TOKEN_ENV}): expected 1-256 characters")
    assert "with space" not in str(info.value)  # a secret is never shown
    monkeypatch.delenv(SECRET_TOKEN_ENV)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'listen = "127.0.0.1:8443"\n', 'listen = "127.0.0.1:8443"\nsecret_token = "x_1"\n'),
        encoding="utf-8")
    assert any(w.startswith(f"{path}: telegram.secret_token: a token is written in the file")
               for w in config_warnings(load_config(path)))


async def test_a_refused_webhook_or_a_busy_port_ends_the_start_in_one_line(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    port = free_port()
    h = Harness(server, webhook_config(tmp_path, server, port), clock)
    await h.start()
    app = h.app
    assert app is not None
    try:
        server.fail_next("setWebhook", error_code=400,
                         description="Bad Request: bad webhook: Failed to resolve host")
        with pytest.raises(StartError) as info:
            await app.run(sweep_every=3600)
        assert info.value.code == EXIT_CONFIG
        assert info.value.message == (
            f"Telegram refused the webhook {h.config.settings.telegram.webhook_url} (Bad "
            "Request: bad webhook: Failed to resolve host): check [telegram] webhook_url in "
            f"{h.config.path}")
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", port))
            busy.listen()
            with pytest.raises(StartError) as info:
                await app.run(sweep_every=3600)
        assert info.value.code == EXIT_CONFIG
        assert info.value.message.startswith(f"cannot listen on 127.0.0.1:{port} ([telegram] "
                                             "listen): ")
        assert len(server.calls_to("setWebhook")) == 1  # not set while it cannot be served
    finally:
        await h.close()
