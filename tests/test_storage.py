"""The storage seam's promises, on both implementations (SQLite, and PostgreSQL on the local
server, see tests/pg.py): units commit or roll back as a whole, an update's claim belongs to
the unit of its effects, a due message is claimed by one sender only, a locked database is a
storage fault; on PostgreSQL ids come from sequences, a claimed row is skipped by another
writer, the migrations give SQLite's schema, and ``copy-db`` moves a district's data."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.storage import AlreadyHandled, Storage, StorageError, StorageFault, open_storage
from bot.updates import KEEP_UPDATES, apply_once, forget_updates
from tests import pg
from workflows.model import Incident, Person, Priority, Role, Sighting, State

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a storage of the test lives: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "postgresql":
        return pg.fresh_url()
    return str(tmp_path / "s.sqlite3")


@pytest.fixture
async def store(target: str) -> AsyncIterator[Storage]:
    s = await open_storage(target, busy_timeout=0.05)
    yield s
    await s.close()


def other_process(target: str) -> Any:
    """A second connection, as another process: ``execute("BEGIN IMMEDIATE")`` takes the
    write lock (sqlite3, or :class:`tests.pg.Locker`)."""
    if target.startswith("postgresql://"):
        return pg.Locker(target)
    return sqlite3.connect(target, isolation_level=None)


async def test_a_writing_unit_commits_all_or_nothing(store: Storage) -> None:
    async with store.write() as uow:
        ann = await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    assert ann.id > 0  # the id is the storage's
    with pytest.raises(RuntimeError):
        async with store.write() as uow:
            await uow.people.add(Person(0, "Борис", frozenset({Role.EXECUTOR})))
            raise RuntimeError("a bug half way")
    async with store.read() as uow:
        assert [p.name for p in await uow.people.all()] == ["Анна"]


async def test_the_claim_of_an_update_commits_with_its_effects(store: Storage) -> None:
    with pytest.raises(RuntimeError):
        async with store.handling("telegram", 7, NOW):
            async with store.write() as uow:
                await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
            raise RuntimeError("the handler failed")
    async with store.read() as uow:  # neither the effect nor the claim is stored
        assert not await uow.updates.seen("telegram", 7)
        assert await uow.people.all() == []
    async with store.handling("telegram", 7, NOW), store.write() as uow:
        await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    with pytest.raises(AlreadyHandled):
        async with store.handling("telegram", 7, NOW), store.write() as uow:
            await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    async with store.read() as uow:
        assert await uow.updates.seen("telegram", 7)
        assert len(await uow.people.all()) == 1


async def test_a_failing_change_of_an_update_undoes_only_itself(store: Storage) -> None:
    """Each change of an update is a savepoint; finished ones stay open, nested, until the
    commit (released together past HELD_SAVEPOINTS): a change that fails after many others
    takes only itself back."""
    from bot.storage.sqlite import HELD_SAVEPOINTS

    async with store.handling("telegram", 8, NOW):
        for i in range(HELD_SAVEPOINTS * 2 + 3):
            if i % 10 == 4:
                with pytest.raises(RuntimeError):
                    async with store.write() as uow:
                        await uow.people.add(Person(0, f"Сбой {i}", frozenset({Role.ADMIN})))
                        raise RuntimeError("this change fails, the update goes on")
            else:
                async with store.write() as uow:
                    await uow.people.add(Person(0, f"Лицо {i}", frozenset({Role.ADMIN})))
    async with store.read() as uow:
        names = [p.name for p in await uow.people.all()]
        assert await uow.updates.seen("telegram", 8)
    assert names == [f"Лицо {i}" for i in range(HELD_SAVEPOINTS * 2 + 3) if i % 10 != 4]


async def test_the_person_of_a_chat_comes_with_the_chats_mode(store: Storage) -> None:
    async with store.write() as uow:
        ann = await uow.people.add(Person(0, "Анна", frozenset({Role.EXECUTOR})))
        await uow.people.bind(ann.id, "telegram", 501)
        await uow.people.bind(ann.id, "vk", 502)
        await uow.chat_modes.set(ann.id, "vk", "writing", 7, {"v": 3})
    async with store.read() as uow:
        assert await uow.people.in_chat("telegram", 501) == (ann, None)
        person, state = await uow.people.in_chat("vk", 502)
        assert person == ann and state is not None
        assert (state.mode, state.incident_id, state.data) == ("writing", 7, {"v": 3})
        assert await uow.people.in_chat("vk", 501) == (None, None)  # a stranger there


async def test_who_is_reachable_is_one_question_for_many_people(store: Storage) -> None:
    async with store.write() as uow:
        ann, boris, vera, gleb = [await uow.people.add(Person(0, n, frozenset({Role.EXECUTOR})))
                                  for n in ("Анна", "Борис", "Вера", "Глеб")]
        await uow.people.bind(ann.id, "telegram", 601)
        await uow.people.bind(boris.id, "telegram", 602)
        await uow.chats.mark_unreachable("telegram", 602, "blocked", NOW)
        await uow.people.bind(boris.id, "vk", 603)
        await uow.people.bind(gleb.id, "vk", 604)
    everyone = [ann.id, boris.id, vera.id, gleb.id]
    async with store.read() as uow:
        assert await uow.people.reachable(everyone, ["telegram"]) == {ann.id}
        assert await uow.people.reachable(everyone, ["telegram", "vk"]) == {
            ann.id, boris.id, gleb.id}
        assert await uow.people.reachable([vera.id], ["telegram", "vk"]) == set()
        assert await uow.people.reachable(everyone, []) == set()


async def test_old_update_ids_are_forgotten_in_batches_recent_ones_kept(store: Storage) -> None:
    """The nightly purge of ``processed_updates`` forgets only ids claimed before the
    retention; a redelivery of a recent update is still refused after it."""
    now = NOW + KEEP_UPDATES + timedelta(days=3)
    ages = {1: KEEP_UPDATES + timedelta(days=2), 2: KEEP_UPDATES + timedelta(seconds=1),
            3: KEEP_UPDATES + timedelta(days=1), 4: KEEP_UPDATES - timedelta(seconds=1),
            5: timedelta(hours=23), 6: timedelta(0)}
    async with store.write() as uow:
        for update_id, age in ages.items():
            assert await uow.updates.claim("telegram", update_id, now - age)
        assert await uow.updates.claim("vk:event", 2, now - timedelta(hours=1))
    assert await forget_updates(store, now - KEEP_UPDATES, batch=2) == 3  # two transactions
    async with store.read() as uow:
        assert [i for i in ages if await uow.updates.seen("telegram", i)] == [4, 5, 6]
        assert await uow.updates.seen("vk:event", 2)  # same id, other platform, recent
    assert await forget_updates(store, now - KEEP_UPDATES) == 0
    handled: list[int] = []

    async def handle() -> None:
        handled.append(1)

    redelivered = await apply_once(store, "telegram", 5, lambda: now, handle)
    assert redelivered.status == "duplicate" and handled == []
    assert (await apply_once(store, "telegram", 1, lambda: now, handle)).status == "done"
    assert handled == [1]  # a forgotten id is a new update again


async def test_a_due_message_is_claimed_once(store: Storage) -> None:
    async with store.write() as uow:
        first = await uow.outbox.enqueue("telegram", 5, "sendMessage", {"text": "a"}, NOW)
    async with store.read() as uow:
        [due] = await uow.outbox.due("telegram", NOW, 10)
    assert due.id == first
    async with store.write() as uow:
        assert await uow.outbox.claim(first)
    async with store.write() as uow:  # a second sender that read the same row
        assert not await uow.outbox.claim(first)
    async with store.read() as uow:
        assert await uow.outbox.due("telegram", NOW, 10) == []


async def test_a_locked_database_is_a_storage_fault(store: Storage, target: str) -> None:
    other = other_process(target)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageFault, match="locked|lock timeout"):
            async with store.write() as uow:
                await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
        other.execute("ROLLBACK")
    finally:
        other.close()
    async with store.write() as uow:  # nothing is left half open
        await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))


async def test_a_reading_unit_refuses_changes(store: Storage) -> None:
    with pytest.raises(StorageError, match="reading unit"):
        async with store.read() as uow:
            await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    async with store.read() as uow:
        assert await uow.people.all() == []


async def test_the_upserts_and_dialect_spellings_agree(store: Storage) -> None:
    """The statements each engine spells its own way (upserts, GREATEST, hints, the ids of
    a JSON list) do the same on both."""
    async with store.write() as uow:
        ann = await uow.people.add(Person(0, "Анна", frozenset({Role.EXECUTOR})))
        boris = await uow.people.add(Person(0, "Борис", frozenset({Role.EXECUTOR})))
        await uow.people.bind(ann.id, "telegram", -1001234567890123)
        await uow.people.bind(boris.id, "telegram", -1001234567890123)  # the chat moves
        await uow.cursors.set("vk", "wall", 7)
        await uow.cursors.set("vk", "wall", 3)  # never backwards
        await uow.chat_modes.set(ann.id, "telegram", "answer", None, {"a": 1})
        await uow.chat_modes.set(ann.id, "telegram", "reason", None, {"b": 2})
        assert await uow.chats.mark_unreachable("telegram", 5, "blocked", NOW)
        assert not await uow.chats.mark_unreachable("telegram", 5, "blocked", NOW)
        first = await uow.incidents.reserve_id()
        await uow.incidents.add(Incident(first, State.ASSIGNED, "telegram", "Яма", "roads",
                                         "roads", ann.id, Priority.NORMAL, NOW),
                                NOW, Sighting("telegram", "m1", "Яма", "roads"))
        await uow.publications.add_part(first, 1, 0, "a", NOW)
        await uow.publications.add_part(first, 1, 0, "b", NOW)
        await uow.heartbeat.save([("poll", True, NOW, {"n": 1})])
        await uow.heartbeat.save([("poll", False, NOW, {"n": 2})])
    async with store.read() as uow:
        assert await uow.people.by_chat("telegram", -1001234567890123) == boris
        assert await uow.people.chat_of(ann.id, "telegram") is None
        assert await uow.cursors.get("vk", "wall") == 7
        mode = await uow.chat_modes.get(ann.id, "telegram")
        assert mode is not None and (mode.mode, mode.data) == ("reason", {"b": 2})
        assert await uow.publications.parts(first, 1) == {0: "b"}
        assert (await uow.heartbeat.parts())["poll"]["n"] == 2
        assert await uow.incidents.open_load() == {ann.id: 1}
        history = await uow.reports.history(NOW.replace(year=2027), [first], by_index=True)
        audit, answers = history()
        assert (audit, answers) == ([], [])
        assert await uow.incidents.reserve_id() > first


@pytest.fixture
def pg_url() -> str:
    return pg.fresh_url()


async def test_postgresql_ids_come_from_the_sequence(pg_url: str) -> None:
    """Two workers reserving incident ids at once get different ones; a rolled back
    reservation is not handed out again."""
    a, b = await open_storage(pg_url), await open_storage(pg_url)
    try:
        async with a.write() as ua, b.write() as ub:
            ids = {await ua.incidents.reserve_id(), await ub.incidents.reserve_id()}
        assert len(ids) == 2
        with pytest.raises(RuntimeError):
            async with a.write() as ua:
                lost = await ua.incidents.reserve_id()
                raise RuntimeError("rolled back")
        async with b.write() as ub:
            assert await ub.incidents.reserve_id() > lost
    finally:
        await a.close()
        await b.close()


async def test_postgresql_a_message_claimed_by_one_worker_is_skipped_by_another(
        pg_url: str) -> None:
    a, b = await open_storage(pg_url), await open_storage(pg_url)
    try:
        async with a.write() as uow:
            msg = await uow.outbox.enqueue("telegram", 5, "sendMessage", {"text": "a"}, NOW)
        async with a.write() as ua:
            assert await ua.outbox.claim(msg) == {"text": "a"}
            async with b.write() as ub:  # while a's claim is not committed: skipped, no wait
                assert await asyncio.wait_for(ub.outbox.claim(msg), 1) is None
        async with b.write() as ub:  # committed: no longer pending
            assert await ub.outbox.claim(msg) is None
    finally:
        await a.close()
        await b.close()


async def test_postgresql_migrations_give_the_schema_of_sqlite(pg_url: str,
                                                                tmp_path: Path) -> None:
    import psycopg

    await (await open_storage(tmp_path / "s.sqlite3")).close()
    lite = sqlite3.connect(tmp_path / "s.sqlite3")
    tables = [r[0] for r in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    sqlite_schema = {t: sorted(r[1] for r in lite.execute(f"PRAGMA table_info({t})"))
                     for t in tables}
    lite.close()
    await (await open_storage(pg_url)).close()
    await (await open_storage(pg_url)).close()  # a second opening changes nothing
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                            " WHERE table_schema = current_schema()").fetchall()
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    pg_schema: dict[str, list[str]] = {}
    for table, column in rows:
        pg_schema.setdefault(table, []).append(column)
    assert pg_schema.pop("schema_version") == ["version"]
    assert {t: sorted(c) for t, c in pg_schema.items()} == sqlite_schema
    assert len(versions) == len(set(versions))


async def test_copy_db_moves_a_district_into_an_empty_postgresql_database(
        pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "district.sqlite3"
    lite = await open_storage(source)
    async with lite.write() as uow:
        ann = await uow.people.add(Person(0, "Анна", frozenset({Role.EXECUTOR})))
        await uow.people.bind(ann.id, "telegram", 1001)
        for n in range(3):
            number = await uow.incidents.reserve_id()
            await uow.incidents.add(Incident(number, State.ASSIGNED, "telegram", f"Яма {n}",
                                             "roads", "roads", ann.id, Priority.NORMAL, NOW),
                                    NOW, Sighting("telegram", f"m{n}", "Яма", "roads"))
        await uow.outbox.enqueue("telegram", 1001, "sendMessage", {"text": "а"}, NOW)
    await lite.checkpoint()
    await lite.close()

    assert await asyncio.to_thread(
        cli.main, ["copy-db", "--from", f"sqlite:{source}", "--to", pg_url]) == 0
    assert "copied" in capsys.readouterr().out
    region = await open_storage(pg_url)
    try:
        async with region.read() as uow:
            assert [p.name for p in await uow.people.all()] == ["Анна"]
            assert await uow.people.by_chat("telegram", 1001) == ann
            assert [i.text for i in await uow.incidents.select()] == ["Яма 0", "Яма 1", "Яма 2"]
        async with region.write() as uow:  # the sequences go on past the copied ids
            assert await uow.incidents.reserve_id() == 4
            person = await uow.people.add(Person(0, "Борис", frozenset({Role.EXECUTOR})))
            assert person.id == ann.id + 1
    finally:
        await region.close()

    assert await asyncio.to_thread(
        cli.main, ["copy-db", "--from", f"sqlite:{source}", "--to", pg_url]) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not empty" in err


async def test_postgresql_a_lost_connection_is_a_fault_and_the_next_unit_reconnects(
        pg_url: str) -> None:
    import psycopg

    store = await open_storage(pg_url)
    try:
        async def write_and_read() -> None:  # two units at once: two connections of the pool
            async with store.write() as uow:
                await uow.conn.execute("SELECT pg_sleep(0.05)", ())
            async with store.read() as uow:
                await uow.people.all()

        await asyncio.gather(write_and_read(), write_and_read())
        with psycopg.connect(pg_url, autocommit=True) as admin:  # the server restarts
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s", (f"otklik {os.getpid()}",)).fetchall()
        assert len(ended) >= 2
        with pytest.raises(StorageFault):
            async with store.write() as uow:
                await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
        async with store.write() as uow:
            await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
        async with store.read() as uow:
            assert [p.name for p in await uow.people.all()] == ["Анна"]
    finally:
        await store.close()


def test_otklik_migrate_applies_the_migrations_once(
        target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text(
        encoding="utf-8")
    config = tmp_path / "otklik.toml"
    config.write_text(re.sub(r'(?m)^dir = ".*"$', 'dir = ""', re.sub(
        r'(?m)^database = ".*"$', f'database = "{target}"', example)), encoding="utf-8")
    if not target.startswith("postgresql:"):
        # An empty file: not the migrated template the suite starts new databases from.
        Path(target).touch()
    assert cli.main(["migrate", "--config", str(config)]) == 0
    first = capsys.readouterr().out
    assert "applied 001, 002," in first and "092" in first
    assert cli.main(["migrate", "--config", str(config)]) == 0
    assert "applied nothing (up to date)" in capsys.readouterr().out



# The migrations deployments have run (the last landed release): a new one must be numbered
# above all of them, since a database records only the highest it has (``user_version``,
# ``schema_version``) and would skip a new migration with a lower, free number.
SHIPPED = (1, 2, 3, 4, 5, 6, 10, 25, 30, 40, 50, 55, 60, 70, 71, 72, 80, 92, 93, 100)


def test_a_new_migration_is_numbered_above_every_shipped_one() -> None:
    from bot.storage.sqlite import _migrations

    numbers = [version for version, _ in _migrations()]
    assert set(SHIPPED) <= set(numbers)
    assert all(n > max(SHIPPED) for n in numbers if n not in SHIPPED), numbers


async def test_a_database_of_the_previous_release_is_brought_up_to_date(tmp_path: Path) -> None:
    """A deployment that ran the shipped migrations gets the new ones at start (here: the
    municipalities' columns)."""
    from bot.storage.sqlite import _migrations

    path = tmp_path / "previous.sqlite3"
    with sqlite3.connect(path) as conn:
        for version, sql in _migrations():
            if version in SHIPPED:
                conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {max(SHIPPED)}")
    store = await open_storage(path)
    try:
        async with store.write() as uow:
            person = await uow.people.add(
                Person(0, "Анна", frozenset({Role.COORDINATOR}), municipality="nk"))
        async with store.read() as uow:
            assert (await uow.people.get(person.id)).municipality == "nk"  # type: ignore[union-attr]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(incidents)")}
    assert "municipality" in columns
