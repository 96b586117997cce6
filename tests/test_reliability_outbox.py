"""The outbox sender never stops while the bot runs, and a crash repeats at most one message
per chat: a reverse proxy's HTML 502, a second process holding the database's write lock
while a message is recorded, a crash between the platform call and its record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.app import App
from bot.storage import StorageFault
from fakes.telegram import Call
from tests import pg
from tests.harness import COORDINATOR, Harness
from tests.test_vk_chat import (
    VASILIEV,
    VkHarness,
    vk,  # noqa: F401 - the fake VK server fixture
)
from tests.test_vk_chat import otklik as vk_otklik  # noqa: F401 - the VK fixture

NOT_MENUS = "method != 'setMyCommands'"


def helps(otklik: Harness) -> list[Call]:
    """The /help answers the coordinator received."""
    return [c for c in otklik.server.sent_to(COORDINATOR.id) if "/my" in (c.text or "")]


async def short_busy_timeout(app: App, seconds: float = 0.05) -> None:
    """Wait for another process's lock only briefly (the default is seconds)."""
    async with app.store.read() as uow:
        if isinstance(app.config.database, str):  # PostgreSQL
            await uow.conn.execute(f"SET lock_timeout = {int(seconds * 1000)}")
        else:
            await uow.conn.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")


def second_process(app: App) -> sqlite3.Connection:
    """Another connection to the bot's database, as a second process (a backup, a shell)."""
    if isinstance(app.config.database, str):  # PostgreSQL
        return pg.Locker(str(app.config.database))  # type: ignore[return-value]
    return sqlite3.connect(app.config.database, isolation_level=None, timeout=0)


