"""The analytic note and exports where people get them: ``/report`` and ``/export`` in the
chat, the weekly note to the curator on the scheduler's clock, and ``otklik report`` in the
shell. The figures themselves are checked in ``test_reports``; here the data is small enough
to count by eye, and the files are read back from what reached the fake Bot API."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image

from bot import analytics
from bot.cli import main
from bot.storage import open_storage
from fakes.telegram import FakeTelegramServer
from tests import test_metrics as hand
from tests.harness import COORDINATOR, CURATOR, PETROV, Harness
from tests.test_reports import fill
from workflows.model import Incident, Priority, Sighting, State

TZ = ZoneInfo("Asia/Novokuznetsk")
EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=TZ)


# Last week as the harness's clock sees it (Monday 2026-11-23 09:00): three incidents, two on
# roads (one answered), one on housing; and one from the week before, outside the period.
LAST_WEEK = [
    (1, "roads", "roads", local(2026, 11, 16, 10), State.CLOSED),
    (2, "roads", "roads", local(2026, 11, 18, 11), State.IN_PROGRESS),
    (3, "housing", "housing", local(2026, 11, 20, 15), State.ASSIGNED),
    (4, "housing", "housing", local(2026, 11, 12, 9), State.ASSIGNED),
]


async def seed(otklik: Harness) -> None:
    assert otklik.app is not None
    async with otklik.app.store.write() as uow:
        for n, category, department, at, state in LAST_WEEK:
            incident = Incident(
                id=n, state=state, source="incident_management",
                text=f"Жалоба {n}", category=category, department=department,
                executor_id=None, priority=Priority.NORMAL, registered_at=at.astimezone(UTC),
                answer_due=(at + timedelta(days=1)).astimezone(UTC))
            await uow.incidents.add(incident, at.astimezone(UTC),
                                     Sighting("incident_management", f"im-{n}", incident.text,
                                              category))


def uploads(server: FakeTelegramServer, chat_id: int) -> list[bytes]:
    """The bytes of every file uploaded to a chat, in order."""
    return [content for call in server.sent_to(chat_id) for content in call.files.values()]


def by_kind(files: list[bytes], kind: str) -> bytes:
    (content,) = [c for c in files if _kind(c) == kind]
    return content


def _kind(content: bytes) -> str:
    if content.startswith(b"\x89PNG"):
        return "png"
    if content.startswith(b"PK"):
        return "xlsx"
    return "csv"


async def test_report_week_sends_the_note_its_chart_and_workbook(otklik: Harness,
                                                                  server: FakeTelegramServer
                                                                  ) -> None:
    await seed(otklik)
    await otklik.say(COORDINATOR, "/report week")
    await otklik.step()

    note = otklik.last_text(COORDINATOR)
    assert "Период: <b>16.11.2026 – 22.11.2026</b>" in note
    assert "Asia/Novokuznetsk, UTC+07:00" in note
    assert "Новые: <b>3</b> (+2)" in note  # 3 last week against 1 the week before
    files = uploads(server, COORDINATOR.id)
    with Image.open(io.BytesIO(by_kind(files, "png"))) as chart:
        assert chart.size[0] >= 800 and len(chart.getcolors(1 << 16) or ()) > 20
    wb = load_workbook(io.BytesIO(by_kind(files, "xlsx")))
    rows = list(wb["Инциденты"].iter_rows(values_only=True))
    # One row per incident the week touched: №4 is older but was open and overdue in it.
    assert [r[0] for r in rows[1:]] == [1, 2, 3, 4]
    assert "csv" not in {_kind(c) for c in files}


async def test_export_sends_csv_and_xlsx_of_the_days_asked(otklik: Harness,
                                                           server: FakeTelegramServer) -> None:
    await seed(otklik)
    await otklik.say(COORDINATOR, "/export 12.11.2026 18.11.2026")
    await otklik.step()

    assert "Выгрузка инцидентов за 12.11.2026 – 18.11.2026" in otklik.last_text(COORDINATOR)
    files = uploads(server, COORDINATOR.id)
    text = by_kind(files, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert [r[0] for r in rows[1:]] == ["1", "2", "4"]
    wb = load_workbook(io.BytesIO(by_kind(files, "xlsx")))
    assert [r[0] for r in list(wb["Инциденты"].iter_rows(values_only=True))[1:]] == [1, 2, 4]
    assert "png" not in {_kind(c) for c in files}


async def test_reports_are_for_those_who_oversee(otklik: Harness,
                                                 server: FakeTelegramServer) -> None:
    await otklik.say(PETROV, "/report week")
    await otklik.step()
    assert otklik.last_text(PETROV) == "Эта команда вам недоступна."
    assert not uploads(server, PETROV.id)


@pytest.mark.parametrize(("args", "words"), [
    ("/report 30.11.2026 01.11.2026", "поменяйте даты местами"),
    ("/export 01.11.2026", "Нужны две даты"),
    ("/report вчера", "/report week"),
    ("/export 2026-13-01 2026-12-01", "Такой даты нет"),
])
async def test_a_bad_period_is_explained(otklik: Harness, server: FakeTelegramServer,
                                         args: str, words: str) -> None:
    await otklik.say(COORDINATOR, args)
    await otklik.step()
    assert words in otklik.last_text(COORDINATOR)
    assert not uploads(server, COORDINATOR.id)


async def test_weekly_note_goes_to_the_curator_once(otklik: Harness,
                                                    server: FakeTelegramServer) -> None:
    await seed(otklik)
    app = otklik.app
    assert app is not None
    otklik.clock.now = local(2026, 11, 22, 20).astimezone(UTC)  # Sunday evening
    assert not await analytics.weekly_note(app.usecases.digests)
    otklik.clock.now = local(2026, 11, 23, 7, 59).astimezone(UTC)  # before the working day
    assert not await analytics.weekly_note(app.usecases.digests)
    otklik.clock.now = local(2026, 11, 23, 8, 0).astimezone(UTC)
    assert await analytics.weekly_note(app.usecases.digests)
    await otklik.step()
    assert "Период: <b>16.11.2026 – 22.11.2026</b>" in otklik.last_text(CURATOR)
    assert sorted(_kind(c) for c in uploads(server, CURATOR.id)) == ["png", "xlsx"]
    assert not uploads(server, COORDINATOR.id)

    sent = len(server.sent_to(CURATOR.id))
    app = await otklik.restart()
    otklik.clock.now += timedelta(hours=3)
    assert not await analytics.weekly_note(app.usecases.digests)
    await otklik.step()
    assert len(server.sent_to(CURATOR.id)) == sent


async def test_weekly_note_waits_for_the_first_working_day(otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    # 3 and 4 November 2025 are days off (the holiday and its transfer): Wednesday it is.
    otklik.clock.now = local(2025, 11, 3, 9).astimezone(UTC)
    assert not await analytics.weekly_note(app.usecases.digests)
    otklik.clock.now = local(2025, 11, 4, 9).astimezone(UTC)
    assert not await analytics.weekly_note(app.usecases.digests)
    otklik.clock.now = local(2025, 11, 5, 8, 30).astimezone(UTC)
    assert await analytics.weekly_note(app.usecases.digests)
    await otklik.step()
    assert "Период: <b>27.10.2025 – 02.11.2025</b>" in otklik.last_text(CURATOR)


async def fill_database(path: Path) -> None:
    store = await open_storage(path)
    try:
        await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    finally:
        await store.close()


def test_report_from_the_shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "otklik.toml"
    shutil.copy(EXAMPLE, config)
    asyncio.run(fill_database(tmp_path / "otklik-data" / "otklik.sqlite3"))
    out = tmp_path / "out"

    assert main(["report", "--config", str(config), "--from", "2025-11-17",
                 "--to", "23.11.2025", "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "Период: 17.11.2025 – 23.11.2025" in printed and "<b>" not in printed
    assert "Новые: 8 (+7)" in printed
    stem = "otklik_2025-11-17_2025-11-23"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.csv", f"{stem}.png",
                                                     f"{stem}.xlsx"]
    assert f"wrote {out / stem}.xlsx" in printed
    with (out / f"{stem}.csv").open(encoding="utf-8-sig", newline="") as f:
        ids = [r[0] for r in csv.reader(f, delimiter=";")][1:]
    # One row per incident the period touched: the nine of the hand-checked week, not №10.
    assert ids == [str(n) for n in range(1, 10)]


def test_report_from_the_shell_explains_bad_input(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "otklik.toml"
    shutil.copy(EXAMPLE, config)
    args = ["report", "--config", str(config), "--from", "2025-11-17", "--to", "2025-11-23",
            "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "otklik-data").mkdir()
    Path(tmp_path / "otklik-data" / "otklik.sqlite3").touch()
    args[4] = "2025-11-31"
    assert main(args) == 2
    assert "period: Такой даты нет" in capsys.readouterr().err
