"""Benchmark: the per-update cost of Otklik on SQLite and on PostgreSQL, one worker.

For each backend Otklik runs as in production (``App.run``: long polling, the outbox sender,
the scheduler) against the fake Bot API: ``--incidents`` incidents are registered through
the use cases (each a unit of work: the incident, its audit row, the cards in the outbox) and
delivered, then every executor presses «Взять в работу» on each card they got, all at once
(each press an update: its claim, the transition, the audit row and the new card in one
transaction). Printed: milliseconds per registration and per press on each backend; the
last line is the ratio of PostgreSQL's cost per press to SQLite's (target ≤ 1.5).

PostgreSQL is the local server (``--server``, default
postgresql://postgres@127.0.0.1:5432/test); the bench makes a database of its own there and
drops it at the end. Not a test.

    .venv/bin/python bench/bench_storage.py [--incidents 500] [--executors 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from bench_presses import executors_config, take_presses, wait_answers  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402
from fakes.driver import FAST  # noqa: E402
from fakes.telegram import FakeTelegramServer, FakeUser  # noqa: E402
from tests.harness import PETROV, SIDOROVA, TOKEN, write_config  # noqa: E402
from workflows.model import Sighting  # noqa: E402

FIRST_ID = 6000


async def run(database: str, incidents: int, executors: int) -> tuple[float, float]:
    """Seconds per registration and per press on ``database``."""
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegramServer(token=TOKEN) as tg:
            path = write_config(Path(tmp), tg, executors_config(executors))
            text = path.read_text(encoding="utf-8")
            path.write_text(re.sub(r'(?m)^database = ".*"$', f'database = "{database}"', text),
                            encoding="utf-8")
            app = App(load_config(path), limits=FAST)
            await app.start()
            try:
                began = time.perf_counter()
                for i in range(incidents):
                    result = await app.usecases.intake.register(None, Sighting(
                        "vk", f"wall-1_{i}", f"Яма на дороге у дома {i}", "roads",
                        url=f"https://vk.com/wall-1_{i}", author=f"Житель {i}"))
                    assert result.ok, result
                registering = time.perf_counter() - began
                await app.settle()
                users = {FIRST_ID + i: FakeUser(FIRST_ID + i, f"Номер{i}")
                         for i in range(executors)} | {u.id: u for u in (PETROV, SIDOROVA)}
                found = take_presses(tg, users)[:incidents]
                assert len(found) == incidents, f"{len(found)} take buttons for {incidents}"
                runner = asyncio.create_task(app.run(sweep_every=3600))
                await asyncio.sleep(0.5)  # polling has begun
                before = len(tg.calls)
                for user, call, data in found:
                    tg.callback(user, call, data)
                pressing = (await wait_answers(tg, before, incidents)).seconds
                app.request_stop()
                await runner
                async with app.store.read() as uow:
                    takes = [e for e in await uow.audit.entries() if e.action == "take" and e.ok]
                if len({e.incident_id for e in takes}) != incidents or len(takes) != incidents:
                    raise SystemExit(f"{database}: a take was lost or handled twice")
            finally:
                await app.close()
    return registering / incidents, pressing / incidents


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


async def main(server: str, incidents: int, executors: int) -> float:
    print(f"{incidents} registrations, then {incidents} presses by {executors} executors; "
          "one worker")
    with tempfile.TemporaryDirectory() as tmp:
        lite = await run(str(Path(tmp) / "bench.sqlite3"), incidents, executors)
    print(f"sqlite:     {lite[0] * 1000:.2f} ms per registration, "
          f"{lite[1] * 1000:.2f} ms per press")
    name = f"otklik_bench_{os.getpid()}"
    try:
        admin = await psycopg.AsyncConnection.connect(server, autocommit=True,
                                                      connect_timeout=5)
    except psycopg.OperationalError as e:
        raise SystemExit(f"no PostgreSQL at {server}: {e}") from None
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            ours = await run(with_database(server, name), incidents, executors)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
    print(f"postgresql: {ours[0] * 1000:.2f} ms per registration, "
          f"{ours[1] * 1000:.2f} ms per press")
    print(f"registration: postgresql/sqlite {ours[0] / lite[0]:.3f}")
    print(f"per-update cost (a press), postgresql/sqlite: {ours[1] / lite[1]:.3f}")
    return ours[1] / lite[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--executors", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.server, args.incidents, args.executors))
