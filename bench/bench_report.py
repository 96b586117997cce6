"""Benchmark: the weekly note (``build_report``) on a database of 100,000 incidents.

The database is filled through the project's own storage code (``uow.incidents.add``,
``uow.audit.add``, ``uow.answers.add``, as the report tests do) with plausible work spread
over about a year, in a separate process; then this process builds the note of the last week while a
ticker measures how long the event loop is held at a time. Prints the time, the longest
stall of the event loop, the peak RSS; the last line is the ratio of the time to the 5 s
target. Not a test.

    .venv/bin/python bench/bench_report.py [--incidents 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

END = datetime(2025, 11, 24, 0, 0)


async def fill_db(path: Path, total: int) -> None:
    from bot.config import load_config
    from bot.storage import open_storage
    from tests.test_reports import CONFIG_PATH, REALISTIC_PEOPLE, TZ, fill, realistic_week

    config = load_config(CONFIG_PATH)
    store = await open_storage(path)
    people, n, k = REALISTIC_PEOPLE, 0, 0
    while n < total:
        end = END.replace(tzinfo=TZ) - timedelta(hours=10 * k)
        incidents, audit, answers = realistic_week(config, end, seed=k)
        incidents = incidents[: total - n]
        ids = {i.id: n + j + 1 for j, i in enumerate(incidents)}
        await fill(store, people,
                   [dataclasses.replace(i, id=ids[i.id]) for i in incidents],
                   [dataclasses.replace(e, incident_id=ids[e.incident_id]) for e in audit
                    if e.incident_id in ids],
                   [dataclasses.replace(a, incident_id=ids[a.incident_id]) for a in answers
                    if a.incident_id in ids])
        people = {}
        n += len(incidents)
        k += 1
    await store.close()


async def measure(path: Path) -> float:
    from bot.config import load_config
    from bot.drawer import drawer
    from bot.reports import build_report, period_from_args
    from bot.storage import open_storage
    from tests.test_reports import CONFIG_PATH, TZ

    config = load_config(CONFIG_PATH)
    store = await open_storage(path)
    start, end = period_from_args("week", END.replace(tzinfo=TZ) + timedelta(hours=8), TZ)
    stalls: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            stalls.append(now - last - 0.01)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    began, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with tempfile.TemporaryDirectory() as out:
            report = await build_report(config, store, start, end, out_dir=Path(out))
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu
        drawer.close()  # the chart process, kept warm for the next chart: its CPU is counted
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # once it is waited for
        apart = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    finally:
        # Closed even when the report fails: aiosqlite's thread would keep the process alive.
        tick.cancel()
        await store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"period {report.period_label}: {report.metrics.new} new incidents")
    print(f"report on the database: {elapsed:.1f} s; longest event-loop stall "
          f"{max(stalls) * 1000:.0f} ms; peak RSS {peak:.0f} MiB; CPU {cpu:.1f} s (all threads; "
          f"+ {apart:.1f} s in child processes, the chart's; load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"ratio of the time to 5 s: {elapsed / 5:.2f}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the filled database here")
    args = parser.parse_args()
    if args.fill:
        asyncio.run(fill_db(args.fill, args.incidents))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "report.sqlite3"
        if not db.exists():
            began = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--fill", str(db),
                            "--incidents", str(args.incidents)], check=True)
            print(f"filled {args.incidents} incidents in {time.perf_counter() - began:.0f} s")
        asyncio.run(measure(db))


if __name__ == "__main__":
    main()
