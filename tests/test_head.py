"""The head of the МЦУ (role ``head``, руководитель МЦУ): the weekly note, a monthly note on
the first working day of the month, escalations, and the oversight commands — through the
real aiogram Bot against the fake Bot API, with the scheduler's jobs called by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import analytics
from fakes.telegram import FakeTelegramServer, FakeUser
from fakes.vk import FakeVkServer
from tests.harness import (
    BLOCK_OWNER,
    COORDINATOR,
    CURATOR,
    PETROV,
    Clock,
    Harness,
    incident_number,
    load,
    write_config,
)
from tests.test_analytics import seed, uploads
from tests.test_vk_chat import VK_TOKEN, VkHarness, running

TZ = ZoneInfo("Asia/Novokuznetsk")
HEAD = FakeUser(5001, "Виктория", "Серб")
# Head and curator at once: one copy of each message, not two.
BOTH = FakeUser(5002, "Ирина", "Лебедева")

PEOPLE = """
[[people]]
name = "Серб Виктория"
roles = ["head"]
telegram_id = 5001

[[people]]
name = "Лебедева Ирина"
roles = ["head", "curator"]
telegram_id = 5002
"""


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
async def otklik(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                 ) -> AsyncIterator[Harness]:
    h = Harness(server, load(write_config(tmp_path, server, PEOPLE)), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()


def notes(otklik: Harness, user: FakeUser) -> list[str]:
    return [t for t in otklik.texts(user) if "Аналитическая записка МЦУ" in t]


async def test_weekly_note_reaches_the_head_and_the_curator_once_each(
        otklik: Harness, server: FakeTelegramServer) -> None:
    await seed(otklik)
    assert otklik.app is not None
    otklik.clock.now = local(2026, 11, 23, 8)
    assert await analytics.weekly_note(otklik.app.usecases.digests)
    await otklik.step()
    for user in (HEAD, CURATOR, BOTH):
        (note,) = notes(otklik, user)
        assert "Период: <b>16.11.2026 – 22.11.2026</b>" in note
    assert sorted(len(c) > 0 for c in uploads(server, HEAD.id)) == [True, True]  # chart, xlsx
    assert not notes(otklik, COORDINATOR)


async def test_monthly_note_on_the_first_working_day_once(
        otklik: Harness, server: FakeTelegramServer) -> None:
    await seed(otklik)
    app = otklik.app
    assert app is not None
    # Tuesday 1 December 2026, before the working day: nothing; at 08:00: November's note.
    otklik.clock.now = local(2026, 12, 1, 7, 59)
    assert not await analytics.monthly_note(app.usecases.digests)
    otklik.clock.now = local(2026, 12, 1, 8)
    assert await analytics.monthly_note(app.usecases.digests)
    await otklik.step()
    for user in (HEAD, BOTH):
        (note,) = notes(otklik, user)
        assert "Период: <b>01.11.2026 – 30.11.2026</b>" in note
        assert "к прошлому месяцу (01.10.2026 – 31.10.2026)" in note
    assert not notes(otklik, CURATOR)  # the monthly note is the head's
    assert len(uploads(server, HEAD.id)) == 2

    # Later that day and after a restart: not again.
    sent = len(server.sent_to(HEAD.id))
    app = await otklik.restart()
    otklik.clock.now = local(2026, 12, 1, 15)
    assert not await analytics.monthly_note(app.usecases.digests)
    otklik.clock.now = local(2026, 12, 14, 9)
    assert not await analytics.monthly_note(app.usecases.digests)
    await otklik.step()
    assert len(server.sent_to(HEAD.id)) == sent


async def test_monthly_note_waits_for_the_first_working_day_after_the_holidays(
        otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    # 1–10 January 2027 are holidays and a weekend; Monday the 11th is the first working day.
    for day in (1, 4, 9, 10):
        otklik.clock.now = local(2027, 1, day, 10)
        assert not await analytics.monthly_note(app.usecases.digests), day
    otklik.clock.now = local(2027, 1, 11, 8, 30)
    assert await analytics.monthly_note(app.usecases.digests)
    await otklik.step()
    (note,) = notes(otklik, HEAD)
    assert "Период: <b>01.12.2026 – 31.12.2026</b>" in note


async def test_a_missed_monthly_note_goes_at_the_next_call(otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    # The bot was down on Monday 2 November 2026 (1 November is a Sunday): it goes on the 5th.
    otklik.clock.now = local(2026, 11, 5, 11)
    assert await analytics.monthly_note(app.usecases.digests)
    await otklik.step()
    (note,) = notes(otklik, HEAD)
    assert "Период: <b>01.10.2026 – 31.10.2026</b>" in note


async def test_no_head_no_monthly_note(server: FakeTelegramServer, tmp_path: Path,
                                       clock: Clock) -> None:
    h = Harness(server, load(write_config(tmp_path, server)), clock)
    await h.start()
    try:
        assert h.app is not None
        h.clock.now = local(2026, 12, 1, 9)
        assert not await analytics.monthly_note(h.app.usecases.digests)
        async with h.app.store.read() as uow:
            assert await uow.jobs.last_day(analytics.MONTHLY_JOB) is None
    finally:
        await h.close()


async def test_escalation_reaches_the_head_with_the_curator(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 20, 16)  # Friday; answer due Monday 15:00
    await otklik.say(COORDINATOR, "Яма на Ленина")
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    assert otklik.app is not None
    for when in (local(2026, 11, 23, 15), local(2026, 11, 24, 8)):
        otklik.clock.now = when
        await otklik.app.usecases.sweep.sweep()
        await otklik.step()
    for user in (BLOCK_OWNER, CURATOR, HEAD, BOTH):
        escalations = [t for t in otklik.texts(user) if "Эскалация" in t]
        assert len(escalations) == 1, user
        assert f"№{n}" in escalations[0]
    # The deadline pings are not the head's.
    assert not [t for t in otklik.texts(HEAD) if "Просрочен инцидент" in t]
    assert otklik.button(HEAD, "remind", n)
    assert not [t for t in otklik.texts(HEAD) if "Срок ответа по инциденту" in t]
    assert [t for t in otklik.texts(PETROV) if "Срок ответа по инциденту" in t]


async def test_the_head_oversees_everything(otklik: Harness) -> None:
    await seed(otklik)
    otklik.clock.now += timedelta(minutes=1)
    before = len(otklik.texts(HEAD))
    await otklik.say(HEAD, "/open")
    listed = "\n".join(otklik.texts(HEAD)[before:])
    assert all(f"№{n}" in listed for n in (2, 3, 4)), listed
    await otklik.say(HEAD, "/incident 3")
    assert "№3" in otklik.last_text(HEAD)
    await otklik.say(HEAD, "/report week")
    await otklik.step()
    assert "Период: <b>16.11.2026 – 22.11.2026</b>" in otklik.last_text(HEAD)


# -- a head who works from the VK community chat ---------------------------------------------

HEAD_VK = 7200


@pytest.fixture
async def vk_otklik(server: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[VkHarness]:
    head = f'\n[[people]]\nname = "Серб Виктория"\nroles = ["head"]\nvk_id = {HEAD_VK}\n'
    async with FakeVkServer(tokens={VK_TOKEN: "group"}) as vk, \
            running(server, vk, tmp_path, head) as h:
        yield h


async def test_a_head_in_vk_gets_the_notes_and_the_escalations(vk_otklik: VkHarness) -> None:
    h = vk_otklik
    n = await h.register("Яма на Ленина")  # Monday 09:00: due at 17:00, escalated Tuesday 10:00
    for when in (local(2026, 11, 23, 17), local(2026, 11, 24, 10)):
        h.clock.now = when
        await h.a.usecases.sweep.sweep()
        await h.step()
    assert [t for t in h.vk_texts(HEAD_VK) if "Эскалация" in t and f"№{n}" in t]
    h.clock.now = local(2026, 11, 30, 9)  # Monday: the weekly note
    assert await analytics.weekly_note(h.a.usecases.digests)
    h.clock.now = local(2026, 12, 1, 9)  # Tuesday the 1st: the monthly note
    assert await analytics.monthly_note(h.a.usecases.digests)
    await h.step()
    notes_vk = [t for t in h.vk_texts(HEAD_VK) if "Аналитическая записка МЦУ" in t]
    assert len(notes_vk) == 2
    assert "Период: 23.11.2026 – 29.11.2026" in notes_vk[0]
    assert "Период: 01.11.2026 – 30.11.2026" in notes_vk[1]
