"""Real ``otklik run`` processes for the tests that stop one by a signal
(tests/test_start_stop.py, tests/test_logging.py).

Each start of Python spends seconds importing aiogram, so the processes are started all at
once, in the background, as soon as the collected tests show that one will be needed
(``tests/conftest.py``); each test then finds its bot running (or still starting) and
stops it itself. Every bot has its own directory and its own fake Bot API, served from a
thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.config import TOKEN_ENV
from fakes.telegram import FakeTelegramServer, FakeUser
from tests.harness import CONFIG, TOKEN, served_in_thread

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
# A run that hangs is a failure: a bot is killed after this many seconds of waiting.
HANG = 60.0

# name: (extra config, log level). The bot stopped by SIGTERM logs JSON lines at the debug
# level: tests/test_logging.py reads what it logged (one start of Python fewer); the one
# stopped by Ctrl-C logs plain lines.
BOTS = {
    "SIGTERM": ('\n[logging]\nformat = "json"\n', "debug"),
    "Ctrl-C": ("", "info"),
}


@dataclass(frozen=True)
class Stopped:
    """How a bot ended, stopped by a signal while it was serving."""

    signal: int
    code: int
    stdout: str
    stderr: str
    took: float  # seconds from the signal to the exit


@dataclass
class Running:
    """A bot started by ``otklik run`` in a process of its own."""

    directory: Path
    tg: FakeTelegramServer
    loop: asyncio.AbstractEventLoop
    proc: subprocess.Popen[bytes]
    stopped: Stopped | None = None

    def on_server(self, fn: Callable[[], T]) -> T:
        """``fn`` run in the fake server's loop (its state is that loop's)."""
        async def call() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(30)

    def wait_polling(self) -> None:
        """Until the bot long-polls getUpdates (it is running) or has exited."""
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            if self.tg.calls_to("getUpdates") or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert self.tg.calls_to("getUpdates"), "the bot never started polling: " + \
            (self.directory / "stderr").read_text(encoding="utf-8")[-2000:]

    def stop(self, sig: int, *, answered: FakeUser) -> Stopped:
        """Once it polls and has answered ``/help`` from ``answered``, ``sig`` stops it; the
        outcome is kept, so that every test that reads how this bot ended gets the same one,
        whichever runs first."""
        if self.stopped is None:
            self.wait_polling()
            self.on_server(lambda: self.tg.message(answered, "/help"))
            for _ in range(400):
                if self.tg.sent_to(answered.id):
                    break
                time.sleep(0.05)
            self.proc.send_signal(sig)
            asked = time.monotonic()
            code, out, err = self.finish()
            self.stopped = Stopped(sig, code, out, err, time.monotonic() - asked)
        assert self.stopped.signal == sig, self.stopped
        return self.stopped

    def finish(self) -> tuple[int, str, str]:
        """Wait for the exit: the code, stdout and stderr."""
        try:
            code = self.proc.wait(HANG)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("otklik did not exit: it hangs") from None
        return (code, (self.directory / "stdout").read_text(encoding="utf-8"),
                (self.directory / "stderr").read_text(encoding="utf-8"))


_stack: contextlib.ExitStack | None = None
_bots: dict[str, Running] = {}


def start() -> dict[str, Running]:
    """Start every bot of ``BOTS`` (once), each in a directory of its own."""
    global _stack
    if _stack is not None:
        return _bots
    _stack = contextlib.ExitStack()
    base = Path(tempfile.mkdtemp(prefix="otklik-bots-"))
    _stack.callback(shutil.rmtree, base, True)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | {TOKEN_ENV: TOKEN}
    for name, (extra, level) in BOTS.items():
        directory = base / name
        directory.mkdir(parents=True)
        tg, loop = _stack.enter_context(served_in_thread(FakeTelegramServer(token=TOKEN)))
        path = directory / "otklik.toml"
        path.write_text(CONFIG.format(token=TOKEN, api_base=tg.api_base) + extra,
                        encoding="utf-8")
        out = _stack.enter_context((directory / "stdout").open("wb"))
        err = _stack.enter_context((directory / "stderr").open("wb"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(path), "--log-level", level],
            cwd=ROOT, env=env, stdout=out, stderr=err)
        _stack.callback(_reap, proc)
        _bots[name] = Running(directory, tg, loop, proc)
    return _bots


def stop() -> None:
    """Kill what is still running, stop the fake servers."""
    global _stack
    if _stack is not None:
        _stack.close()
        _stack = None
        _bots.clear()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
