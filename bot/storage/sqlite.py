"""The SQLite implementation of the storage (aiosqlite, WAL): migrations, units of work and
the repositories over the tables.

One connection, one writer: every writing unit is a ``BEGIN IMMEDIATE`` transaction
serialised by a lock, so a transition, its audit row and its outgoing messages commit
together or not at all. A unit leases the connection (:meth:`SqliteStorage.lease`) for its
duration; PostgreSQL leases one of a pool instead.

An incoming update (a Telegram update, a VK event) is handled in an :class:`UpdateUnit`: the
first change its handler makes opens one transaction that also claims the update, every
further change of the handler joins it (as a savepoint), and it commits when the handler is
done — the update counts as processed exactly when all its effects are stored.

Errors of SQLite leave this module as :class:`~bot.storage.StorageFault` (transient: locked,
disk full, I/O) or :class:`~bot.storage.StorageError`.

The repositories' SQL is shared with PostgreSQL (:mod:`bot.storage.postgresql`): what the
engines spell differently is a :class:`Dialect` (this module's is :data:`SQLITE`), read from
the connection; upserts are ``INSERT … ON CONFLICT``, new ids come from ``RETURNING id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.base import (
    AlreadyHandled,
    ChatState,
    OutboxRow,
    Storage,
    StorageError,
    StorageFault,
    bind_unit,
    current_unit,
    release_unit,
)
from bot.storage.repositories import Later
from workflows.answer_templates import AnswerTemplate
from workflows.metrics import Answer
from workflows.model import (
    Attachment,
    AuditEntry,
    Draft,
    DraftKind,
    Incident,
    Person,
    Priority,
    Role,
    Sighting,
    State,
)
from workflows.problems import OpenIncident

log = logging.getLogger(__name__)
# The final states as an SQL list, in the enum's order: 'closed', 'redirected', 'rejected'
# (the partial index of migration 071 spells them so, and INDEXED BY needs the same terms).
FINAL_SQL = ", ".join(f"'{s.value}'" for s in State if s.is_final)


def ts(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError("naive datetime given to storage")
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


# The states by their stored value (a dict's lookup: State(value) is 20x slower).
_STATES = {s.value: s for s in State}


# How long a change waits for another process's write lock (a backup, a second copy of the
# bot, an admin's sqlite3 shell) before it fails as a storage fault and is retried.
BUSY_TIMEOUT = 5.0

# A change of more than this many rows in one statement is split (SQLite's variable limit).


@dataclass(frozen=True)
class Dialect:
    """What the shared SQL of the repositories spells differently per engine."""

    name: str
    greatest: str  # the larger of two values
    skip_locked: str  # after a SELECT of rows to claim: skip rows another writer holds
    next_incident_id: str  # a query of a fresh incident id
    json_ints: str  # a subquery of the integers of a JSON array parameter
    hints: bool  # INDEXED BY is understood

    def indexed_by(self, index: str) -> str:
        return f" INDEXED BY {index}" if self.hints else ""


SQLITE = Dialect("sqlite", greatest="MAX", skip_locked="",
                 next_incident_id="SELECT COALESCE(MAX(id), 0) + 1 FROM incidents",
                 json_ints="SELECT value FROM json_each(?)", hints=True)

# Errors of a connection the units catch: SQLite's own, and the storage's (the PostgreSQL
# connection raises those, already translated).
DB_ERRORS = (sqlite3.Error, StorageError)


def _migrations() -> list[tuple[int, str]]:
    """The migrations as written (``NNN_name.sql``; per-dialect overrides are apart)."""
    found = []
    for entry in resources.files("bot.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit() and name.count(".") == 1:
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def translated(e: BaseException) -> BaseException:
    """What an SQLite error means to the rest of the bot (other exceptions as they are)."""
    if isinstance(e, sqlite3.OperationalError):
        fault = StorageFault(str(e))
        fault.__cause__ = e
        return fault
    if isinstance(e, sqlite3.Error):
        error = StorageError(str(e))
        error.__cause__ = e
        return error
    return e


def _cause(e: BaseException) -> BaseException | None:
    """What a translated error is raised from (an error already the storage's keeps its own)."""
    return e.__cause__ if isinstance(e, StorageError) else e


@asynccontextmanager
async def _translating() -> AsyncIterator[None]:
    try:
        yield
    except DB_ERRORS as e:
        raise translated(e) from _cause(e)


async def _rollback(conn: aiosqlite.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error, StorageError):
            await conn.execute("ROLLBACK")


class UpdateUnit:
    """All the changes one update makes, with the claim of the update, in one transaction.

    Bound to the task that handles the update (tasks it starts, such as an album's delayed
    follow-up, make their own transactions). Actions registered with :meth:`after_commit`
    (answering a button press) run only once the changes are stored."""

    def __init__(self, store: SqliteStorage, platform: str, update_id: int,
                 now: datetime) -> None:
        self.store = store
        self.platform, self.update_id, self.now = platform, update_id, now
        self.task = asyncio.current_task()
        self.conn: Any = None  # leased from the store while the transaction is open
        self.begun = False
        self.open = True
        self.fault: BaseException | None = None  # a storage fault inside, even if swallowed
        self._savepoints = 0
        # The savepoints of finished changes left open, outermost first (:meth:`savepoint`).
        self._held: list[str] = []
        self._after: list[Callable[[], Awaitable[object]]] = []
        self._changes: list[str] = []  # incident state changes, logged once committed

    def owns(self, store: object) -> bool:
        return self.open and store is self.store and asyncio.current_task() is self.task

    def after_commit(self, action: Callable[[], Awaitable[object]]) -> None:
        self._after.append(action)

    async def begin(self) -> None:
        if self.begun:
            return
        conn = await self.store.lease()
        try:
            try:
                await _begin(conn, self.store.BEGIN)
            except BaseException:
                await _abandon(conn)
                raise
            try:
                unit = SqliteUnit(_inline(conn), writable=True)
                if not await unit.updates.claim(self.platform, self.update_id, self.now):
                    raise AlreadyHandled(f"{self.platform} update {self.update_id}")
            except BaseException:
                await _rollback(conn)
                raise
        except BaseException:
            await self.store.give_back(conn)
            raise
        self.conn, self.begun = conn, True

    async def commit(self) -> None:
        """Store the changes and the claim (the claim alone when nothing changed)."""
        try:
            if self.fault is not None:
                raise self.fault
            await self.begin()
            await _commit(self.conn)
        except BaseException:
            await self.rollback()
            raise
        finally:
            await self._close()
        for line in self._changes:  # one line per committed state change
            log.info("%s", line)

    async def rollback(self) -> None:
        if self.begun:
            await _rollback(self.conn)
        await self._close()

    async def _close(self) -> None:
        self.open = False
        if self.begun:
            self.begun = False
            conn, self.conn = self.conn, None
            await self.store.give_back(conn)

    async def run_after_commit(self) -> None:
        """The actions waiting for the commit; a failing one is logged (what it would have
        said is stored already)."""
        for action in self._after:
            try:
                await action()
            except Exception as e:  # noqa: BLE001
                log.warning("after %s update %s: %s: %s", self.platform, self.update_id,
                            type(e).__name__, e)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[SqliteUnit]:
        if self.fault is not None:
            # After a storage fault SQLite may have rolled the whole transaction back: no
            # later change of this update may run on its own (in autocommit).
            raise self.fault
        await self.begin()
        conn = _inline(self.conn)
        if len(self._held) >= HELD_SAVEPOINTS:  # the outermost, with those inside it
            await conn.execute(f"RELEASE {self._held[0]}")
            self._held.clear()
        self._savepoints += 1
        name = f"change_{self._savepoints}"
        await conn.execute(f"SAVEPOINT {name}")
        unit = SqliteUnit(conn, writable=True)
        try:
            yield unit
        except BaseException as e:
            if isinstance(e, (sqlite3.OperationalError, StorageFault)):
                self.fault = translated(e)  # even if the handler swallows it, not stored
            if self.conn.in_transaction:
                with suppress(sqlite3.Error, StorageError):
                    await conn.execute(f"ROLLBACK TO {name}")
                    await conn.execute(f"RELEASE {name}")
            raise
        else:
            # Not released: the next change's savepoint nests inside this one (a failing
            # change still rolls back only itself), and COMMIT releases them all — a round
            # trip to PostgreSQL less per change.
            self._held.append(name)
            self._changes.extend(unit.changes)


# A PostgreSQL transaction keeps up to 64 subtransactions (savepoints) in its process's
# cache; more spill to disk. An update's changes rarely number more than a few.
HELD_SAVEPOINTS = 32


async def _begin(conn: Any, begin: str) -> None:
    """Open a writing transaction. On SQLite first tried on the loop's thread without waiting
    (the write lock is free but for moments when another process writes): one trip to
    aiosqlite's thread less per unit. Only when another process holds the lock does ``BEGIN``
    go to the thread, to wait there up to the busy timeout."""
    if isinstance(conn, aiosqlite.Connection) and begin == SqliteStorage.BEGIN:
        raw: sqlite3.Connection = conn._conn
        timeout = raw.execute("PRAGMA busy_timeout").fetchone()[0]
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            raw.execute(begin)
            return
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    await conn.execute(begin)


async def _commit(conn: Any) -> None:
    """``COMMIT``; on SQLite on the loop's thread: the write lock is held, so it waits for
    nobody; in WAL mode it writes no more than the transaction's pages without a sync (tens of
    microseconds), now and then SQLite's automatic checkpoint (~1,000 pages: a few ms here,
    26 ms at worst measured), cheaper than a trip to aiosqlite's thread every time."""
    if isinstance(conn, aiosqlite.Connection):
        conn._conn.execute("COMMIT")
    else:
        await conn.execute("COMMIT")


async def _abandon(conn: aiosqlite.Connection) -> None:
    """After a ``BEGIN`` that raised: a cancellation can arrive while the statement still runs
    in the connection's thread, leaving a transaction open that nobody holds the lock of.
    ``ROLLBACK`` is queued behind it (an error when none began is ignored)."""
    with suppress(sqlite3.Error, StorageError):
        await conn.execute("ROLLBACK")


class SqliteStorage(Storage):
    BEGIN = "BEGIN IMMEDIATE"  # a writer takes the write lock at once

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.applied: list[int] = []  # the migrations this opening applied

    @asynccontextmanager
    async def handling(self, platform: str, update_id: int,
                       now: datetime) -> AsyncIterator[UpdateUnit]:
        """Handle one update: changes made inside commit together with its claim, when the
        block ends without an exception; otherwise nothing of it is stored."""
        unit = UpdateUnit(self, platform, update_id, now)
        token = bind_unit(unit)
        try:
            try:
                yield unit
            except BaseException:
                release_unit(token)
                await unit.rollback()
                raise
            release_unit(token)
            await unit.commit()
        except DB_ERRORS as e:
            raise translated(e) from _cause(e)

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT
                   ) -> SqliteStorage:
        """Open (and migrate) the database; a write lock held by another process is waited
        out for ``busy_timeout`` seconds before a change fails with "database is locked"."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with _translating():
            conn = await aiosqlite.connect(str(path), isolation_level=None,
                                           timeout=busy_timeout, check_same_thread=False)
            try:
                conn.row_factory = aiosqlite.Row
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
                await conn.execute("PRAGMA foreign_keys=ON")
                await conn.execute("PRAGMA synchronous=NORMAL")
                store = cls(conn)
                await store._migrate()
            except BaseException:
                await conn.close()  # its worker thread would keep the process alive
                raise
        return store

    async def lease(self) -> Any:
        """The connection for one unit of work, held until :meth:`give_back`: SQLite's one
        connection, under the lock (one writer per process)."""
        await self._lock.acquire()
        return self._conn

    async def give_back(self, conn: Any) -> None:
        """The end of a unit's lease (its transaction is over)."""
        self._lock.release()

    @asynccontextmanager
    async def leased(self) -> AsyncIterator[Any]:
        conn = await self.lease()
        try:
            yield conn
        finally:
            await self.give_back(conn)

    @classmethod
    async def migrate_file(cls, path: str | Path) -> list[int]:
        """Migrate the database at ``path`` (``otklik migrate``); the versions applied."""
        store = await cls.open(path)
        await store.close()
        return store.applied

    @property
    def connection(self) -> aiosqlite.Connection:
        """The SQLite connection (for tests of this implementation only)."""
        return self._conn

    async def close(self) -> None:
        await self._conn.close()

    async def checkpoint(self) -> None:
        """Move everything from the ``-wal`` file into the database file and empty the WAL,
        so that the ``.sqlite3`` file alone is complete (a clean stop does this)."""
        async with self.leased() as conn, _translating():
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def _migrate(self) -> None:
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = row[0] if row else 0
        for version, sql in _migrations():
            if version <= current:
                continue
            self.applied.append(version)
            # executescript commits on its own; the version bump is part of the script.
            await self._conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteUnit]:
        unit = current_unit()
        if isinstance(unit, UpdateUnit) and unit.owns(self):
            try:
                async with unit.savepoint() as uow:
                    yield uow
            except DB_ERRORS as e:
                raise translated(e) from _cause(e)
            return
        async with self.leased() as conn:
            try:
                await _begin(conn, self.BEGIN)
            except BaseException as e:
                await _abandon(conn)
                if isinstance(e, sqlite3.Error):
                    raise translated(e) from _cause(e)
                raise
            try:
                uow = SqliteUnit(conn, writable=True)
                try:
                    yield uow
                except BaseException:
                    await _rollback(conn)
                    raise
                else:
                    await _commit(conn)
            except DB_ERRORS as e:
                await _rollback(conn)
                raise translated(e) from _cause(e)
            for line in uow.changes:  # one line per committed state change
                log.info("%s", line)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteUnit]:
        """Queries outside a transaction (each sees committed data); inside an update whose
        changes have begun, they see those changes."""
        unit = current_unit()
        try:
            if isinstance(unit, UpdateUnit) and unit.owns(self) and unit.begun:
                yield SqliteUnit(_inline(unit.conn), writable=False)
                return
            if isinstance(unit, UpdateUnit) and unit.owns(self):
                async with self.leased() as conn:  # before the update's first change
                    yield SqliteUnit(_inline(conn, rows_only=True), writable=False)
                return
            async with self.leased() as conn:
                yield SqliteUnit(conn, writable=False)
        except DB_ERRORS as e:
            raise translated(e) from _cause(e)


