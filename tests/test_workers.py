"""Several workers on one PostgreSQL database (issue 13 items 3 and 5): ``otklik run
--workers N`` in webhook mode behind the fake Bot API, the leader elected with an advisory
lock, its role taken over when it is killed; with SQLite (or polling) more than one worker is
refused. The PostgreSQL cases need the local server (skipped without it, failing under
``CI=true`` or ``OTKLIK_TEST_DATABASE``, as tests/pg.py does)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from bot.config import TOKEN_ENV
from bot.storage import election as leader
from fakes.telegram import FakeTelegramServer, FakeUser
from tests import pg
from tests.harness import (
    CONFIG,
    COORDINATOR,
    PETROV,
    SIDOROVA,
    TOKEN,
    Clock,
    cli,
    load,
    served_in_thread,
)
from tests.test_start_stop import free_port
from tests.two_workers import TwoWorkers

T = TypeVar("T")
SECRET = "otklik_workers-secret_7"
GROUPS = "groups = [-1001234567890]\n"
WAIT = 60.0  # a bound on every wait: a hang is a failure, not a slow pass


def until(check: Callable[[], T], what: str, seconds: float = WAIT) -> T:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(0.05)
    return found


def webhook_text(api_base: str, database: str, port: int) -> str:
    return CONFIG.format(token=TOKEN, api_base=api_base).replace(
        'database = "otklik.sqlite3"', f'database = "{database}"').replace(
        GROUPS, GROUPS + 'mode = "webhook"\n'
                         f'webhook_url = "http://127.0.0.1:{port}/telegram/hook"\n'
                         f'listen = "127.0.0.1:{port}"\n'
                         f'secret_token = "{SECRET}"\n')


# pg_locks shows the locks of every database of the server: another session's test may hold
# the lock of a schema of the same name in its own database (an advisory lock is a database's).
THIS_DATABASE = "l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"


def leader_pid(url: str) -> int | None:
    """The process whose connection holds the leader's lock in ``url``'s schema (its
    connection is named after it), None when nobody leads."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s"
            f" AND l.objid = hashtext(current_schema())::oid AND {THIS_DATABASE}",
            (leader.LOCK_CLASS,)).fetchone()
    if row is None:
        return None
    # The lock is taken a moment before the connection is renamed: not announced yet.
    found = re.fullmatch(r"otklik worker (\d+) \(leader\)", row[0])
    if found is None:
        assert re.fullmatch(r"otklik worker \d+", row[0]), row[0]
        return None
    return int(found.group(1))


# --- the election itself, in one process -------------------------------------------------


