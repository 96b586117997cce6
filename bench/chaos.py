"""Chaos: kill -9 the real bot at random moments while people work, and count what was lost
and what arrived twice. Prints figures; not a test.

The bot runs as ``python -m bot run`` in a subprocess against the fake Bot API on loopback,
which answers every request with added latency (``--latency``, default 0.4 s: half before the
call takes effect, half after, as over a real network). Scripted lifecycles run one after the
other — the coordinator sends a complaint and picks the category, the executor takes the
incident, writes the answer and submits it, the coordinator approves it and marks it
published — each step waiting for the bot's answer (button or text) before the next, however
many restarts that takes. Meanwhile the bot is killed with SIGKILL ``--kills`` times, each
time a random 0–``--max-uptime`` s after it began polling, and started again at once.

    .venv/bin/python bench/chaos.py --kills 30

``lost`` counts lifecycle steps whose answer never came and incidents not in their final
state at the end; ``doubled`` counts messages a chat received more than once (same method,
text and buttons). Each duplicate is put down to the last kill before its second copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fakes.telegram import SENDING, Call, FakeTelegramServer, FakeUser

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:CHAOS-token"
COORDINATOR = FakeUser(1001, "Анна", "Иванова")
EXECUTOR = FakeUser(2001, "Павел", "Петров")
STEP_TIMEOUT = 120.0

CONFIG = """
timezone = "Asia/Novokuznetsk"
database = "otklik.sqlite3"
files_dir = "files"

[telegram]
token = "{token}"
api_base = "{api_base}"

[[departments]]
key = "roads"
name = "Дорожное хозяйство"

[[categories]]
key = "roads"
name = "Дороги"
block = "Дороги и транспорт"
department = "roads"

[[people]]
name = "Иванова Анна"
roles = ["coordinator", "admin"]
telegram_id = 1001

[[people]]
name = "Петров Павел"
roles = ["executor"]
departments = ["roads"]
telegram_id = 2001
"""


class Lost(Exception):
    """A step's answer never came."""


