"""The PostgreSQL implementation of the storage (psycopg 3): the units of work and the
repositories of :mod:`bot.storage.sqlite`, over a connection that speaks PostgreSQL.

The repositories' SQL is shared: what PostgreSQL spells differently is in the
:data:`POSTGRESQL` dialect (``GREATEST``, no ``INDEXED BY`` hints, ``FOR UPDATE SKIP
LOCKED`` where a due message is claimed, the incidents' id sequence for a reserved id), and
the connection turns the ``?`` (and ``:name``) placeholders into psycopg's ``%s`` (and
``%(name)s``). Times stay the ISO 8601 text the SQLite backend stores.

Each process keeps a small pool of connections (psycopg_pool, up to :data:`POOL_SIZE`): a
unit of work leases one for its transaction, so the updates of different chats, which the
bot handles concurrently, overlap their round trips to the server instead of queueing behind
one connection. Units share the database through its transactions, within a process as
among several: the claim of an update is a unique row in the update's transaction, ids come
from identity sequences, due rows are claimed with ``FOR UPDATE SKIP LOCKED``.

Migrations: the same ``NNN_name.sql`` files as SQLite, with two explicit rewrites
(:data:`DDL_REWRITES`: an ``id INTEGER PRIMARY KEY`` becomes an identity column, INTEGER
becomes BIGINT as Telegram's chat ids need); a ``NNN_name.postgresql.sql`` beside a file
replaces it where more differs (001: the audit log's append-only triggers). The version is
kept in ``schema_version``; migrating takes an advisory lock, so workers starting together
migrate once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Generator, Iterable, Sequence
from contextlib import suppress
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from bot.storage.base import StorageError, StorageFault
from bot.storage.sqlite import BUSY_TIMEOUT, Dialect, SqliteStorage

POSTGRESQL = Dialect(
    "postgresql", greatest="GREATEST", skip_locked=" FOR UPDATE SKIP LOCKED",
    next_incident_id="SELECT nextval(pg_get_serial_sequence('incidents', 'id'))",
    json_ints="SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(? AS json))",
    hints=False)

log = logging.getLogger(__name__)

SCHEMES = ("postgresql://", "postgres://")
MIGRATION_LOCK = 7_270_013  # pg_advisory_xact_lock key of the migration runner
# Connections per process. The updates of different chats are handled concurrently (bot/
# updates.py); with one connection their transactions queued behind each other's round
# trips. A region's 4 workers hold 16, well within PostgreSQL's 100 by default.
POOL_SIZE = 4


def is_url(target: object) -> bool:
    """Whether a configured ``database`` names a PostgreSQL database (else an SQLite path)."""
    return str(target).startswith(SCHEMES)


def translated(e: psycopg.Error) -> StorageError:
    """What a PostgreSQL error means to the rest of the bot: a lost connection, a
    serialization failure, a deadlock or a lock timeout are transient faults."""
    error = (StorageFault if isinstance(e, psycopg.OperationalError) else StorageError)(str(e))
    error.__cause__ = e
    return error


# A string literal (left alone), a placeholder, or a percent sign psycopg would read as one.
_TOKENS = re.compile(r"'[^']*'|\?|(?<![:\w]):([A-Za-z_]\w*)|%")


@lru_cache(maxsize=2048)
def placeholders(sql: str) -> str:
    """``sql`` with SQLite's placeholders as psycopg's: ``?`` → ``%s``, ``:name`` →
    ``%(name)s``, ``%`` → ``%%`` (string literals untouched)."""

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token.startswith("'"):
            return token
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return f"%({m.group(1)})s"

    return _TOKENS.sub(one, sql)


def _value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)  # the schema keeps flags as integers, as SQLite does
    if isinstance(v, Enum):
        return v.value
    return v


def _params(params: Any) -> Any:
    if isinstance(params, dict):
        return {k: _value(v) for k, v in params.items()}
    return tuple(_value(v) for v in params)


class _Row(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, like :class:`sqlite3.Row`."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[_Row]:
    return type("Row", (_Row,), {"__slots__": (),
                                 "_index": {n: i for i, n in enumerate(names)}})


def _rows(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    return _row_class(tuple(c.name for c in cursor.description))


@lru_cache(maxsize=2048)
def _rows_of(sql: str) -> Any:
    """The row factory of one statement: its columns, read from the first result (psycopg
    describes every column of every result anew: a tenth of a statement's cost)."""
    made: Any = None

    def rows(cursor: Any) -> Any:
        nonlocal made
        if made is None:
            made = _rows(cursor)
        return made

    return rows


class _Result:
    """One statement, awaited or used as ``async with`` (as aiosqlite's ``execute`` is)."""

    __slots__ = ("_conn", "_sql", "_params", "_many")

    def __init__(self, conn: psycopg.AsyncConnection[Any], sql: str, params: Any,
                 many: bool) -> None:
        self._conn, self._sql, self._params, self._many = conn, sql, params, many

    async def _run(self) -> psycopg.AsyncCursor[Any]:
        try:
            cur = self._conn.cursor(row_factory=_rows if self._many or self._params is None
                                    else _rows_of(self._sql))
            if self._many:
                await cur.executemany(placeholders(self._sql),
                                      [_params(p) for p in self._params])
            elif self._params is None:  # a script (migrations): sent as it is
                await cur.execute(self._sql)
            else:
                await cur.execute(placeholders(self._sql), _params(self._params))
        except psycopg.Error as e:
            raise translated(e) from e
        return cur

    def __await__(self) -> Generator[Any, None, psycopg.AsyncCursor[Any]]:
        return self._run().__await__()

    async def __aenter__(self) -> psycopg.AsyncCursor[Any]:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConnection:
    """A psycopg connection (in autocommit: transactions are the units' ``BEGIN`` …
    ``COMMIT``) with the interface the shared repositories use."""

    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.AsyncConnection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = None) -> _Result:
        return _Result(self.raw, sql, parameters, False)

    def executemany(self, sql: str, parameters: Iterable[Any]) -> _Result:
        return _Result(self.raw, sql, list(parameters), True)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> Awaitable[None]:
        return self.raw.close()


