"""Which worker leads: runs the SLA sweep and the other scheduled jobs, the VK wall pollers
and long poll, and the outbox senders (Telegram's 30 messages a second per bot hold because
one process sends).

With SQLite there is one process, and it always leads (:class:`Alone`). On PostgreSQL every
worker (``otklik run --workers N``, or N processes on one database behind a load balancer)
takes part in an election (:class:`Election`): the leader is the process that holds a
session-level advisory lock, on a connection of its own kept open while it leads. PostgreSQL
releases the lock when that connection ends — a clean stop, a crash, ``kill -9``, a lost
network — and a follower, trying ``pg_try_advisory_lock`` every ``retry`` seconds (5 by
default, ``otklik run --leader-retry``), takes the role over well within a minute.

The lock's key is ``(LOCK_CLASS, hashtext(current_schema()))``: one leader per database and
schema. The leader's connection is named ``otklik worker <pid> (leader)`` in
``pg_stat_activity``, so an admin (or a test) sees which process leads.

Followers only handle updates; the messages they queue are announced with ``NOTIFY
otklik_outbox``, on which the leader's connection listens and wakes its outbox senders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

LOCK_CLASS = 0x4F544B  # "OTK": the first half of the advisory lock's key
CHANNEL = "otklik_outbox"
RETRY = 5.0  # seconds between a follower's tries of the lock (the takeover time, at most)


class Alone:
    """A single process: it always leads (SQLite, or one worker — the district's case)."""

    def __init__(self) -> None:
        self.leading = asyncio.Event()
        self.leading.set()
        self.following = asyncio.Event()

    async def run(self) -> None:
        await asyncio.Event().wait()  # nothing to elect; leads until stopped

    def poke(self) -> None:
        """Messages were queued: nobody else to tell."""


class Election(Alone):
    """Leadership held as a PostgreSQL advisory lock on a connection of its own."""

    def __init__(self, url: str, *, retry: float = RETRY,
                 on_notify: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.leading.clear()
        self.following.set()
        self.url = url
        self.retry = retry
        self.on_notify = on_notify  # the leader: a follower queued messages
        self._poked = asyncio.Event()
        self._fault: str | None = None

    def poke(self) -> None:
        if not self.leading.is_set():
            self._poked.set()

    async def run(self) -> None:
        """Take part until cancelled: connect, try the lock, lead while it is held; a lost
        connection ends the leadership at once (the server released the lock with it)."""
        import psycopg

        name = f"otklik worker {os.getpid()}"
        while True:
            conn = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=10, application_name=name,
                    keepalives=1, keepalives_idle=10, keepalives_interval=5,
                    keepalives_count=3)
                await self._take_part(conn)
            except (psycopg.Error, OSError) as e:
                reason = " ".join(str(e).split())[:200] or type(e).__name__
                if self._fault != reason:
                    log.warning("leader election: %s; trying again every %g s", reason,
                                self.retry)
                    self._fault = reason
            finally:
                self._follow()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(self.retry)

    async def _take_part(self, conn: object) -> None:
        import psycopg

        assert isinstance(conn, psycopg.AsyncConnection)
        self._fault = None
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))",
                                     (LOCK_CLASS,))
            row = await cur.fetchone()
            if row is not None and row[0]:
                break
            await self._follow_for(conn, self.retry)
        await conn.execute(f"SET application_name = 'otklik worker {os.getpid()} (leader)'")
        await conn.execute(f"LISTEN {CHANNEL}")
        log.warning("this worker (pid %d) leads now: it runs the scheduler, the VK sources "
                    "and the outbox senders", os.getpid())
        self.following.clear()
        self.leading.set()
        while True:
            async for _ in conn.notifies(timeout=self.retry):
                self.on_notify()
            await conn.execute("SELECT 1")  # the connection (and the lock with it) is alive

    async def _follow_for(self, conn: object, seconds: float) -> None:
        """Wait ``seconds``, telling the leader of the messages queued meanwhile."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), left)
            if self._poked.is_set():
                self._poked.clear()
                await conn.execute(f"NOTIFY {CHANNEL}")  # type: ignore[attr-defined]

    def _follow(self) -> None:
        if self.leading.is_set():
            log.warning("this worker (pid %d) no longer leads (its connection to PostgreSQL "
                        "was lost): its leader's duties stop", os.getpid())
            self.leading.clear()
            self.following.set()


def election(database: object, *, retry: float = RETRY,
             on_notify: Callable[[], None] = lambda: None) -> Alone:
    """The election for ``database``: :class:`Election` on PostgreSQL, else :class:`Alone`."""
    from bot.config import is_database_url

    if is_database_url(database):
        return Election(str(database), retry=retry, on_notify=on_notify)
    return Alone()
