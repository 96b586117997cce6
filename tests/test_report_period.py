"""A report reads only its period and the previous one: its figures equal those computed
from the whole history, on the hand-checked week and on a realistic busy one, for periods
before, around and after the data."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config
from bot.reports import _load, build_report, policies_for, previous_period
from bot.storage import Storage, open_storage
from tests import pg
from tests import test_metrics as hand
from tests.test_reports import (
    REALISTIC_PEOPLE,
    TZ,
    config,  # noqa: F401 - fixture
    fill,
    realistic_week,
    store,  # noqa: F401 - fixture
)
from workflows.metrics import Metrics, compute
from workflows.model import Incident


async def both(config: Config, store: Storage, start: datetime, end: datetime,  # noqa: F811
               now: datetime | None = None) -> tuple[list[Metrics], list[Metrics]]:
    prev_start, prev_end = previous_period(start, end, TZ)
    full = await _load(store, end)
    part = await _load(store, end, since=prev_start)
    assert len(part.incidents) <= len(full.incidents)

    def figures(data: object, a: datetime, b: datetime) -> Metrics:
        return compute(data.incidents, data.audit, data.answers,  # type: ignore[attr-defined]
                       start=a, end=b, policies_for=policies_for(config),
                       categories=config.categories, departments=config.departments, now=now)

    return ([figures(full, start, end), figures(full, prev_start, prev_end)],
            [figures(part, start, end), figures(part, prev_start, prev_end)])


async def test_hand_checked_week(config: Config, store: Storage) -> None:  # noqa: F811
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    for shift in (-7, -3, 0, 2, 7, 30):
        start = hand.START + timedelta(days=shift)
        for days in (1, 7, 31):
            full, part = await both(config, store, start, start + timedelta(days=days))
            assert part == full, (shift, days)


@pytest.mark.parametrize("seed", [1, 2])
async def test_busy_weeks(config: Config, store: Storage, seed: int) -> None:  # noqa: F811
    end = datetime(2025, 11, 24, 0, tzinfo=TZ)
    incidents, audit, answers = realistic_week(config, end, seed=seed)
    await fill(store, REALISTIC_PEOPLE, incidents, audit, answers)
    for days_back in (35, 21, 14, 7, 3, 1):
        start = end - timedelta(days=days_back)
        for length in (1, 7):
            full, part = await both(config, store, start, start + timedelta(days=length),
                                    now=end)
            assert part == full, (days_back, length)


@pytest.fixture(params=["sqlite", "postgresql"])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """A storage on SQLite, or on a fresh PostgreSQL schema (skipped without a server)."""
    target = pg.fresh_url() if request.param == "postgresql" else tmp_path / "x.sqlite3"
    s = await open_storage(target)
    try:
        yield s
    finally:
        await s.close()


async def test_long_history_before_the_periods(config: Config,  # noqa: F811
                                               either: Storage) -> None:
    """Of the rows before the previous period only some are read (the last change of state,
    the first first response, the last submission, every closing and unmerge): the figures
    still equal the full history's, and the return in the week is the last submitter's."""
    S, at = hand.S, hand.at
    old = hand.inc(20, category="roads", executor=11, author="Олег", text="ул. Мира",
                   registered=at(20, 9, month=10), fr_due=at(20, 10, month=10),
                   due=at(18, 12), state=S.IN_PROGRESS)
    audit = [
        hand.a(20, None, "register", None, S.NEW, at(20, 9, month=10)),
        hand.a(20, 11, "take", S.NEW, S.IN_PROGRESS, at(20, 9, 30, month=10)),
        hand.a(20, hand.COORD, "first_response", S.IN_PROGRESS, S.IN_PROGRESS,
               at(20, 11, month=10)),
        hand.a(20, hand.COORD, "first_response", S.IN_PROGRESS, S.IN_PROGRESS,
               at(21, 9, month=10)),
        hand.a(20, 11, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(21, 10, month=10), "final"),
        hand.a(20, 12, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(22, 10, month=10), "final"),
        hand.a(20, hand.COORD, "merge", S.ON_REVIEW, S.MERGED, at(23, 10, month=10), "1"),
        hand.a(20, hand.COORD, "unmerge", S.MERGED, S.ON_REVIEW, at(24, 10, month=10)),
        hand.a(20, 11, "take", S.ON_REVIEW, S.IN_PROGRESS, at(25, 10, month=10)),
        hand.a(20, hand.COORD, "note", None, None, at(26, 10, month=10)),
        hand.a(20, hand.COORD, "return", None, None, at(18, 10)),
    ]
    await fill(either, hand.PEOPLE, [*hand.INCIDENTS, old], [*hand.AUDIT, *audit], hand.ANSWERS)
    full, part = await both(config, either, hand.START, hand.END)
    assert part == full
    row = next(r for r in part[0].rows if r.incident_id == 20)
    assert row.state is S.IN_PROGRESS and row.overdue
    assert row.first_response_at == at(20, 11, month=10)
    assert [e.executor_id for e in part[0].events
            if e.kind == "return" and e.incident_id == 20] == [12]
    async with either.read() as uow:
        later = await uow.reports.history(hand.END, [20], by_index=True, since=hand.START)
    early, _ = await asyncio.to_thread(later)
    assert [(e.action, e.actor_id) for e in early] == [
        ("first_response", hand.COORD), ("submit", 12), ("merge", hand.COORD),
        ("unmerge", hand.COORD), ("take", 11), ("return", hand.COORD)]


async def test_rows_become_objects_after_the_reading_unit(config: Config,  # noqa: F811
                                                          store: Storage) -> None:  # noqa: F811
    """The reading unit is over before the rows are made objects: a change can be stored in
    between (the storage is not held while a large history is converted)."""
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    async with store.read() as uow:
        incidents = await uow.reports.incidents(hand.END, None)
        history = await uow.reports.history(hand.END, [i.id for i in hand.INCIDENTS],
                                            by_index=True)
    async with asyncio.timeout(5):
        async with store.write() as uow:
            await uow.heartbeat.save([("report-test", True, hand.END, {})])
    made = await asyncio.to_thread(incidents)
    audit, answers = await asyncio.to_thread(history)
    assert sorted(i.id for i in made) == sorted(i.id for i in hand.INCIDENTS)
    assert len(audit) == len([e for e in hand.AUDIT if e.ok and e.at < hand.END])
    assert len(answers) == len([a for a in hand.ANSWERS if a.published_at < hand.END])


async def test_the_collector_is_paused_while_a_report_is_built(
        config: Config, store: Storage, tmp_path: Path) -> None:  # noqa: F811
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    seen: list[bool] = []

    def scope(incident: Incident) -> bool:
        seen.append(gc.isenabled())
        return True

    assert gc.isenabled()
    report = await build_report(config, store, hand.START, hand.END, out_dir=tmp_path,
                                scope=scope)
    assert report.metrics.new and seen and not any(seen)
    assert gc.isenabled()
    with pytest.raises(ValueError):
        await build_report(config, store, hand.END, hand.START, out_dir=tmp_path)
    assert gc.isenabled()
