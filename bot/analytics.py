"""Analytic notes and exports delivered to the chats: on demand and every week.

``/report`` sends the note with its chart and workbook, ``/export`` the CSV and the workbook
of incidents, :func:`weekly_note` sends last week's note to the curators and the head of the
МЦУ once a week, at the start of the first working day, and :func:`monthly_note` last month's
note to the head of the МЦУ at the start of the first working day of the month. The files
are written under ``files_dir/reports`` and leave through the outbox like every other
message, so a restart neither loses nor repeats them. In a region (``[[municipalities]]``)
each municipality's readers get its own note and the region's staff the roll-up, with the
municipalities rated like departments.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bot.reports import Report, build_report
from bot.usecases.digests import Digests
from workflows.model import Attachment, Incident, Person, Role
from workflows.visibility import may_see

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WEEKLY_JOB = "weekly_note"
MONTHLY_JOB = "monthly_note"
# Who gets the weekly note, and who the monthly one.
WEEKLY_READERS = (Role.CURATOR, Role.HEAD)
MONTHLY_READERS = (Role.HEAD,)
# The regional roll-up, as against one municipality's note (``build``'s ``municipality``).
EVERY = object()


async def build(digests: Digests, start: datetime, end: datetime,
                reader: Person | None = None, *,
                municipality: str | None | object = EVERY) -> Report:
    """The report of ``[start, end)`` in a folder of its own (files wait there for the outbox),
    of the incidents ``reader`` may see (all when None). In a region: of one
    ``municipality``'s incidents, or (``EVERY``) the regional roll-up, municipalities rated;
    a reader of a municipality gets its note, the region's staff the roll-up."""
    config = digests.config
    if reader is not None and config.municipalities and reader.municipality is not None:
        municipality = reader.municipality
    scope = None if reader is None else partial(may_see, reader)
    heading, region = "", False
    if config.municipalities and municipality is EVERY:
        heading, region = digests.templates.phrase("region_note"), True
    elif config.municipalities:
        key = municipality
        heading = config.municipality_name(key if isinstance(key, str) else None,
                                           digests.templates.phrase("region"))
        scope = _within(scope, key if isinstance(key, str) else None)
    stamp = digests.clock().astimezone(config.tz).strftime("%Y%m%d-%H%M%S")
    folder = Path(config.files_dir) / "reports" / f"{stamp}-{secrets.token_hex(3)}"
    return await build_report(config, digests.store, start, end, out_dir=folder,
                              templates=digests.templates, scope=scope,
                              now=digests.clock(), heading=heading, region=region)


def _within(scope: Callable[[Incident], bool] | None, municipality: str | None
            ) -> Callable[[Incident], bool]:
    """``scope`` and the incidents of one municipality only."""
    return lambda i: i.municipality == municipality and (scope is None or scope(i))


async def _notes(digests: Digests, readers: tuple[Role, ...], start: datetime,
                 end: datetime) -> list[tuple[Report, tuple[Role, ...], str | None | object]]:
    """The notes of ``[start, end)`` for the ``readers``, each with whom it is for: one
    district's for all of them; in a region, each municipality's for its own readers and the
    roll-up for the region's (built before the transaction that sends them, like any
    report: only for those who have readers)."""
    if not digests.config.municipalities:
        return [(await build(digests, start, end), readers, EVERY)]
    async with digests.store.read() as uow:
        people = [p for p in await uow.people.all() if any(p.has(r) for r in readers)]
    notes = []
    for key in [*digests.config.municipalities, None]:
        if any(p.municipality == key for p in people):
            notes.append((await build(digests, start, end,
                                      municipality=EVERY if key is None else key),
                          readers, key))
    return notes


async def _send(digests: Digests, uow: Any,
                notes: list[tuple[Report, tuple[Role, ...], str | None | object]]) -> None:
    for report, readers, key in notes:
        if key is EVERY:
            await digests.notifier.send_to_role(uow, readers, report.text,
                                                attachments=note_files(report))
            continue
        for person in await uow.people.all():
            if person.municipality == key and any(person.has(r) for r in readers):
                await digests.notifier.send_to(uow, person, report.text,
                                               attachments=note_files(report))


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
    notes = await _notes(digests, WEEKLY_READERS,
                         _midnight(digests, monday - timedelta(days=7)),
                         _midnight(digests, monday))
    async with digests.store.write() as uow:
        if await uow.jobs.last_day(WEEKLY_JOB) == monday.isoformat():
            return False  # another run got there first
        await uow.jobs.set_last_day(WEEKLY_JOB, monday.isoformat())
        await _send(digests, uow, notes)
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
    notes = await _notes(digests, MONTHLY_READERS, _midnight(digests, previous),
                         _midnight(digests, first))
    async with digests.store.write() as uow:
        if await uow.jobs.last_day(MONTHLY_JOB) == first.isoformat():
            return False  # another run got there first
        await uow.jobs.set_last_day(MONTHLY_JOB, first.isoformat())
        await _send(digests, uow, notes)
    return True


def _midnight(digests: Digests, d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), tzinfo=digests.config.tz)
