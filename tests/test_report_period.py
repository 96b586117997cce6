"""A report reads only its period and the previous one: its figures equal those computed
from the whole history, on the hand-checked week and on a realistic busy one, for periods
before, around and after the data."""

from __future__ import annotations

import asyncio
import gc
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config
from bot.reports import _load, build_report, policies_for, previous_period
from bot.storage import Storage
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