# The explicit rewrites of a migration written for SQLite into PostgreSQL's DDL.
DDL_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b"),
     "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
]


def migrations() -> list[tuple[int, str]]:
    """The migrations in PostgreSQL's SQL: each ``NNN_name.sql`` rewritten by
    :data:`DDL_REWRITES`, or its ``NNN_name.postgresql.sql`` where there is one."""
    files = {e.name: e for e in resources.files("bot.migrations").iterdir()}
    found = []
    for name in sorted(files):
        if not (name.endswith(".sql") and name[:3].isdigit() and name.count(".") == 1):
            continue
        override = files.get(name[:-len(".sql")] + ".postgresql.sql")
        if override is not None:
            sql = override.read_text(encoding="utf-8")
        else:
            sql = files[name].read_text(encoding="utf-8")
            for pattern, replacement in DDL_REWRITES:
                sql = pattern.sub(replacement, sql)
        found.append((int(name[:3]), sql))
    return found


async def migrate(conn: PgConnection) -> list[int]:
    """Apply the migrations not yet applied, in one transaction; the versions applied."""
    applied = []
    await conn.execute("BEGIN")
    try:
        await conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version", ()) as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version, sql in migrations():
            if version <= current:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            applied.append(version)
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(StorageError):
                await conn.execute("ROLLBACK")
        raise
    return applied


