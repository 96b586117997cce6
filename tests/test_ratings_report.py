"""Ratings in the note and the workbook: who did no work is counted apart, not ranked, and
block owners are rated over the departments of their block. The week is the hand-checked one
of ``tests/test_metrics.py`` with one more executor who only holds an incident due later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.config import Config, load_config
from bot.reports import build_report
from bot.storage import Storage, open_storage
from tests import test_metrics as hand
from tests.test_reports import CONFIG_PATH, cells, fill
from workflows.model import State

IDLE = 14  # Борисова: incident №11, due after the week, nothing published


@pytest.fixture
def config() -> Config:
    return load_config(CONFIG_PATH)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await open_storage(tmp_path / "x.sqlite3")
    try:
        yield s
    finally:
        await s.close()


async def test_idle_executor_is_counted_apart_and_block_owners_are_rated(
        config: Config, store: Storage, tmp_path: Path) -> None:
    idle = hand.inc(11, category="waste", executor=IDLE, author="Олег", text="Мусор у дома",
                    registered=hand.at(21, 10), fr_due=None, due=hand.at(26, 10),
                    state=State.IN_PROGRESS)
    await fill(store, {**hand.PEOPLE, IDLE: "Борисова"}, [*hand.INCIDENTS, idle], hand.AUDIT,
               hand.ANSWERS)
    async with store.write() as uow:
        await uow.conn.execute(
            "INSERT INTO people (id, name, roles, departments) VALUES (?, ?, ?, ?)",
            (21, "Морозов", "block_owner", "roads,waste"))
    report = await build_report(config, store, hand.START, hand.END, out_dir=tmp_path)

    ratings = report.ratings
    assert [r.name for r in ratings.executors] == ["Алексеев", "Петров", "Сидорова"]
    assert [r.name for r in ratings.unranked_executors] == ["Борисова"]
    # Морозов: roads + waste, worked out in test_metrics: 23/30.
    assert [(r.rank, r.name) for r in ratings.block_owners] == [(1, "Морозов")]
    assert ratings.block_owners[0].score == 23 / 30

    text = report.text
    assert "Борисова" not in text  # not in the ranking...
    assert ("Не ранжированы — в периоде не было ни ответов со сроком, ни опубликованных "
            "ответов: 1 исполнитель (список — в файле XLSX).") in text  # ...but counted
    assert "<b>Рейтинг руководителей отраслевых блоков</b>" in text
    assert "1. Морозов — <b>0,77</b>" in text
    assert "Не ранжируются те, у кого в периоде не было" in text

    sheet = cells(load_workbook(report.xlsx)["Рейтинги"])
    execs_at = sheet.index(next(r for r in sheet if r[0] == "Исполнители"))
    owners_at = sheet.index(next(r for r in sheet if r[0] == "Руководители отраслевых блоков"))
    apart = next(i for i, r in enumerate(sheet) if i > execs_at
                 and str(r[0]).startswith("Не ранжированы (1)"))
    assert execs_at < apart < owners_at
    assert sheet[apart + 1][:2] == ("—", "Борисова")
    assert [r[1] for r in sheet[execs_at + 2:apart] if r[0] is not None] == [
        "Алексеев", "Петров", "Сидорова"]
    assert sheet[owners_at + 2][:2] == (1, "Морозов")


async def test_no_unranked_line_when_everyone_worked(config: Config, store: Storage,
                                                     tmp_path: Path) -> None:
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    report = await build_report(config, store, hand.START, hand.END, out_dir=tmp_path)
    assert "Не ранжированы" not in report.text
    assert "Рейтинг руководителей" not in report.text
    sheet = cells(load_workbook(report.xlsx)["Рейтинги"])
    assert not any(str(r[0]).startswith("Не ранжированы") for r in sheet)
