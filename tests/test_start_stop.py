"""`otklik run` as a service manager runs it: a failed start is one line and an exit code,
never a hang; SIGTERM stops it; a part that dies ends the process (issue 8 items 1 and 5,
issue 9 item 3). The failed starts run the CLI in this process (``tests.harness.cli``, the
fake Bot API served from another thread); the stops by a signal run it as a subprocess
(tests/processes.py, started early in the background)."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import socket
import sqlite3
from pathlib import Path

import pytest

from bot.app import EXIT_FAILED, StartError
from bot.config import TOKEN_ENV
from fakes.telegram import FakeTelegramServer
from tests import pg
from tests.harness import CONFIG, COORDINATOR, TOKEN, Harness, cli, in_thread
from tests.processes import Running

ROOT = Path(__file__).resolve().parent.parent
# A run that hangs is a failure: it is stopped after this many seconds.
HANG = 60.0


def config_file(directory: Path, api_base: str, extra: str = "", *, token: str = "") -> Path:
    path = directory / "otklik.toml"
    text = CONFIG.format(token=token, api_base=api_base) + extra
    path.write_text(text, encoding="utf-8")
    return path


def run_here(*args: str, token: str | None = None) -> tuple[int, str, str]:
    """The CLI in this process (``tests.harness.cli``), without starting Python again."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    result = cli(*args, env=env, cwd=ROOT)
    assert gc.isenabled()  # a start that failed leaves the collector on (bot/cli.py run_bot)
    return result.returncode, result.stdout, result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_token_is_one_line_and_exit_3(tmp_path: Path) -> None:
    wrong = "123456:WRONG-token-for-this-bot-abcdefghij"
    with in_thread(FakeTelegramServer(token=TOKEN)) as tg:
        path = config_file(tmp_path, tg.api_base)
        code, out, err = run_here("run", "--config", str(path), token=wrong)
    assert code == 3, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"otklik: Telegram refused the token (401): check {TOKEN_ENV}"], err
    assert "Traceback" not in err and wrong not in err + out
    assert out == ""


def test_an_unreachable_telegram_is_retried_then_exit_5(tmp_path: Path) -> None:
    api_base = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    path = config_file(tmp_path, api_base, token="123456:some-token-value",
                       extra="")
    text = path.read_text(encoding="utf-8").replace(
        f'api_base = "{api_base}"', f'api_base = "{api_base}"\nstart_timeout = 0.3')
    path.write_text(text, encoding="utf-8")
    code, _, err = run_here("run", "--config", str(path))
    assert code == 5, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"otklik: Telegram is unreachable at {api_base}")
    assert "after 0.3 s of retries" in last and "proxy" in last
    assert re.search(r"retrying in 0\.[0-9]+ s", err), err  # it retried before giving up
    assert "Traceback" not in err


def test_an_unopenable_database_is_exit_4(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "otklik.sqlite3").write_bytes(b"this is not a database" * 100)
    with in_thread(FakeTelegramServer(token=TOKEN)) as tg:
        path = config_file(tmp_path, tg.api_base, token=TOKEN)
        text = path.read_text(encoding="utf-8").replace(
            'database = "otklik.sqlite3"', 'database = "db/otklik.sqlite3"')
        path.write_text(text, encoding="utf-8")
        code, _, err = run_here("run", "--config", str(path))
    assert code == 4, err
    line = err.strip()
    assert "\n" not in line and line.startswith("otklik: cannot open the database ")
    assert "file is not a database" in line
    assert TOKEN not in err


def test_config_without_a_token_is_an_error_not_the_demo(tmp_path: Path) -> None:
    with in_thread(FakeTelegramServer(token=TOKEN)) as tg:
        path = config_file(tmp_path, tg.api_base)
        code, out, err = run_here("run", "--config", str(path))
        assert tg.calls == []
    assert code == 2
    assert err.strip() == (f"{path}: no bot token: set {TOKEN_ENV} in the environment "
                           "(or [telegram] token)")
    assert out == ""  # no demo transcript


SIGNALS = {"SIGTERM": signal.SIGTERM, "Ctrl-C": signal.SIGINT}


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_signal_stops_a_running_bot_cleanly(bot_processes: dict[str, Running],
                                             name: str) -> None:
    bot, sig = bot_processes[name], SIGNALS[name]
    stopped = bot.stop(sig, answered=COORDINATOR)  # after it answered /help
    code, err, took = stopped.code, stopped.stderr, stopped.took
    assert code == 0, err
    assert took < 10, f"stopping took {took:.1f} s"
    assert "stopped cleanly" in err
    assert "Traceback" not in err and TOKEN not in err
    # A clean stop checkpoints the WAL: the database file alone holds everything.
    wal = bot.directory / "otklik.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    db = sqlite3.connect(f"file:{bot.directory / 'otklik.sqlite3'}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT count(*) FROM people").fetchone()[0] == 5
    finally:
        db.close()