class Chaos:
    def __init__(self, server: FakeTelegramServer, workdir: Path, kills: int,
                 max_uptime: float, rng: random.Random) -> None:
        self.server = server
        self.workdir = workdir
        self.config = workdir / "otklik.toml"
        self.kills_wanted = kills
        self.max_uptime = max_uptime
        self.rng = rng
        self.kill_marks: list[int] = []  # len(server.calls) at each kill
        self.spawn_mark = 0
        self.startups: list[float] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.log = (workdir / "bot.log").open("ab")
        self.lost = 0
        self.lifecycles = 0

    # --- the bot process

    async def spawn(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.spawn_mark = len(self.server.calls)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--config", str(self.config),
            cwd=self.workdir, env=env, stdout=self.log, stderr=self.log)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kill_marks.append(len(self.server.calls))

    async def polling(self) -> float:
        """Wait until the new process polls Telegram; the seconds its start took."""
        began = time.monotonic()
        for _ in range(int(STEP_TIMEOUT / 0.02)):
            if any(c.method == "getUpdates" for c in self.server.calls[self.spawn_mark:]):
                break
            await asyncio.sleep(0.02)
        return time.monotonic() - began

    async def killer(self) -> None:
        while len(self.kill_marks) < self.kills_wanted:
            self.startups.append(await self.polling())
            await asyncio.sleep(self.rng.uniform(0.0, self.max_uptime))
            await self.kill()
            await self.spawn()

    # --- people

    def buttons(self, user: FakeUser, action: str) -> list[tuple[Call, str, int]]:
        found = []
        for call in self.server.sent_to(user.id):
            for row in call.buttons:
                for b in row:
                    parts = b.get("callback_data", "").split(":")
                    if parts[0] == "i" and parts[1] == action:
                        found.append((call, b["callback_data"], int(parts[2])))
        return found

    async def wait_button(self, user: FakeUser, action: str, n: int | None = None,
                          exclude: set[int] | None = None) -> tuple[Call, str, int]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            for call, data, m in reversed(self.buttons(user, action)):
                if (n is None or m == n) and m not in (exclude or set()):
                    return call, data, m
            await asyncio.sleep(0.05)
        raise Lost(f"no {action} button for {user.first_name} (n={n})")

    async def wait_text(self, user: FakeUser, *needles: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            for call in self.server.sent_to(user.id):
                if all(s in (call.text or "") for s in needles):
                    return
            await asyncio.sleep(0.05)
        raise Lost(f"no message {needles} for {user.first_name}")

    async def lifecycle(self, i: int, intakes: set[int], incidents: set[int]) -> None:
        # With its link, the post goes straight to the category (no «Зарегистрировать?»).
        self.server.message(COORDINATOR, f"Яма на улице Садовой у дома {i}, машины бьются "
                                         f"https://vk.com/wall-1_{i}")
        call, data, intake = await self.wait_button(COORDINATOR, "cat", exclude=intakes)
        intakes.add(intake)
        self.server.callback(COORDINATOR, call, data)
        call, data, n = await self.wait_button(EXECUTOR, "take", exclude=incidents)
        incidents.add(n)
        self.server.callback(EXECUTOR, call, data)
        await self.wait_text(EXECUTOR, "Напишите текст ответа", f"№{n}")
        self.server.message(EXECUTOR, f"Ответ по инциденту {n}: яму засыпали щебнем.")
        call, data, _ = await self.wait_button(EXECUTOR, "submit", n)
        self.server.callback(EXECUTOR, call, data)
        call, data, _ = await self.wait_button(COORDINATOR, "approve", n)
        self.server.callback(COORDINATOR, call, data)
        call, data, _ = await self.wait_button(COORDINATOR, "published", n)
        self.server.callback(COORDINATOR, call, data)
        await self.wait_text(EXECUTOR, f"Ваш ответ по инциденту №{n} опубликован")

    async def people(self, killer: asyncio.Task[None]) -> None:
        intakes: set[int] = set()
        incidents: set[int] = set()
        i = 0
        while not killer.done() or i == 0 or self.lifecycles < 2:
            i += 1
            try:
                await self.lifecycle(i, intakes, incidents)
                self.lifecycles += 1
            except Lost as e:
                print(f"lost: lifecycle {i}: {e}", flush=True)
                self.lost += 1
            if killer.done() and self.lifecycles >= 2 and i > 1:
                break

    # --- figures

    def doubles(self) -> tuple[int, list[int]]:
        """Messages received more than once per chat, and how many each kill caused."""
        seen: Counter[tuple[Any, ...]] = Counter()
        per_kill = [0] * len(self.kill_marks)
        total = 0
        for index, call in enumerate(self.server.calls):
            if not call.ok or call.method not in SENDING:
                continue
            key = (call.chat_id, call.method, call.text,
                   json.dumps(call.params.get("reply_markup"), sort_keys=True),
                   json.dumps(call.params.get("media"), sort_keys=True, default=str))
            seen[key] += 1
            if seen[key] > 1:
                total += 1
                kills_before = [k for k, mark in enumerate(self.kill_marks) if mark <= index]
                if kills_before:
                    per_kill[kills_before[-1]] += 1
        return total, per_kill

    def unfinished(self) -> int:
        db = sqlite3.connect(self.workdir / "otklik.sqlite3")
        try:
            rows = db.execute("SELECT state, COUNT(*) FROM incidents GROUP BY state").fetchall()
            pending = db.execute(
                "SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0]
        finally:
            db.close()
        states = dict(rows)
        return sum(c for s, c in states.items() if s != "awaiting_feedback") + pending


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.4)
    parser.add_argument("--max-uptime", type=float, default=6.0,
                        help="a kill comes 0 to this many seconds after the bot began polling")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        async with FakeTelegramServer(token=TOKEN, latency=args.latency) as server:
            (workdir / "otklik.toml").write_text(
                CONFIG.format(token=TOKEN, api_base=server.api_base), encoding="utf-8")
            chaos = Chaos(server, workdir, args.kills, args.max_uptime, random.Random(args.seed))
            await chaos.spawn()
            killer = asyncio.create_task(chaos.killer())
            await chaos.people(killer)
            await killer
            await asyncio.sleep(5 * args.latency + 2)  # the last messages go out
            assert chaos.proc is not None
            chaos.proc.send_signal(signal.SIGKILL)
            await chaos.proc.wait()
            lost = chaos.lost + chaos.unfinished()
            doubled, per_kill = chaos.doubles()
    sent = sum(1 for c in server.calls if c.ok and c.method in SENDING)
    print(f"latency={args.latency}s lifecycles={chaos.lifecycles} messages={sent} "
          f"time={time.monotonic() - started:.0f}s")
    print(f"kills={len(chaos.kill_marks)} lost={lost} doubled={doubled}")
    print(f"a start took {min(chaos.startups, default=0):.1f}–"
          f"{max(chaos.startups, default=0):.1f} s; each kill came 0–{args.max_uptime:g} s "
          "after the bot began polling")
    spread = Counter(per_kill)
    print(f"worst doubles per kill: {max(per_kill, default=0)} "
          f"(kills by doubles caused: {dict(sorted(spread.items()))})")


if __name__ == "__main__":
    asyncio.run(main())
