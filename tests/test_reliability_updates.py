"""An update is confirmed only after its effects are committed: the claim and the effects are
one transaction, storage faults are retried and then reported to the person, and a press
delivered again after its effects were stored does not run again. Faults come through real
paths: a second connection holding ``BEGIN IMMEDIATE``, a full disk (``max_page_count``),
the fake Bot API answering a proxy's HTML 502."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import updates
from bot.app import App
from fakes.telegram import FakeTelegramServer
from tests import pg
from tests.harness import COORDINATOR, PETROV, Harness, incident_number
from tests.test_reliability_outbox import second_process, short_busy_timeout
from tests.test_vk_chat import (
    VASILIEV,
    VkHarness,
    vk,  # noqa: F401 - the fake VK server fixture
)
from tests.test_vk_chat import otklik as vk_otklik  # noqa: F401 - the VK fixture

NOT_SAVED = "Не удалось сохранить — повторите через минуту."


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(updates, "RETRY_DELAYS", (0.01, 0.01, 0.01))


@pytest.fixture
def locker(otklik: Harness) -> Iterator[sqlite3.Connection]:
    assert otklik.app is not None
    conn = second_process(otklik.app)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def register(otklik: Harness, text: str = "Яма на Ленина") -> int:
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    return incident_number(otklik.last_text(COORDINATOR))


async def claimed(app: App, update_id: int) -> bool:
    async with app.store.read() as uow:
        return await uow.updates.seen("telegram", update_id)


async def test_a_press_while_storage_is_locked_is_answered_and_not_lost(
        otklik: Harness, locker: sqlite3.Connection) -> None:
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    await short_busy_timeout(app)
    locker.execute("BEGIN IMMEDIATE")  # another process writes, longer than every retry
    update = await otklik.press(PETROV, "take", n)
    assert otklik.alerts(PETROV)[-1] == NOT_SAVED
    assert not await claimed(app, update["update_id"])
    locker.execute("ROLLBACK")
    assert (await otklik.incident(n)).state == "assigned"  # nothing half-done
    await otklik.press(PETROV, "take", n)  # the person repeats, as told
    assert (await otklik.incident(n)).state == "in_progress"
    assert otklik.alerts(PETROV)[-1] != NOT_SAVED


async def test_a_draft_written_during_a_short_lock_is_saved_on_a_retry(
        otklik: Harness, locker: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    await short_busy_timeout(app)
    pauses: list[float] = []

    async def lock_released(seconds: float) -> None:
        pauses.append(seconds)
        if locker.in_transaction:
            locker.execute("ROLLBACK")  # the other process finishes while we wait

    monkeypatch.setattr(updates, "pause", lock_released)
    locker.execute("BEGIN IMMEDIATE")
    update = await otklik.say(PETROV, "Яму засыпали щебнем, асфальт положат в мае.")
    assert pauses  # it failed at first, and was tried again
    draft = await app.usecases.queries.draft(n)
    assert draft is not None and draft.text == "Яму засыпали щебнем, асфальт положат в мае."
    assert await claimed(app, update["update_id"])
    assert NOT_SAVED not in otklik.texts(PETROV)


@pytest.mark.skipif(pg.on_postgresql(), reason="a full disk is simulated with SQLite's "
                    "max_page_count; PostgreSQL's faults are covered by the locked cases")
async def test_an_approval_on_a_full_disk_is_reported_and_nothing_is_half_done(
        otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Ответ жителю. " * 300)
    await otklik.press(PETROV, "submit", n)
    async with app.store.read() as uow:
        await uow.conn.execute("VACUUM")  # no free pages left to fill
        [[pages]] = list(await uow.conn.execute_fetchall("PRAGMA page_count"))
        await uow.conn.execute(f"PRAGMA max_page_count={pages}")  # the disk is full
    audit_before = len(await otklik.audit())
    update = await otklik.press(COORDINATOR, "approve", n)
    assert otklik.alerts(COORDINATOR)[-1] == NOT_SAVED
    assert (await otklik.incident(n)).state == "on_review"
    assert len(await otklik.audit()) == audit_before
    assert not await claimed(app, update["update_id"])
    async with app.store.read() as uow:
        await uow.conn.execute("PRAGMA max_page_count=1073741823")  # space freed
    await otklik.press(COORDINATOR, "approve", n)
    assert (await otklik.incident(n)).state == "approved"


async def test_a_redelivered_press_does_not_run_its_prompt_again(
        otklik: Harness, locker: sqlite3.Connection) -> None:
    """The press's effect and its claim are one transaction: whatever happens after the
    commit (here the database is locked by another process right then), the same update
    delivered again is recognised."""
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    await short_busy_timeout(app)
    otklik.server.on_next("answerCallbackQuery", lambda: locker.execute("BEGIN IMMEDIATE"))
    call, data = otklik.button(PETROV, "decline", n)
    update = otklik.server.callback(PETROV, call, data)
    await app.poll_once()
    await updates.settle_answers()  # the answer goes after the commit, without holding up polling
    locker.execute("ROLLBACK")
    otklik.server.redeliver(update["update_id"])
    await otklik.step()
    prompts = [t for t in otklik.texts(PETROV) if t.startswith("Почему инцидент")]
    assert len(prompts) == 1
    assert await claimed(app, update["update_id"])


async def test_an_update_neither_saved_nor_told_stays_unconfirmed(
        otklik: Harness, locker: sqlite3.Connection) -> None:
    app = otklik.app
    assert app is not None
    n = await register(otklik)
    await short_busy_timeout(app)
    locker.execute("BEGIN IMMEDIATE")
    otklik.server.fail_next("answerCallbackQuery", error_code=502, description="Bad Gateway",
                            html=True)
    call, data = otklik.button(PETROV, "take", n)
    otklik.server.callback(PETROV, call, data)
    assert await app.poll_once() == 0  # not handled, not confirmed
    locker.execute("ROLLBACK")
    await otklik.step()  # Telegram delivers it again by itself
    assert (await otklik.incident(n)).state == "in_progress"


async def test_a_vk_press_while_storage_is_locked_is_answered_and_not_lost(
        vk_otklik: VkHarness, tmp_path: Path, server: FakeTelegramServer) -> None:  # noqa: F811
    otklik = vk_otklik
    n = await otklik.register("Яма на Садовой")
    await short_busy_timeout(otklik.a)
    locker = second_process(otklik.a)
    locker.execute("BEGIN IMMEDIATE")
    try:
        await otklik.vk_press(VASILIEV, "take", n)
        assert otklik.snackbars(VASILIEV)[-1] == NOT_SAVED
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert (await otklik.incident(n)).state == "assigned"
    await otklik.vk_press(VASILIEV, "take", n)
    assert (await otklik.incident(n)).state == "in_progress"
