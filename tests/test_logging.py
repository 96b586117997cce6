"""Logs an admin can read (issue 9 item 6) and that never carry a secret (issue 8 item 11)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import Iterator

import aiohttp
import pytest

from bot import logs
from bot.scheduler import start_scheduler
from fakes.telegram import FakeTelegramServer
from tests.harness import COORDINATOR, PETROV, TOKEN, Harness, incident_number
from tests.processes import Running

BOT_TOKEN = "7012345678:AAHx9-very-secret-bot-token-value-123"
VK_TOKEN = "vk1.a.secret-community-token-value"
INTAKE_TOKEN = "intake-secret-token-value"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Otklik's handler writing to a string; the root logger restored afterwards."""
    root = logging.getLogger()
    level = root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET}
    out = io.StringIO()
    logs.setup("INFO", stream=out)
    try:
        yield out
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == logs.HANDLER_NAME:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


async def test_a_failed_download_logs_its_url_without_the_token(stream: io.StringIO) -> None:
    """aiohttp's errors carry the request URL, which carries the bot token."""
    logs.add_secrets([BOT_TOKEN, VK_TOKEN, INTAKE_TOKEN])
    async with FakeTelegramServer() as tg, aiohttp.ClientSession() as http:
        url = f"{tg.api_base}/file/bot{BOT_TOKEN}/photos/missing.jpg"
        try:
            async with http.get(url, raise_for_status=True):
                pass
        except aiohttp.ClientResponseError:
            logging.getLogger("bot.test").exception("download of %s failed", url)
    text = stream.getvalue()
    assert "download of" in text and "ClientResponseError" in text  # the traceback is there
    assert "/file/bot***/photos/missing.jpg" in text
    assert BOT_TOKEN not in text and "AAHx9" not in text


def test_every_kind_of_secret_is_masked(stream: io.StringIO) -> None:
    logs.add_secrets([VK_TOKEN, INTAKE_TOKEN])
    log = logging.getLogger("bot.test")
    unregistered = "5550001:" + "Z" * 35  # shaped like a bot token, never configured
    log.warning("vk said %s", f"https://api.vk.ru/method/wall.get?access_token={VK_TOKEN}&v=5")
    log.warning("intake: Authorization: Bearer %s", INTAKE_TOKEN)
    log.warning("token %s in text", unregistered)
    log.warning("GET https://api.telegram.org/bot5550002:%s/getUpdates failed", "Y" * 12)
    try:
        raise RuntimeError(f"failed with {VK_TOKEN}")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    for secret in (VK_TOKEN, INTAKE_TOKEN, unregistered):
        assert secret not in text
    assert "access_token=***&v=5" in text and "Bearer ***" in text
    assert "/bot5550002:***/getUpdates" in text and "YYYY" not in text
    assert "RuntimeError: failed with ***" in text


def test_json_lines_have_time_level_logger_and_message() -> None:
    out = io.StringIO()
    logs.setup("WARNING", "json", stream=out)
    try:
        logs.add_secrets([INTAKE_TOKEN])
        logging.getLogger("bot.app").info("not shown at WARNING")
        logging.getLogger("bot.app").warning("Отказ: %s", INTAKE_TOKEN)
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if handler.get_name() == logs.HANDLER_NAME:
                root.removeHandler(handler)
        root.setLevel(logging.WARNING)
    [line] = out.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "bot.app"
    assert entry["message"] == "Отказ: ***"
    assert entry["time"].endswith("+00:00") and entry["time"][:2] == "20"


async def test_the_scheduler_does_not_log_every_run(otklik: Harness,
                                                    stream: io.StringIO) -> None:
    assert otklik.app is not None
    runs = 0
    five = asyncio.Event()

    async def job() -> None:
        nonlocal runs
        runs += 1
        if runs == 5:
            five.set()

    scheduler = start_scheduler(otklik.app.usecases, otklik.app.store, every_seconds=3600,
                                pollers=[("tick", 0.05, job)])
    try:
        await asyncio.wait_for(five.wait(), 30)
    finally:
        scheduler.shutdown(wait=False)
    text = stream.getvalue()
    assert "Running job" not in text and "executed successfully" not in text
    assert "apscheduler" not in text


async def test_one_info_line_per_state_change_with_the_incident_number(
        otklik: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.storage.sqlite")
    await otklik.say(COORDINATOR, "Яма на Ленина, машины бьют колёса")
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    await otklik.press(PETROV, "take", n)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.storage.sqlite"]
    assert lines == [f"incident #{n}: registered as new (register, by person 1)",
                     f"incident #{n}: new → assigned (assign, by the system)",
                     f"incident #{n}: assigned → in_progress (take, by person 2)"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "bot.storage.sqlite")


def test_the_cli_logs_json_without_the_token(bot_processes: dict[str, Running]) -> None:
    """The bot that tests/test_start_stop.py stops by SIGTERM logs JSON at the debug level."""
    bot = bot_processes["SIGTERM"]
    stopped = bot.stop(signal.SIGTERM, answered=COORDINATOR)
    code, err = stopped.code, stopped.stderr
    assert code == 0, err
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert any(e["message"] == "stopped cleanly" for e in entries)
    assert TOKEN not in err
