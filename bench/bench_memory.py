"""Benchmark: the resident memory of ``otklik run`` after start, on an empty database.

Starts the bot as a real process (``otklik run``) against the fake Bot API, waits until it
polls for updates and has sent its start-up calls, then reads its RSS from ``/proc`` and
lists the heavy libraries it has imported. The last line is the ratio to the target
(150 MiB; ≤ 1.0 meets it). Not a test.

    .venv/bin/python bench/bench_memory.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes.telegram import FakeTelegramServer  # noqa: E402
from tests.harness import TOKEN, write_config  # noqa: E402

TARGET_MIB = 150
HEAVY = ("matplotlib", "xlsxwriter", "sklearn", "numpy", "scipy", "pymorphy3", "PIL")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def loaded(pid: int) -> list[str]:
    """Heavy libraries mapped into the process (their shared objects or files)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in HEAVY if f"/{name}/" in maps or f"/{name}." in maps]


BARE = """
import asyncio, sys
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
async def main():
    bot = Bot(sys.argv[1], session=AiohttpSession(api=TelegramAPIServer.from_base(sys.argv[2])))
    await Dispatcher().start_polling(bot, handle_signals=True)
asyncio.run(main())
"""


async def bare_rss(tg: FakeTelegramServer) -> float:
    """RSS of a bare aiogram bot polling the same fake: what aiogram alone costs."""
    before = len([c for c in tg.calls if c.method == "getUpdates"])
    proc = subprocess.Popen(  # noqa: ASYNC220 - the bench waits on it by polling
        [sys.executable, "-c", BARE, TOKEN, tg.api_base],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            await asyncio.sleep(0.1)
            if len([c for c in tg.calls if c.method == "getUpdates"]) > before + 1:
                break
        await asyncio.sleep(1.0)
        return rss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


async def main() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegramServer(token=TOKEN) as tg:
            config = write_config(Path(tmp), tg)
            env = {**os.environ, "OTKLIK_TELEGRAM_TOKEN": TOKEN}
            proc = subprocess.Popen(  # noqa: ASYNC220 - the bench waits on it by polling
                [sys.executable, "-m", "bot", "run", "--config", str(config)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(600):
                    await asyncio.sleep(0.1)
                    polls = [c for c in tg.calls if c.method == "getUpdates"]
                    if len(polls) >= 2 or proc.poll() is not None:
                        break
                await asyncio.sleep(2.0)  # the first jobs (detection, digest) run at start
                if proc.poll() is not None:
                    raise SystemExit(f"otklik run exited with {proc.returncode}")
                rss, heavy = rss_mib(proc.pid), loaded(proc.pid)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)  # noqa: ASYNC222
                except subprocess.TimeoutExpired:
                    proc.kill()
            bare = await bare_rss(tg)
    print(f"heavy libraries loaded after start: {', '.join(heavy) or 'none'}")
    print(f"RSS of a bare aiogram bot polling the same fake: {bare:.0f} MiB")
    print(f"RSS of otklik run after start: {rss:.0f} MiB (target < {TARGET_MIB} MiB)")
    print(f"ratio to target: {rss / TARGET_MIB:.2f}")
    return rss


if __name__ == "__main__":
    asyncio.run(main())
