"""Is the bot working? What the running process knows of itself (Telegram polling, the
scheduler, VK sources), written to the ``heartbeat`` table, plus the outbox as the database
shows it.

The running bot answers ``GET /healthz`` from memory and the database; ``otklik status``
prints the same from the database alone. The answer is "failing" (HTTP 503) when messages
have waited in the outbox for :data:`STUCK_AFTER` while nothing was sent, or when Telegram
polling keeps failing (:data:`POLL_FAILURES` in a row, or no successful poll for
:data:`POLL_STALE`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.storage import Storage

log = logging.getLogger(__name__)


def ts(t: datetime) -> str:
    """A moment as the health report writes it (ISO 8601 in UTC)."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None

STUCK_AFTER = timedelta(minutes=5)
POLL_FAILURES = 3
POLL_STALE = timedelta(minutes=2)
# The sweep runs every 30 s; three missed runs and the scheduler is not OK.
SCHEDULER_STALE_RUNS = 3
# A heartbeat row is rewritten at least this often while nothing changes.
WRITE_EVERY = timedelta(seconds=30)


class Health:
    """The running process's view of its parts; each part is a dict with ``ok``."""

    def __init__(self, clock: Callable[[], datetime], *, sweep_every: float = 30.0) -> None:
        self.clock = clock
        self.sweep_every = sweep_every
        self.parts: dict[str, dict[str, Any]] = {}
        # Whether this process leads (runs the scheduler): a follower among several
        # workers neither writes nor reports the scheduler's part, the leader's is stored.
        self.leading = True
        self._written: dict[str, tuple[str, datetime]] = {}

    def started(self, mode: str = "polling") -> None:
        """``mode``: how updates come, "polling" (getUpdates) or "webhook" (checked by
        getWebhookInfo); the part keeps its name "polling" either way."""
        now = ts(self.clock())
        self.parts["process"] = {"ok": True, "running": True, "started_at": now}
        self.parts["polling"] = {"ok": True, "failures": 0, "last_ok_at": now,
                                 "last_update_at": None, "error": None, "mode": mode}
        self.parts["scheduler"] = {"ok": True, "last_run_at": None,
                                   "every_seconds": self.sweep_every}

    def stopped(self) -> None:
        process = self.parts.setdefault("process", {"ok": True})
        process.update(running=False, stopped_at=ts(self.clock()))

    def polled(self, handled: int) -> None:
        now = ts(self.clock())
        part = self.parts.setdefault("polling", {})
        part.update(ok=True, failures=0, last_ok_at=now, error=None)
        if handled:
            part["last_update_at"] = now

    def poll_failed(self, error: str) -> None:
        part = self.parts.setdefault("polling", {"failures": 0, "last_ok_at": None})
        part["failures"] = int(part.get("failures") or 0) + 1
        part["error"] = error
        part["ok"] = part["failures"] < POLL_FAILURES

    def scheduler_ran(self, ok: bool, error: str | None = None) -> None:
        part = self.parts.setdefault("scheduler", {"every_seconds": self.sweep_every})
        part.update(ok=ok, last_run_at=ts(self.clock()), error=error)

    def vk_source(self, owner_id: int, error_code: int | None) -> None:
        self.parts[f"vk_source:{owner_id}"] = {
            "ok": error_code is None, "owner_id": owner_id,
            "state": "ok" if error_code is None else "failing", "error_code": error_code}

    async def save(self, store: Storage, *, force: bool = False) -> None:
        """Write the parts that changed (timestamps moving on do not count), or were not
        written for :data:`WRITE_EVERY`: a busy bot does not write on every poll."""
        now = self.clock()
        rows = []
        for name, part in self.parts.items():
            if name == "scheduler" and not self.leading:
                continue
            last = self._written.get(name)
            shape = json.dumps({k: (v is None) if k.endswith("_at") else v
                                for k, v in part.items()}, sort_keys=True)
            if force or last is None or last[0] != shape or now - last[1] >= WRITE_EVERY:
                ok = bool(part.get("ok", True))
                rows.append((name, ok, now, dict(part)))
                self._written[name] = (shape, now)
        if not rows:
            return
        async with store.write() as uow:
            await uow.heartbeat.save(rows)


async def saved_parts(store: Storage) -> dict[str, dict[str, Any]]:
    """The parts as the bot last wrote them (``at``: when)."""
    async with store.read() as uow:
        return await uow.heartbeat.parts()


async def outbox_state(store: Storage, now: datetime) -> dict[str, Any]:
    """Pending messages that are due or were tried (not ones planned for later; a message
    in the platform call counts too), the age of the oldest, and when anything was last
    sent."""
    async with store.read() as uow:
        pending, oldest_at, last_sent_at = await uow.outbox.backlog(now)
    age = (now - oldest_at).total_seconds() if oldest_at else None
    quiet = last_sent_at is None or now - last_sent_at >= STUCK_AFTER
    stuck = age is not None and age >= STUCK_AFTER.total_seconds() and quiet
    return {"ok": not stuck, "pending": pending,
            "oldest_age_seconds": round(age) if age is not None else None,
            "last_sent_at": ts(last_sent_at) if last_sent_at else None, "stuck": stuck}


