"""Benchmark: a region under load — 1, 2 and 4 workers (``otklik run --workers N``) on one
PostgreSQL database, and one process on SQLite for the per-update cost.

Each case starts real ``otklik run`` processes in webhook mode against the fake Bot API
(which answers 429 beyond Telegram's limits: ``enforce_limits``). The load is 40
municipalities' worth: citizens' messages posted to the shared webhook as Telegram posts them
(one chat's updates one after another, a new connection per post, so that the kernel spreads
them among the workers), and at the same time incidents of 40 sources (``M01``…``M40`` as the
intake's external ids: there is no ``[[municipalities]]`` config in this branch, the load is
the same; each of the 40 has a department, a category and two executors, so that incidents do
not all fall on a few people, whose rows every worker would then wait for) through the shared
HTTP intake. 40 municipalities × 2,000 incidents a day is 0.93
a second; the replay runs as fast as the workers take it, and the figure "× real time" says
how much faster than the region's day that is.

Printed per case: requests handled per second (webhook updates and intake incidents, each
answered only once committed), the p50/p99 latency from the post to its committed effect,
the outbox's delivery (the best 5-second rate to Telegram against 30 messages/s, the 429s),
duplicates and losses (every update claimed once, every incident created once, every
message to a citizen sent exactly once). The kill case kills -9 the leader halfway and times
the takeover (``--leader-retry``, 5 s by default as in production). The last line is the
ratio of 4 workers' rate to 1 worker's.

On a 2-core machine the workers, PostgreSQL, the fake Bot API and this load generator share
two cores: the scaling printed here is bounded by that, not by Otklik — read it as such.

    .venv/bin/python bench/bench_region.py [--updates 600] [--incidents 400]
        [--concurrency 32] [--workers 1,2,4] [--no-sqlite] [--no-kill]
        [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import HTTP_TOKEN_ENV, TOKEN_ENV  # noqa: E402
from fakes.telegram import FakeTelegramServer, FakeUser  # noqa: E402
from tests.harness import CONFIG, TOKEN  # noqa: E402

INTAKE_TOKEN = "bench-region-intake-token"
SECRET = "bench-region-secret_1"
MUNICIPALITIES = 40
REAL_RATE = MUNICIPALITIES * 2000 / 86400  # incidents a second in the region's real day
CITIZEN_BASE = 7_000_000
GROUPS = "groups = [-1001234567890]\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    label: str
    workers: int
    rate: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    burst: float = 0.0
    too_many: int = 0
    duplicates: int = 0
    lost: int = 0
    takeover: float | None = None
    notes: list[str] = field(default_factory=list)


class Database:
    """A fresh database for one case: an SQLite file or a PostgreSQL database."""

    def __init__(self, pg: str | None, directory: Path, name: str) -> None:
        self.pg = pg
        if pg is None:
            self.url = str(directory / "otklik.sqlite3")
            return
        import psycopg

        self.name = name
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        parts = urlsplit(pg)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.pg is None:
            with contextlib.closing(sqlite3.connect(self.url, timeout=30)) as conn:
                return list(conn.execute(sql))
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql))

    def leader(self) -> int | None:
        if self.pg is None:
            return None
        rows = self.rows("SELECT application_name FROM pg_stat_activity WHERE datname = "
                         f"'{self.name}' AND application_name LIKE 'otklik worker % (leader)'")
        found = [re.search(r"(\d+)", r[0]) for r in rows]
        pids = [int(m.group(1)) for m in found if m]
        return pids[0] if len(pids) == 1 else None

    def drop(self) -> None:
        if self.pg is None:
            return
        import psycopg

        with psycopg.connect(self.pg, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def municipal_staff() -> str:
    """A department, a category and two executors per municipality (there is no
    ``[[municipalities]]`` config here: the load's shape is what matters — 40 sets of
    executors, not all incidents on the same three people)."""
    parts = []
    for m in range(1, MUNICIPALITIES + 1):
        parts.append(f'\n[[departments]]\nkey = "m{m:02d}"\nname = "Муниципалитет {m}: ЖКХ"\n'
                     f'\n[[categories]]\nkey = "m{m:02d}"\nname = "ЖКХ {m}"\nblock = "ЖКХ"\n'
                     f'department = "m{m:02d}"\nkeywords = ["котельная{m}"]\n')
        for k in range(2):
            parts.append(f'\n[[people]]\nname = "Исполнитель {m}-{k}"\nroles = ["executor"]\n'
                         f'departments = ["m{m:02d}"]\ntelegram_id = {500_000 + m * 10 + k}\n')
    return "".join(parts)


def config_text(api_base: str, database: str, hook_port: int, http_port: int) -> str:
    return CONFIG.format(token=TOKEN, api_base=api_base).replace(
        'database = "otklik.sqlite3"', f'database = "{database}"').replace(
        GROUPS, GROUPS + 'mode = "webhook"\n'
                         f'webhook_url = "http://127.0.0.1:{hook_port}/hook"\n'
                         f'listen = "127.0.0.1:{hook_port}"\n'
                         f'secret_token = "{SECRET}"\n') + municipal_staff() + \
        f'\n[http]\nlisten = "127.0.0.1:{http_port}"\n'


def text_update(update_id: int, user: FakeUser, text: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": user.id, "type": "private"}, "from": user.to_api()}}


async def post_until_taken(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                           headers: dict[str, str], ok: tuple[int, ...]) -> tuple[int, float]:
    """Post as Telegram (or an intake client) does: again after a refusal or a dropped
    connection; the final status and the seconds from the first try to the answer."""
    began = time.perf_counter()
    while True:
        try:
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                if response.status in ok:
                    return response.status, time.perf_counter() - began
        except (aiohttp.ClientError, OSError):
            pass
        if time.perf_counter() - began > 120:
            return 0, time.perf_counter() - began
        await asyncio.sleep(0.2)


async def run_case(label: str, workers: int, pg: str | None, args: argparse.Namespace, *,
                   kill: bool = False) -> Result:
    result = Result(label, workers)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        db = Database(pg, directory, f"otklik_bench_{os.getpid()}_{workers}"
                                     f"{'_kill' if kill else ''}")
        try:
            async with FakeTelegramServer(token=TOKEN, enforce_limits=True) as tg:
                await _load(result, tg, db, directory, workers, args, kill)
        finally:
            db.drop()
    return result


async def _load(result: Result, tg: FakeTelegramServer, db: Database, directory: Path,
                workers: int, args: argparse.Namespace, kill: bool) -> None:
    hook_port, http_port = free_port(), free_port()
    path = directory / "otklik.toml"
    path.write_text(config_text(tg.api_base, db.url, hook_port, http_port), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | {
        HTTP_TOKEN_ENV: INTAKE_TOKEN}
    command = [sys.executable, "-m", "bot", "run", "--config", str(path), "--log-level",
               "WARNING", "--leader-retry", f"{args.leader_retry:g}"]
    if workers > 1:
        command += ["--workers", str(workers)]
    stderr = directory / "stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(command, cwd=directory, env=env,  # noqa: ASYNC220
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        await _serve(result, tg, db, proc, stderr, hook_port, http_port, workers, args, kill)
    finally:
        await asyncio.to_thread(stop, proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the supervisor (it stops its workers); killed, with its workers, when it
    does not end in 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for child in subprocess.run(["pgrep", "-P", str(proc.pid)],  # noqa: S607
                                        capture_output=True, text=True).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(child), signal.SIGKILL)
            proc.kill()
            proc.wait()


async def _serve(result: Result, tg: FakeTelegramServer, db: Database,
                 proc: subprocess.Popen[bytes], stderr: Path, hook_port: int, http_port: int,
                 workers: int, args: argparse.Namespace, kill: bool) -> None:
    hook = f"http://127.0.0.1:{hook_port}/hook"
    intake = f"http://127.0.0.1:{http_port}/api/incidents"
    deadline = time.monotonic() + 180
    async with aiohttp.ClientSession() as probe:  # every worker serves
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = stderr.read_text(errors="replace")  # noqa: ASYNC240
                raise SystemExit(f"{result.label}: the workers did not start:\n{log[-3000:]}")
            serving = len(tg.calls_to("setWebhook")) >= workers  # each worker sets it
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with probe.get(f"http://127.0.0.1:{http_port}/healthz") as r:
                    if serving and tg.webhook is not None and r.status in (200, 503):
                        break
            await asyncio.sleep(0.2)
    tg.webhook = None  # the bench posts as Telegram would (new connection per post)
    citizens = [FakeUser(CITIZEN_BASE + i, f"Житель{i}") for i in range(args.chats)]
    lanes: list[list[dict[str, Any]]] = [[] for _ in range(args.concurrency)]
    for i in range(args.updates):
        user = citizens[i % len(citizens)]
        lanes[user.id % args.concurrency].append(text_update(
            10_000 + i, user, f"Яма на дороге у дома {i}, асфальт разбит, муниципалитет "
                              f"{i % MUNICIPALITIES + 1}"))
    incidents = [{"source": "incident_management",
                  "external_id": f"M{i % MUNICIPALITIES + 1:02d}-{i}",
                  "text": f"Нет отопления в доме {i}",
                  "category": f"m{i % MUNICIPALITIES + 1:02d}",
                  "author": f"Житель {i}"} for i in range(args.incidents)]
    intake_lanes = [incidents[k::max(args.concurrency // 4, 1)]
                    for k in range(max(args.concurrency // 4, 1))]
    latencies: list[float] = []
    statuses: list[int] = []
    posted = 0
    half = asyncio.Event()
    samples: list[tuple[float, int]] = []

    async def updates_lane(lane: list[dict[str, Any]]) -> None:
        nonlocal posted
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for update in lane:
                status, seconds = await post_until_taken(session, hook, update, headers, (200,))
                statuses.append(status)
                latencies.append(seconds)
                posted += 1
                if posted >= (args.updates + args.incidents) // 2:
                    half.set()

    async def intake_lane(lane: list[dict[str, Any]]) -> None:
        nonlocal posted
        headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for body in lane:
                status, seconds = await post_until_taken(session, intake, body, headers,
                                                         (200, 201))
                statuses.append(status)
                latencies.append(seconds)
                posted += 1
                if posted >= (args.updates + args.incidents) // 2:
                    half.set()

    async def sample() -> None:
        while True:
            samples.append((time.perf_counter(), sum(
                1 for c in tg.calls if c.method == "sendMessage" and c.ok)))
            await asyncio.sleep(0.25)

    async def killer() -> None:
        await half.wait()
        first = db.leader()
        if first is None:
            result.notes.append("no leader found to kill")
            return
        os.kill(first, signal.SIGKILL)
        began = time.perf_counter()
        while time.perf_counter() - began < 120:
            now = db.leader()
            if now is not None and now != first:
                result.takeover = time.perf_counter() - began
                return
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    killing = asyncio.create_task(killer()) if kill else None
    began = time.perf_counter()
    await asyncio.gather(*(updates_lane(lane) for lane in lanes),
                         *(intake_lane(lane) for lane in intake_lanes))
    elapsed = time.perf_counter() - began
    if killing is not None:
        await killing
    total = args.updates + args.incidents
    result.rate = total / elapsed
    ordered = sorted(latencies)
    result.p50 = ordered[len(ordered) // 2]
    result.p99 = ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)]
    # The messages to the citizens: wait until each was sent (bounded), then count.
    citizen = f"platform = 'telegram' AND chat_id >= {CITIZEN_BASE} AND chat_id < " \
              f"{CITIZEN_BASE + args.chats}"
    wait_until = time.monotonic() + 60 + args.updates / 20
    while time.monotonic() < wait_until:
        left = db.rows(f"SELECT count(*) FROM outbox WHERE {citizen} AND status IN "
                       "('pending', 'sending')")[0][0]
        if not left:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    sampler.cancel()
    rows = dict(db.rows(f"SELECT status, count(*) FROM outbox WHERE {citizen} GROUP BY status"))
    sent_rows = int(rows.get("sent", 0))
    calls = sum(1 for c in tg.calls if c.method == "sendMessage" and c.ok
                and CITIZEN_BASE <= int(c.params.get("chat_id", 0)) < CITIZEN_BASE + args.chats)
    claimed = db.rows("SELECT count(*) FROM processed_updates")[0][0]
    created = db.rows("SELECT count(*) FROM incidents WHERE source = 'incident_management'")[0][0]
    failed = sum(1 for s in statuses if s == 0)
    result.lost = (args.updates - claimed) + (args.incidents - created) + failed + \
        sum(int(n) for s, n in rows.items() if s != "sent")
    in_flight = int(rows.get("sending", 0))  # sent, perhaps, and not yet recorded
    result.duplicates = max(calls - sent_rows - in_flight, 0) + max(claimed - args.updates, 0) + \
        max(created - args.incidents, 0)
    result.too_many = tg.too_many
    refused = sorted({(c.method, c.params.get("chat_id")) for c in tg.calls
                      if c.error_code == 429})
    if refused:
        result.notes.append(f"429 to {refused[:5]}")
    best = 0.0
    for i, (t0, n0) in enumerate(samples):
        for t1, n1 in samples[i + 1:]:
            if t1 - t0 >= 5.0:
                best = max(best, (n1 - n0) / (t1 - t0))
                break
    result.burst = best
    result.notes.append(f"{sent_rows} messages to {args.chats} citizens, {calls} sent")
    if result.lost or result.duplicates:  # what the workers said about it
        said = [line for line in stderr.read_text(errors="replace").splitlines()  # noqa: ASYNC240
                if " WARNING " in line or " ERROR " in line]
        result.notes.append("workers' log: " + " | ".join(said[-6:]))


def show(r: Result) -> None:
    takeover = f", leader killed: takeover in {r.takeover:.1f} s" if r.takeover is not None \
        else ""
    print(f"{r.label}: {r.rate:.1f} requests/s ({r.rate / REAL_RATE:.0f}× the region's real "
          f"day), latency p50 {r.p50 * 1000:.0f} ms, p99 {r.p99 * 1000:.0f} ms; outbox best "
          f"5 s {r.burst:.1f} msg/s ({r.burst / 30 * 100:.0f} % of 30/s), 429s {r.too_many}; "
          f"duplicates {r.duplicates}, lost {r.lost}{takeover} ({'; '.join(r.notes)})",
          flush=True)


async def main(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[str, Result] = {}
    print(f"load: {args.updates} webhook updates from {args.chats} citizens + "
          f"{args.incidents} intake incidents of {MUNICIPALITIES} sources, "
          f"{args.concurrency} webhook lanes; {os.cpu_count()} CPU cores", flush=True)
    if not args.no_sqlite:
        results["sqlite"] = await run_case("SQLite, 1 process", 1, None, args)
        show(results["sqlite"])
    for n in counts:
        results[str(n)] = await run_case(f"PostgreSQL, {n} worker{'s' * (n > 1)}", n,
                                         args.pg, args)
        show(results[str(n)])
    if not args.no_kill:
        n = max(counts[-1], 2)
        show(await run_case(f"PostgreSQL, {n} workers, kill -9 of the leader", n, args.pg,
                            args, kill=True))
    if "sqlite" in results and "1" in results:
        print(f"per-update cost, PostgreSQL 1 worker / SQLite: "
              f"{results['sqlite'].rate / results['1'].rate:.2f}×")
    low, high = str(counts[0]), str(counts[-1])
    print(f"ratio {high} workers / {low} worker: {results[high].rate / results[low].rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--incidents", type=int, default=400)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--leader-retry", type=float, default=5.0)
    parser.add_argument("--pg", default=os.environ.get("OTKLIK_TEST_DATABASE")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    asyncio.run(main(parser.parse_args()))
