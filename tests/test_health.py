"""Health for the admin (issue 9 item 7): ``GET /healthz`` of the running bot over HTTP, and
``otklik status`` from the database in a shell."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import utcnow
from fakes.telegram import FakeTelegramServer
from tests.harness import COORDINATOR, TOKEN, Clock, Harness, cli, load, write_config
from tests.test_start_stop import config_file, free_port


@pytest.fixture
async def running(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                  ) -> AsyncIterator[tuple[Harness, str]]:
    """The bot running (`App.run`) with ``[http] listen`` and no intake token."""
    port = free_port()
    path = write_config(tmp_path, server, f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    h = Harness(server, load(path), clock)
    await h.start()
    assert h.app is not None
    task = asyncio.create_task(h.app.run(sweep_every=3600))
    try:
        yield h, f"http://127.0.0.1:{port}/healthz"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await h.close()


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(url) as response:
                    return response.status, await response.json()
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


async def until(check: Any) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


async def test_healthz_answers_200_with_every_part(running: tuple[Harness, str],
                                                   server: FakeTelegramServer) -> None:
    h, url = running

    async def swept() -> bool:
        _, doc = await get(url)
        return doc["scheduler"].get("last_run_at") is not None

    await until(swept)
    server.message(COORDINATOR, "/help")

    async def updated() -> bool:
        _, doc = await get(url)
        return (doc["polling"].get("last_update_at") is not None
                and doc["outbox"]["pending"] == 0 and bool(server.sent_to(COORDINATOR.id)))

    await until(updated)
    status, doc = await get(url)
    assert status == 200, doc
    assert doc["status"] == "ok" and doc["problems"] == []
    assert doc["polling"]["ok"] is True and doc["polling"]["failures"] == 0
    assert doc["polling"]["last_update_at"] == h.clock().isoformat(timespec="microseconds")
    assert doc["outbox"]["pending"] == 0 and doc["outbox"]["oldest_age_seconds"] is None
    assert doc["scheduler"]["ok"] is True
    assert doc["vk_sources"] == []
    # healthz needs no intake token, and the intake stays closed without one.
    async with aiohttp.ClientSession() as http, http.post(
            url.replace("/healthz", "/api/incidents"), json={}) as response:
        assert response.status in (404, 405)


async def test_healthz_answers_503_when_the_outbox_is_stuck(
        running: tuple[Harness, str], server: FakeTelegramServer) -> None:
    h, url = running
    server.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=10_000)
    server.message(COORDINATOR, "/help")

    async def pending() -> bool:
        _, doc = await get(url)
        # Only the /help is left, tried and failed: the start-up calls are all sent (one
        # still in flight when the clock moves would count as sent just now).
        assert h.app is not None
        async with h.app.store.read() as uow:
            others = await uow.people._all(
                "SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"
                " AND method != 'sendMessage'")
        tried = any(not c.ok for c in server.calls_to("sendMessage"))
        return doc["outbox"]["pending"] >= 1 and not others and tried

    await until(pending)
    status, doc = await get(url)
    assert status == 200, doc  # a message in retry for a moment is no failure
    h.clock.advance(minutes=6)  # type: ignore[attr-defined]
    status, doc = await get(url)
    assert status == 503
    assert doc["status"] == "failing" and doc["outbox"]["stuck"] is True
    assert doc["outbox"]["oldest_age_seconds"] >= 360
    assert any("outbox" in p for p in doc["problems"])


async def test_healthz_answers_503_when_polling_keeps_failing(
        running: tuple[Harness, str], server: FakeTelegramServer) -> None:
    h, url = running
    assert h.app is not None
    h.app.poll_backoff = 0.01
    server.fail_next("getUpdates", error_code=502, description="Bad Gateway", times=10_000)
    server.message(COORDINATOR, "/help")  # ends the long poll in hand

    async def failing() -> bool:
        status, _ = await get(url)
        return status == 503

    await until(failing)
    _, doc = await get(url)
    assert doc["polling"]["ok"] is False
    assert any("Telegram polling failed" in p and "Bad Gateway" in p for p in doc["problems"])


async def status(*args: str) -> tuple[int, str, str]:
    """``otklik status ARGS``, in this process (another thread: it runs its own loop)."""
    result = await asyncio.to_thread(cli, "status", *args)
    return result.returncode, result.stdout, result.stderr


async def test_status_prints_the_health_of_a_running_and_a_stopped_bot(
        server: FakeTelegramServer, tmp_path: Path) -> None:
    # The bot runs as `otklik run` runs it (App.run, the real clock), in this process.
    path = config_file(tmp_path, server.api_base, token=TOKEN)
    h = Harness(server, load(path), utcnow)
    app = await h.start()
    try:
        task = asyncio.create_task(app.run())
        try:
            for _ in range(500):
                if server.calls_to("getUpdates"):
                    break
                await asyncio.sleep(0.02)
            for _ in range(500):  # until the first sweep has been recorded
                code, out, err = await status("--config", str(path))
                if "last run 20" in out:
                    break
                await asyncio.sleep(0.02)
            assert code == 0, out + err
            lines = out.splitlines()
            assert lines[0] == "status: ok"
            assert lines[1].startswith("telegram polling: OK; last poll 20")
            assert re.fullmatch(r"outbox: \d+ pending(, the oldest \d+ s old)?; last sent .+",
                                lines[2]), lines
            assert lines[3].startswith("scheduler: OK; last run 20")
            code, out, _ = await status("--config", str(path), "--json")
            assert json.loads(out)["status"] == "ok"
        finally:
            app.request_stop()
            await asyncio.wait_for(task, 30)
    finally:
        await h.close()
    code, out, _ = await status("--config", str(path))
    assert code == 1
    assert out.startswith("status: failing (not running)\nproblem: the bot is not running "
                          "(stopped at 20")


async def test_status_of_a_missing_database_says_so(tmp_path: Path) -> None:
    path = config_file(tmp_path, "http://127.0.0.1:9")
    code, out, err = await status("--config", str(path))
    assert code == 2 and out == ""
    assert "otklik.sqlite3 does not exist (has the bot run yet?)" in err



async def test_healthz_shows_each_watched_vk_community(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    from bot import health
    from fakes.vk import FakeVkServer
    from tests.test_vk_source import (
        DISTRICT,
        GROUP_TOKEN,
        MISSING,
        SERVICE_TOKEN,
        USER_TOKEN,
        started,
    )

    tokens = {GROUP_TOKEN: "group", SERVICE_TOKEN: "service", USER_TOKEN: "user"}
    async with FakeVkServer(tokens=tokens) as vk:
        vk.add_group(-DISTRICT, "Подслушано Новокузнецк")
        async with started(server, vk, tmp_path, clock,
                           communities=(MISSING, DISTRICT)) as h:
            assert h.app is not None
            [(_, _, poll)] = h.app._pollers()
            await poll()  # as the scheduler runs it
            doc = await health.live_report(h.app.store, h.app.health)
            saved = await health.saved_parts(h.app.store)
    assert sorted(doc["vk_sources"], key=lambda s: s["owner_id"] != MISSING) == [
        {"owner_id": MISSING, "state": "failing", "error_code": 100},
        {"owner_id": DISTRICT, "state": "ok", "error_code": None},
    ]
    assert saved[f"vk_source:{MISSING}"]["state"] == "failing"  # `otklik status` sees it too