async def test_a_dead_part_ends_the_run_instead_of_running_half_alive(
        otklik: Harness, server: FakeTelegramServer) -> None:
    """If the outbox sender dies anyway, `run` ends with EXIT_FAILED (the CLI exits 1 and
    systemd restarts the bot) while polling would otherwise go on."""
    app = otklik.app
    assert app is not None

    async def broken() -> None:
        await asyncio.sleep(0.1)
        raise RuntimeError("the sender broke")

    app.outbox.run = broken  # type: ignore[method-assign]
    with pytest.raises(StartError) as caught:
        await asyncio.wait_for(app.run(sweep_every=3600), HANG)
    assert caught.value.code == EXIT_FAILED
    assert "the outbox sender: RuntimeError: the sender broke" in caught.value.message


async def test_a_failing_scheduler_job_ends_the_run(otklik: Harness) -> None:
    app = otklik.app
    assert app is not None

    class Escaped(BaseException):
        """Something no guard of a job catches."""

    async def escapes() -> None:
        raise Escaped

    app._jobs = lambda: [("escaping", 3600.0, escapes)]  # type: ignore[method-assign]
    with pytest.raises(StartError) as caught:
        await asyncio.wait_for(app.run(sweep_every=3600), HANG)
    assert caught.value.code == EXIT_FAILED
    assert "the scheduler: job escaping failed" in caught.value.message



@pytest.mark.skipif(pg.on_postgresql(), reason="locks the SQLite file from another "
                    "connection (PostgreSQL's locks: tests/test_reliability_*.py)")
async def test_a_stop_finishes_the_update_in_hand(otklik: Harness, server: FakeTelegramServer,
                                                  tmp_path: Path) -> None:
    """The update being handled when the stop comes is finished and committed; the run then
    ends by itself (no cancellation from outside)."""
    app = otklik.app
    assert app is not None
    task = asyncio.create_task(app.run(sweep_every=3600))
    for _ in range(400):
        if server.calls_to("getUpdates"):
            break
        await asyncio.sleep(0.02)
    other = sqlite3.connect(tmp_path / "otklik.sqlite3", isolation_level=None, timeout=30,
                            check_same_thread=False)
    # Another process holds the write lock for a moment (taken off the loop: the bot may be
    # inside a short write of its own).
    await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
    update = server.message(COORDINATOR, "/help")
    try:
        for _ in range(400):
            if app._handling:
                break
            await asyncio.sleep(0.02)
        assert app._handling == 1, "the update never came into hand"
        app.request_stop()
        await asyncio.sleep(0.3)
        assert not task.done()  # still finishing the update in hand
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(task, 10)  # ends by itself within the grace period
    async with app.store.read() as uow:
        assert await uow.updates.seen("telegram", update["update_id"])


def test_the_demo_with_an_unusable_config_fails_in_one_line(tmp_path: Path) -> None:
    api_base = f"http://127.0.0.1:{free_port()}"
    path = config_file(tmp_path, api_base, token="123456:some-token-value")
    text = path.read_text(encoding="utf-8").replace(
        f'api_base = "{api_base}"', f'api_base = "{api_base}"\nstart_timeout = 0.3')
    path.write_text(text, encoding="utf-8")
    code, _, err = run_here("demo", "--config", str(path))
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("otklik demo failed: StartError: Telegram is unreachable at")
    assert "Traceback" not in err


def test_a_dead_proxy_is_an_unreachable_telegram_naming_the_proxy(tmp_path: Path) -> None:
    with in_thread(FakeTelegramServer(token=TOKEN)) as tg:
        path = config_file(tmp_path, tg.api_base, token=TOKEN)
        text = path.read_text(encoding="utf-8").replace(
            "[telegram]\n", f'[telegram]\nproxy = "socks5://127.0.0.1:{free_port()}"\n'
                            "start_timeout = 0.3\n", 1)
        path.write_text(text, encoding="utf-8")
        code, _, err = run_here("run", "--config", str(path))
        assert tg.calls == []  # nothing went around the proxy
    assert code == 5, err
    last = err.strip().splitlines()[-1]
    assert "Couldn't connect to proxy" in last and last.endswith("check [telegram] proxy")


def test_a_port_in_use_for_http_listen_is_a_config_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with in_thread(FakeTelegramServer(token=TOKEN)) as tg:
            path = config_file(tmp_path, tg.api_base, f'\n[http]\nlisten = "127.0.0.1:{port}"\n',
                               token=TOKEN)
            code, _, err = run_here("run", "--config", str(path))
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith(
        f"otklik: cannot listen on 127.0.0.1:{port} ([http] listen): ")
