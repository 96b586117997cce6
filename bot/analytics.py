"""Analytic notes and exports delivered to the chats: on demand and every week.

``/report`` sends the note with its chart and workbook, ``/export`` the CSV and the workbook
of incidents, :func:`weekly_note` sends last week's note to the curators and the head of the
МЦУ once a week, at the start of the first working day, and :func:`monthly_note` last month's
note to the head of the МЦУ at the start of the first working day of the month. The files
are written under ``files_dir/reports`` and leave through the outbox like every other
message, so a restart neither loses nor repeats them.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

from bot.reports import Report, build_report
from bot.usecases.digests import Digests
from workflows.model import Attachment, Person, Role
from workflows.visibility import may_see

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WEEKLY_JOB = "weekly_note"
MONTHLY_JOB = "monthly_note"
# Who gets the weekly note, and who the monthly one.
WEEKLY_READERS = (Role.CURATOR, Role.HEAD)
MONTHLY_READERS = (Role.HEAD,)


async def build(digests: Digests, start: datetime, end: datetime,
                reader: Person | None = None) -> Report:
    """The report of ``[start, end)`` in a folder of its own (files wait there for the outbox),
    of the incidents ``reader`` may see (all when None)."""
    scope = None if reader is None else partial(may_see, reader)
    stamp = digests.clock().astimezone(digests.config.tz).strftime("%Y%m%d-%H%M%S")
    folder = Path(digests.config.files_dir) / "reports" / f"{stamp}-{secrets.token_hex(3)}"
    return await build_report(digests.config, digests.store, start, end, out_dir=folder,
                              templates=digests.templates, scope=scope,
                              now=digests.clock())


def note_files(report: Report) -> list[Attachment]:
    """The note's attachments: the chart (when there is data) and the workbook."""
    files = [_file("document", report.xlsx, XLSX)]
    if report.chart is not None:
        files.insert(0, _file("photo", report.chart, "image/png"))
    return files


def export_files(report: Report) -> list[Attachment]:
    return [_file("document", report.csv, "text/csv"), _file("document", report.xlsx, XLSX)]


def _file(kind: str, path: Path, mime: str) -> Attachment:
    return Attachment(kind, "", path.name, mime, str(path))


async def weekly_note(digests: Digests) -> bool:
    """Once a week, at the start of its first working day: last week's note to the curators
    and the head of the МЦУ.

    When the bot was down then, the note goes at the first call after (never skipped).
    Whether this week's note went out is kept in the database (``daily_jobs``), so calling
    this as often as the scheduler likes sends it exactly once.
    """
    local = digests.working_day_started()
    if local is None:
        return False
    day = local.date()
    monday = day - timedelta(days=day.weekday())
    async with digests.store.read() as uow:
        if await uow.jobs.last_day(WEEKLY_JOB) == monday.isoformat():
            return False
    report = await build(digests, _midnight(digests, monday - timedelta(days=7)),
                         _midnight(digests, monday))
    async with digests.store.write() as uow:
        if await uow.jobs.last_day(WEEKLY_JOB) == monday.isoformat():
            return False  # another run got there first
        await uow.jobs.set_last_day(WEEKLY_JOB, monday.isoformat())
        await digests.notifier.send_to_role(uow, WEEKLY_READERS, report.text,
                                   attachments=note_files(report))
    return True


async def monthly_note(digests: Digests) -> bool:
    """Once a month, at the start of its first working day: last month's note to the head of
    the МЦУ.

    As the weekly note: when the bot was down then, it goes at the first call after; kept in
    ``daily_jobs`` so that it goes exactly once. Nothing is built while nobody has the role
    (a head added later in the month still gets it).
    """
    local = digests.working_day_started()
    if local is None:
        return False
    first = local.date().replace(day=1)
    async with digests.store.read() as uow:
        if await uow.jobs.last_day(MONTHLY_JOB) == first.isoformat():
            return False
        if not any(p.has(r) for p in await uow.people.all() for r in MONTHLY_READERS):
            return False
    previous = (first - timedelta(days=1)).replace(day=1)
    report = await build(digests, _midnight(digests, previous), _midnight(digests, first))
    async with digests.store.write() as uow:
        if await uow.jobs.last_day(MONTHLY_JOB) == first.isoformat():
            return False  # another run got there first
        await uow.jobs.set_last_day(MONTHLY_JOB, first.isoformat())
        await digests.notifier.send_to_role(uow, MONTHLY_READERS, report.text,
                                   attachments=note_files(report))
    return True


def _midnight(digests: Digests, d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), tzinfo=digests.config.tz)