async def test_one_leads_a_killed_leaders_role_moves_and_followers_wake_its_outbox() -> None:
    url = pg.fresh_url()
    woken: list[str] = []
    first = leader.Election(url, retry=0.1, on_notify=lambda: woken.append("first"))
    tasks = [asyncio.create_task(first.run())]
    try:
        await asyncio.wait_for(first.leading.wait(), WAIT)
        second = leader.Election(url, retry=0.1, on_notify=lambda: woken.append("second"))
        tasks.append(asyncio.create_task(second.run()))
        await asyncio.sleep(0.5)  # several tries of the lock
        assert not second.leading.is_set() and second.following.is_set()
        assert leader_pid(url) == os.getpid()
        second.poke()  # a follower queued messages: the leader's outbox is woken
        for _ in range(int(WAIT / 0.05)):
            if woken:
                break
            await asyncio.sleep(0.05)
        assert woken == ["first"]
        first.poke()  # the leader's own messages need no notice
        # The leader's connection ends as with kill -9: the server releases its lock.
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks l WHERE locktype = 'advisory'"
                " AND classid = %s AND objid = hashtext(current_schema())::oid"
                f" AND {THIS_DATABASE}",
                (leader.LOCK_CLASS,))
        await asyncio.wait_for(second.leading.wait(), WAIT)
        await asyncio.wait_for(first.following.wait(), WAIT)  # the old one knows it lost
        assert not first.leading.is_set()
        await asyncio.sleep(0.5)
        assert not first.leading.is_set()  # it tries again, but the lock is the second's
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_leaders_sender_finds_a_backlog_on_a_fresh_database_without_rescanning_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug of bench_region with 2 and 4 workers: the followers queue a backlog while the
    leader's sender, idle since the start, asks for the due messages. A fresh outbox has no
    statistics (autovacuum has not analysed it yet); the planner took the queue for one row
    and rescanned all of it per due row, so that one look at a backlog of a thousand
    messages took most of a second and the leader sent about one message a second. The
    work the database does for one look is counted (rows visited, from EXPLAIN ANALYZE of
    the very statement the sender ran): a few per chat with a queue, not per message."""
    from datetime import UTC, datetime

    import psycopg

    from bot.storage import open_storage
    from bot.storage.postgresql import PgConnection, _params, placeholders

    url = pg.fresh_url()
    store = await open_storage(url)
    ran: list[tuple[str, object]] = []
    execute = PgConnection.execute

    def recording(self: PgConnection, sql: str, parameters: object = None) -> object:
        if "WITH RECURSIVE chats" in sql:  # the look at the due messages
            ran.append((sql, parameters))
        return execute(self, sql, parameters)

    try:
        now = datetime.now(UTC)
        for _ in range(20):  # the leader's sender, idle: nothing due, again and again
            async with store.read() as uow:
                assert await uow.outbox.due("telegram", now, 50) == []
        backlog, chats = 1000, 400
        async with store.write() as uow:  # what the followers queued meanwhile
            for i in range(backlog):
                await uow.outbox.enqueue("telegram", 5000 + i % chats, "sendMessage",
                                         {"chat_id": 5000 + i % chats, "text": f"{i}"}, now)
        monkeypatch.setattr(PgConnection, "execute", recording)
        async with store.read() as uow:
            due = await uow.outbox.due("telegram", datetime.now(UTC), 51)
        monkeypatch.undo()
        # the oldest message of each chat, oldest first (each chat's order kept)
        assert [r.chat_id for r in due] == [5000 + i for i in range(51)]
        assert [r.payload["text"] for r in due] == [f"{i}" for i in range(51)]
        (sql, parameters), = ran
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + placeholders(sql),
                               _params(parameters)).fetchone()
        assert row is not None
        visited = _rows_visited(row[0][0]["Plan"])
        # a few index probes per chat with a queue (3,711 rows here), whatever the backlog
        assert visited < 12 * chats, (visited, row[0][0]["Plan"])
    finally:
        await store.close()


def _rows_visited(node: dict[str, object]) -> float:
    """The rows a plan node and those under it produced or filtered away, over all loops."""
    loops = float(node.get("Actual Loops", 1))  # type: ignore[arg-type]
    own = sum(float(node.get(k, 0)) for k in (  # type: ignore[arg-type]
        "Actual Rows", "Rows Removed by Filter", "Rows Removed by Join Filter"))
    below = node.get("Plans", [])
    assert isinstance(below, list)
    return own * loops + sum(_rows_visited(child) for child in below)


async def test_the_two_worker_journeys_spread_updates_between_both_workers(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    """tests/two_workers.py (OTKLIK_TEST_WORKERS=2) exercises both workers, not one."""
    path = tmp_path / "otklik.toml"
    path.write_text(CONFIG.format(token=TOKEN, api_base=server.api_base).replace(
        'database = "otklik.sqlite3"', f'database = "{pg.fresh_url()}"'), encoding="utf-8")
    h = TwoWorkers(server, load(path), clock)
    users = [FakeUser(7100 + i, f"Житель{i}") for i in range(24)]
    await h.start()
    try:
        for user in users:
            server.message(user, "/help")
        await h.step()
        assert sum(h.handled) == len(users)
        assert min(h.handled) > 0, h.handled  # both took some (a new connection each)
        for user in users:
            assert len(h.texts(user)) == 1  # each answered once, by the leader's outbox
    finally:
        await h.close()


async def test_a_followers_health_shows_the_leaders_scheduler_and_never_overwrites_it(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from bot import health
    from bot.storage import open_storage

    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    store = await open_storage(tmp_path / "otklik.sqlite3")
    try:
        chief = health.Health(lambda: now)
        chief.started("webhook")
        chief.scheduler_ran(True)
        await chief.save(store, force=True)
        later = now + timedelta(minutes=10)  # the follower never swept, the leader did
        follower = health.Health(lambda: later)
        follower.leading = False
        follower.started("webhook")
        follower.parts["process"]["started_at"] = health.ts(now)
        chief.clock = lambda: later
        chief.scheduler_ran(True)
        await chief.save(store)
        await follower.save(store, force=True)
        stored = await health.saved_parts(store)
        assert stored["scheduler"]["last_run_at"] == health.ts(later)  # the leader's
        doc = await health.live_report(store, follower)
        assert doc["scheduler"]["last_run_at"] == health.ts(later)
        assert not any("scheduler" in p for p in doc["problems"]), doc["problems"]
        follower.leading = True  # the same process, leading, would be stale: checked
        doc = await health.live_report(store, follower)
        assert any("the scheduler has not run" in p for p in doc["problems"])
    finally:
        await store.close()


# --- --workers N refused where it cannot work -----------------------------------------------


def test_more_than_one_worker_is_refused_with_sqlite_or_polling_in_one_line(
        tmp_path: Path) -> None:
    path = tmp_path / "otklik.toml"
    path.write_text(CONFIG.format(token=TOKEN, api_base="http://127.0.0.1:9"),
                    encoding="utf-8")
    result = cli("run", "--config", str(path), "--workers", "2")
    assert result.returncode == 2
    assert result.stderr == (f"{path}: --workers 2 needs PostgreSQL (database = "
                             "\"postgresql://…\"); the SQLite file is for one process: run "
                             "without --workers\n")
    path.write_text(CONFIG.format(token=TOKEN, api_base="http://127.0.0.1:9").replace(
        'database = "otklik.sqlite3"', 'database = "postgresql://postgres@127.0.0.1:9/x"'),
        encoding="utf-8")
    result = cli("run", "--config", str(path), "--workers", "3")
    assert result.returncode == 2
    assert result.stderr == (f"{path}: --workers 3 needs [telegram] mode = \"webhook\" (with "
                             "polling only one process may call getUpdates)\n")
    result = cli("run", "--config", str(path), "--workers", "0")
    assert (result.returncode, result.stderr) == (2, f"{path}: --workers 0: expected 1 or "
                                                     "more\n")


# --- two worker processes in webhook mode ---------------------------------------------------


@dataclass
class Workers:
    """``otklik run --workers 2`` on a fresh PostgreSQL schema, with the fake Bot API in a
    thread of this process."""

    url: str
    tg: FakeTelegramServer
    loop: asyncio.AbstractEventLoop
    proc: subprocess.Popen[bytes]
    stderr: Path
    port: int

    def on_server(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(30)

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def texts(self, user: FakeUser) -> list[str]:
        """What ``user`` received, the leader's daily digest aside."""
        return [t for t in self.on_server(
            lambda: [c.text or "" for c in self.tg.sent_to(user.id)])
            if not t.startswith("📋 <b>Сводка")]