# How Telegram's updates are watched, by mode: (what it is, one check of it).
_WATCH = {"polling": ("polling", "poll"), "webhook": ("webhook", "webhook check")}


def report(parts: dict[str, dict[str, Any]], outbox: dict[str, Any], now: datetime,
           *, live: bool) -> dict[str, Any]:
    """The health document: ``status`` "ok" or "failing" with the ``problems``."""
    problems: list[str] = []
    process = parts.get("process", {})
    polling = dict(parts.get("polling", {}))
    scheduler = dict(parts.get("scheduler", {}))
    running = live or bool(process.get("running"))
    if not running:
        problems.append("the bot is not running" + (
            f" (stopped at {process['stopped_at']})" if process.get("stopped_at") else ""))
    last_ok = parse_ts(polling.get("last_ok_at"))
    what = _WATCH.get(polling.get("mode") or "polling", _WATCH["polling"])
    if polling.get("failures", 0) >= POLL_FAILURES:
        polling["ok"] = False
        problems.append(f"Telegram {what[0]} failed {polling['failures']} times in a row: "
                        f"{polling.get('error')}")
    elif running and (last_ok is None or now - last_ok >= POLL_STALE):
        polling["ok"] = False
        problems.append(f"no successful Telegram {what[1]} since "
                        f"{polling.get('last_ok_at') or 'the start'}")
    last_run = parse_ts(scheduler.get("last_run_at"))
    every = float(scheduler.get("every_seconds") or 30.0)
    stale = timedelta(seconds=every * SCHEDULER_STALE_RUNS + 60)
    started = parse_ts(process.get("started_at"))
    if running and (last_run or started) and now - (last_run or started) >= stale:  # type: ignore[operator]
        scheduler["ok"] = False
        problems.append(f"the scheduler has not run since {scheduler.get('last_run_at')}")
    elif scheduler.get("ok") is False:
        problems.append(f"the SLA sweep failed: {scheduler.get('error')}")
    if outbox["stuck"]:
        problems.append(f"{outbox['pending']} messages wait in the outbox, the oldest for "
                        f"{outbox['oldest_age_seconds']} s, and nothing was sent for 5 minutes")
    sources = [{k: v for k, v in part.items() if k != "ok"}
               for name, part in sorted(parts.items()) if name.startswith("vk_source:")]
    return {
        "status": "failing" if problems else "ok",
        "checked_at": ts(now),
        "problems": problems,
        "running": running,
        "polling": polling,
        "outbox": outbox,
        "scheduler": scheduler,
        "vk_sources": sources,
    }


async def live_report(store: Storage, health: Health) -> dict[str, Any]:
    now = health.clock()
    parts = health.parts
    if not health.leading:  # the leader's scheduler, as it last wrote it
        stored = (await saved_parts(store)).get("scheduler")
        parts = {**parts, "scheduler": stored or {"ok": True, "last_run_at": None}}
    return report(parts, await outbox_state(store, now), now, live=True)


async def stored_report(store: Storage, now: datetime) -> dict[str, Any]:
    return report(await saved_parts(store), await outbox_state(store, now), now, live=False)


def render(doc: dict[str, Any]) -> str:
    """The health document as lines for a shell user."""
    polling, outbox, scheduler = doc["polling"], doc["outbox"], doc["scheduler"]
    lines = [f"status: {doc['status']}" + ("" if doc["running"] else " (not running)")]
    lines += [f"problem: {p}" for p in doc["problems"]]
    what = _WATCH.get(polling.get("mode") or "polling", _WATCH["polling"])
    lines.append(f"telegram {what[0]}: {'OK' if polling.get('ok') else 'FAILING'}; "
                 f"last {what[1]} {polling.get('last_ok_at') or '—'}, "
                 f"last update {polling.get('last_update_at') or '—'}")
    age = outbox["oldest_age_seconds"]
    lines.append(f"outbox: {outbox['pending']} pending"
                 + (f", the oldest {age} s old" if age is not None else "")
                 + f"; last sent {outbox['last_sent_at'] or '—'}")
    lines.append(f"scheduler: {'OK' if scheduler.get('ok', True) else 'FAILING'}; "
                 f"last run {scheduler.get('last_run_at') or '—'}")
    for source in doc["vk_sources"]:
        code = source.get("error_code")
        lines.append(f"vk source {source['owner_id']}: {source['state']}"
                     + (f" (VK error {code})" if code is not None else ""))
    return "\n".join(lines)
