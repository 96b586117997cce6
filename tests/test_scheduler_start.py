"""The weekly and monthly notes are not built on the start path (issue 16, cause 4): their
first check comes a minute or two after start, with jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import scheduler
from tests.harness import Harness


async def test_the_notes_are_first_checked_after_start_up(otklik: Harness) -> None:
    assert otklik.app is not None
    started = datetime.now(UTC)
    jobs = scheduler.start_scheduler(otklik.app.usecases, otklik.app.store, every_seconds=3600)
    try:
        first = jobs.get_job("weekly_note").next_run_time
        assert first >= started + timedelta(seconds=scheduler.NOTES_AFTER_START)
        assert first <= datetime.now(UTC) + timedelta(
            seconds=scheduler.NOTES_AFTER_START + scheduler.NOTES_JITTER)
        # The SLA sweep still runs at once.
        assert jobs.get_job("sla_sweep").next_run_time <= datetime.now(UTC)
    finally:
        await scheduler.stop_scheduler(jobs)
