"""The periodic jobs, on APScheduler: the SLA sweep (which also sends the daily digest),
the weekly analytic note, and the polling of sources (the watched VK walls).

All timer state lives in the database (``incidents.next_action_at``, ``daily_jobs``), so the
scheduler only has to call the sweep regularly: a job missed during a restart is simply done
by the next run, never lost and never repeated. The notes are first checked a minute or two
after start (with jitter), not at start: a note due then (the bot was down on Monday
morning) is built once start-up is over and the first updates are handled.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.analytics import monthly_note, weekly_note
from bot.health import Health
from bot.storage import Storage
from bot.usecases import UseCases

log = logging.getLogger(__name__)

# A source polled on its own schedule: (job id, every so many seconds, the poll).
Poller = tuple[str, float, Callable[[], Awaitable[object]]]
# The first check of the weekly and monthly notes: this many seconds after start, plus up
# to NOTES_JITTER more (several copies restarted together do not build at once).
NOTES_AFTER_START = 60.0
NOTES_JITTER = 60.0


def start_scheduler(usecases: UseCases, store: Storage, *, every_seconds: float = 30.0,
                    pollers: Sequence[Poller] = (), health: Health | None = None,
                    on_died: Callable[[str], None] | None = None) -> AsyncIOScheduler:
    """Start the jobs. ``health`` learns of each sweep; ``on_died`` is told when a job
    fails in a way its own guard did not catch (the process should then exit)."""
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def record(ok: bool, error: str | None = None) -> None:
        if health is None:
            return
        health.scheduler_ran(ok, error)
        try:
            await health.save(store)
        except Exception as e:
            log.warning("health not recorded: %s", e)

    async def sweep() -> None:
        try:
            sent = await usecases.sweep.sweep()
        except Exception as e:
            log.exception("SLA sweep failed; the next run retries")
            await record(False, f"{type(e).__name__}: {e}")
            return
        await record(True)
        if sent:
            log.info("SLA sweep sent %d pings", sent)

    running: set[asyncio.Task[object]] = set()
    scheduler.otklik_running = running  # type: ignore[attr-defined]
    sweep = _tracked("sla_sweep", sweep, running)
    scheduler.add_job(sweep, "interval", seconds=every_seconds, id="sla_sweep",
                      next_run_time=datetime.now(UTC), max_instances=1, coalesce=True)

    async def weekly() -> None:
        try:
            if await weekly_note(usecases.digests):
                log.info("weekly analytic note sent")
        except Exception:
            log.exception("weekly note failed; the next run retries")
        try:
            if await monthly_note(usecases.digests):
                log.info("monthly analytic note sent")
        except Exception:
            log.exception("monthly note failed; the next run retries")

    weekly = _tracked("weekly_note", weekly, running)
    first = NOTES_AFTER_START + random.uniform(0, NOTES_JITTER)  # noqa: S311 - not secret
    scheduler.add_job(weekly, "interval", minutes=5, id="weekly_note",
                      next_run_time=datetime.now(UTC) + timedelta(seconds=first),
                      max_instances=1, coalesce=True)

    for job_id, seconds, poll in pollers:
        scheduler.add_job(_tracked(job_id, _logged(job_id, poll), running), "interval",
                          seconds=seconds, id=job_id,
                          next_run_time=datetime.now(UTC), max_instances=1, coalesce=True)
    if on_died is not None:
        def job_error(event: JobExecutionEvent) -> None:
            on_died(f"job {event.job_id} failed: {event.exception!r}")

        scheduler.add_listener(job_error, EVENT_JOB_ERROR)
    scheduler.start()
    return scheduler


def _tracked(job_id: str, job: Callable[[], Awaitable[None]],
             running: set[asyncio.Task[object]]) -> Callable[[], Awaitable[None]]:
    """The job, known to :func:`stop_scheduler` while it runs; a stop that interrupts it
    is no failure of the job."""

    async def tracked() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            log.info("%s interrupted by the stop", job_id)
        finally:
            running.discard(task)

    return tracked


async def stop_scheduler(scheduler: AsyncIOScheduler, grace: float = 2.0) -> None:
    """Stop starting jobs; let running ones finish for ``grace`` seconds, then cancel
    them, so that none runs on after the database is closed."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
    running: set[asyncio.Task[object]] = getattr(scheduler, "otklik_running", set())
    if not running:
        return
    _, late = await asyncio.wait(set(running), timeout=grace)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=grace)


def _logged(job_id: str, poll: Callable[[], Awaitable[object]]
            ) -> Callable[[], Awaitable[None]]:
    """The poll, with a failure logged instead of raised: the next run tries again."""

    async def job() -> None:
        try:
            await poll()
        except Exception:
            log.exception("%s failed; the next run retries", job_id)

    return job