def start_workers(stack: ExitStack, directory: Path, n: int = 2, *,
                  extra: list[str] | None = None, port: int | None = None) -> Workers:
    url = pg.fresh_url()
    tg, loop = stack.enter_context(served_in_thread(FakeTelegramServer(token=TOKEN)))
    port = port or free_port()
    path = directory / "otklik.toml"
    path.write_text(webhook_text(tg.api_base, url, port), encoding="utf-8")
    stderr = directory / "stderr"
    err = stack.enter_context(stderr.open("wb"))
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(path),
                             "--workers", str(n), "--leader-retry", "0.5", *(extra or [])],
                            cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=err)

    def reap() -> None:
        """The supervisor stops its workers on SIGTERM; when it hangs, they are killed by
        their ids, then it."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                for child in subprocess.run(["pgrep", "-P", str(proc.pid)],  # noqa: S607
                                            capture_output=True, text=True).stdout.split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(child), signal.SIGKILL)
                proc.kill()
                proc.wait()

    stack.callback(reap)
    return Workers(url, tg, loop, proc, stderr, port)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    pg.session_database()  # skips (or fails under CI) without PostgreSQL
    with ExitStack() as stack:
        running = start_workers(stack, tmp_path)
        until(lambda: "2 workers serve" in running.log() or running.proc.poll() is not None,
              "two workers serving")
        assert running.proc.poll() is None, running.log()[-3000:]
        yield running


STRANGERS = [FakeUser(7000 + i, f"Житель{i}") for i in range(12)]
STAFF = [COORDINATOR, PETROV, SIDOROVA]


def test_two_workers_handle_each_update_once_and_send_each_message_once_in_order(
        workers: Workers) -> None:
    pids = [int(p) for p in re.findall(r"\d+", workers.log().split("2 workers serve (pids ")[1]
                                       .split(")")[0])]
    assert len(pids) == 2
    # forked from the supervisor, not started anew, and after it imported their code once
    # (aiohttp's compiled parser is mapped in it: the bot's code, not only the CLI's)
    command = Path(f"/proc/{workers.proc.pid}/cmdline").read_bytes()
    assert all(Path(f"/proc/{pid}/cmdline").read_bytes() == command for pid in pids)
    assert "aiohttp/_http_parser" in Path(f"/proc/{workers.proc.pid}/maps").read_text()
    until(lambda: leader_pid(workers.url), "a leader")
    assert leader_pid(workers.url) in pids
    commands = ["/help", "/my", "/help", "/my"]
    updates: list[int] = []
    for command in commands:  # several chats at once, each chat's in order
        for user in STAFF + STRANGERS:
            updates.append(workers.on_server(
                lambda user=user, command=command: workers.tg.message(user, command))
                ["update_id"])
    until(lambda: workers.on_server(lambda: workers.tg.pending == 0), "every update accepted")
    for user in STAFF + STRANGERS:
        until(lambda user=user: len(workers.texts(user)) >= len(commands),
              f"the answers to {user.first_name}")
    time.sleep(1.0)  # anything sent twice would arrive meanwhile
    posts = workers.on_server(lambda: list(workers.tg.webhook_posts))
    assert sorted(u for u, status in posts if status == 200) == sorted(updates)
    import psycopg

    with psycopg.connect(workers.url, autocommit=True) as conn:
        claimed = conn.execute("SELECT count(*) FROM processed_updates").fetchone()
        assert claimed is not None and claimed[0] == len(updates)
    for user in STAFF + STRANGERS:
        texts = workers.texts(user)
        assert len(texts) == len(commands), (user.first_name, texts)
        # one answer per update, in the order of the chat's updates
        assert texts[0] == texts[2] and texts[1] == texts[3], (user.first_name, texts)
    assert workers.proc.poll() is None
    workers.proc.send_signal(signal.SIGTERM)
    assert workers.proc.wait(WAIT) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_kill_9_of_the_leader_moves_its_role_and_nothing_is_lost(workers: Workers) -> None:
    first = until(lambda: leader_pid(workers.url), "a leader")
    workers.on_server(lambda: workers.tg.message(PETROV, "/help"))
    until(lambda: len(workers.texts(PETROV)) == 1, "the answer before the kill")
    os.kill(first, signal.SIGKILL)
    # A follower takes the lock within a few of its tries (--leader-retry 0.5).
    second = until(lambda: (pid := leader_pid(workers.url)) not in (None, first) and pid,
                   "another leader", seconds=30.0)
    assert second != first
    for user in [COORDINATOR, *STRANGERS[:4]]:
        workers.on_server(lambda user=user: workers.tg.message(user, "/help"))
    workers.on_server(lambda: workers.tg.message(PETROV, "/help"))
    until(lambda: len(workers.texts(PETROV)) == 2, "the answer after the takeover")
    for user in [COORDINATOR, *STRANGERS[:4]]:
        until(lambda user=user: len(workers.texts(user)) == 1, f"{user.first_name}'s answer")
    # The supervisor started the killed worker again.
    until(lambda: re.search(rf"worker \d \(pid {first}\) ended \(exit -9\); starting it again",
                            workers.log()), "the killed worker started again")
    # kill -9 of the supervisor itself: its workers notice and stop, none runs on unsupervised
    children = [int(pid) for pid in subprocess.run(
        ["pgrep", "-P", str(workers.proc.pid)], capture_output=True, text=True,  # noqa: S607
        check=False).stdout.split()]
    assert len(children) == 2
    workers.proc.kill()
    workers.proc.wait()

    def gone(pid: int) -> bool:
        """Ended: no such process, or a zombie. The orphaned workers' parent is now the
        init process, which reaps them in its own time (here ~2 s after they exit)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"

    until(lambda: all(gone(pid) for pid in children), "the workers to stop")


def test_a_failing_start_of_the_workers_is_one_line_and_exits_non_zero(
        tmp_path: Path) -> None:
    pg.session_database()
    port = free_port()
    with ExitStack() as stack, socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        running = start_workers(stack, tmp_path, port=port)
        code = running.proc.wait(WAIT)
        assert code == 2
        errors = [line for line in running.log().splitlines() if line.startswith("otklik")]
        assert len(errors) == 1, running.log()[-2000:]
        assert errors[0].startswith(f"otklik: cannot listen on 127.0.0.1:{port} ([telegram] "
                                    "listen): ")
        assert "address already in use" in errors[0].lower()
