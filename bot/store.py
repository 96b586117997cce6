"""SQLite storage (aiosqlite, WAL): migrations, and the queries of every table.

One connection, one writer: every change runs inside :meth:`Store.tx`, a ``BEGIN IMMEDIATE``
transaction serialised by a lock, so a transition, its audit row and its outgoing messages
commit together or not at all.

An incoming update (a Telegram update, a VK event) is handled in a :class:`UnitOfWork`: the
first change its handler makes opens one transaction that also claims the update, every
further change of the handler joins it (as a savepoint), and it commits when the handler is
done — the update counts as processed exactly when all its effects are stored.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from workflows.answer_templates import AnswerTemplate
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

log = logging.getLogger(__name__)


def ts(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError("naive datetime given to storage")
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


# How long a change waits for another process's write lock (a backup, a second copy of the
# bot, an admin's sqlite3 shell) before it fails as a storage fault and is retried.
BUSY_TIMEOUT = 5.0


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files("bot.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    platform: str
    chat_id: int
    method: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class ChatState:
    mode: str
    incident_id: int | None
    data: dict[str, Any]


log = logging.getLogger(__name__)

# A storage fault: the database locked by another process beyond the busy timeout, the disk
# full, an I/O error. Transient by nature: what failed is retried.
StorageFault = sqlite3.OperationalError


class AlreadyHandled(Exception):
    """The update of this unit of work was claimed already (delivered twice)."""


class UnitOfWork:
    """All the changes one update makes, with the claim of the update, in one transaction.

    Bound to the task that handles the update (tasks it starts, such as an album's delayed
    follow-up, make their own transactions). Actions registered with :meth:`after_commit`
    (answering a button press) run only once the changes are stored."""

    def __init__(self, store: Store, platform: str, update_id: int, now: datetime) -> None:
        self.store = store
        self.platform, self.update_id, self.now = platform, update_id, now
        self.task = asyncio.current_task()
        self.begun = False
        self.open = True
        self.fault: BaseException | None = None  # a storage fault inside, even if swallowed
        self._savepoints = 0
        self._after: list[Callable[[], Awaitable[object]]] = []
        self._changes: list[str] = []  # incident state changes, logged once committed

    def owns(self, store: Store) -> bool:
        return self.open and store is self.store and asyncio.current_task() is self.task

    def after_commit(self, action: Callable[[], Awaitable[object]]) -> None:
        self._after.append(action)

    async def begin(self) -> None:
        if self.begun:
            return
        conn = self.store._conn
        await self.store._lock.acquire()
        try:
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                await _abandon(conn)
                raise
            try:
                if not await Tx(conn).claim_update(self.platform, self.update_id, self.now):
                    raise AlreadyHandled(f"{self.platform} update {self.update_id}")
            except BaseException:
                await _rollback(conn)
                raise
        except BaseException:
            self.store._lock.release()
            raise
        self.begun = True

    async def commit(self) -> None:
        """Store the changes and the claim (the claim alone when nothing changed)."""
        try:
            if self.fault is not None:
                raise self.fault
            await self.begin()
            await self.store._conn.execute("COMMIT")
        except BaseException:
            await self.rollback()
            raise
        finally:
            self._close()
        for line in self._changes:  # one line per committed state change
            log.info("%s", line)

    async def rollback(self) -> None:
        if self.begun:
            await _rollback(self.store._conn)
        self._close()

    def _close(self) -> None:
        if self.begun:
            self.begun = False
            self.store._lock.release()
        self.open = False

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
    async def savepoint(self) -> AsyncIterator[Tx]:
        if self.fault is not None:
            # After a storage fault SQLite may have rolled the whole transaction back: no
            # later change of this update may run on its own (in autocommit).
            raise self.fault
        await self.begin()
        conn = self.store._conn
        self._savepoints += 1
        name = f"change_{self._savepoints}"
        await conn.execute(f"SAVEPOINT {name}")
        tx = Tx(conn)
        try:
            yield tx
        except BaseException as e:
            if isinstance(e, StorageFault):
                self.fault = e  # even if the handler swallows it, the update is not stored
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    await conn.execute(f"ROLLBACK TO {name}")
                    await conn.execute(f"RELEASE {name}")
            raise
        else:
            await conn.execute(f"RELEASE {name}")
            self._changes.extend(tx.changes)


_unit: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar("unit_of_work",
                                                                          default=None)


def current_unit() -> UnitOfWork | None:
    """The unit of work of the update this task is handling, if any."""
    unit = _unit.get()
    if unit is None or not unit.open or asyncio.current_task() is not unit.task:
        return None
    return unit


async def after_commit(action: Callable[[], Awaitable[object]]) -> None:
    """Run ``action`` once the changes of the update in hand are stored (at once outside an
    update): what tells a person "done" must not run before it is done."""
    unit = current_unit()
    if unit is not None:
        unit.after_commit(action)
    else:
        await action()


async def _abandon(conn: aiosqlite.Connection) -> None:
    """After a ``BEGIN`` that raised: a cancellation can arrive while the statement still runs
    in the connection's thread, leaving a transaction open that nobody holds the lock of.
    ``ROLLBACK`` is queued behind it (an error when none began is ignored)."""
    with suppress(sqlite3.Error):
        await conn.execute("ROLLBACK")


async def _rollback(conn: aiosqlite.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")


class Store:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def unit_of_work(self, platform: str, update_id: int,
                           now: datetime) -> AsyncIterator[UnitOfWork]:
        """Handle one update: changes made inside commit together with its claim, when the
        block ends without an exception; otherwise nothing of it is stored."""
        unit = UnitOfWork(self, platform, update_id, now)
        token = _unit.set(unit)
        try:
            yield unit
        except BaseException:
            _unit.reset(token)
            await unit.rollback()
            raise
        _unit.reset(token)
        await unit.commit()

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (and migrate) the database; a write lock held by another process is waited
        out for ``busy_timeout`` seconds before a change fails with "database is locked"."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=busy_timeout)
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

    async def close(self) -> None:
        await self._conn.close()

    async def checkpoint(self) -> None:
        """Move everything from the ``-wal`` file into the database file and empty the WAL,
        so that the ``.sqlite3`` file alone is complete (a clean stop does this)."""
        async with self._lock:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def _migrate(self) -> None:
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = row[0] if row else 0
        for version, sql in _migrations():
            if version <= current:
                continue
            # executescript commits on its own; the version bump is part of the script.
            await self._conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        unit = current_unit()
        if unit is not None and unit.owns(self):
            async with unit.savepoint() as tx:
                yield tx
            return
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                await _abandon(self._conn)
                raise
            tx = Tx(self._conn)
            try:
                yield tx
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")
                for line in tx.changes:  # one line per committed state change
                    log.info("%s", line)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Queries outside a transaction (each sees committed data); inside an update whose
        changes have begun, they see those changes."""
        unit = current_unit()
        if unit is not None and unit.owns(self) and unit.begun:
            yield Tx(self._conn)
            return
        async with self._lock:
            yield Tx(self._conn)