class PostgresStorage(SqliteStorage):
    """The storage on a PostgreSQL database (see the module's description)."""

    BEGIN = "BEGIN"

    def __init__(self, url: str, busy_timeout: float) -> None:
        self._url, self._busy_timeout = url, busy_timeout
        self.applied: list[int] = []
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=POOL_SIZE, open=False, name="otklik",
            kwargs={"autocommit": True, "connect_timeout": 10,
                    "application_name": f"otklik {os.getpid()}"},
            configure=self._configure)

    @classmethod
    async def connect(cls, url: str) -> PgConnection:
        try:
            raw = await psycopg.AsyncConnection.connect(url, autocommit=True,
                                                        connect_timeout=10)
        except psycopg.Error as e:
            raise translated(e) from e
        return PgConnection(raw)

    @classmethod
    async def open(cls, path: str | Path, *,  # type: ignore[override]
                   busy_timeout: float = BUSY_TIMEOUT) -> PostgresStorage:
        """Connect to the database ``path`` (a ``postgresql://`` URL) and migrate it; a row
        or table lock held by another process is waited out for ``busy_timeout`` seconds
        (``lock_timeout``) before a change fails as a storage fault. The migrations run on a
        connection of their own, first, so that a database out of reach is named with the
        server's reason."""
        conn = await cls.connect(str(path))
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
        store = cls(str(path), busy_timeout)
        store.applied = applied
        await store._pool.open()
        return store

    async def _configure(self, raw: psycopg.AsyncConnection[Any]) -> None:
        conn = PgConnection(raw)
        await conn.execute(f"SET lock_timeout = {max(1, int(self._busy_timeout * 1000))}")
        if "synchronous_commit" not in self._url:
            # The durability of SQLite's WAL with synchronous=NORMAL: a commit is not
            # waited to be flushed, so a crash of the server may lose the last fraction of
            # a second of commits (whole transactions, never half of one). The URL's
            # ``options=-csynchronous_commit%3Don`` keeps PostgreSQL's default.
            await conn.execute("SET synchronous_commit = off")

    async def lease(self) -> PgConnection:
        """A connection of the pool for one unit of work (waiting for one while all are
        leased)."""
        try:
            return PgConnection(await self._pool.getconn())
        except psycopg.Error as e:
            raise translated(e) from e

    async def give_back(self, conn: PgConnection) -> None:
        # Shielded: a cancelled unit must not keep its connection out of the pool.
        await asyncio.shield(self._give_back(conn.raw))

    async def _give_back(self, raw: psycopg.AsyncConnection[Any]) -> None:
        """A connection the server dropped (a restart, a failover) failed its unit as a
        storage fault, which is retried: the pool drops it, and the idle ones are tried
        (replaced when dropped too) before the retry leases one."""
        broken = raw.broken
        await self._pool.putconn(raw)
        if broken:
            log.warning("a connection to PostgreSQL was lost; checking the others")
            await self._pool.check()

    async def checkpoint(self) -> None:
        """Nothing to do: the server makes committed data durable."""

    async def close(self) -> None:
        await self._pool.close()


class CopyRefused(StorageError):
    """``copy-db`` would not copy (the target is not empty)."""


async def copy_from_sqlite(source: str | Path, url: str) -> dict[str, int]:
    """Copy every table of the SQLite database ``source`` into the empty PostgreSQL database
    ``url`` (both migrated to the newest schema first), in one transaction, and set the id
    sequences past the largest ids; the number of rows per table.
    :class:`CopyRefused` when the target has any row."""
    src = await SqliteStorage.open(source)
    try:
        dst = await PostgresStorage.open(url)
        try:
            return await _copy(src, dst)
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy(src: SqliteStorage, dst: PostgresStorage) -> dict[str, int]:
    lite = src.connection
    async with lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                            " AND name NOT LIKE 'sqlite_%' ORDER BY rowid") as cur:
        tables = [str(r[0]) for r in await cur.fetchall()]
    async with dst.leased() as pg:
        return await _copy_tables(lite, pg, tables)


async def _copy_tables(lite: Any, pg: PgConnection, tables: list[str]) -> dict[str, int]:
    raw = pg.raw
    for table in tables:
        async with pg.execute(f"SELECT EXISTS (SELECT 1 FROM {table})", ()) as cur:
            row = await cur.fetchone()
        if row and row[0]:
            raise CopyRefused(f"the target database is not empty (table {table} has rows); "
                              "copy-db copies into an empty database only")
    counts: dict[str, int] = {}
    await pg.execute("BEGIN")
    try:
        for table in tables:
            async with lite.execute(f"PRAGMA table_info({table})") as cur:
                columns = [str(r[1]) for r in await cur.fetchall()]
            names = ", ".join(columns)
            async with lite.execute(f"SELECT {names} FROM {table}") as cur:
                rows: Sequence[Any] = await cur.fetchall()
            # The target was empty: what a table holds now, triggers derived from the rows
            # copied before it (open_load from incidents); the source's rows are the truth.
            await pg.execute(f"DELETE FROM {table}", ())
            async with raw.cursor() as pcur, pcur.copy(
                    f"COPY {table} ({names}) FROM STDIN") as copy:
                for r in rows:
                    await copy.write_row(tuple(r))
            counts[table] = len(rows)
        async with pg.execute(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND column_name = 'id'"
                " AND is_identity = 'YES'", ()) as cur:
            with_ids = [str(r[0]) for r in await cur.fetchall()]
        for table in with_ids:
            await pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}", ())
        await pg.execute("COMMIT")
    except BaseException as e:
        with suppress(StorageError):
            await pg.execute("ROLLBACK")
        if isinstance(e, psycopg.Error):  # COPY's own
            raise translated(e) from e
        raise
    return counts
