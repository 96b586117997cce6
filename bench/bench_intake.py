"""Benchmark: HTTP intake (``POST /api/incidents``) on an empty database vs one holding
100,000 incidents.

Otklik runs as in production (``App.run``: the HTTP server, polling, the outbox sender, the
scheduler) against the fake Bot API. ``--posts`` requests, ``--concurrency`` at a time, each
a new incident, are posted to its intake; the rate is requests answered 201 per second. The
same is done on a database pre-filled with ``--incidents`` incidents and their history
through the project's own storage code (``bench/bench_report.py``'s filling; ``--db`` reuses
such a database, which is copied first). The last line is the ratio of the full database's
rate to the empty one's (target ≥ 0.8). Not a test.

    .venv/bin/python bench/bench_intake.py [--posts 2000] [--concurrency 20]
        [--incidents 100000] [--db FILLED.sqlite3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.config import HTTP_TOKEN_ENV, load_config  # noqa: E402
from fakes.driver import FAST  # noqa: E402
from fakes.telegram import FakeTelegramServer  # noqa: E402
from tests.harness import TOKEN, write_config  # noqa: E402

INTAKE_TOKEN = "bench-intake-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(db: Path, incidents: int) -> None:
    """A database of ``incidents`` incidents, filled by bench_report.py in its own process."""
    began = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "bench" / "bench_report.py"), "--fill", str(db),
                    "--incidents", str(incidents)], check=True)
    print(f"filled {incidents} incidents in {time.perf_counter() - began:.0f} s")


async def intake_rate(database: Path | None, posts: int, concurrency: int, label: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegramServer(token=TOKEN) as tg:
            port = free_port()
            path = write_config(Path(tmp), tg, f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
            config = load_config(path)
            if database is not None:
                shutil.copy(database, config.database)
            app = App(config, limits=FAST)
            await app.start()
            runner = asyncio.create_task(app.run(sweep_every=3600))
            try:
                url = f"http://127.0.0.1:{port}/api/incidents"
                headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
                async with aiohttp.ClientSession() as http:
                    for _ in range(100):  # the server is up
                        try:
                            async with http.get(f"http://127.0.0.1:{port}/healthz"):
                                break
                        except aiohttp.ClientError:
                            await asyncio.sleep(0.05)
                    queue: asyncio.Queue[int] = asyncio.Queue()
                    for i in range(posts):
                        queue.put_nowait(i)
                    statuses: list[int] = []
                    done_at: list[float] = []

                    async def worker() -> None:
                        while not queue.empty():
                            i = queue.get_nowait()
                            body = {"source": "incident_management", "external_id": f"B-{i}",
                                    "text": f"Яма на дороге у дома {i}, нужен ремонт",
                                    "category": "roads", "author": f"Житель {i}"}
                            async with http.post(url, json=body, headers=headers) as r:
                                statuses.append(r.status)
                                await r.read()
                                done_at.append(time.perf_counter())

                    began = time.perf_counter()
                    await asyncio.gather(*(worker() for _ in range(concurrency)))
                    elapsed = time.perf_counter() - began
                quarter = posts // 4
                marks = [began] + sorted(done_at)[quarter - 1::quarter]
                pace = ", ".join(f"{quarter / (b - a):.0f}"
                                 for a, b in zip(marks, marks[1:], strict=False))
                created = statuses.count(201)
                others = {s: statuses.count(s) for s in set(statuses) if s != 201}
                print(f"{label}: {posts} POSTs at concurrency {concurrency} in {elapsed:.1f} s: "
                      f"{created / elapsed:.1f} created/s (per quarter: {pace}; other answers: "
                      f"{others or 'none'})")
                if created != posts:
                    raise SystemExit(f"{label}: only {created} of {posts} were created")
            finally:
                app.request_stop()
                await runner
                await app.close()
    return created / elapsed


async def main(args: argparse.Namespace) -> None:
    os.environ[HTTP_TOKEN_ENV] = INTAKE_TOKEN
    logging.disable(logging.WARNING)  # the filled people have no chats here: said per card
    with tempfile.TemporaryDirectory() as tmp:
        filled = args.db
        if filled is None or not filled.exists():
            filled = filled or Path(tmp) / "filled.sqlite3"
            await asyncio.to_thread(fill, filled, args.incidents)
        empty = await intake_rate(None, args.posts, args.concurrency, "empty database")
        full = await intake_rate(filled, args.posts, args.concurrency,
                                 f"database of {args.incidents} incidents")
    print(f"ratio of the full database's rate to the empty one's: {full / empty:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the filled database here")
    asyncio.run(main(parser.parse_args()))
