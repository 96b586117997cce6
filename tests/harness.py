"""An Otklik instance wired to the fake Bot API server, and people who press its buttons.

The real aiogram ``Bot`` talks HTTP to :class:`FakeTelegramServer` on loopback; the harness
plays users by pushing updates and reads what the bot sent from the server's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.config import Config, load_config
from fakes.driver import Clock, Driver
from fakes.telegram import FakeTelegramServer, FakeUser
from tests import pg

T = TypeVar("T")

TOKEN = "123456:TEST-token"
ROOT = Path(__file__).resolve().parent.parent

# Monday 2026-11-23 09:00 in Novokuznetsk (UTC+7).
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

COORDINATOR = FakeUser(1001, "Анна", "Иванова")
PETROV = FakeUser(2001, "Павел", "Петров")
SIDOROVA = FakeUser(2002, "Мария", "Сидорова")
CURATOR = FakeUser(3001, "Олег", "Кузнецов")
BLOCK_OWNER = FakeUser(4001, "Дмитрий", "Морозов")
STRANGER = FakeUser(9999, "Незнакомец")

NAMES = {COORDINATOR.id: "Координатор", PETROV.id: "Петров (дороги)",
         SIDOROVA.id: "Сидорова (ЖКХ)", CURATOR.id: "Куратор", STRANGER.id: "Незнакомец"}

CONFIG = """
timezone = "Asia/Novokuznetsk"
database = "otklik.sqlite3"
files_dir = "files"

[telegram]
token = "{token}"
api_base = "{api_base}"
groups = [-1001234567890]

[[departments]]
key = "roads"
name = "Дорожное хозяйство"

[[departments]]
key = "housing"
name = "Отдел ЖКХ"

[[categories]]
key = "roads"
name = "Дороги"
block = "Дороги и транспорт"
department = "roads"
keywords = ["яма", "асфальт", "дорога"]

[[categories]]
key = "housing"
name = "ЖКХ"
block = "ЖКХ"
department = "housing"
keywords = ["отопление", "батарея", "горячая вода"]
stop_words = ["сантехник"]

[[people]]
name = "Иванова Анна"
roles = ["coordinator", "admin"]
telegram_id = 1001

[[people]]
name = "Петров Павел"
roles = ["executor"]
departments = ["roads"]
telegram_id = 2001

[[people]]
name = "Сидорова Мария"
roles = ["executor"]
departments = ["housing", "roads"]
telegram_id = 2002

[[people]]
name = "Кузнецов Олег"
roles = ["curator"]
telegram_id = 3001

[[people]]
name = "Морозов Дмитрий"
roles = ["block_owner"]
departments = ["roads"]
telegram_id = 4001
"""


def make_clock() -> Clock:
    return Clock(START)


def write_config(directory: Path, server: FakeTelegramServer, extra: str = "") -> Path:
    path = directory / "otklik.toml"
    text = CONFIG.format(token=TOKEN, api_base=server.api_base)
    if pg.on_postgresql():  # OTKLIK_TEST_DATABASE: a fresh schema of the local PostgreSQL
        text = text.replace('database = "otklik.sqlite3"', f'database = "{pg.fresh_url()}"')
    path.write_text(text + extra, encoding="utf-8")
    return path


class Harness(Driver):
    """The driver plus what tests read: the audit log and incidents from the store."""

    async def audit(self) -> list[Any]:
        assert self.app is not None
        async with self.app.store.read() as uow:
            return await uow.audit.entries()

    async def incident(self, n: int) -> Any:
        assert self.app is not None
        return await self.app.usecases.queries.incident(n)


def incident_number(text: str) -> int:
    found = re.search(r"№(\d+)", text)
    assert found, text
    return int(found.group(1))


def load(path: Path) -> Config:
    return load_config(path)


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)


def cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | str = ROOT
        ) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` run in this process: ``bot.cli.main`` with ``env`` as the whole
    environment (default: this one), ``cwd`` as the working folder, and what it prints to
    stdout and stderr (its log lines included) captured, as ``subprocess.run`` would.

    Not for an async test (the commands run their own event loop), nor for ``run`` with a
    token (it polls until stopped: tests/test_start_stop.py runs that as a real process)."""
    from bot import cli as command_line

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    levels = _logger_levels()
    handlers = list(root.handlers)
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        if env is not None:
            for key in set(os.environ) - set(env):
                mp.delenv(key)
            for key, value in env.items():
                mp.setenv(key, value)
        mp.chdir(cwd)
        try:
            code = command_line.main(list(args))
        except SystemExit as e:  # argparse: a usage error
            code = e.code if isinstance(e.code, int) else 1
        finally:
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            for name in _logger_levels():
                logging.getLogger(name or None).setLevel(levels.get(name, logging.NOTSET))
    return subprocess.CompletedProcess(["otklik", *args], code, out.getvalue(), err.getvalue())


def _logger_levels() -> dict[str, int]:
    return {"": logging.root.level} | {
        name: logger.level for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)}


@contextlib.contextmanager
def in_thread(server: AbstractAsyncContextManager[T]) -> Iterator[T]:
    """A fake server (any async context manager) served by an event loop of its own in
    another thread, for a test that runs the CLI in this one (the CLI runs its own loop)."""
    with served_in_thread(server) as (entered, _):
        yield entered


@contextlib.contextmanager
def served_in_thread(server: AbstractAsyncContextManager[T]
                     ) -> Iterator[tuple[T, asyncio.AbstractEventLoop]]:
    """``in_thread`` that also gives the server's loop, to act on the server from this
    thread (``asyncio.run_coroutine_threadsafe``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake server", daemon=True)
    thread.start()
    try:
        entered = asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(30)
        try:
            yield entered, loop
        finally:
            asyncio.run_coroutine_threadsafe(
                server.__aexit__(None, None, None), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
