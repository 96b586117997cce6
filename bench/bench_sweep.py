"""Benchmark: the cost of one SLA sweep with 10,000 and 100,000 open incidents.

Only a fixed number of incidents (100) are due; the rest have their next action days ahead.
The sweep reads the partial index on ``next_action_at``, so its cost should stay flat as
the incidents that are not due grow. Prints figures; not a test.

    .venv/bin/python bench/bench_sweep.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_config
from bot.storage import Storage, open_storage
from bot.storage.sqlite import ts
from bot.templates import Templates
from bot.usecases import UseCases
from bot.usecases import build as build_usecases
from handlers.telegram.render import TelegramChannel

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # Monday 11:00 in Novokuznetsk
DUE = 100


async def prepare(path: Path, total: int) -> tuple[Storage, UseCases]:
    config = load_config(ROOT / "config.example.toml")
    store = await open_storage(path)
    templates = Templates(config.tz)
    usecases = build_usecases(store, config, templates, [TelegramChannel(templates)],
                              config.policies,
                              lambda: NOW)
    await usecases.onboarding.seed_people()
    async with store.write() as uow:
        people = await uow.people.all()
        for chat, person in enumerate(people, start=500):  # everyone reachable
            await uow.people.bind(person.id, "telegram", chat)
        executor = next(p for p in people if "executor" in p.roles)
        rows = []
        for i in range(1, total + 1):
            due_now = i <= DUE
            # Due ones: registered Friday, overdue since 09:00 today (deadline, overdue and a
            # collapsed reminder fall due). The others: registered now, due in days.
            registered = NOW - timedelta(days=3) if due_now else NOW
            answer_due = NOW - timedelta(hours=2) if due_now else NOW + timedelta(days=3)
            rows.append((
                i, "in_progress", "manual", f"Обращение {i}", "roads", "roads", executor.id,
                "normal", ts(registered), ts(answer_due),
                ts(registered if due_now else NOW + timedelta(days=2)),
                ts(registered), ts(registered)))
        await uow.conn.executemany(
            "INSERT INTO incidents (id, state, source, text, category, department, executor_id,"
            " priority, registered_at, answer_due, next_action_at, clock_start, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return store, usecases


async def measure(total: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, usecases = await prepare(Path(tmp) / "bench.sqlite3", total)
        try:
            started = time.perf_counter()
            await usecases.digests.daily_digest()  # once a day; measured on its own
            digest = time.perf_counter() - started
            started = time.perf_counter()
            sent = await usecases.sweep.sweep()
            busy = time.perf_counter() - started
            idle_runs = []
            for _ in range(20):
                started = time.perf_counter()
                await usecases.sweep.sweep()
                idle_runs.append(time.perf_counter() - started)
        finally:
            await store.close()
    print(f"{total:>7,} open incidents, {DUE} due: sweep {busy * 1000:7.1f} ms "
          f"({sent} pings to the outbox); nothing due: median "
          f"{statistics.median(idle_runs) * 1000:.2f} ms; daily digest {digest * 1000:.0f} ms")


async def main() -> None:
    for total in (10_000, 100_000):
        await measure(total)


if __name__ == "__main__":
    asyncio.run(main())