class _Repo:
    """Queries on a connection that is inside a transaction (or reading)."""

    def __init__(self, conn: aiosqlite.Connection, changes: list[str]) -> None:
        self.conn = conn
        self.d: Dialect = getattr(conn, "dialect", SQLITE)
        self._changes = changes  # incident state changes, logged once committed

    async def _one(self, sql: str, args: Iterable[Any] = ()) -> aiosqlite.Row | None:
        return await _fetch(self.conn, _ONE, sql, tuple(args))  # type: ignore[no-any-return]

    async def _all(self, sql: str, args: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return await _fetch(self.conn, _ALL, sql, tuple(args))  # type: ignore[no-any-return]

    async def _insert(self, sql: str, args: Iterable[Any] = ()) -> int:
        """The id of the row ``sql`` (an INSERT into a table with an ``id``) adds."""
        row = await self._one(sql + " RETURNING id", args)
        assert row is not None
        return int(row[0])

    async def _count(self, sql: str, args: Iterable[Any] = ()) -> int:
        """The number of rows the statement changed."""
        return await _fetch(self.conn, _COUNT, sql, tuple(args))  # type: ignore[no-any-return]


_ONE, _ALL, _COUNT = "one", "all", "count"


def _fetch_in_thread(raw: sqlite3.Connection, how: str, sql: str, args: tuple[Any, ...]) -> Any:
    cur = raw.execute(sql, args)
    try:
        if how == _ONE:
            return cur.fetchone()
        if how == _ALL:
            return cur.fetchall()
        return cur.rowcount
    finally:
        cur.close()


async def _fetch(conn: Any, how: str, sql: str, args: tuple[Any, ...]) -> Any:
    """Run one statement and fetch its first row (``_ONE``), all its rows (``_ALL``) or the
    number of rows it changed (``_COUNT``). On aiosqlite in one trip to the connection's
    thread (its cursor takes three: execute, fetch, close; with ~24 statements per update
    the trips were most of an update's time); on another connection (PostgreSQL) through
    its cursor."""
    if isinstance(conn, _ReadOnly):
        conn.check(sql)
        conn = conn.inner
    if isinstance(conn, _Inline):
        if how == _ONE or not conn.rows_only:
            return _fetch_in_thread(conn.raw, how, sql, args)
        conn = conn.inner
    if isinstance(conn, aiosqlite.Connection):
        return await conn._execute(_fetch_in_thread, conn._conn, how, sql, args)
    async with conn.execute(sql, args) as cur:
        if how == _ONE:
            return await cur.fetchone()
        if how == _ALL:
            return list(await cur.fetchall())
        return cur.rowcount


def _person(row: aiosqlite.Row) -> Person:
    return _person_of(row["id"], row["name"], row["roles"], row["departments"],
                      bool(row["active"]), row["municipality"])


@lru_cache(maxsize=4096)
def _person_of(person_id: int, name: str, roles: str, departments: str, active: bool,
               municipality: str | None) -> Person:
    """The same row, the same (immutable) person: everyone is read for each notification."""
    return Person(
        id=person_id,
        name=name,
        roles=frozenset(Role(r) for r in roles.split(",") if r),
        departments=frozenset(d for d in departments.split(",") if d),
        active=active,
        municipality=municipality,
    )


def _chat_state(mode: str, incident_id: int | None, data: str) -> ChatState:
    return ChatState(mode, incident_id, json.loads(data))


def _incident(row: aiosqlite.Row) -> Incident:
    return Incident(
        id=row["id"], state=_STATES[row["state"]], source=row["source"], text=row["text"],
        category=row["category"], department=row["department"],
        executor_id=row["executor_id"], priority=Priority(row["priority"]),
        registered_at=parse_ts(row["registered_at"]),  # type: ignore[arg-type]
        url=row["url"], author=row["author"],
        first_response_due=parse_ts(row["first_response_due"]),
        answer_due=parse_ts(row["answer_due"]),
        approved_text=row["approved_text"],
        approved_kind=DraftKind(row["approved_kind"]) if row["approved_kind"] else None,
        redirected_to=row["redirected_to"], version=row["version"],
        first_response_at=parse_ts(row["first_response_at"]),
        promised_at=parse_ts(row["promised_at"]),
        clock_start=parse_ts(row["clock_start"]),
        feedback_until=parse_ts(row["feedback_until"]),
        policy=row["policy"], subcategory=row["subcategory"],
        result_status=row["result_status"],
        address=row["address"], municipality=row["municipality"],
    )


def _answer_template(row: aiosqlite.Row) -> AnswerTemplate:
    return AnswerTemplate(row["id"], row["category"], row["title"], row["text"],
                          row["origin"])


class SqlitePeople(_Repo):
    _people: list[Person] | None = None  # read once per unit of work (see all)

    async def add(self, person: Person, *, from_config: bool = False,
                         key: str | None = None) -> Person:
        self._people = None
        pid = await self._insert(
            "INSERT INTO people (name, roles, departments, active, from_config, person_key,"
            " municipality) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (person.name, ",".join(sorted(person.roles)), ",".join(sorted(person.departments)),
             int(person.active), int(from_config), key, person.municipality),
        )
        return replace(person, id=pid)

    async def get(self, person_id: int) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE id = ?", (person_id,))
        return _person(row) if row else None

    async def all(self) -> list[Person]:
        """Everyone, read once per unit of work (a sweep or a registration notifies many
        times); a change of people through this unit reads them again."""
        if self._people is None:
            self._people = [_person(r)
                            for r in await self._all("SELECT * FROM people ORDER BY id")]
        return list(self._people)

    async def by_name(self, name: str) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE name = ? ORDER BY id LIMIT 1", (name,))
        return _person(row) if row else None

    async def by_chat(self, platform: str, chat_id: int) -> Person | None:
        row = await self._one(
            "SELECT p.* FROM people p JOIN bindings b ON b.person_id = p.id "
            "WHERE b.platform = ? AND b.chat_id = ?", (platform, chat_id))
        return _person(row) if row else None

    async def in_chat(self, platform: str, chat_id: int
                      ) -> tuple[Person | None, ChatState | None]:
        """The person bound to the chat and the chat's mode, in one query (every update
        asks)."""
        row = await self._one(
            "SELECT p.*, c.mode AS chat_mode, c.incident_id AS chat_incident,"
            " c.data AS chat_data FROM people p JOIN bindings b ON b.person_id = p.id"
            " LEFT JOIN chat_state c ON c.person_id = p.id AND c.platform = b.platform"
            " WHERE b.platform = ? AND b.chat_id = ?", (platform, chat_id))
        if row is None:
            return None, None
        mode = row["chat_mode"]
        return _person(row), None if mode is None else _chat_state(
            mode, row["chat_incident"], row["chat_data"])

    async def bind(self, person_id: int, platform: str, chat_id: int) -> None:
        await self.conn.execute(
            "DELETE FROM bindings WHERE person_id = ? AND platform = ?", (person_id, platform))
        await self.conn.execute(
            "INSERT INTO bindings (person_id, platform, chat_id) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, chat_id) DO UPDATE SET person_id = excluded.person_id",
            (person_id, platform, chat_id))

    async def by_key(self, key: str) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE person_key = ?", (key,))
        return _person(row) if row else None

    async def from_config(self) -> list[tuple[Person, str | None]]:
        """People declared by the config (now or before), with their keys."""
        rows = await self._all("SELECT * FROM people WHERE from_config = 1 ORDER BY id")
        return [(_person(r), r["person_key"]) for r in rows]

    async def set_key(self, person_id: int, key: str) -> None:
        self._people = None
        await self.conn.execute("UPDATE people SET person_key = ? WHERE id = ?",
                                (key, person_id))

    async def update(self, person: Person) -> None:
        self._people = None
        await self.conn.execute(
            "UPDATE people SET name = ?, roles = ?, departments = ?, active = ?,"
            " municipality = ? WHERE id = ?",
            (person.name, ",".join(sorted(person.roles)), ",".join(sorted(person.departments)),
             int(person.active), person.municipality, person.id))

    async def named(self, name: str) -> list[Person]:
        rows = await self._all("SELECT * FROM people WHERE name = ? AND active = 1 ORDER BY id",
                               (name,))
        return [_person(r) for r in rows]

    async def chat_of(self, person_id: int, platform: str) -> int | None:
        row = await self._one(
            "SELECT chat_id FROM bindings WHERE person_id = ? AND platform = ?",
            (person_id, platform))
        return int(row["chat_id"]) if row else None

    async def reachable(self, person_ids: Iterable[int], platforms: Iterable[str]) -> set[int]:
        """Those of the people who have a bound chat on one of ``platforms`` that the outbox
        has not found unreachable (one query for all of them)."""
        wanted, ids = list(platforms), list(person_ids)
        if not wanted or not ids:
            return set()
        rows = await self._all(
            "SELECT DISTINCT b.person_id FROM bindings b LEFT JOIN unreachable_chats u"
            " ON u.platform = b.platform AND u.chat_id = b.chat_id"
            f" WHERE b.person_id IN ({','.join('?' * len(ids))})"
            f" AND b.platform IN ({','.join('?' * len(wanted))})"
            " AND u.chat_id IS NULL", (*ids, *wanted))
        return {int(r[0]) for r in rows}

    async def chats_of(self, person_id: int) -> list[tuple[str, int]]:
        rows = await self._all(
            "SELECT platform, chat_id FROM bindings WHERE person_id = ? ORDER BY platform",
            (person_id,))
        return [(r["platform"], r["chat_id"]) for r in rows]


