"""Backups (issue 9 item 8): `otklik backup` while another connection writes, the nightly
copy on the scheduler with rotation, and a clean stop leaving the `.sqlite3` complete."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import threading
import time as time_module
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.storage import open_storage
from bot.storage.backup import copies, nightly
from fakes.telegram import FakeTelegramServer
from tests import pg
from tests.harness import Clock, Harness, cli, load, write_config
from tests.test_start_stop import ROOT, config_file

# Backups are copies of the SQLite file (PostgreSQL's are pg_dump's, and refused in the config).
pytestmark = pytest.mark.skipif(pg.on_postgresql(), reason="SQLite's backups")

TZ = ZoneInfo("Asia/Novokuznetsk")


def otklik(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=ROOT)


async def make_database(path: Path) -> None:
    store = await open_storage(path)
    await store.close()


def writer(path: Path, stop: threading.Event, written: list[int]) -> None:
    """Another process's connection, writing in WAL mode as fast as it can."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS load (n INTEGER, pad TEXT)")
    n = 0
    while not stop.is_set():
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO load VALUES (?, ?)", [(n + i, "x" * 500) for i in range(50)])
        db.execute("COMMIT")
        n += 50
        written.append(n)
    db.close()


def test_backup_while_another_connection_writes_opens_alone(tmp_path: Path) -> None:
    path = config_file(tmp_path, "http://127.0.0.1:9")
    database = tmp_path / "otklik.sqlite3"
    asyncio.run(make_database(database))
    stop, written = threading.Event(), [0]
    thread = threading.Thread(target=writer, args=(database, stop, written))
    thread.start()
    try:
        while written[-1] < 2000:  # the WAL holds uncheckpointed rows while we copy
            time_module.sleep(0.01)
        out = tmp_path / "copies" / "otklik-copy.sqlite3"
        result = otklik("backup", "--config", str(path), "--out", str(out))
        during = written[-1]
        assert (tmp_path / "otklik.sqlite3-wal").exists()  # the source really was in WAL use
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {out} (")
    # The copy alone, moved away from everything else: no -wal, no -shm beside it.
    alone = tmp_path / "alone" / "copy.sqlite3"
    alone.parent.mkdir()
    shutil.copy(out, alone)
    assert sorted(p.name for p in out.parent.iterdir()) == ["otklik-copy.sqlite3"]
    db = sqlite3.connect(f"file:{alone}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        rows = db.execute("SELECT count(*), max(n) FROM load").fetchone()
        assert rows[0] >= 2000 and rows[0] <= during + 50
        assert rows[0] == rows[1] + 1  # whole transactions only: 0…n-1, no gap, no half
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'incidents'"
                          ).fetchone() == (1,)
    finally:
        db.close()
    assert sorted(p.name for p in alone.parent.iterdir()) == ["copy.sqlite3"]


def test_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    path = config_file(tmp_path, "http://127.0.0.1:9")
    result = otklik("backup", "--config", str(path), "--out", str(tmp_path / "x.sqlite3"))
    assert result.returncode == 2
    assert "does not exist (has the bot run yet?)" in result.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_nightly_copies_once_a_day_after_the_hour_and_keep_the_newest(tmp_path: Path) -> None:
    database = tmp_path / "otklik.sqlite3"
    asyncio.run(make_database(database))
    folder = tmp_path / "backups"
    at = time(3, 0)

    def local(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=TZ).astimezone(UTC)

    assert nightly(database, folder, 3, local(20, 2, 59), TZ, at) is None  # before 03:00
    for day in range(20, 26):
        first = nightly(database, folder, 3, local(day, 3, 10), TZ, at)
        assert first is not None and first.name.startswith(f"otklik-2026-11-{day}-0310")
        assert nightly(database, folder, 3, local(day, 23, 0), TZ, at) is None  # done today
    assert [p.name[:17] for p in copies(folder)] == [
        "otklik-2026-11-23", "otklik-2026-11-24", "otklik-2026-11-25"]


async def test_the_scheduler_makes_the_nightly_copy(server: FakeTelegramServer,
                                                    tmp_path: Path, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 23, 3, 30, tzinfo=TZ).astimezone(UTC)
    path = write_config(tmp_path, server, '\n[backup]\ndir = "backups"\nkeep = 2\n')
    h = Harness(server, load(path), clock)
    await h.start()
    assert h.app is not None
    task = asyncio.create_task(h.app.run(sweep_every=3600))
    try:
        for _ in range(400):
            if copies(tmp_path / "backups"):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await h.close()
    [copy] = copies(tmp_path / "backups")
    assert copy.name.startswith("otklik-2026-11-23-0330")
    db = sqlite3.connect(copy)
    try:
        assert db.execute("SELECT count(*) FROM people").fetchone() == (5,)
    finally:
        db.close()


async def test_a_clean_stop_leaves_everything_in_the_database_file(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    h = Harness(server, load(write_config(tmp_path, server)), clock)
    await h.start()
    # Somebody else has the database open (a shell, `otklik status`): SQLite's own
    # checkpoint when the last connection closes does not happen then.
    other = sqlite3.connect(tmp_path / "otklik.sqlite3")
    try:
        assert other.execute("SELECT count(*) FROM people").fetchone() == (5,)
        await h.close()
        wal = tmp_path / "otklik.sqlite3-wal"
        assert not wal.exists() or wal.stat().st_size == 0
    finally:
        other.close()
    alone = tmp_path / "alone.sqlite3"
    shutil.copy(tmp_path / "otklik.sqlite3", alone)  # the file alone, as a naive copy takes it
    db = sqlite3.connect(alone)
    try:
        assert db.execute("SELECT count(*) FROM people").fetchone() == (5,)
    finally:
        db.close()