class Tx:
    """The queries, on a connection that is inside a transaction (or reading)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.changes: list[str] = []  # incident state changes, logged once committed
        self._people: list[Person] | None = None  # read once per transaction (see people)

    async def _one(self, sql: str, args: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, tuple(args)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, args: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, tuple(args)) as cur:
            return list(await cur.fetchall())

    async def _insert(self, sql: str, args: Iterable[Any] = ()) -> int:
        async with self.conn.execute(sql, tuple(args)) as cur:
            assert cur.lastrowid is not None
            return cur.lastrowid

    # --- people and bindings -------------------------------------------------------------

    @staticmethod
    def _person(row: aiosqlite.Row) -> Person:
        return Person(
            id=row["id"],
            name=row["name"],
            roles=frozenset(Role(r) for r in row["roles"].split(",") if r),
            departments=frozenset(d for d in row["departments"].split(",") if d),
            active=bool(row["active"]),
        )

    async def add_person(self, person: Person, *, from_config: bool = False,
                         key: str | None = None) -> Person:
        self._people = None
        pid = await self._insert(
            "INSERT INTO people (name, roles, departments, active, from_config, person_key) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (person.name, ",".join(sorted(person.roles)), ",".join(sorted(person.departments)),
             int(person.active), int(from_config), key),
        )
        return Person(pid, person.name, person.roles, person.departments, person.active)

    async def person(self, person_id: int) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE id = ?", (person_id,))
        return self._person(row) if row else None

    async def people(self) -> list[Person]:
        """Everyone, read once per transaction (a sweep or a registration notifies many
        times); a change of people through this transaction reads them again."""
        if self._people is None:
            self._people = [self._person(r)
                            for r in await self._all("SELECT * FROM people ORDER BY id")]
        return list(self._people)

    async def person_by_name(self, name: str) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE name = ? ORDER BY id LIMIT 1", (name,))
        return self._person(row) if row else None

    async def person_by_chat(self, platform: str, chat_id: int) -> Person | None:
        row = await self._one(
            "SELECT p.* FROM people p JOIN bindings b ON b.person_id = p.id "
            "WHERE b.platform = ? AND b.chat_id = ?", (platform, chat_id))
        return self._person(row) if row else None

    async def bind(self, person_id: int, platform: str, chat_id: int) -> None:
        await self.conn.execute(
            "DELETE FROM bindings WHERE person_id = ? AND platform = ?", (person_id, platform))
        await self.conn.execute(
            "INSERT OR REPLACE INTO bindings (person_id, platform, chat_id) VALUES (?, ?, ?)",
            (person_id, platform, chat_id))

    # (people keyed by the config, groups left: migration 010)

    async def person_by_key(self, key: str) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE person_key = ?", (key,))
        return self._person(row) if row else None

    async def config_people(self) -> list[tuple[Person, str | None]]:
        """People declared by the config (now or before), with their keys."""
        rows = await self._all("SELECT * FROM people WHERE from_config = 1 ORDER BY id")
        return [(self._person(r), r["person_key"]) for r in rows]

    async def set_person_key(self, person_id: int, key: str) -> None:
        self._people = None
        await self.conn.execute("UPDATE people SET person_key = ? WHERE id = ?",
                                (key, person_id))

    async def update_person(self, person: Person) -> None:
        self._people = None
        await self.conn.execute(
            "UPDATE people SET name = ?, roles = ?, departments = ?, active = ? WHERE id = ?",
            (person.name, ",".join(sorted(person.roles)), ",".join(sorted(person.departments)),
             int(person.active), person.id))

    async def people_named(self, name: str) -> list[Person]:
        rows = await self._all("SELECT * FROM people WHERE name = ? AND active = 1 ORDER BY id",
                               (name,))
        return [self._person(r) for r in rows]

    async def leave_group(self, chat_id: int, now: datetime) -> bool:
        """Record a group the bot leaves; True the first time."""
        async with self.conn.execute(
                "INSERT OR IGNORE INTO left_groups (chat_id, at) VALUES (?, ?)",
                (chat_id, ts(now))) as cur:
            return cur.rowcount == 1

    async def chat_of(self, person_id: int, platform: str) -> int | None:
        row = await self._one(
            "SELECT chat_id FROM bindings WHERE person_id = ? AND platform = ?",
            (person_id, platform))
        return int(row["chat_id"]) if row else None

    async def reachable(self, person_id: int, platforms: Iterable[str]) -> bool:
        """Whether the person has a bound chat on one of ``platforms`` that the outbox has
        not found unreachable."""
        wanted = list(platforms)
        if not wanted:
            return False
        row = await self._one(
            "SELECT 1 FROM bindings b LEFT JOIN unreachable_chats u"
            " ON u.platform = b.platform AND u.chat_id = b.chat_id"
            f" WHERE b.person_id = ? AND b.platform IN ({','.join('?' * len(wanted))})"
            " AND u.chat_id IS NULL LIMIT 1", (person_id, *wanted))
        return row is not None

    async def chats_of(self, person_id: int) -> list[tuple[str, int]]:
        rows = await self._all(
            "SELECT platform, chat_id FROM bindings WHERE person_id = ? ORDER BY platform",
            (person_id,))
        return [(r["platform"], r["chat_id"]) for r in rows]

    async def add_invite(self, token: str, person_id: int, created_by: int | None,
                         now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO invites (token, person_id, created_by, created_at) VALUES (?, ?, ?, ?)",
            (token, person_id, created_by, ts(now)))

    async def invited(self, token: str) -> int | None:
        """Whom an unused invitation is for."""
        row = await self._one(
            "SELECT person_id FROM invites WHERE token = ? AND used_at IS NULL", (token,))
        return int(row["person_id"]) if row else None

    async def use_invite(self, token: str, now: datetime) -> int | None:
        """The invited person's id, once: a used or unknown token gives None."""
        row = await self._one(
            "SELECT person_id FROM invites WHERE token = ? AND used_at IS NULL", (token,))
        if row is None:
            return None
        await self.conn.execute("UPDATE invites SET used_at = ? WHERE token = ?",
                                (ts(now), token))
        return int(row["person_id"])

    # --- incidents -------------------------------------------------------------------------

    @staticmethod
    def _incident(row: aiosqlite.Row) -> Incident:
        return Incident(
            id=row["id"], state=State(row["state"]), source=row["source"], text=row["text"],
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
            address=row["address"],
        )

    async def next_incident_id(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(id), 0) + 1 FROM incidents")
        return int(row[0]) if row else 1

    async def insert_incident(self, inc: Incident, now: datetime, seen: Sighting) -> None:
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
        if inc.address:
            await self.conn.execute("UPDATE incidents SET address = ? WHERE id = ?",
                                    (inc.address, inc.id))

    async def incident_by_external(self, source: str, external_id: str) -> Incident | None:
        """The incident a source message became, directly or as a linked repeat."""
        row = await self._one(
            "SELECT * FROM incidents WHERE source = ? AND external_id = ?", (source, external_id))
        if row is None:
            row = await self._one(
                "SELECT i.* FROM incidents i JOIN repeats r ON r.incident_id = i.id"
                " WHERE r.source = ? AND r.external_id = ?", (source, external_id))
        return self._incident(row) if row else None

    async def open_in_thread(self, thread: str, author_id: str) -> Incident | None:
        row = await self._one(
            "SELECT * FROM incidents WHERE thread = ? AND author_id = ?"
            " AND state NOT IN ('closed', 'redirected', 'rejected') ORDER BY id DESC LIMIT 1",
            (thread, author_id))
        return self._incident(row) if row else None

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

    async def update_incident(self, inc: Incident, now: datetime, expected_version: int
                              ) -> None:
        """Write a transition's result; the version check makes a lost race fail loudly."""
        async with self.conn.execute(
            "UPDATE incidents SET state = ?, category = ?, department = ?, executor_id = ?,"
            " priority = ?, first_response_due = ?, answer_due = ?, approved_text = ?,"
            " approved_kind = ?, redirected_to = ?, version = ?, updated_at = ?,"
            " first_response_at = ?, promised_at = ?, clock_start = ?, feedback_until = ?,"
            " source = ?, policy = ?, subcategory = ?, result_status = ?"
            " WHERE id = ? AND version = ?",
            (inc.state, inc.category, inc.department, inc.executor_id, inc.priority,
             ts(inc.first_response_due), ts(inc.answer_due), inc.approved_text,
             inc.approved_kind, inc.redirected_to, inc.version, ts(now),
             ts(inc.first_response_at), ts(inc.promised_at), ts(inc.clock_start),
             ts(inc.feedback_until), inc.source, inc.policy, inc.subcategory,
             inc.result_status, inc.id, expected_version)) as cur:
            if cur.rowcount != 1:
                raise RuntimeError(f"incident {inc.id} changed concurrently")

    async def incident(self, incident_id: int) -> Incident | None:
        row = await self._one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return self._incident(row) if row else None

    async def incidents(self, *, states: Iterable[State] | None = None,
                        executor_id: int | None = None) -> list[Incident]:
        sql, args = "SELECT * FROM incidents WHERE 1=1", []
        if states is not None:
            st = list(states)
            sql += f" AND state IN ({','.join('?' * len(st))})"
            args += [s.value for s in st]
        if executor_id is not None:
            sql += " AND executor_id = ?"
            args.append(executor_id)
        return [self._incident(r) for r in await self._all(sql + " ORDER BY id", args)]

    async def due_by(self, states: Iterable[State], moment: datetime) -> list[Incident]:
        """Incidents in these states whose answer is due at or before ``moment``."""
        st = [s.value for s in states]
        rows = await self._all(
            f"SELECT * FROM incidents WHERE state IN ({','.join('?' * len(st))})"
            " AND answer_due <= ? ORDER BY answer_due", (*st, ts(moment)))
        return [self._incident(r) for r in rows]

    async def open_load(self) -> dict[int, int]:
        rows = await self._all(
            "SELECT executor_id, COUNT(*) FROM incidents INDEXED BY incidents_open_load"
            " WHERE executor_id IS NOT NULL"
            " AND state NOT IN ('closed', 'redirected', 'rejected') GROUP BY executor_id")
        return {r[0]: r[1] for r in rows}

    async def due_incidents(self, now: datetime, limit: int) -> list[tuple[Incident, int]]:
        """Incidents whose SLA timer is due, with their ladder step; uses the partial index."""
        rows = await self._all(
            "SELECT * FROM incidents WHERE next_action_at IS NOT NULL AND next_action_at <= ?"
            " ORDER BY next_action_at LIMIT ?", (ts(now), limit))
        return [(self._incident(r), r["sla_step"]) for r in rows]

    async def sla_state(self, incident_id: int) -> tuple[int, datetime | None]:
        row = await self._one("SELECT sla_step, next_action_at FROM incidents WHERE id = ?",
                              (incident_id,))
        return (row["sla_step"], parse_ts(row["next_action_at"])) if row else (0, None)

    async def set_sla_state(self, incident_id: int, step: int,
                            next_action_at: datetime | None) -> None:
        await self.conn.execute(
            "UPDATE incidents SET sla_step = ?, next_action_at = ? WHERE id = ?",
            (step, ts(next_action_at), incident_id))

    async def daily_job_day(self, name: str) -> str | None:
        row = await self._one("SELECT last_day FROM daily_jobs WHERE name = ?", (name,))
        return row["last_day"] if row else None

    async def set_daily_job_day(self, name: str, day: str) -> None:
        await self.conn.execute(
            "INSERT INTO daily_jobs (name, last_day) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET last_day = excluded.last_day", (name, day))

    async def set_draft_kind(self, incident_id: int, author_id: int, kind: DraftKind,
                             promised: datetime | None, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO drafts (incident_id, author_id, kind, promised_date, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET kind = excluded.kind,"
            " promised_date = excluded.promised_date, updated_at = excluded.updated_at",
            (incident_id, author_id, kind, ts(promised), ts(now)))

    async def add_incident_attachments(self, incident_id: int,
                                       attachments: Iterable[Attachment]) -> None:
        for a in attachments:
            await self.conn.execute(
                "INSERT INTO incident_attachments (incident_id, kind, file_id, file_name,"
                " mime_type, local_path) VALUES (?, ?, ?, ?, ?, ?)",
                (incident_id, a.kind, a.file_id, a.file_name, a.mime_type, a.local_path))

    async def incident_attachments(self, incident_id: int) -> list[Attachment]:
        rows = await self._all(
            "SELECT * FROM incident_attachments WHERE incident_id = ? ORDER BY id",
            (incident_id,))
        return [Attachment(r["kind"], r["file_id"], r["file_name"], r["mime_type"],
                           r["local_path"]) for r in rows]

    # --- drafts ------------------------------------------------------------------------------

    async def draft(self, incident_id: int) -> Draft | None:
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

    async def save_draft_text(self, incident_id: int, author_id: int, text: str,
                              now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO drafts (incident_id, author_id, text, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (incident_id) DO UPDATE SET text = excluded.text,"
            " author_id = excluded.author_id, updated_at = excluded.updated_at",
            (incident_id, author_id, text, ts(now)))

    async def add_draft_attachment(self, incident_id: int, author_id: int, a: Attachment,
                                   file_unique_id: str, media_group_id: str | None,
                                   now: datetime) -> bool:
        """Add a photo or document; False when this very file is already in the draft."""
        await self.conn.execute(
            "INSERT INTO drafts (incident_id, author_id, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (incident_id) DO UPDATE SET updated_at = excluded.updated_at",
            (incident_id, author_id, ts(now)))
        async with self.conn.execute(
            "INSERT OR IGNORE INTO draft_attachments (incident_id, kind, file_id, file_unique_id,"
            " file_name, mime_type, local_path, media_group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, a.kind, a.file_id, file_unique_id, a.file_name, a.mime_type,
             a.local_path, media_group_id)) as cur:
            return cur.rowcount == 1

    async def clear_draft_attachments(self, incident_id: int) -> None:
        await self.conn.execute("DELETE FROM draft_attachments WHERE incident_id = ?",
                                (incident_id,))

    async def delete_draft(self, incident_id: int) -> None:
        await self.clear_draft_attachments(incident_id)
        await self.conn.execute("DELETE FROM drafts WHERE incident_id = ?", (incident_id,))

    async def add_answer(self, incident_id: int, kind: DraftKind, text: str,
                         attachments: Iterable[Attachment], now: datetime,
                         by: int | None) -> None:
        payload = json.dumps([{"kind": a.kind, "file_id": a.file_id, "file_name": a.file_name,
                               "local_path": a.local_path} for a in attachments],
                             ensure_ascii=False)
        await self.conn.execute(
            "INSERT INTO answers (incident_id, kind, text, attachments, published_at,"
            " published_by) VALUES (?, ?, ?, ?, ?, ?)",
            (incident_id, kind, text, payload, ts(now), by))

    # --- source cursors ----------------------------------------------------------------------

    async def cursor(self, source: str, key: str) -> int:
        row = await self._one("SELECT value FROM source_cursors WHERE source = ? AND key = ?",
                              (source, key))
        return int(row[0]) if row else 0

    async def set_cursor(self, source: str, key: str, value: int) -> None:
        await self.conn.execute(
            "INSERT INTO source_cursors (source, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (source, key) DO UPDATE SET value = MAX(value, excluded.value)",
            (source, key, value))

    # --- publications ----------------------------------------------------------------------

    async def add_publication(self, incident_id: int, round_: int, now: datetime) -> None:
        await self.conn.execute(
            "INSERT OR IGNORE INTO publications (incident_id, round, next_attempt_at)"
            " VALUES (?, ?, ?)", (incident_id, round_, ts(now)))

    async def due_publications(self, now: datetime, limit: int) -> list[tuple[int, int, int]]:
        """(incident id, round, attempts) of publications due now."""
        rows = await self._all(
            "SELECT incident_id, round, attempts FROM publications WHERE status = 'pending'"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?", (ts(now), limit))
        return [(r[0], r[1], r[2]) for r in rows]

    async def finish_publication(self, incident_id: int, round_: int, status: str,
                                 *, error: str | None = None, result: str | None = None,
                                 retry_at: datetime | None = None) -> None:
        await self.conn.execute(
            "UPDATE publications SET status = ?, attempts = attempts + 1, last_error = ?,"
            " result = COALESCE(?, result), next_attempt_at = COALESCE(?, next_attempt_at)"
            " WHERE incident_id = ? AND round = ?",
            (status, error, result, ts(retry_at), incident_id, round_))

    async def publication_parts(self, incident_id: int, round_: int) -> dict[int, str]:
        """The parts of a publication that went out already: part number → result."""
        rows = await self._all(
            "SELECT part, result FROM publication_parts WHERE incident_id = ? AND round = ?",
            (incident_id, round_))
        return {r[0]: r[1] for r in rows}

    async def add_publication_part(self, incident_id: int, round_: int, part: int,
                                   result: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO publication_parts (incident_id, round, part, result, at)"
            " VALUES (?, ?, ?, ?, ?)", (incident_id, round_, part, result, ts(now)))

    # --- audit -------------------------------------------------------------------------------

    async def add_audit(self, e: AuditEntry) -> None:
        await self.conn.execute(
            "INSERT INTO audit (incident_id, actor_id, action, from_state, to_state, reason,"
            " at, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (e.incident_id, e.actor_id, e.action, e.from_state, e.to_state, e.reason, ts(e.at),
             int(e.ok)))
        if e.ok and e.incident_id is not None and e.from_state != e.to_state:
            by = f"person {e.actor_id}" if e.actor_id is not None else "the system"
            change = (f"{e.from_state} → {e.to_state}" if e.from_state is not None
                      else f"registered as {e.to_state}")
            self.changes.append(f"incident #{e.incident_id}: {change} ({e.action}, by {by})")

    async def audit(self, incident_id: int | None = None) -> list[AuditEntry]:
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

    # --- outbox ------------------------------------------------------------------------------

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
            "SELECT id, items FROM outbox INDEXED BY outbox_batch WHERE platform = ?"
            " AND chat_id = ? AND batch = ? AND status = 'pending' AND attempts = 0"
            " ORDER BY id", (platform, chat_id, batch))
        return [(r["id"], json.loads(r["items"] or "[]")) for r in rows]

    async def rewrite_waiting(self, msg_id: int, payload: dict[str, Any],
                              items: list[dict[str, Any]]) -> bool:
        """A waiting message's new text and items; False when it is no longer waiting."""
        async with self.conn.execute(
                "UPDATE outbox SET payload = ?, items = ? WHERE id = ? AND status = 'pending'"
                " AND attempts = 0", (json.dumps(payload, ensure_ascii=False),
                                      json.dumps(items, ensure_ascii=False), msg_id)) as cur:
            return cur.rowcount == 1

    async def drop_waiting(self, ids: list[int]) -> int:
        """Delete messages that never left (merged into another); the number deleted."""
        async with self.conn.execute(
                f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(ids))})"
                " AND status = 'pending' AND attempts = 0", ids) as cur:
            return cur.rowcount

    async def due_messages(self, platform: str, now: datetime, limit: int) -> list[OutboxRow]:
        """Pending messages that are due, at most the oldest one per chat, so that each chat
        receives its messages in order; a chat whose oldest message is being sent waits."""
        rows = await self._all(
            "SELECT o.* FROM outbox o JOIN ("
            "  SELECT MIN(id) AS id FROM outbox INDEXED BY outbox_queue"
            "  WHERE status IN ('pending', 'sending')"
            "  AND platform = ? GROUP BY chat_id) h ON h.id = o.id"
            " WHERE o.status = 'pending' AND o.next_attempt_at <= ? ORDER BY o.id LIMIT ?",
            (platform, ts(now), limit))
        return [OutboxRow(r["id"], r["platform"], r["chat_id"], r["method"],
                          json.loads(r["payload"]), r["attempts"]) for r in rows]

    async def next_due_at(self, platform: str) -> datetime | None:
        row = await self._one(
            "SELECT MIN(next_attempt_at) FROM outbox INDEXED BY outbox_next"
            " WHERE status = 'pending' AND platform = ?",
            (platform,))
        return parse_ts(row[0]) if row and row[0] else None

    async def mark_sending(self, msg_id: int) -> dict[str, Any] | None:
        """Recorded before the platform call: after a crash, a row still "sending" may have
        gone out already (it is sent again: at most one duplicate per chat per crash). The
        payload as it is now; None when the row is no longer pending (merged meanwhile)."""
        row = await self._one("UPDATE outbox SET status = 'sending' WHERE id = ?"
                              " AND status = 'pending' RETURNING payload", (msg_id,))
        return json.loads(row[0]) if row else None

    async def recover_sending(self, platform: str) -> int:
        """At start: messages whose sending a crash interrupted are pending again."""
        async with self.conn.execute(
            "UPDATE outbox SET status = 'pending' WHERE status = 'sending' AND platform = ?",
            (platform,)) as cur:
            return cur.rowcount

    async def mark_sent(self, msg_id: int, now: datetime, result: Any) -> None:
        """``result``: what is kept of the platform's answer — the sent message's id (ids of
        an album), not the whole reply."""
        await self.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
            " result = ? WHERE id = ?",
            (ts(now), json.dumps(result, ensure_ascii=False, default=str), msg_id))

    async def purge_outbox(self, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` finished rows older than ``before``: sent before it, or
        failed and created before it. Pending and sending rows are never deleted."""
        async with self.conn.execute(
                "DELETE FROM outbox WHERE id IN ("
                " SELECT id FROM outbox WHERE status = 'sent' AND sent_at < ?"
                " UNION ALL SELECT id FROM outbox WHERE status = 'failed' AND created_at < ?"
                " LIMIT ?)", (ts(before), ts(before), limit)) as cur:
            return cur.rowcount

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
        async with self.conn.execute(
            "UPDATE outbox SET status = 'failed', last_error = ? WHERE platform = ?"
            " AND chat_id = ? AND status = 'pending'", (error, platform, chat_id)) as cur:
            return cur.rowcount

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return {r[0]: r[1] for r in rows}

    async def mark_unreachable(self, platform: str, chat_id: int, reason: str,
                               now: datetime) -> bool:
        """Record an unreachable chat; True the first time (so the coordinator is told once)."""
        async with self.conn.execute(
            "INSERT OR IGNORE INTO unreachable_chats (platform, chat_id, reason, at)"
            " VALUES (?, ?, ?, ?)", (platform, chat_id, reason, ts(now))) as cur:
            return cur.rowcount == 1

    async def clear_unreachable(self, platform: str, chat_id: int) -> None:
        await self.conn.execute(
            "DELETE FROM unreachable_chats WHERE platform = ? AND chat_id = ?",
            (platform, chat_id))

    # --- updates and chat state -------------------------------------------------------------

    async def seen_update(self, platform: str, update_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM processed_updates WHERE platform = ? AND update_id = ?",
            (platform, update_id))
        return row is not None

    async def claim_update(self, platform: str, update_id: int, now: datetime) -> bool:
        """True the first time an update is seen; False for a redelivery."""
        async with self.conn.execute(
            "INSERT OR IGNORE INTO processed_updates (platform, update_id, at) VALUES (?, ?, ?)",
            (platform, update_id, ts(now))) as cur:
            return cur.rowcount == 1

    async def chat_state(self, person_id: int, platform: str) -> ChatState | None:
        row = await self._one(
            "SELECT * FROM chat_state WHERE person_id = ? AND platform = ?",
            (person_id, platform))
        if row is None:
            return None
        return ChatState(row["mode"], row["incident_id"], json.loads(row["data"]))

    async def set_chat_state(self, person_id: int, platform: str, mode: str,
                             incident_id: int | None, data: dict[str, Any] | None = None) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO chat_state (person_id, platform, mode, incident_id, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (person_id, platform, mode, incident_id, json.dumps(data or {}, ensure_ascii=False)))

    async def clear_chat_state(self, person_id: int, platform: str) -> None:
        await self.conn.execute("DELETE FROM chat_state WHERE person_id = ? AND platform = ?",
                                (person_id, platform))

    # --- intake (posts waiting for a category) ----------------------------------------------

    async def add_intake(self, person_id: int, source: str, text: str, url: str | None,
                         author: str | None, attachments: list[dict[str, Any]],
                         media_group_id: str | None, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO intake (person_id, source, text, url, author, attachments,"
            " media_group_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, source, text, url, author, json.dumps(attachments, ensure_ascii=False),
             media_group_id, ts(now)))

    async def intake(self, intake_id: int) -> aiosqlite.Row | None:
        return await self._one("SELECT * FROM intake WHERE id = ?", (intake_id,))

    async def drop_intake(self, intake_id: int) -> None:
        """A post the coordinator decided not to register (never one that became an incident)."""
        await self.conn.execute("DELETE FROM intake WHERE id = ? AND incident_id IS NULL",
                                (intake_id,))

    async def intake_by_group(self, person_id: int, media_group_id: str) -> aiosqlite.Row | None:
        return await self._one(
            "SELECT * FROM intake WHERE person_id = ? AND media_group_id = ?"
            " AND incident_id IS NULL", (person_id, media_group_id))

    async def set_intake_source(self, intake_id: int, source: str) -> None:
        await self.conn.execute("UPDATE intake SET source = ? WHERE id = ?", (source, intake_id))

    async def update_intake(self, intake_id: int, *, text: str | None = None,
                            attachments: list[dict[str, Any]] | None = None,
                            incident_id: int | None = None) -> None:
        row = await self.intake(intake_id)
        assert row is not None
        await self.conn.execute(
            "UPDATE intake SET text = ?, attachments = ?, incident_id = ? WHERE id = ?",
            (text if text is not None else row["text"],
             json.dumps(attachments, ensure_ascii=False) if attachments is not None
             else row["attachments"],
             incident_id if incident_id is not None else row["incident_id"], intake_id))

    # --- answer templates (issue 14) ---------------------------------------------------------

    @staticmethod
    def _answer_template(row: aiosqlite.Row) -> AnswerTemplate:
        return AnswerTemplate(row["id"], row["category"], row["title"], row["text"],
                              row["origin"])

    async def answer_templates(self, category: str | None = None) -> list[AnswerTemplate]:
        """The templates in use (of one category, or all), config ones first, then by id."""
        where, args = ("AND category = ?", (category,)) if category is not None else ("", ())
        rows = await self._all(
            "SELECT * FROM answer_templates WHERE deleted_at IS NULL " + where
            + " ORDER BY category, origin = 'chat', id", args)
        return [self._answer_template(r) for r in rows]

    async def answer_template(self, template_id: int) -> AnswerTemplate | None:
        row = await self._one("SELECT * FROM answer_templates WHERE id = ? AND deleted_at IS NULL",
                              (template_id,))
        return self._answer_template(row) if row else None

    async def add_answer_template(self, category: str, title: str, text: str, origin: str,
                                  created_by: int | None, now: datetime) -> int:
        async with self.conn.execute(
                "INSERT INTO answer_templates (category, title, text, origin, created_by,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (category, title, text, origin, created_by, ts(now))) as cur:
            return int(cur.lastrowid or 0)

    async def delete_answer_template(self, template_id: int, now: datetime) -> bool:
        async with self.conn.execute(
                "UPDATE answer_templates SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (ts(now), template_id)) as cur:
            return cur.rowcount == 1

    async def sync_config_templates(self, wanted: Iterable[tuple[str, str, str]],
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
                keep.add(await self.add_answer_template(category, title, text, "config", None,
                                                        now))
                continue
            keep.add(row["id"])
            await self.conn.execute(
                "UPDATE answer_templates SET text = ?, deleted_at = NULL WHERE id = ?",
                (text, row["id"]))
        for row in rows:
            if row["id"] not in keep and row["deleted_at"] is None:
                await self.delete_answer_template(row["id"], now)
