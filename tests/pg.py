"""PostgreSQL for the tests: a database of this test session on the local server
(``otklik_test_<pid>``, dropped at exit) and a fresh schema in it for each storage.

``OTKLIK_TEST_DATABASE`` (a ``postgresql://`` URL of the server, e.g.
``postgresql://postgres@127.0.0.1:5432/test``) runs the end-to-end harness on PostgreSQL;
without it the storage tests still try the local server (127.0.0.1:5432, user postgres) and
skip its cases when there is none — except under ``CI=true`` or with the variable set,
where a missing server fails the run.
"""

from __future__ import annotations

import atexit
import itertools
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "OTKLIK_TEST_DATABASE"
LOCAL = "postgresql://postgres@127.0.0.1:5432/test"

_session: dict[str, Any] = {}
_schemas = itertools.count(1)


def on_postgresql() -> bool:
    """Whether the end-to-end harness runs on PostgreSQL (``OTKLIK_TEST_DATABASE`` set)."""
    return bool(os.environ.get(ENV))


def _with_database(url: str, name: str, query: str = "") -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, query, ""))


def session_database() -> str:
    """The URL of this session's database, made at the first call; skips (or fails, when
    PostgreSQL is expected) without a server."""
    if "url" in _session:
        return str(_session["url"])
    if "missing" in _session:
        pytest.skip(_session["missing"])
    import psycopg

    server = os.environ.get(ENV) or LOCAL
    name = f"otklik_test_{os.getpid()}"
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            for attempt in range(10):
                try:
                    conn.execute(f"CREATE DATABASE {name}")
                    break
                except psycopg.errors.ObjectInUse:  # another session copies template1 now
                    if attempt == 9:
                        raise
                    time.sleep(0.5)
    except psycopg.OperationalError as e:
        reason = f"no PostgreSQL at {server}: {str(e).strip().splitlines()[0]}"
        if os.environ.get(ENV) or os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (PostgreSQL is expected: {ENV} or CI=true is set)",
                        pytrace=False)
        _session["missing"] = reason
        pytest.skip(reason)
    _session["url"] = _with_database(server, name)

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    atexit.register(drop)
    return str(_session["url"])


def fresh_url() -> str:
    """A URL whose connections work in a new, empty schema of the session's database."""
    import psycopg

    url = session_database()
    schema = f"t{next(_schemas)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return _with_database(url, urlsplit(url).path.lstrip("/"),
                          f"options=-csearch_path%3D{schema}")


class Locker:
    """Another connection to the bot's PostgreSQL database, as a second process writing: a
    stand-in for an sqlite3 connection in ``BEGIN IMMEDIATE`` (reads go on, writes wait)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str) -> list[Any]:
        """Run ``sql``; its rows (none for a statement without a result)."""
        if sql == "BEGIN IMMEDIATE":
            tables = [r[0] for r in self.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
            self.conn.execute("BEGIN")
            self.conn.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
            return []
        cur = self.conn.execute(sql)
        return cur.fetchall() if cur.description is not None else []

    def close(self) -> None:
        self.conn.close()
