"""Backups of the database with SQLite's online backup API.

The copy is consistent (one read transaction over the whole database, the WAL included), is
safe while the bot runs and writes, and opens alone: it is switched out of WAL mode, so no
``-wal`` or ``-shm`` file belongs to it. It is written to a temporary name and renamed, so a
half-written copy never carries the final name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

PREFIX = "otklik-"
SUFFIX = ".sqlite3"


class BackupError(Exception):
    """The copy could not be made; the message says why."""


def backup(source: Path, out: Path) -> Path:
    """Copy the database ``source`` to ``out`` (replaced if it exists); returns ``out``."""
    if not source.exists():
        raise BackupError(f"{source} does not exist (has the bot run yet?)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    for stale in (partial, Path(f"{partial}-journal")):
        stale.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # all pages in one step: one consistent snapshot
                dst.execute("PRAGMA journal_mode=DELETE")
                (check,) = dst.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    raise BackupError(f"the copy failed its check: {check}")
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial, out)
    except sqlite3.Error as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot copy {source} to {out}: {e}") from None
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def copies(directory: Path) -> list[Path]:
    """The nightly copies in ``directory``, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


def nightly(source: Path, directory: Path, keep: int, now: datetime, tz: ZoneInfo,
            at: time) -> Path | None:
    """Today's copy, if it is past ``at`` local time and there is none yet; keeps the newest
    ``keep`` copies. Safe to call as often as one likes (and after a restart)."""
    local = now.astimezone(tz)
    if local.time() < at:
        return None
    day = local.strftime("%Y-%m-%d")
    if any(p.name.startswith(f"{PREFIX}{day}") for p in copies(directory)):
        return None
    out = backup(source, directory / f"{PREFIX}{day}-{local.strftime('%H%M%S')}{SUFFIX}")
    for old in copies(directory)[:-keep]:
        old.unlink(missing_ok=True)
    log.info("nightly backup written to %s", out)
    return out


async def nightly_job(source: Path, directory: Path, keep: int, clock: object, tz: ZoneInfo,
                      at: time) -> None:
    """:func:`nightly` off the event loop (for the scheduler)."""
    now = clock()  # type: ignore[operator]
    await asyncio.to_thread(nightly, source, directory, keep, now, tz, at)
