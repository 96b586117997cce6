"""An update's statements run in its transaction without a trip to aiosqlite's thread each
(bot/storage/sqlite.py ``_Inline``): only a ``BEGIN`` that must wait for another process goes
through the thread, and what the update did is stored, or not at all, exactly as before."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from bot.storage.base import current_unit
from tests import pg
from tests.harness import PETROV, Harness
from tests.test_reliability_updates import locker, register  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(pg.on_postgresql(), reason="aiosqlite's thread")


def count_trips(app: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """(trips to the connection's thread made while an update's unit was open, every
    statement SQLite ran)."""
    conn = app.store._conn
    trips: list[str] = []
    statements: list[str] = []
    trip = conn._execute

    async def counted(fn: Any, *args: Any, **kw: Any) -> Any:
        if current_unit() is not None:
            trips.append(args[0] if args and isinstance(args[0], str) else "a query")
        return await trip(fn, *args, **kw)

    monkeypatch.setattr(conn, "_execute", counted)
    conn._conn.set_trace_callback(statements.append)
    return trips, statements


async def test_a_press_takes_few_trips_to_the_thread_and_stores_everything(
        otklik: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    trips, statements = count_trips(app, monkeypatch)
    update = await otklik.press(PETROV, "take", n)
    assert "COMMIT" in statements
    app.store._conn._conn.set_trace_callback(None)
    # the reads of one row before the first change (the claim, the person, the chat's mode),
    # BEGIN (the write lock was free) and every statement after it ran without a trip
    assert trips == [], trips
    assert len(statements) >= 15, statements
    ran = " | ".join(statements)
    for done in ("INSERT INTO processed_updates", "UPDATE incidents", "INSERT INTO audit",
                 "INSERT INTO outbox", "SAVEPOINT"):
        assert done in ran, done
    assert (await otklik.incident(n)).state == "in_progress"
    assert [e.action for e in await otklik.audit() if e.incident_id == n][-1] == "take"
    async with app.store.read() as uow:
        assert await uow.updates.seen("telegram", update["update_id"])
    assert otklik.alerts(PETROV)  # answered after the commit


async def test_a_failing_statement_inside_rolls_the_whole_update_back(
        otklik: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement run on the loop's thread fails as it did in aiosqlite's: the update's
    claim and every change before it are rolled back."""
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    raw = app.store._conn._conn
    raw.execute("CREATE TEMP TRIGGER refuse_audit BEFORE INSERT ON audit"
                " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    update = await otklik.press(PETROV, "take", n)
    raw.execute("DROP TRIGGER refuse_audit")
    assert (await otklik.incident(n)).state == "assigned"  # nothing half-done
    async with app.store.read() as uow:
        assert not await uow.updates.seen("telegram", update["update_id"])
        assert await uow.incidents.get(n) is not None
    await otklik.press(PETROV, "take", n)  # pressed again: taken once
    assert (await otklik.incident(n)).state == "in_progress"
    assert [e.action for e in await otklik.audit() if e.incident_id == n].count("take") == 1


async def test_begin_waits_in_the_thread_while_another_process_writes(
        otklik: Harness, locker: sqlite3.Connection,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``BEGIN`` tried on the loop's thread does not wait: when another process holds the
    write lock it goes to aiosqlite's thread and waits there (the busy timeout as before)."""
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    timeout = app.store._conn._conn.execute("PRAGMA busy_timeout").fetchone()[0]
    assert timeout >= 1000
    trips, _ = count_trips(app, monkeypatch)
    locker.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.3, locker.execute, "ROLLBACK")
    await otklik.press(PETROV, "take", n)
    app.store._conn._conn.set_trace_callback(None)
    assert trips == ["BEGIN IMMEDIATE"], trips  # waited in the thread, then went on
    assert (await otklik.incident(n)).state == "in_progress"
    assert app.store._conn._conn.execute("PRAGMA busy_timeout").fetchone()[0] == timeout