@contextlib.asynccontextmanager
async def running_sender(app: App) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(app.outbox.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], Awaitable[bool] | bool], app: App,
                task: asyncio.Task[None] | None = None, rounds: int = 300) -> None:
    """Let the event loop run (waking the sender) until ``condition`` holds; the sender must
    stay alive all the while."""
    for _ in range(rounds):
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if task is not None and task.done():
            raise AssertionError(f"the sender stopped: {task.exception()!r}")
        app.outbox.wake()
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def outbox(app: App) -> dict[str, int]:
    """Outbox rows by status, leaving out the command menus that every start queues."""
    async with app.store.read() as uow, uow.conn.execute(
            f"SELECT status, COUNT(*) FROM outbox WHERE {NOT_MENUS} GROUP BY status") as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def test_html_502_of_a_proxy_does_not_stop_the_sender(
        otklik: Harness, caplog: pytest.LogCaptureFixture) -> None:
    app = otklik.app
    assert app is not None
    otklik.server.fail_next("sendMessage", error_code=502, description="Bad Gateway",
                            html=True, chat_id=COORDINATOR.id, times=3)
    caplog.set_level(logging.DEBUG, logger="bot.outbox")
    async with running_sender(app) as sender:
        otklik.server.message(COORDINATOR, "/help")
        await app.poll_once()

        def delivered() -> bool:
            otklik.clock.advance(seconds=10)  # past every backoff
            return bool(helps(otklik))

        await until(delivered, app, sender)

        async def recorded() -> bool:
            return await outbox(app) == {"sent": 1}

        await until(recorded, app, sender)
        assert not sender.done()
    assert len(helps(otklik)) == 1
    refused = [c for c in otklik.server.calls_to("sendMessage") if not c.ok]
    assert [c.error_code for c in refused] == [502, 502, 502]
    # Logged once, with the reason, and without a traceback.
    warnings = [r for r in caplog.records
                if r.levelno >= logging.WARNING and "ClientDecodeError" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "<html>" not in warnings[0].getMessage().split("ClientDecodeError")[0]


async def test_a_write_lock_while_recording_a_send_neither_stops_nor_doubles(
        otklik: Harness, caplog: pytest.LogCaptureFixture) -> None:
    app = otklik.app
    assert app is not None
    await short_busy_timeout(app)
    other = second_process(app)
    transport: Any = app.outbox.transport
    real_send = transport.send

    async def send_then_lock(method: str, payload: dict[str, Any]) -> Any:
        result = await real_send(method, payload)
        if not other.in_transaction:
            other.execute("BEGIN IMMEDIATE")  # the other process writes for a long while
        return result

    transport.send = send_then_lock
    async with running_sender(app) as sender:
        otklik.server.message(COORDINATOR, "/help")
        await app.poll_once()
        await until(lambda: bool(helps(otklik)), app, sender)
        for _ in range(10):  # the sender keeps trying to record it, and keeps running
            app.outbox.wake()
            await asyncio.sleep(0.02)
        assert not sender.done()
        other.execute("ROLLBACK")
        transport.send = real_send

        async def recorded() -> bool:
            return await outbox(app) == {"sent": 1}

        await until(recorded, app, sender)
    assert len(helps(otklik)) == 1  # accepted once, recorded late, never sent again
    locked = [r for r in caplog.records
              if any(w in r.getMessage() for w in ("database is locked", "lock timeout"))
              and "retrying" in r.getMessage()]
    assert len(locked) == 1 and locked[0].exc_info is None  # once, however many attempts
    other.close()


async def test_a_crash_between_the_call_and_its_record_repeats_one_message_once(
        otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    await short_busy_timeout(app)
    other = second_process(app)
    seen: list[str] = []
    transport: Any = app.outbox.transport
    real_send = transport.send

    async def send_then_lock(method: str, payload: dict[str, Any]) -> Any:
        seen.extend(r[0] for r in other.execute(f"SELECT status FROM outbox WHERE {NOT_MENUS}"))
        result = await real_send(method, payload)
        other.execute("BEGIN IMMEDIATE")  # the record cannot be written: as if killed now
        return result

    transport.send = send_then_lock
    otklik.server.message(COORDINATOR, "/help")
    await app.poll_once()
    with pytest.raises(StorageFault):
        await app.outbox.send_due()
    assert seen == ["sending"]  # recorded before the platform call
    other.execute("ROLLBACK")
    await otklik.restart()
    await otklik.step()
    assert len(helps(otklik)) == 2  # the one message in flight went twice; nothing else
    assert await outbox(otklik.app) == {"sent": 1}  # type: ignore[arg-type]
    await otklik.say(COORDINATOR, "/help")
    assert len(helps(otklik)) == 3
    other.close()


async def test_the_vk_sender_survives_a_write_lock_and_any_exception_of_vk(
        vk_otklik: VkHarness) -> None:  # noqa: F811
    otklik = vk_otklik
    app = otklik.a
    assert app.vk_outbox is not None
    sender_of_vk = app.vk_outbox
    await short_busy_timeout(app)
    other = second_process(app)
    transport: Any = sender_of_vk.transport
    real_send = transport.send
    failures = iter([RuntimeError("connection reset by a proxy")])

    async def flaky_then_lock(method: str, payload: dict[str, Any]) -> Any:
        for failure in failures:
            raise failure  # once: something nobody expected
        result = await real_send(method, payload)
        if not other.in_transaction:
            other.execute("BEGIN IMMEDIATE")
        return result

    transport.send = flaky_then_lock
    task = asyncio.create_task(sender_of_vk.run())
    try:
        otklik.vk.push_message_new(VASILIEV, "/help")
        await app.poll_vk_once()
        for _ in range(300):
            if otklik.vk.messages_to(VASILIEV):
                break
            assert not task.done(), task.exception()
            otklik.clock.advance(seconds=10)
            sender_of_vk.wake()
            await asyncio.sleep(0.02)
        for _ in range(10):
            sender_of_vk.wake()
            await asyncio.sleep(0.02)
        assert not task.done()
        other.execute("ROLLBACK")
        transport.send = real_send
        for _ in range(300):
            if (await outbox(app)).get("sent") == 1:
                break
            assert not task.done(), task.exception()
            sender_of_vk.wake()
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        other.close()
    assert len(otklik.vk.messages_to(VASILIEV)) == 1
    assert len(otklik.vk.calls_to("messages.send")) == 1
    assert await outbox(app) == {"sent": 1}