class SqliteChats(_Repo):
    async def leave_group(self, chat_id: int, now: datetime) -> bool:
        """Record a group the bot leaves; True the first time."""
        return await self._count(
                "INSERT INTO left_groups (chat_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (chat_id, ts(now))) == 1

    async def mark_unreachable(self, platform: str, chat_id: int, reason: str,
                               now: datetime) -> bool:
        """Record an unreachable chat; True the first time (so the coordinator is told once).
        Its command menu is forgotten: it is given again at the next start."""
        if platform == "telegram":
            await self.conn.execute("DELETE FROM command_menus WHERE chat_id = ?", (chat_id,))
        return await self._count(
            "INSERT INTO unreachable_chats (platform, chat_id, reason, at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (platform, chat_id, reason, ts(now))) == 1

    async def menu(self, chat_id: int) -> str | None:
        row = await self._one("SELECT menu FROM command_menus WHERE chat_id = ?", (chat_id,))
        return row["menu"] if row else None

    async def set_menu(self, chat_id: int, menu: str) -> None:
        await self.conn.execute(
            "INSERT INTO command_menus (chat_id, menu) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET menu = excluded.menu", (chat_id, menu))

    async def clear_unreachable(self, platform: str, chat_id: int) -> None:
        await self.conn.execute(
            "DELETE FROM unreachable_chats WHERE platform = ? AND chat_id = ?",
            (platform, chat_id))


class SqliteInvites(_Repo):
    async def add(self, token: str, person_id: int, created_by: int | None,
                         now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO invites (token, person_id, created_by, created_at) VALUES (?, ?, ?, ?)",
            (token, person_id, created_by, ts(now)))

    async def invited(self, token: str) -> int | None:
        """Whom an unused invitation is for."""
        row = await self._one(
            "SELECT person_id FROM invites WHERE token = ? AND used_at IS NULL", (token,))
        return int(row["person_id"]) if row else None

    async def use(self, token: str, now: datetime) -> int | None:
        """The invited person's id, once: a used or unknown token gives None."""
        row = await self._one(
            "SELECT person_id FROM invites WHERE token = ? AND used_at IS NULL", (token,))
        if row is None:
            return None
        await self.conn.execute("UPDATE invites SET used_at = ? WHERE token = ?",
                                (ts(now), token))
        return int(row["person_id"])


class SqliteIncidents(_Repo):
    async def reserve_id(self) -> int:
        """A fresh id for a new incident (the core needs it before the incident is stored);
        the caller adds the incident with it in the same unit of work. Here the single
        writer makes MAX + 1 safe; PostgreSQL, with several writers, takes the next value of
        the incidents' id sequence."""
        row = await self._one(self.d.next_incident_id)
        return int(row[0]) if row else 1

    async def add(self, inc: Incident, now: datetime, seen: Sighting) -> None:
        await self.conn.execute(
            "INSERT INTO incidents (id, state, source, external_id, text, category, department,"
            " executor_id, priority, registered_at, url, author, first_response_due, answer_due,"
            " version, updated_at, clock_start, author_id, thread, reply_to, policy, subcategory)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (inc.id, inc.state, inc.source, seen.external_id, inc.text, inc.category,
             inc.department, inc.executor_id, inc.priority, ts(inc.registered_at), inc.url,
             inc.author, ts(inc.first_response_due), ts(inc.answer_due), inc.version, ts(now),
             ts(inc.clock_start or inc.registered_at), seen.author_id, seen.thread,
             seen.reply_to, inc.policy, inc.subcategory))
        if inc.address or inc.municipality:
            await self.conn.execute(
                "UPDATE incidents SET address = ?, municipality = ? WHERE id = ?",
                (inc.address, inc.municipality, inc.id))

    async def by_external(self, source: str, external_id: str) -> Incident | None:
        """The incident a source message became, directly or as a linked repeat."""
        row = await self._one(
            "SELECT * FROM incidents WHERE source = ? AND external_id = ?", (source, external_id))
        if row is None:
            row = await self._one(
                "SELECT i.* FROM incidents i JOIN repeats r ON r.incident_id = i.id"
                " WHERE r.source = ? AND r.external_id = ?", (source, external_id))
        return _incident(row) if row else None

    async def open_in_thread(self, thread: str, author_id: str) -> Incident | None:
        row = await self._one(
            "SELECT * FROM incidents WHERE thread = ? AND author_id = ?"
            f" AND state NOT IN ({FINAL_SQL}) ORDER BY id DESC LIMIT 1",
            (thread, author_id))
        return _incident(row) if row else None

    async def add_repeat(self, seen: Sighting, incident_id: int, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO repeats (source, external_id, incident_id, text, at)"
            " VALUES (?, ?, ?, ?, ?)", (seen.source, seen.external_id, incident_id, seen.text,
                                        ts(now)))

    async def origin(self, incident_id: int) -> dict[str, str | None]:
        """Where the resident wrote: external id, author id, thread, the message to answer."""
        row = await self._one(
            "SELECT external_id, author_id, thread, reply_to FROM incidents WHERE id = ?",
            (incident_id,))
        return dict(row) if row else {}

    async def update(self, inc: Incident, now: datetime, expected_version: int,
                     timer: tuple[int, datetime | None] | None = None) -> None:
        """Write a transition's result; the version check makes a lost race fail loudly.
        ``timer``: the SLA step and when the sweep next looks, written with it."""
        also, more = "", ()
        if timer is not None:
            also, more = ", sla_step = ?, next_action_at = ?", (timer[0], ts(timer[1]))
        if await self._count(
            "UPDATE incidents SET state = ?, category = ?, department = ?, executor_id = ?,"
            " priority = ?, first_response_due = ?, answer_due = ?, approved_text = ?,"
            " approved_kind = ?, redirected_to = ?, version = ?, updated_at = ?,"
            " first_response_at = ?, promised_at = ?, clock_start = ?, feedback_until = ?,"
            f" source = ?, policy = ?, subcategory = ?, result_status = ?{also}"
            " WHERE id = ? AND version = ?",
            (inc.state, inc.category, inc.department, inc.executor_id, inc.priority,
             ts(inc.first_response_due), ts(inc.answer_due), inc.approved_text,
             inc.approved_kind, inc.redirected_to, inc.version, ts(now),
             ts(inc.first_response_at), ts(inc.promised_at), ts(inc.clock_start),
             ts(inc.feedback_until), inc.source, inc.policy, inc.subcategory,
             inc.result_status, *more, inc.id, expected_version)) != 1:
            raise RuntimeError(f"incident {inc.id} changed concurrently")

    async def get(self, incident_id: int) -> Incident | None:
        row = await self._one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return _incident(row) if row else None

    async def select(self, *, states: Iterable[State] | None = None,
                        executor_id: int | None = None) -> list[Incident]:
        sql, args = "SELECT * FROM incidents WHERE 1=1", []
        if states is not None:
            st = list(states)
            sql += f" AND state IN ({','.join('?' * len(st))})"
            args += [s.value for s in st]
        if executor_id is not None:
            sql += " AND executor_id = ?"
            args.append(executor_id)
        return [_incident(r) for r in await self._all(sql + " ORDER BY id", args)]

    async def due_by(self, states: Iterable[State], moment: datetime) -> list[Incident]:
        """Incidents in these states whose answer is due at or before ``moment``."""
        st = [s.value for s in states]
        rows = await self._all(
            f"SELECT * FROM incidents WHERE state IN ({','.join('?' * len(st))})"
            " AND answer_due <= ? ORDER BY answer_due", (*st, ts(moment)))
        return [_incident(r) for r in rows]

    async def open_load(self) -> dict[int, int]:
        # Kept by the triggers of 093_open_load_counts.sql.
        rows = await self._all("SELECT executor_id, n FROM open_load WHERE n > 0")
        return {r[0]: r[1] for r in rows}

    async def add_attachments(self, incident_id: int,
                                       attachments: Iterable[Attachment]) -> None:
        for a in attachments:
            await self.conn.execute(
                "INSERT INTO incident_attachments (incident_id, kind, file_id, file_name,"
                " mime_type, local_path) VALUES (?, ?, ?, ?, ?, ?)",
                (incident_id, a.kind, a.file_id, a.file_name, a.mime_type, a.local_path))

    async def attachments(self, incident_id: int) -> list[Attachment]:
        rows = await self._all(
            "SELECT * FROM incident_attachments WHERE incident_id = ? ORDER BY id",
            (incident_id,))
        return [Attachment(r["kind"], r["file_id"], r["file_name"], r["mime_type"],
                           r["local_path"]) for r in rows]


class SqliteSla(_Repo):
    async def due(self, now: datetime, limit: int) -> list[tuple[Incident, int]]:
        """Incidents whose SLA timer is due, with their ladder step; uses the partial index."""
        rows = await self._all(
            "SELECT * FROM incidents WHERE next_action_at IS NOT NULL AND next_action_at <= ?"
            " ORDER BY next_action_at LIMIT ?", (ts(now), limit))
        return [(_incident(r), r["sla_step"]) for r in rows]

    async def state(self, incident_id: int) -> tuple[int, datetime | None]:
        row = await self._one("SELECT sla_step, next_action_at FROM incidents WHERE id = ?",
                              (incident_id,))
        return (row["sla_step"], parse_ts(row["next_action_at"])) if row else (0, None)

    async def set(self, incident_id: int, step: int,
                            next_action_at: datetime | None) -> None:
        await self.conn.execute(
            "UPDATE incidents SET sla_step = ?, next_action_at = ? WHERE id = ?",
            (step, ts(next_action_at), incident_id))


class SqliteJobs(_Repo):
    async def last_day(self, name: str) -> str | None:
        row = await self._one("SELECT last_day FROM daily_jobs WHERE name = ?", (name,))
        return row["last_day"] if row else None

    async def set_last_day(self, name: str, day: str) -> None:
        await self.conn.execute(
            "INSERT INTO daily_jobs (name, last_day) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET last_day = excluded.last_day", (name, day))


class SqliteDrafts(_Repo):
    async def set_kind(self, incident_id: int, author_id: int, kind: DraftKind,
                             promised: datetime | None, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO drafts (incident_id, author_id, kind, promised_date, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET kind = excluded.kind,"
            " promised_date = excluded.promised_date, updated_at = excluded.updated_at",
            (incident_id, author_id, kind, ts(promised), ts(now)))

    async def get(self, incident_id: int) -> Draft | None:
        row = await self._one("SELECT * FROM drafts WHERE incident_id = ?", (incident_id,))
        if row is None:
            return None
        atts = await self._all(
            "SELECT * FROM draft_attachments WHERE incident_id = ? ORDER BY id", (incident_id,))
        return Draft(
            incident_id=incident_id, author_id=row["author_id"], text=row["text"],
            kind=DraftKind(row["kind"]),
            attachments=tuple(Attachment(a["kind"], a["file_id"], a["file_name"],
                                         a["mime_type"], a["local_path"]) for a in atts),
            promised_date=parse_ts(row["promised_date"]),
        )

    async def save_text(self, incident_id: int, author_id: int, text: str,
                              now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO drafts (incident_id, author_id, text, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (incident_id) DO UPDATE SET text = excluded.text,"
            " author_id = excluded.author_id, updated_at = excluded.updated_at",
            (incident_id, author_id, text, ts(now)))

    async def add_attachment(self, incident_id: int, author_id: int, a: Attachment,
                                   file_unique_id: str, media_group_id: str | None,
                                   now: datetime) -> bool:
        """Add a photo or document; False when this very file is already in the draft."""
        await self.conn.execute(
            "INSERT INTO drafts (incident_id, author_id, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (incident_id) DO UPDATE SET updated_at = excluded.updated_at",
            (incident_id, author_id, ts(now)))
        return await self._count(
            "INSERT INTO draft_attachments (incident_id, kind, file_id, file_unique_id,"
            " file_name, mime_type, local_path, media_group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (incident_id, a.kind, a.file_id, file_unique_id, a.file_name, a.mime_type,
             a.local_path, media_group_id)) == 1

    async def clear_attachments(self, incident_id: int) -> None:
        await self.conn.execute("DELETE FROM draft_attachments WHERE incident_id = ?",
                                (incident_id,))

    async def delete(self, incident_id: int) -> None:
        await self.clear_attachments(incident_id)
        await self.conn.execute("DELETE FROM drafts WHERE incident_id = ?", (incident_id,))


class SqliteAnswers(_Repo):
    async def add(self, incident_id: int, kind: DraftKind, text: str,
                         attachments: Iterable[Attachment], now: datetime,
                         by: int | None) -> None:
        payload = json.dumps([{"kind": a.kind, "file_id": a.file_id, "file_name": a.file_name,
                               "local_path": a.local_path} for a in attachments],
                             ensure_ascii=False)
        await self.conn.execute(
            "INSERT INTO answers (incident_id, kind, text, attachments, published_at,"
            " published_by) VALUES (?, ?, ?, ?, ?, ?)",
            (incident_id, kind, text, payload, ts(now), by))


    # --- suggestions from approved answers (issue 14) -----------------------------------

    async def finals_after(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Published final answers with id above ``after``, oldest first, each with its
        complaint: ``id, incident_id, text`` (the complaint's), ``category, department,
        executor_id``."""
        rows = await self._all(
            "SELECT a.id, a.incident_id, i.text, i.category, i.department, i.executor_id"
            " FROM answers a JOIN incidents i ON i.id = a.incident_id"
            " WHERE a.id > ? AND a.kind = 'final' ORDER BY a.id LIMIT ?", (after, limit))
        return [dict(row) for row in rows]

    async def final_texts(self, incident_ids: Sequence[int]) -> dict[int, str]:
        """The newest published final answer of each of these incidents."""
        if not incident_ids:
            return {}
        marks = ",".join("?" * len(incident_ids))
        rows = await self._all(
            "SELECT incident_id, text FROM answers WHERE kind = 'final' AND incident_id IN"
            f" ({marks}) ORDER BY id", tuple(incident_ids))
        return {row[0]: row[1] for row in rows}


class SqliteProblems(_Repo):
    async def link(self, incident_id: int, problem_id: int, prev_state: State,
                   prev_executor_id: int | None, by: int | None, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO problem_complaints (incident_id, problem_id, prev_state,"
            " prev_executor_id, merged_by, merged_at) VALUES (?, ?, ?, ?, ?, ?)",
            (incident_id, problem_id, prev_state.value, prev_executor_id, by, ts(now)))

    async def unlink(self, incident_id: int) -> dict[str, Any] | None:
        """Forget the complaint's link; what it was (``problem_id``, ``prev_state``,
        ``prev_executor_id``), or None when it was in no problem."""
        found = await self.problem_of(incident_id)
        if found is not None:
            await self.conn.execute("DELETE FROM problem_complaints WHERE incident_id = ?",
                                    (incident_id,))
        return found

    async def problem_of(self, incident_id: int) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT problem_id, prev_state, prev_executor_id FROM problem_complaints"
            " WHERE incident_id = ?", (incident_id,))
        return dict(row) if row else None

    async def complaints(self, problem_id: int) -> list[int]:
        rows = await self._all(
            "SELECT incident_id FROM problem_complaints WHERE problem_id = ?"
            " ORDER BY incident_id", (problem_id,))
        return [r[0] for r in rows]

    async def sizes(self, problem_ids: Sequence[int]) -> dict[int, int]:
        """Of these incidents, the problems among them and their complaints."""
        out: dict[int, int] = {}
        ids = list(problem_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = await self._all(
                "SELECT problem_id, COUNT(*) FROM problem_complaints"
                f" WHERE problem_id IN ({','.join('?' * len(chunk))}) GROUP BY problem_id",
                chunk)
            out.update({r[0]: r[1] for r in rows})
        return out

    async def candidates(self, category: str, since: datetime
                         ) -> list[tuple[OpenIncident, int]]:
        """The open incidents of ``category`` registered since ``since`` (a problem's lead
        or a lone incident), each with the number of complaints merged into it; only what
        matching needs of each."""
        rows = await self._all(
            "SELECT i.id, i.state, i.category, i.department, i.registered_at, i.address,"
            " i.municipality, i.text, (SELECT COUNT(*) FROM problem_complaints p"
            " WHERE p.problem_id = i.id) AS merged FROM incidents i"
            f" WHERE i.category = ? AND i.registered_at >= ? AND i.state NOT IN ({FINAL_SQL})"
            " ORDER BY i.id", (category, ts(since)))
        return [(OpenIncident(r[0], _STATES[r[1]], r[2], r[3],
                               parse_ts(r[4]),  # type: ignore[arg-type]
                               r[5], r[6], r[7]), int(r[8])) for r in rows]

    async def merged(self, start: datetime, end: datetime) -> list[tuple[int, int]]:
        """(problem, complaint) of the problems whose lead was registered in [start, end)."""
        rows = await self._all(
            "SELECT p.problem_id, p.incident_id FROM problem_complaints p"
            " JOIN incidents i ON i.id = p.problem_id"
            " WHERE i.registered_at >= ? AND i.registered_at < ?", (ts(start), ts(end)))
        return [(r[0], r[1]) for r in rows]


class SqliteCursors(_Repo):
    async def get(self, source: str, key: str) -> int:
        row = await self._one("SELECT value FROM source_cursors WHERE source = ? AND key = ?",
                              (source, key))
        return int(row[0]) if row else 0

    async def set(self, source: str, key: str, value: int) -> None:
        await self.conn.execute(
            "INSERT INTO source_cursors (source, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (source, key) DO UPDATE SET"
            f" value = {self.d.greatest}(source_cursors.value, excluded.value)",
            (source, key, value))


class SqlitePublications(_Repo):
    async def add(self, incident_id: int, round_: int, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO publications (incident_id, round, next_attempt_at)"
            " VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (incident_id, round_, ts(now)))

    async def due(self, now: datetime, limit: int) -> list[tuple[int, int, int]]:
        """(incident id, round, attempts) of publications due now."""
        rows = await self._all(
            "SELECT incident_id, round, attempts FROM publications WHERE status = 'pending'"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?", (ts(now), limit))
        return [(r[0], r[1], r[2]) for r in rows]

    async def finish(self, incident_id: int, round_: int, status: str,
                                 *, error: str | None = None, result: str | None = None,
                                 retry_at: datetime | None = None) -> None:
        await self.conn.execute(
            "UPDATE publications SET status = ?, attempts = attempts + 1, last_error = ?,"
            " result = COALESCE(?, result), next_attempt_at = COALESCE(?, next_attempt_at)"
            " WHERE incident_id = ? AND round = ?",
            (status, error, result, ts(retry_at), incident_id, round_))

    async def parts(self, incident_id: int, round_: int) -> dict[int, str]:
        """The parts of a publication that went out already: part number → result."""
        rows = await self._all(
            "SELECT part, result FROM publication_parts WHERE incident_id = ? AND round = ?",
            (incident_id, round_))
        return {r[0]: r[1] for r in rows}

    async def add_part(self, incident_id: int, round_: int, part: int,
                                   result: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO publication_parts (incident_id, round, part, result, at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id, round, part) DO UPDATE"
            " SET result = excluded.result, at = excluded.at",
            (incident_id, round_, part, result, ts(now)))


class SqliteAudit(_Repo):
    async def add(self, e: AuditEntry) -> None:
        await self.conn.execute(
            "INSERT INTO audit (incident_id, actor_id, action, from_state, to_state, reason,"
            " at, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (e.incident_id, e.actor_id, e.action, e.from_state, e.to_state, e.reason, ts(e.at),
             int(e.ok)))
        if e.ok and e.incident_id is not None and e.from_state != e.to_state:
            by = f"person {e.actor_id}" if e.actor_id is not None else "the system"
            change = (f"{e.from_state} → {e.to_state}" if e.from_state is not None
                      else f"registered as {e.to_state}")
            self._changes.append(f"incident #{e.incident_id}: {change} ({e.action}, by {by})")

    async def entries(self, incident_id: int | None = None) -> list[AuditEntry]:
        if incident_id is None:
            rows = await self._all("SELECT * FROM audit ORDER BY id")
        else:
            rows = await self._all("SELECT * FROM audit WHERE incident_id = ? ORDER BY id",
                                   (incident_id,))
        return [AuditEntry(
            r["incident_id"], r["actor_id"], r["action"],
            State(r["from_state"]) if r["from_state"] else None,
            State(r["to_state"]) if r["to_state"] else None,
            parse_ts(r["at"]), r["reason"], bool(r["ok"]),  # type: ignore[arg-type]
        ) for r in rows]


class SqliteOutbox(_Repo):
    async def enqueue(self, platform: str, chat_id: int, method: str, payload: dict[str, Any],
                      now: datetime, *, batch: str | None = None,
                      items: list[dict[str, Any]] | None = None) -> int:
        """``batch``: the kind of a message that may be merged with others of its kind while
        it waits (``items``: what it tells of), see :mod:`bot.batching`."""
        return await self._insert(
            "INSERT INTO outbox (platform, chat_id, method, payload, next_attempt_at, created_at,"
            " batch, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (platform, chat_id, method, json.dumps(payload, ensure_ascii=False), ts(now),
             ts(now), batch, json.dumps(items, ensure_ascii=False) if items else None))

    async def waiting_batch(self, platform: str, chat_id: int,
                            batch: str) -> list[tuple[int, list[dict[str, Any]]]]:
        """The messages of kind ``batch`` still waiting for their first attempt in a chat,
        oldest first: (row id, items)."""
        rows = await self._all(
            f"SELECT id, items FROM outbox{self.d.indexed_by('outbox_batch')} WHERE platform = ?"
            " AND chat_id = ? AND batch = ? AND status = 'pending' AND attempts = 0"
            " ORDER BY id", (platform, chat_id, batch))
        return [(r["id"], json.loads(r["items"] or "[]")) for r in rows]

    async def rewrite_waiting(self, msg_id: int, payload: dict[str, Any],
                              items: list[dict[str, Any]]) -> bool:
        """A waiting message's new text and items; False when it is no longer waiting."""
        return await self._count(
                "UPDATE outbox SET payload = ?, items = ? WHERE id = ? AND status = 'pending'"
                " AND attempts = 0", (json.dumps(payload, ensure_ascii=False),
                                      json.dumps(items, ensure_ascii=False), msg_id)) == 1

    async def drop_waiting(self, ids: list[int]) -> int:
        """Delete messages that never left (merged into another); the number deleted."""
        return await self._count(
                f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(ids))})"
                " AND status = 'pending' AND attempts = 0", ids)

    async def due(self, platform: str, now: datetime, limit: int) -> list[OutboxRow]:
        """Pending messages that are due, at most the oldest one per chat, so that each chat
        receives its messages in order; a chat whose oldest message is being sent waits."""
        # The chats with a queue, hopping from one to the next through the queue's index
        # (a recursive step per chat), then each chat's oldest message by the same index:
        # a look costs the number of chats, not the length of the backlog, whatever
        # statistics the engine has (PostgreSQL has none for a fresh outbox; it once
        # rescanned the whole queue per due row, most of a second a look with a thousand
        # waiting). Grouping the queue by chat, as before, read every waiting message.
        queue = self.d.indexed_by("outbox_queue")
        waiting = "platform = ? AND status IN ('pending', 'sending')"
        chats = ("WITH RECURSIVE chats(c) AS ("
                 f"  SELECT (SELECT chat_id FROM outbox{queue} WHERE {waiting}"
                 "   ORDER BY chat_id LIMIT 1)"
                 "  UNION ALL"
                 f"  SELECT (SELECT chat_id FROM outbox{queue} WHERE {waiting}"
                 "   AND chat_id > chats.c ORDER BY chat_id LIMIT 1)"
                 "  FROM chats WHERE chats.c IS NOT NULL)")
        if self.d.hints:  # SQLite: a nested loop, the head by its id
            head = (f" SELECT o.* FROM chats JOIN outbox o ON o.id = (SELECT MIN(id) FROM"
                    f" outbox{queue} WHERE {waiting} AND chat_id = chats.c)")
        else:  # PostgreSQL: LATERAL, or it hash-joins every waiting message with the chats
            head = (" SELECT o.* FROM chats JOIN LATERAL (SELECT * FROM outbox WHERE"
                    f" {waiting} AND chat_id = chats.c ORDER BY id LIMIT 1) o ON true")
        sql = (chats + head + " WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
               " ORDER BY o.id LIMIT ?")
        rows = await self._all(sql, (platform, platform, platform, ts(now), limit))
        return [OutboxRow(r["id"], r["platform"], r["chat_id"], r["method"],
                          json.loads(r["payload"]), r["attempts"]) for r in rows]

    async def next_due_at(self, platform: str) -> datetime | None:
        row = await self._one(
            f"SELECT MIN(next_attempt_at) FROM outbox{self.d.indexed_by('outbox_next')}"
            " WHERE status = 'pending' AND platform = ?",
            (platform,))
        return parse_ts(row[0]) if row and row[0] else None

    async def claim(self, msg_id: int) -> dict[str, Any] | None:
        """Take a pending message for sending: its payload as it is now (a summary may have
        grown since it was read); None when it is no longer pending (another sender took it,
        or it was merged into a summary). Recorded before the platform call: after a crash,
        a row still "sending" may have gone out already (it is sent again: at most one
        duplicate per chat per crash)."""
        row = await self._one(
            "UPDATE outbox SET status = 'sending' WHERE id = (SELECT id FROM outbox"
            f" WHERE id = ? AND status = 'pending'{self.d.skip_locked}) RETURNING payload",
            (msg_id,))
        return json.loads(row[0]) if row else None

    async def recover_sending(self, platform: str) -> int:
        """At start: messages whose sending a crash interrupted are pending again."""
        return await self._count(
            "UPDATE outbox SET status = 'pending' WHERE status = 'sending' AND platform = ?",
            (platform,))

    async def mark_sent(self, msg_id: int, now: datetime, result: Any) -> None:
        """``result``: what is kept of the platform's answer — the sent message's id (ids of
        an album), not the whole reply."""
        await self.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
            " result = ? WHERE id = ?",
            (ts(now), json.dumps(result, ensure_ascii=False, default=str), msg_id))

    async def purge(self, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` finished rows older than ``before``: sent before it, or
        failed and created before it. Pending and sending rows are never deleted."""
        return await self._count(
                "DELETE FROM outbox WHERE id IN ("
                " SELECT id FROM outbox WHERE status = 'sent' AND sent_at < ?"
                " UNION ALL SELECT id FROM outbox WHERE status = 'failed' AND created_at < ?"
                " LIMIT ?)", (ts(before), ts(before), limit))

    async def mark_retry(self, msg_id: int, at: datetime, error: str) -> None:
        await self.conn.execute(
            "UPDATE outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?,"
            " last_error = ? WHERE id = ?", (ts(at), error, msg_id))

    async def mark_failed(self, msg_id: int, error: str) -> None:
        await self.conn.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ?", (error, msg_id))

    async def fail_chat(self, platform: str, chat_id: int, error: str) -> int:
        """Give up on everything still pending for an unreachable chat."""
        return await self._count(
            "UPDATE outbox SET status = 'failed', last_error = ? WHERE platform = ?"
            " AND chat_id = ? AND status = 'pending'", (error, platform, chat_id))

    async def backlog(self, now: datetime) -> tuple[int, datetime | None, datetime | None]:
        """Pending messages that are due or were tried (not ones planned for later; one in
        the platform call counts too), when the oldest of them was queued, and when anything
        was last sent."""
        row = await self._one(
            "SELECT count(*), min(created_at) FROM outbox WHERE status IN ('pending', 'sending')"
            " AND (next_attempt_at <= ? OR attempts > 0)", (ts(now),))
        sent = await self._one("SELECT max(sent_at) FROM outbox WHERE status = 'sent'")
        assert row is not None and sent is not None
        return int(row[0]), parse_ts(row[1]), parse_ts(sent[0])

    async def counts(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return {r[0]: r[1] for r in rows}


class SqliteUpdates(_Repo):
    async def seen(self, platform: str, update_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM processed_updates WHERE platform = ? AND update_id = ?",
            (platform, update_id))
        return row is not None

    async def claim(self, platform: str, update_id: int, now: datetime) -> bool:
        """True the first time an update is seen; False for a redelivery."""
        return await self._count(
            "INSERT INTO processed_updates (platform, update_id, at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (platform, update_id, ts(now))) == 1

    async def purge(self, before: datetime, limit: int) -> int:
        """Forget at most ``limit`` updates claimed before ``before``: the oldest first (the
        scan meets them first, in insertion order, so no index on ``at`` is needed)."""
        return await self._count(
                "DELETE FROM processed_updates WHERE (platform, update_id) IN ("
                " SELECT platform, update_id FROM processed_updates WHERE at < ? LIMIT ?)",
                (ts(before), limit))


class SqliteChatModes(_Repo):
    async def get(self, person_id: int, platform: str) -> ChatState | None:
        row = await self._one(
            "SELECT * FROM chat_state WHERE person_id = ? AND platform = ?",
            (person_id, platform))
        if row is None:
            return None
        return _chat_state(row["mode"], row["incident_id"], row["data"])

    async def set(self, person_id: int, platform: str, mode: str,
                             incident_id: int | None, data: dict[str, Any] | None = None) -> None:
        await self.conn.execute(
            "INSERT INTO chat_state (person_id, platform, mode, incident_id, data)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (person_id, platform) DO UPDATE SET"
            " mode = excluded.mode, incident_id = excluded.incident_id, data = excluded.data",
            (person_id, platform, mode, incident_id, json.dumps(data or {}, ensure_ascii=False)))

    async def clear(self, person_id: int, platform: str) -> None:
        await self.conn.execute("DELETE FROM chat_state WHERE person_id = ? AND platform = ?",
                                (person_id, platform))


class SqliteIntake(_Repo):
    async def add(self, person_id: int, source: str, text: str, url: str | None,
                         author: str | None, attachments: list[dict[str, Any]],
                         media_group_id: str | None, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO intake (person_id, source, text, url, author, attachments,"
            " media_group_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, source, text, url, author, json.dumps(attachments, ensure_ascii=False),
             media_group_id, ts(now)))

    async def get(self, intake_id: int) -> dict[str, Any] | None:
        """The post as a dict of its fields (``attachments``: JSON text)."""
        row = await self._one("SELECT * FROM intake WHERE id = ?", (intake_id,))
        return dict(row) if row else None

    async def drop(self, intake_id: int) -> None:
        """A post the coordinator decided not to register (never one that became an incident)."""
        await self.conn.execute("DELETE FROM intake WHERE id = ? AND incident_id IS NULL",
                                (intake_id,))

    async def by_group(self, person_id: int, media_group_id: str) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT * FROM intake WHERE person_id = ? AND media_group_id = ?"
            " AND incident_id IS NULL", (person_id, media_group_id))
        return dict(row) if row else None

    async def set_source(self, intake_id: int, source: str) -> None:
        await self.conn.execute("UPDATE intake SET source = ? WHERE id = ?", (source, intake_id))

    async def update(self, intake_id: int, *, text: str | None = None,
                            attachments: list[dict[str, Any]] | None = None,
                            incident_id: int | None = None) -> None:
        row = await self.get(intake_id)
        assert row is not None
        await self.conn.execute(
            "UPDATE intake SET text = ?, attachments = ?, incident_id = ? WHERE id = ?",
            (text if text is not None else row["text"],
             json.dumps(attachments, ensure_ascii=False) if attachments is not None
             else row["attachments"],
             incident_id if incident_id is not None else row["incident_id"], intake_id))


class SqliteTemplates(_Repo):
    async def in_use(self, category: str | None = None) -> list[AnswerTemplate]:
        """The templates in use (of one category, or all), config ones first, then by id."""
        where, args = ("AND category = ?", (category,)) if category is not None else ("", ())
        rows = await self._all(
            "SELECT * FROM answer_templates WHERE deleted_at IS NULL " + where
            + " ORDER BY category, origin = 'chat', id", args)
        return [_answer_template(r) for r in rows]

    async def get(self, template_id: int) -> AnswerTemplate | None:
        row = await self._one("SELECT * FROM answer_templates WHERE id = ? AND deleted_at IS NULL",
                              (template_id,))
        return _answer_template(row) if row else None

    async def add(self, category: str, title: str, text: str, origin: str,
                                  created_by: int | None, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO answer_templates (category, title, text, origin, created_by,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (category, title, text, origin, created_by, ts(now)))

    async def delete(self, template_id: int, now: datetime) -> bool:
        return await self._count(
                "UPDATE answer_templates SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (ts(now), template_id)) == 1

    async def sync_config(self, wanted: Iterable[tuple[str, str, str]],
                                    now: datetime) -> None:
        """Make the config's templates what the config says: each (category, title, text) is
        kept (restored if deleted in the chat, its text updated); ones gone from the config
        are deleted. Templates added in the chat are left alone."""
        rows = await self._all("SELECT * FROM answer_templates WHERE origin = 'config'")
        by_key = {(r["category"], r["title"]): r for r in rows}
        keep: set[int] = set()
        for category, title, text in wanted:
            row = by_key.get((category, title))
            if row is None:
                keep.add(await self.add(category, title, text, "config", None,
                                                        now))
                continue
            keep.add(row["id"])
            await self.conn.execute(
                "UPDATE answer_templates SET text = ?, deleted_at = NULL WHERE id = ?",
                (text, row["id"]))
        for row in rows:
            if row["id"] not in keep and row["deleted_at"] is None:
                await self.delete(row["id"], now)


def _letter(row: aiosqlite.Row) -> dict[str, Any]:
    letter = dict(row)
    letter["email_to"] = json.loads(row["email_to"] or "[]")
    letter["created_at"] = parse_ts(row["created_at"])
    return letter


class SqliteLetters(_Repo):
    """The official letters of incidents (002 3.12.6): made, signed, e-mailed."""

    async def add(self, incident_id: int, round_: int, docx_path: str, email_to: list[str],
                  now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO letters (incident_id, round, docx_path, email_to, status,"
            " created_at) VALUES (?, ?, ?, ?, 'unsigned', ?) ON CONFLICT (incident_id, round)"
            " DO UPDATE SET docx_path = excluded.docx_path, email_to = excluded.email_to,"
            " status = excluded.status, created_at = excluded.created_at, pdf_path = NULL,"
            " pdf_name = NULL, attempts = 0, next_try_at = NULL, error = NULL, sent_at = NULL",
            (incident_id, round_, docx_path, json.dumps(list(email_to)), ts(now)))

    async def newest(self, incident_id: int) -> dict[str, Any] | None:
        """The newest letter of the incident, or None."""
        row = await self._one(
            "SELECT * FROM letters WHERE incident_id = ? ORDER BY round DESC LIMIT 1",
            (incident_id,))
        return _letter(row) if row else None

    async def to_sign(self, executor_id: int) -> list[int]:
        """The incidents whose letter waits for this executor's signed PDF."""
        rows = await self._all(
            "SELECT l.incident_id FROM letters l JOIN incidents i ON i.id = l.incident_id "
            "WHERE l.status = 'unsigned' AND i.executor_id = ? ORDER BY l.incident_id",
            (executor_id,))
        return [r[0] for r in rows]

    async def mark_signed(self, incident_id: int, round_: int, pdf_path: str | None,
                          pdf_name: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE letters SET pdf_path = ?, pdf_name = ?, status = 'pending', "
            "next_try_at = ? WHERE incident_id = ? AND round = ?",
            (pdf_path, pdf_name, ts(now), incident_id, round_))

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Signed letters whose (next) e-mail attempt is due."""
        rows = await self._all(
            "SELECT * FROM letters WHERE status = 'pending' AND next_try_at <= ? "
            "ORDER BY next_try_at LIMIT ?", (ts(now), limit))
        return [_letter(r) for r in rows]

    async def mark_sent(self, incident_id: int, round_: int, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE letters SET status = 'sent', sent_at = ?, error = NULL, "
            "attempts = attempts + 1 WHERE incident_id = ? AND round = ?",
            (ts(now), incident_id, round_))

    async def mark_retry(self, incident_id: int, round_: int, attempts: int, error: str,
                         retry_at: datetime) -> None:
        await self.conn.execute(
            "UPDATE letters SET attempts = ?, error = ?, next_try_at = ? "
            "WHERE incident_id = ? AND round = ?",
            (attempts, error, ts(retry_at), incident_id, round_))


class SqlitePossible(_Repo):
    """Possible complaints: messages the detector was not sure of, for a coordinator."""

    async def by_key(self, source: str, external_id: str) -> int | None:
        row = await self._one(
            "SELECT id FROM possible_complaints WHERE source = ? AND external_id = ?",
            (source, external_id))
        return int(row[0]) if row else None

    async def count_sent_since(self, since: datetime) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM possible_complaints WHERE status != 'queued'"
            " AND status != 'digested' AND at >= ?", (ts(since),))
        return int(row[0]) if row else 0

    async def add(self, source: str, external_id: str, sighting: dict[str, Any],
                  suggestions: list[str], now: datetime, status: str) -> int:
        """The new possible complaint's id."""
        return await self._insert(
            "INSERT INTO possible_complaints (source, external_id, sighting, suggestions, at,"
            " status) VALUES (?, ?, ?, ?, ?, ?)",
            (source, external_id, json.dumps(sighting, ensure_ascii=False),
             json.dumps(suggestions), ts(now), status))

    async def get(self, pc_id: int) -> dict[str, Any] | None:
        """``status``, ``sighting`` (a dict), ``suggestions`` (category keys) and the rest."""
        row = await self._one("SELECT * FROM possible_complaints WHERE id = ?", (pc_id,))
        if row is None:
            return None
        found = dict(row)
        found["sighting"] = json.loads(row["sighting"])
        found["suggestions"] = json.loads(row["suggestions"])
        return found

    async def queued(self) -> list[tuple[int, str]]:
        """(id, text) of the possible complaints waiting for the digest, oldest first."""
        rows = await self._all(
            "SELECT id, sighting FROM possible_complaints WHERE status = 'queued' ORDER BY id")
        return [(int(r[0]), json.loads(r[1])["text"]) for r in rows]

    async def mark_digested(self) -> None:
        await self.conn.execute(
            "UPDATE possible_complaints SET status = 'digested' WHERE status = 'queued'")

    async def decide(self, pc_id: int, status: str, by: int,
                     incident_id: int | None = None) -> None:
        await self.conn.execute(
            "UPDATE possible_complaints SET status = ?, decided_by = ?,"
            " incident_id = COALESCE(?, incident_id) WHERE id = ?",
            (status, by, incident_id, pc_id))


class SqliteLabels(_Repo):
    """Labelled examples for the detector."""

    async def add(self, text: str, category: str, origin: str, person_id: int | None,
                  at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO detection_labels (text, category, origin, person_id, at)"
            " VALUES (?, ?, ?, ?, ?)", (text, category, origin, person_id, ts(at)))

    async def last_id(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(id), 0) FROM detection_labels")
        return int(row[0]) if row else 0

    async def after(self, after: int) -> list[tuple[int, str, str]]:
        """``(id, text, category)`` of the labels newer than id ``after``, oldest first."""
        rows = await self._all(
            "SELECT id, text, category FROM detection_labels WHERE id > ? ORDER BY id",
            (after,))
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def _attachment(r: aiosqlite.Row) -> Attachment:
    return Attachment(r["kind"], r["file_id"], r["file_name"], r["mime_type"], r["local_path"])


class SqliteBoard(_Repo):
    """The web board: one-time links, the cookie signing key, and what a page shows."""

    async def add_link(self, token_hash: str, person_id: int, now: datetime,
                       expires: datetime, *, purge_before: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO board_links (token_hash, person_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)", (token_hash, person_id, ts(now), ts(expires)))
        await self.conn.execute("DELETE FROM board_links WHERE expires_at < ?",
                                (ts(purge_before),))

    async def link(self, token_hash: str) -> tuple[int, datetime, bool] | None:
        """(person id, expiry, used) of a link."""
        row = await self._one(
            "SELECT person_id, expires_at, used_at FROM board_links WHERE token_hash = ?",
            (token_hash,))
        if row is None:
            return None
        expires = parse_ts(row["expires_at"])
        assert expires is not None
        return int(row["person_id"]), expires, row["used_at"] is not None

    async def use_link(self, token_hash: str, now: datetime) -> None:
        await self.conn.execute("UPDATE board_links SET used_at = ? WHERE token_hash = ?",
                                (ts(now), token_hash))

    async def signing_key(self, new: str) -> str:
        """The key that signs cookies; ``new`` becomes it when there is none yet."""
        row = await self._one("SELECT key FROM board_keys WHERE id = 1")
        if row is not None:
            return str(row["key"])
        await self.conn.execute("INSERT INTO board_keys (id, key) VALUES (1, ?)", (new,))
        return new

    async def photos(self, incident_id: int) -> list[tuple[int, Attachment]]:
        """(attachment id, attachment) of the incident's files."""
        rows = await self._all(
            "SELECT * FROM incident_attachments WHERE incident_id = ? ORDER BY id",
            (incident_id,))
        return [(r["id"], _attachment(r)) for r in rows]

    async def attachment(self, incident_id: int, attachment_id: int) -> Attachment | None:
        row = await self._one(
            "SELECT * FROM incident_attachments WHERE id = ? AND incident_id = ?",
            (attachment_id, incident_id))
        return _attachment(row) if row else None

    async def answers(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT kind, text, published_at, published_by FROM answers"
            " WHERE incident_id = ? ORDER BY published_at, id", (incident_id,))
        return [{"kind": r["kind"], "text": r["text"],
                 "published_at": parse_ts(r["published_at"]),
                 "published_by": r["published_by"]} for r in rows]

    async def repeats(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self._all("SELECT text, at FROM repeats WHERE incident_id = ? ORDER BY at",
                               (incident_id,))
        return [{"text": r["text"], "at": parse_ts(r["at"])} for r in rows]


class SqliteHeartbeat(_Repo):
    """What each part of the bot last said of its health."""

    async def save(self, parts: Iterable[tuple[str, bool, datetime, dict[str, Any]]]) -> None:
        await self.conn.executemany(
            "INSERT INTO heartbeat (component, ok, at, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (component) DO UPDATE SET ok = excluded.ok, at = excluded.at, "
            "data = excluded.data",
            [(name, int(ok), ts(at), json.dumps(data, ensure_ascii=False))
             for name, ok, at, data in parts])

    async def parts(self) -> dict[str, dict[str, Any]]:
        """The parts as last written (``written_at``: when, ISO 8601 in UTC)."""
        rows = await self._all("SELECT component, at, data FROM heartbeat")
        return {row[0]: {**json.loads(row[2]), "written_at": row[1]} for row in rows}


# The incidents a report of [since, end) can involve (see workflows.metrics.compute): those
# registered in it or in the repeat window before it, due in it, acted on or answered in it,
# and those overdue from before it (not answered and not redirected or rejected before it).
_INVOLVED = (
    "SELECT * FROM incidents WHERE registered_at < :end AND ("
    " registered_at >= :repeats_from"
    " OR (answer_due >= :since AND answer_due < :end)"
    " OR (first_response_due >= :since AND first_response_due < :end)"
    " OR id IN (SELECT incident_id FROM audit WHERE at >= :since AND at < :end"
    "           AND incident_id IS NOT NULL)"
    " OR id IN (SELECT incident_id FROM answers WHERE published_at >= :since"
    "           AND published_at < :end)"
    " OR (answer_due < :since"
    "     AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.incident_id = incidents.id"
    "         AND a.published_at < :since"
    "         AND a.published_at >= {greatest}(COALESCE(incidents.clock_start, ''),"
    "                                   incidents.registered_at))"
    "     AND NOT EXISTS (SELECT 1 FROM audit u WHERE u.incident_id = incidents.id"
    "         AND u.ok = 1 AND u.action IN ('redirect', 'reject') AND u.at < :since))"
    ") ORDER BY id")


# The actions of which every row before a period counts (see workflows.metrics.compute).
_CLOSINGS = frozenset({"redirect", "reject", "merge", "unmerge"})


def _used_before(rows: list[Any], since: str) -> list[Any]:
    """``rows`` (audit rows in time order: incident id, …, action, …, to_state, …, at) with,
    of those before ``since``, only what :func:`workflows.metrics.compute` uses for a period
    starting at or after it: per incident the last change of state, the first first
    response, the last submission, and every closing and unmerge. At a region's volume
    that is two rows in five to become objects."""
    early = 0
    for early, r in enumerate(rows):  # noqa: B007 - the first row at or after ``since``
        if r[6] >= since:
            break
    else:
        early = len(rows)
    keep = bytearray(early)
    stated: set[int] = set()
    submitted: set[int] = set()
    first_response: dict[int, int] = {}
    for k in range(early - 1, -1, -1):  # backwards: the last of each kind comes first
        r = rows[k]
        incident, action = r[0], r[2]
        if r[4] and incident not in stated:
            stated.add(incident)
            keep[k] = 1
        if action == "submit":
            if incident not in submitted:
                submitted.add(incident)
                keep[k] = 1
        elif action == "first_response":
            first_response[incident] = k  # overwritten until the first one
        elif action in _CLOSINGS:
            keep[k] = 1
    for k in first_response.values():
        keep[k] = 1
    return [r for k, r in enumerate(rows[:early]) if keep[k]] + rows[early:]


def _count_attachments(raw: str | None) -> int:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return 0
    return len(value) if isinstance(value, list) else 0


# Rows a report reads per fetch: each await hands the event loop a small batch.
REPORT_CHUNK = 2000


class SqliteReports(_Repo):
    """The queries of reports: rows are read in chunks, and become objects only when the
    returned function is called, once (in a worker thread, after the reading unit ended)."""

    async def _chunked(self, sql: str, args: Any) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        async with self.conn.execute(sql, args) as cur:
            while chunk := await cur.fetchmany(REPORT_CHUNK):
                rows.extend(chunk)
        return rows

    async def incidents(self, end: datetime, since: datetime | None,
                        repeats_from: datetime | None = None) -> Later[list[Incident]]:
        """The incidents registered before ``end``; with ``since``: only those a report of
        ``[since, end)`` can involve (read through indexes), ``repeats_from`` being the
        start of the repeat window before ``since``."""
        if since is None:
            query, params = "SELECT * FROM incidents ORDER BY id", {}
        else:
            query = _INVOLVED.format(greatest=self.d.greatest)
            params = {"end": ts(end), "since": ts(since),
                      "repeats_from": ts(repeats_from or since)}
        rows = await self._chunked(query, params)

        def convert() -> list[Incident]:
            try:
                return [_incident(r) for r in rows]
            finally:
                rows.clear()  # freed in the worker thread, not on the event loop

        return convert

    async def history(self, end: datetime, incident_ids: Iterable[int], *, by_index: bool,
                      since: datetime | None = None
                      ) -> Later[tuple[list[AuditEntry], list[Answer]]]:
        """The successful audit entries and the published answers before ``end`` of the
        incidents ``incident_ids``, in time order. ``by_index``: read only their rows
        (through indexes: for a few); otherwise read everything and keep theirs.
        ``since``: of the audit rows before it, only those
        :func:`workflows.metrics.compute` uses for a period starting at or after it
        (:func:`_used_before`)."""
        ids = set(incident_ids)
        if by_index:
            chosen, args = f" AND incident_id IN ({self.d.json_ints})", (
                ts(end), json.dumps(sorted(ids)))
        else:
            chosen, args = "", (ts(end),)  # type: ignore[assignment]
        audit_rows = await self._chunked(
            "SELECT incident_id, actor_id, action, from_state, to_state, reason, at FROM audit"
            f" WHERE ok = 1 AND incident_id IS NOT NULL AND at < ?{chosen} ORDER BY at, id",
            args)
        answer_rows = await self._chunked(
            "SELECT incident_id, kind, published_at, published_by, attachments FROM answers"
            f" WHERE published_at < ?{chosen} ORDER BY published_at, id", args)

        def convert() -> tuple[list[AuditEntry], list[Answer]]:
            nonlocal audit_rows
            if since is not None:
                audit_rows = _used_before(audit_rows, ts(since))  # type: ignore[arg-type]
            state = _STATES.__getitem__
            audit = [
                AuditEntry(r[0], r[1], r[2], state(r[3]) if r[3] else None,
                           state(r[4]) if r[4] else None,
                           parse_ts(r[6]), r[5], True)  # type: ignore[arg-type]
                for r in audit_rows if r[0] in ids]
            answers = [
                Answer(r[0], DraftKind(r[1]), parse_ts(r[2]),  # type: ignore[arg-type]
                       r[3], _count_attachments(r[4]))
                for r in answer_rows if r[0] in ids]
            audit_rows.clear()  # freed in the worker thread, not on the event loop
            answer_rows.clear()
            return audit, answers

        return convert


class _Inline:
    """The connection inside an update's transaction, once ``BEGIN IMMEDIATE`` holds the write
    lock: its statements run on the event loop's thread, not through aiosqlite's.

    In there a statement never waits for another writer (the lock is held; WAL readers never
    block) and an update's statements are point reads and writes of tens of microseconds,
    while a trip to aiosqlite's thread and back costs 50-200 µs, more when the loop is busy:
    at ~24 statements per press the trips were most of an update's time. ``BEGIN`` and
    ``COMMIT`` run on the loop's thread too (:func:`_begin`, :func:`_commit`), but a ``BEGIN``
    that would wait for another process goes to the thread; so does a cursor read in chunks
    (``async with … as cur``: the reports).

    ``rows_only``: an update's reads before its first change (no transaction yet, under the
    store's lock): only those of one row (a person, a chat's mode, an incident) run here; a
    list may be long, and goes through the thread."""

    __slots__ = ("inner", "raw", "dialect", "rows_only")

    def __init__(self, conn: aiosqlite.Connection, *, rows_only: bool = False) -> None:
        self.inner = conn
        self.raw: sqlite3.Connection = conn._conn
        self.dialect: Dialect = getattr(conn, "dialect", SQLITE)
        self.rows_only = rows_only

    def execute(self, sql: str, parameters: Any = None) -> _InlineStatement:
        return _InlineStatement(self, sql, () if parameters is None else parameters, False)

    def executemany(self, sql: str, parameters: Any) -> _InlineStatement:
        return _InlineStatement(self, sql, parameters, True)


class _InlineStatement:
    """``await conn.execute(…)`` run at once; ``async with conn.execute(…) as cur`` through
    aiosqlite's thread, as before."""

    __slots__ = ("conn", "sql", "params", "many", "_cursor")

    def __init__(self, conn: _Inline, sql: str, params: Any, many: bool) -> None:
        self.conn, self.sql, self.params, self.many = conn, sql, params, many
        self._cursor: Any = None

    def _run(self) -> None:
        raw = self.conn.raw
        cur = raw.executemany(self.sql, self.params) if self.many \
            else raw.execute(self.sql, self.params)
        cur.close()

    def __await__(self) -> Any:
        self._run()
        return None
        yield  # a generator: awaiting it runs the statement without a trip to the thread

    async def __aenter__(self) -> Any:
        inner = self.conn.inner
        self._cursor = inner.executemany(self.sql, self.params) if self.many \
            else inner.execute(self.sql, self.params)
        return await self._cursor.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.__aexit__(*exc)


def _inline(conn: Any, *, rows_only: bool = False) -> Any:
    """``conn`` for the statements of an update: :class:`_Inline` on SQLite; another
    engine's connection (PostgreSQL) as it is."""
    return _Inline(conn, rows_only=rows_only) if isinstance(conn, aiosqlite.Connection) \
        else conn


@lru_cache(maxsize=2048)
def _is_query(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "WITH")


class _ReadOnly:
    """The connection as the repositories of a reading unit see it: queries only."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.inner = conn
        self.dialect: Dialect = getattr(conn, "dialect", SQLITE)

    @staticmethod
    def check(sql: str) -> None:
        if not _is_query(sql):
            raise StorageError(f"a change in a reading unit of work: {sql[:60]}")

    def execute(self, sql: str, parameters: Any = None) -> Any:
        self.check(sql)
        return self.inner.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any) -> Any:
        raise StorageError(f"a change in a reading unit of work: {sql[:60]}")


class SqliteUnit:
    """The repositories of one unit of work, on one connection (queries only when not
    ``writable``)."""

    people: SqlitePeople
    chats: SqliteChats
    invites: SqliteInvites
    incidents: SqliteIncidents
    sla: SqliteSla
    jobs: SqliteJobs
    drafts: SqliteDrafts
    answers: SqliteAnswers
    problems: SqliteProblems
    cursors: SqliteCursors
    publications: SqlitePublications
    audit: SqliteAudit
    outbox: SqliteOutbox
    updates: SqliteUpdates
    chat_modes: SqliteChatModes
    intake: SqliteIntake
    templates: SqliteTemplates
    letters: SqliteLetters
    possible: SqlitePossible
    labels: SqliteLabels
    board: SqliteBoard
    heartbeat: SqliteHeartbeat
    reports: SqliteReports

    def __init__(self, conn: aiosqlite.Connection, *, writable: bool) -> None:
        self.writable = writable
        self.conn = conn  # for tests of this implementation; not part of the interface
        self.changes: list[str] = []  # incident state changes, logged once committed
        seen: Any = conn if writable else _ReadOnly(conn)
        self._args = (seen, self.changes)

    def __getattr__(self, name: str) -> Any:
        """A repository, made when the unit first uses it (a unit uses two or three of
        them; an update opens several units)."""
        repo = _REPOSITORIES.get(name)
        if repo is None:
            raise AttributeError(name)
        made = repo(*self.__dict__["_args"])
        setattr(self, name, made)
        return made


# SqliteUnit's repositories by attribute, from its annotations ("people": SqlitePeople, …).
_REPOSITORIES: dict[str, type[_Repo]] = {
    name: globals()[kind] for name, kind in SqliteUnit.__annotations__.items()}
