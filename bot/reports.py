"""The weekly analytic note and the exports: load a period from the store, compute, write files.

``build_report`` loads the incidents, the audit log and the answers, computes the figures of the
period and of the one before it (``workflows.metrics``) and the ratings
(``workflows.ratings``), and produces:

- ``text``: the note in Russian, HTML for Telegram, from ``templates/weekly_report.html``;
- ``chart``: one PNG with two panels — new incidents per day stacked by the state they are in
  at the end of the period, and a category × department heat map of the new incidents
  (matplotlib ``Figure`` with the Agg canvas, no pyplot; drawn by ``bot/chart.py`` in a
  process kept warm between charts, ``bot/drawer.py``). None for an empty period;
- ``xlsx``: a workbook with the sheets «Сводка», «Рейтинги» and «Инциденты»;
- ``csv``: the «Инциденты» sheet as CSV for Excel: UTF-8 with a BOM, «;» between fields and
  a decimal comma (what Excel expects in a Russian locale).

Times in the files are local to the deployment (``Config.tz``), without the zone, as Excel
wants them; the note and the summary sheet name the zone.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import math
import re
import textwrap
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.drawer import drawer
from bot.storage import Storage
from bot.templates import Templates
from workflows.calendar import EVERY_DAY, MON_FRI
from workflows.metrics import (
    REPEAT_WINDOW,
    Answer,
    Change,
    IncidentRow,
    Metrics,
    compare,
    compute,
)
from workflows.model import AuditEntry, Incident, Role, State
from workflows.ratings import FORMULA, UNRANKED_REASON, RatingRow, Ratings, rate
from workflows.sla import Duration, DurationKind, Policy, Rule, Until

__all__ = [
    "INCIDENT_COLUMNS",
    "Report",
    "build_report",
    "period_from_args",
    "previous_period",
]

# Days a period may span at most (a year and a day for leap years).
MAX_DAYS = 366
TELEGRAM_TEXT_LIMIT = 4096
WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")

INCIDENT_COLUMNS = (
    "№", "Зарегистрирован", "Срок первичного ответа", "Первичный ответ", "Первая публикация",
    "Срок ответа", "Ответ в срок", "Рабочих часов до ответа", "Состояние", "Категория",
    "Подразделение", "Исполнитель", "Политика SLA", "Просрочен в периоде", "Повторный",
    "Повторных жалоб в периоде", "Источник", "Подкатегория", "Статус результата",
    "Перенаправлено в", "Адрес",
)
RATING_COLUMNS = (
    "Место", "Название", "Сроков в периоде", "Ответов в срок", "Проектов ответа",
    "Возвратов на доработку", "Опубликовано ответов", "Своевременность", "Полнота", "Объём",
    "Балл",
)
# Labels of the compared figures, in the order of the summary sheet.
FIGURE_LABELS = {
    "new": "Новые инциденты",
    "repeat": "из них повторные",
    "repeat_complaints": "Повторные жалобы к открытым инцидентам",
    "overdue": "Просроченные",
    "postponed": "Отложенные (промежуточный ответ)",
    "closed": "Закрытые",
    "reopened": "Переоткрытые",
    "redirected": "Перенаправленные по компетенции",
    "rejected": "Признанные не инцидентом",
    "answered": "С опубликованным ответом",
    "first_response_rate": "Первичный ответ в срок, доля",
    "answer_rate": "Ответ в срок, доля",
    "median_hours": "Время до ответа, медиана, рабочих часов",
    "p90_hours": "Время до ответа, 90-й перцентиль, рабочих часов",
    "returns_per_submission": "Возвратов на доработку на проект ответа",
    "reopen_rate": "Доля переоткрытых среди окончательных ответов",
}
RATES = frozenset({"first_response_rate", "answer_rate", "reopen_rate"})
HOURS = frozenset({"median_hours", "p90_hours"})
_COUNTS = frozenset(FIGURE_LABELS) - RATES - HOURS - {"returns_per_submission"}

_STATE_COLORS = {
    State.NEW: "#9e9e9e",
    State.ASSIGNED: "#bdbdbd",
    State.IN_PROGRESS: "#42a5f5",
    State.ON_REVIEW: "#7e57c2",
    State.APPROVED: "#26c6da",
    State.WAITING: "#ffb300",
    State.AWAITING_FEEDBACK: "#9ccc65",
    State.REOPENED: "#ef5350",
    State.CLOSED: "#2e7d32",
    State.REDIRECTED: "#8d6e63",
    State.REJECTED: "#616161",
    State.MERGED: "#90a4ae",
}


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    period_label: str  # "17.11.2025 – 23.11.2025 (Asia/Novokuznetsk, UTC+07:00)"
    text: str
    chart: Path | None
    xlsx: Path
    csv: Path
    metrics: Metrics
    previous: Metrics
    changes: dict[str, Change]
    ratings: Ratings


# -- periods ----------------------------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_RU = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_USAGE = ("Укажите период: {cmd} week (прошлая неделя), {cmd} month (прошлый месяц) или "
          "{cmd} С ПО — даты в виде ГГГГ-ММ-ДД или ДД.ММ.ГГГГ, например "
          "{cmd} 01.11.2025 15.11.2025.")


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=tz)


def _parse_day(text: str) -> date:
    found = _ISO.match(text)
    if found:
        y, m, d = (int(g) for g in found.groups())
    else:
        found = _RU.match(text)
        if not found:
            raise ValueError(f"Не понимаю дату «{text}»: нужна дата в виде ГГГГ-ММ-ДД "
                             "или ДД.ММ.ГГГГ, например 2025-11-01 или 01.11.2025.")
        d, m, y = (int(g) for g in found.groups())
    try:
        return date(y, m, d)
    except ValueError:
        raise ValueError(f"Такой даты нет: «{text}».") from None


def period_from_args(args: str, now: datetime, tz: ZoneInfo, *,
                     command: str = "/report") -> tuple[datetime, datetime]:
    """The period of ``/report week|month|FROM TO`` as ``[start, end)`` in local time.

    Nothing (or ``week``/``неделя``): the previous full week, Monday to Sunday. ``month``
    (``месяц``): the previous calendar month. ``FROM TO``: two dates (``YYYY-MM-DD`` or
    ``DD.MM.YYYY``), TO included. A bad request raises ``ValueError`` with a message in Russian
    for the person who typed it.
    """
    words = args.split()
    today = now.astimezone(tz).date()
    usage = _USAGE.format(cmd=command)
    if len(words) <= 1:
        word = words[0].lower() if words else "week"
        if word in ("week", "неделя"):
            monday = today - timedelta(days=today.weekday())
            return _midnight(monday - timedelta(days=7), tz), _midnight(monday, tz)
        if word in ("month", "месяц"):
            first = today.replace(day=1)
            previous = (first - timedelta(days=1)).replace(day=1)
            return _midnight(previous, tz), _midnight(first, tz)
        if len(words) == 1 and (_ISO.match(word) or _RU.match(word)):
            raise ValueError("Нужны две даты — начало и конец периода, например "
                             f"{command} 01.11.2025 15.11.2025.")
        raise ValueError(f"Не понимаю период «{args.strip()}». {usage}")
    if len(words) != 2:
        raise ValueError(f"Не понимаю период «{args.strip()}». {usage}")
    first_day, last_day = (_parse_day(w) for w in words)
    if first_day > last_day:
        raise ValueError(f"Начало периода {first_day:%d.%m.%Y} позже его конца "
                         f"{last_day:%d.%m.%Y}: поменяйте даты местами.")
    if first_day > today:
        raise ValueError(f"Период начинается {first_day:%d.%m.%Y}, это ещё не наступило.")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValueError(f"Период длиннее {MAX_DAYS} дней: разбейте его на части.")
    return _midnight(first_day, tz), _midnight(last_day + timedelta(days=1), tz)


def previous_period(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period before ``[start, end)`` to compare with: the previous calendar month(s) when
    the period is whole months, else as many local days (or as long) just before it."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    midnights = a.time() == time(0) and b.time() == time(0)
    if midnights and a.day == 1 and b.day == 1:
        months = (b.year - a.year) * 12 + b.month - a.month
        index = a.year * 12 + a.month - 1 - months
        first = date(index // 12, index % 12 + 1, 1)
        return _midnight(first, tz), start
    if midnights:
        days = (b.date() - a.date()).days
        return _midnight(a.date() - timedelta(days=days), tz), start
    return start - (end - start), start


def _comparison(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """How the note names the previous period: "week", "month" or "period"."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.time() == time(0) and b.time() == time(0):
        if a.weekday() == 0 and (b.date() - a.date()).days == 7:
            return "week"
        if a.day == 1 and b.day == 1 and (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1:
            return "month"
    return "period"


def _days_label(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.time() == time(0) and b.time() == time(0):
        last = b.date() - timedelta(days=1)
        if last == a.date():
            return f"{a:%d.%m.%Y}"
        return f"{a:%d.%m.%Y} – {last:%d.%m.%Y}"
    return f"{a:%d.%m.%Y %H:%M} – {b:%d.%m.%Y %H:%M}"


def _tz_label(tz: ZoneInfo, at: datetime) -> str:
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    h, m = divmod(abs(minutes), 60)
    return f"{tz.key}, UTC{sign}{h:02d}:{m:02d}"


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    incidents: list[Incident]
    audit: list[AuditEntry]
    answers: list[Answer]
    people: dict[int, str]
    # Block owners: id → the departments of their block (rated over them).
    block_owners: dict[int, frozenset[str]]


async def _load(store: Storage, end: datetime,
                scope: Callable[[Incident], bool] | None = None, *,
                since: datetime | None = None) -> _Data:
    """What was registered, done and published before ``end`` (refusals left out), of the
    incidents in ``scope`` (all when None). With ``since``: only the incidents a report of
    ``[since, end)`` can involve (read through indexes), with their history; without it,
    the whole history."""
    # A reading unit holds the connection only while it reads: the rows become objects
    # (and are sifted) in a worker thread once the unit has ended.
    async with store.read() as uow:
        read = await uow.reports.incidents(
            end, since, since - REPEAT_WINDOW if since is not None else None)
    before = end.astimezone(UTC)  # in the zone of stored moments: a faster comparison
    incidents = await asyncio.to_thread(
        lambda: [i for i in read() if i.registered_at < before and (scope is None or scope(i))])
    async with store.read() as uow:
        history = await uow.reports.history(end, [i.id for i in incidents],
                                            by_index=since is not None, since=since)
        everyone = await uow.people.all()
    audit, answers = await asyncio.to_thread(history)
    people = {p.id: p.name for p in everyone}
    owners = {p.id: p.departments for p in everyone
              if p.has(Role.BLOCK_OWNER) and p.departments}
    return _Data(incidents, audit, answers, people, owners)


def _procedures(data: _Data, start: datetime, end: datetime) -> dict[str, Any]:
    """The regulation's procedures in ``[start, end)``: result statuses of approved final
    answers (Кузбасс-онлайн) and redirections per organisation."""
    statuses: Counter[str] = Counter()
    redirected: Counter[str] = Counter()
    by_id = {i.id: i for i in data.incidents}
    seen: set[int] = set()
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # the zone of stored moments
    for e in data.audit:
        if not start <= e.at < end or e.incident_id is None:
            continue
        if e.action in ("approve", "edit_approve") and e.reason in ("resolved", "explained"):
            statuses[e.reason] += 1
        elif e.action == "redirect" and e.incident_id not in seen:
            seen.add(e.incident_id)
            incident = by_id.get(e.incident_id)
            redirected[(incident.redirected_to if incident and incident.redirected_to
                        else (e.reason or "—").split(":")[0])] += 1
    return {"statuses": dict(statuses), "redirected": sorted(redirected.items(),
                                                             key=lambda kv: (-kv[1], kv[0]))}


def policies_for(config: Config) -> Callable[[Incident], Policy]:
    """The SLA policy of an incident, by its source (as bot.usecases.common.Policies picks it)."""
    sla = config.settings.sla

    def pick(incident: Incident) -> Policy:
        # A municipality with its own calendar has its own copies of the policies.
        named = config.municipal_policies.get(incident.municipality or "", config.policies)
        if incident.policy and incident.policy in named:  # chosen on the card
            return named[incident.policy]
        name = sla.sources.get(incident.source) or (
            incident.source if incident.source in named else sla.default_policy)
        return named[name]

    return pick


# -- the report -------------------------------------------------------------------------------


async def build_report(config: Config, store: Storage, start: datetime, end: datetime, *,
                       out_dir: Path, templates: Templates | None = None,
                       scope: Callable[[Incident], bool] | None = None,
                       now: datetime | None = None, heading: str = "",
                       region: bool = False) -> Report:
    """The analytic note of ``[start, end)`` with its chart, workbook and CSV in ``out_dir``,
    taken at ``now`` (lateness is judged then, when the period has not ended yet); ``scope``
    keeps only the incidents a reader may see (all when None). ``heading``: whose note it
    is (a municipality, the region); ``region``: the municipalities are rated too."""
    for t, what in ((start, "start"), (end, "end")):
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"{what} must be a timezone-aware datetime, got naive {t!r}")
    if end <= start:
        raise ValueError(f"the period must end after it starts, got {start} – {end}")
    with _collector_paused():
        return await _build(config, store, start, end, out_dir=out_dir, templates=templates,
                            scope=scope, now=now, heading=heading,
                            region=region and bool(config.municipalities))


_pauses = 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while reports are built: a report makes a few
    hundred thousand objects, and each full collection walks all of them holding the GIL
    (up to a second of frozen event loop at 100k incidents). What a report makes is freed
    by reference counting; the collector resumes when the last report is done.

    What is still alive then (the report being sent) would all be walked by the very next
    young-generation pass (0.2 s): ``freeze`` + ``unfreeze`` moves it straight to the old
    generation instead, unwalked, where the next full collection sees it (any cycles
    among it included) once it is mostly freed."""
    global _pauses
    if _pauses == 0 and not gc.isenabled():
        yield  # turned off by someone else: theirs to turn back on
        return
    _pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _drop(data: _Data) -> None:
    """Free the history a report read (in a worker thread: not on the event loop)."""
    data.incidents.clear()
    data.audit.clear()
    data.answers.clear()


async def _build(config: Config, store: Storage, start: datetime, end: datetime, *,
                 out_dir: Path, templates: Templates | None,
                 scope: Callable[[Incident], bool] | None, now: datetime | None,
                 heading: str = "", region: bool = False) -> Report:
    tz = config.tz
    if templates is None:
        templates = Templates(tz)
        templates.municipalities = {k: m.name for k, m in config.municipalities.items()}
    if region and not heading:
        heading = templates.phrase("region_note")
    prev_start, prev_end = previous_period(start, end, tz)
    # Only the two periods are read; the figures are computed in a worker thread, holding
    # neither the event loop nor the database.
    data = await _load(store, end, scope, since=min(prev_start, start))
    pick = policies_for(config)

    def figures(a: datetime, b: datetime) -> Metrics:
        return compute(data.incidents, data.audit, data.answers, start=a, end=b,
                       policies_for=pick, categories=config.categories,
                       departments=config.departments, now=now)

    def everything() -> _Context:
        metrics = figures(start, end)
        previous = figures(prev_start, prev_end)
        changes = compare(metrics, previous)
        municipality_of = ({i.id: i.municipality or "" for i in data.incidents}
                           if region else None)
        names = {"": templates.phrase("region"),
                 **{k: m.name for k, m in config.municipalities.items()}}
        ratings = rate(metrics, departments=config.departments, people=data.people,
                       block_owners=data.block_owners, municipality_of=municipality_of,
                       municipalities=names)
        return _Context(config, templates, metrics, previous, changes, ratings, data.people,
                        {i.id: i for i in data.incidents}, _procedures(data, start, end),
                        heading, region)

    ctx = await asyncio.to_thread(everything)
    await asyncio.to_thread(_drop, data)
    async with store.read() as uow:  # one problem, many complaints: counted apart
        merged = [(lead, n) for lead, n in await uow.problems.merged(start, end)
                  if lead in ctx.incidents and n in ctx.incidents]
    ctx.procedures["problems"] = len({lead for lead, _ in merged})
    ctx.procedures["complaints"] = len(merged) + ctx.procedures["problems"]
    metrics, previous, changes, ratings = ctx.metrics, ctx.previous, ctx.changes, ctx.ratings

    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    local_start = start.astimezone(tz).date()
    local_last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    stem = f"otklik_{local_start:%Y-%m-%d}_{local_last:%Y-%m-%d}"
    chart_path = out_dir / f"{stem}.png"
    xlsx_path = out_dir / f"{stem}.xlsx"
    csv_path = out_dir / f"{stem}.csv"
    chart = None
    drawing = None if metrics.is_empty else await draw_chart_apart(ctx, chart_path)
    try:
        await asyncio.to_thread(write_xlsx, ctx, xlsx_path)
        await asyncio.to_thread(write_csv, ctx, csv_path)
    finally:
        if drawing is not None:
            chart = await drawing
    return Report(start=start, end=end, period_label=f"{ctx.period()} ({ctx.zone()})",
                  text=render_text(ctx), chart=chart, xlsx=xlsx_path,
                  csv=csv_path, metrics=metrics, previous=previous, changes=changes,
                  ratings=ratings)


@dataclass(frozen=True)
class _Context:
    config: Config
    templates: Templates
    metrics: Metrics
    previous: Metrics
    changes: dict[str, Change]
    ratings: Ratings
    people: dict[int, str]
    incidents: dict[int, Incident] = field(default_factory=dict)
    procedures: dict[str, Any] = field(default_factory=dict)
    # Whose note it is: a municipality's name, the region's ("" in a single district).
    heading: str = ""
    region: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return self.config.tz

    @property
    def columns(self) -> tuple[str, ...]:
        """The «Инциденты» sheet's columns: a region's has the municipality last."""
        return INCIDENT_COLUMNS + (("Муниципалитет",) if self.config.municipalities else ())

    @cached_property
    def table(self) -> list[list[Any]]:
        """The «Инциденты» sheet (made once for the workbook and the CSV)."""
        return incident_table(self)

    def period(self) -> str:
        return _days_label(self.metrics.start, self.metrics.end, self.tz)

    def previous_label(self) -> str:
        return _days_label(self.previous.start, self.previous.end, self.tz)

    def zone(self) -> str:
        return _tz_label(self.tz, self.metrics.start)

    def category(self, key: str | None) -> str:
        if not key:
            return "Без категории"
        c = self.config.categories.get(key)
        return c.name if c else key

    def department(self, key: str | None) -> str:
        if not key:
            return "Без подразделения"
        return self.config.departments.get(key, key)

    def executor(self, person_id: int | None) -> str:
        if person_id is None:
            return ""
        return self.people.get(person_id, f"#{person_id}")

    def state(self, state: State) -> str:
        return self.templates.phrase_raw("states", state.value, default=state.value)

    def policies(self) -> list[dict[str, Any]]:
        counts = self.metrics.policy_counts
        return [
            {"title": p.title, "calendar": describe_calendar(p), "rules": describe_rules(p),
             "count": counts.get(name, 0)}
            for name, p in self.config.policies.items()
        ]


# -- wording of numbers and rules -------------------------------------------------------------


def _num(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",").replace("-", "−")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{round(x * 100)} %"


def _value(key: str, x: float | None) -> str:
    if x is None:
        return "—"
    if key in RATES:
        return _pct(x)
    if key in HOURS:
        return _num(x)
    if key == "returns_per_submission":
        return _num(x, 2)
    return str(int(x))


def _delta(change: Change) -> str:
    d = change.delta
    if d is None:
        return ""
    if change.key in RATES:
        points = round(d * 100)
        return "без изменений" if points == 0 else f"{points:+d} п. п.".replace("-", "−")
    if change.key in HOURS:
        return "без изменений" if abs(d) < 0.05 else (("+" if d > 0 else "") + _num(d) + " ч")
    if change.key == "returns_per_submission":
        return "без изменений" if abs(d) < 0.005 else ("+" if d > 0 else "") + _num(d, 2)
    n = int(d)
    return "без изменений" if n == 0 else f"{n:+d}".replace("-", "−")


def _duration(d: Duration) -> str:
    if isinstance(d.amount, int):
        return f"{d.amount} {'раб. дн.' if d.kind is DurationKind.WORKING_DAYS else 'дн.'}"
    working = "раб. " if d.kind is DurationKind.WORKING_TIME else ""
    minutes = int(d.amount.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} {working}ч"
    return f"{minutes} {working}мин"


def _rule(rule: Rule) -> str:
    if isinstance(rule, Until):
        ahead = ""
        if rule.min_time:
            least = _duration(Duration(rule.min_time, DurationKind.CALENDAR_TIME))
            ahead = f" (не менее {least} от поступления)"
        return f"до {rule.at:%H:%M}{ahead}"
    return _duration(rule)


def describe_rules(policy: Policy) -> str:
    parts = []
    if policy.first_response is not None:
        parts.append(f"первичный ответ — {_rule(policy.first_response)}")
    if policy.answer is not None:
        parts.append(f"ответ — {_rule(policy.answer)}")
    if policy.answer_fast_track is not None:
        parts.append(f"фаст-трек — {_rule(policy.answer_fast_track)}")
    return ", ".join(parts)


def describe_calendar(policy: Policy) -> str:
    cal = policy.calendar
    days = {MON_FRI: "пн–пт", MON_FRI | {5}: "пн–сб", EVERY_DAY: "ежедневно"}.get(
        cal.weekdays, ", ".join(WEEKDAYS[d] for d in sorted(cal.weekdays)))
    hours = ("круглосуточно" if cal.around_the_clock
             else f"{cal.start:%H:%M}–{'24:00' if cal.end == time(0) else f'{cal.end:%H:%M}'}")
    holidays = ", кроме праздничных дней" if cal.production_calendar else ""
    if cal.shortens:
        holidays += ", предпраздничные дни на час короче"
    return f"{days} {hours}{holidays}"


# -- the text ---------------------------------------------------------------------------------


def _rating_lines(rows: Sequence[RatingRow]) -> list[dict[str, str]]:
    return [{"rank": str(r.rank), "name": r.name, "score": _num(r.score, 2),
             "timeliness": _pct(r.timeliness), "completeness": _pct(r.completeness),
             "answered": str(r.answered)} for r in rows]


def render_text(ctx: _Context, *, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    """The note; lists are cut shorter until it fits a Telegram message."""
    m = ctx.metrics
    values = {k: _value(k, getattr(m, k)) for k in FIGURE_LABELS}
    deltas = {k: _delta(c) for k, c in ctx.changes.items()}
    text = ""
    for cap in (10, 5, 3, 1):
        text = ctx.templates.render(
            "weekly_report",
            period=ctx.period(), zone=ctx.zone(), previous_period=ctx.previous_label(),
            comparison=_comparison(m.start, m.end, ctx.tz), empty=m.is_empty, m=m, v=values,
            previous=ctx.previous,
            d=deltas, policies=ctx.policies(),
            blocks=m.by_block[:cap], topics=m.top_topics[:cap], places=m.top_places[:cap],
            heading=ctx.heading, region=ctx.region,
            municipalities=_rating_lines(ctx.ratings.municipalities[:cap]),
            more_municipalities=max(0, len(ctx.ratings.municipalities) - cap),
            unranked_municipalities=len(ctx.ratings.unranked_municipalities),
            departments=_rating_lines(ctx.ratings.departments[:cap]),
            executors=_rating_lines(ctx.ratings.executors[:cap]),
            block_owners=_rating_lines(ctx.ratings.block_owners[:cap]),
            more_departments=max(0, len(ctx.ratings.departments) - cap),
            more_executors=max(0, len(ctx.ratings.executors) - cap),
            more_block_owners=max(0, len(ctx.ratings.block_owners) - cap),
            unranked_departments=len(ctx.ratings.unranked_departments),
            unranked_executors=len(ctx.ratings.unranked_executors),
            unranked_block_owners=len(ctx.ratings.unranked_block_owners),
            unranked_reason=UNRANKED_REASON,
            formula=FORMULA, procedures=ctx.procedures,
        )
        if len(text) <= limit:
            break
    return text


# -- the chart --------------------------------------------------------------------------------


def _short(name: str, width: int) -> str:
    head = name.split(":")[0].strip() or name
    return "\n".join(textwrap.wrap(head, width)) or head


def chart_spec(ctx: _Context) -> dict[str, Any]:
    """What the chart shows, as plain data (JSON) for :func:`bot.chart.plot`: new incidents
    per day by their state at the end of the period (stacked bars), and the new incidents
    by category × department (a heat map)."""
    m, tz = ctx.metrics, ctx.tz
    first = m.start.astimezone(tz).date()
    last = (m.end - timedelta(microseconds=1)).astimezone(tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    new = [r for r in m.rows if r.registered_in_period]
    per_day: Counter[tuple[date, State]] = Counter(
        (r.registered_at.astimezone(tz).date(), r.state) for r in new)
    states = [s for s in State if any(per_day[(d, s)] for d in days)]
    pairs = Counter((r.category or "", r.department or "") for r in new)
    cats = sorted({c for c, _ in pairs}, key=lambda k: ctx.category(k).casefold())
    deps = sorted({d for _, d in pairs}, key=lambda k: ctx.department(k).casefold())
    return {
        "empty": "новых инцидентов в периоде нет",
        "bars": {
            "ticklabels": [f"{WEEKDAYS[d.weekday()]}\n{d:%d.%m}" for d in days],
            "series": [{"label": ctx.state(s), "color": _STATE_COLORS[s],
                        "heights": [per_day[(d, s)] for d in days]} for s in states],
            "ylabel": "новых инцидентов",
            "title": f"Новые инциденты по дням, {ctx.period()} ({ctx.zone()})\n"
                     "цвет — состояние на конец периода",
        },
        "heat": {
            "title": "Новые инциденты: категория × подразделение",
            "grid": [[pairs[(c, d)] for d in deps] for c in cats],
            "columns": [_short(ctx.department(d), 22) for d in deps],
            "lines": [_short(ctx.category(c), 24) for c in cats],
            "unit": "инцидентов",
        },
    }


async def draw_chart_apart(ctx: _Context, path: Path) -> Awaitable[Path]:
    """Start drawing the chart in the chart process (``bot/drawer.py``: matplotlib stays out
    of this one, and the drawing overlaps the workbook on another core); the returned
    awaitable is done when the picture is written."""
    spec = chart_spec(ctx)
    return asyncio.ensure_future(asyncio.to_thread(drawer.draw, spec, path))


# -- the incident table -----------------------------------------------------------------------


def _local(t: datetime | None, tz: ZoneInfo) -> datetime | None:
    return None if t is None else t.astimezone(tz).replace(tzinfo=None)


def _yes_no(flag: bool | None) -> str:
    return "" if flag is None else ("да" if flag else "нет")


def _on_time(row: IncidentRow, end: datetime) -> str:
    if row.on_time is None and row.answer_due is not None and row.answer_due >= end \
            and row.answered_at is None:
        return "срок не наступил"
    return _yes_no(row.on_time)


def incident_table(ctx: _Context) -> list[list[Any]]:
    """One row per involved incident, in ``ctx.columns`` order; times are local naive
    datetimes, working hours a float (2 decimals), None where there is nothing."""
    tz, end = ctx.tz, ctx.metrics.end
    titles = {name: p.title for name, p in ctx.config.policies.items()}
    table = []
    for r in ctx.metrics.rows:
        hours = r.hours_to_answer
        table.append([
            r.incident_id, _local(r.registered_at, tz), _local(r.first_response_due, tz),
            _local(r.first_response_at, tz), _local(r.first_published_at, tz),
            _local(r.answer_due, tz), _on_time(r, end),
            None if hours is None else round(hours, 2), ctx.state(r.state),
            ctx.category(r.category), ctx.department(r.department), ctx.executor(r.executor_id),
            titles.get(r.policy, r.policy), _yes_no(r.overdue),
            _yes_no(r.repeat) if r.registered_in_period else "", r.repeat_complaints,
            *_procedure_cells(ctx, ctx.incidents.get(r.incident_id)),
        ])
        if ctx.config.municipalities:
            incident = ctx.incidents.get(r.incident_id)
            table[-1].append(ctx.templates.municipality(incident) if incident else "")
    return table


def _procedure_cells(ctx: _Context, incident: Incident | None) -> list[Any]:
    """Source, subcategory, result status and the organisation redirected to."""
    if incident is None:
        return ["", "", "", "", ""]
    t = ctx.templates
    status = (t.phrase_raw("result_statuses", incident.result_status,
                           default=incident.result_status) if incident.result_status else "")
    return [t.phrase_raw("sources", incident.source, default=incident.source),
            incident.subcategory or "", status, incident.redirected_to or "",
            incident.address or ""]


def write_csv(ctx: _Context, path: Path) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(ctx.columns)
        cell = _csv_cell
        writer.writerows([v if type(v) is str else cell(v) for v in row] for row in ctx.table)
    return path


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # as "%d.%m.%Y %H:%M", without strftime's cost
        return (f"{value.day:02d}.{value.month:02d}.{value.year:04d} "
                f"{value.hour:02d}:{value.minute:02d}")
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


# -- the workbook -----------------------------------------------------------------------------


def write_xlsx(ctx: _Context, path: Path) -> Path:
    import xlsxwriter

    m = ctx.metrics
    # Rows go to disk as they are written (they are written in order): less memory, faster.
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    try:
        bold = wb.add_format({"bold": True})
        title = wb.add_format({"bold": True, "font_size": 14})
        head = wb.add_format({"bold": True, "bg_color": "#e0e0e0", "text_wrap": True,
                              "valign": "top", "border": 1})
        when = wb.add_format({"num_format": "dd.mm.yyyy hh:mm"})
        pct = wb.add_format({"num_format": "0%"})
        dec = wb.add_format({"num_format": "0.00"})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})

        # Сводка
        ws = wb.add_worksheet("Сводка")
        ws.set_column(0, 0, 52)
        ws.set_column(1, 3, 18)
        ws.write(0, 0, "Аналитическая записка МЦУ (Отклик)", title)
        ws.write(1, 0, "Период")
        ws.write(1, 1, ctx.period())
        ws.write(2, 0, "Часовой пояс")
        ws.write(2, 1, ctx.zone())
        ws.write(3, 0, "Предыдущий период")
        ws.write(3, 1, ctx.previous_label())
        row = 5
        ws.write(row, 0, "Политики SLA", bold)
        for p in ctx.policies():
            row += 1
            ws.write(row, 0, p["title"])
            ws.write(row, 1, f"{p['calendar']}; {p['rules']}")
            ws.write(row, 3, p["count"])
        row += 2
        for col, name in enumerate(("Показатель", "Значение", "Предыдущий период",
                                    "Изменение")):
            ws.write(row, col, name, head)
        for key, label in FIGURE_LABELS.items():
            row += 1
            change = ctx.changes[key]
            fmt = pct if key in RATES else (dec if key not in _COUNTS else None)
            ws.write(row, 0, label)
            for col, value in ((1, change.current), (2, change.previous), (3, change.delta)):
                if value is None:
                    ws.write_blank(row, col, None)
                else:
                    ws.write_number(row, col, value, fmt)
        row += 1
        ws.write(row, 0, "Просроченные с прошлых периодов (входят в просроченные)")
        ws.write_number(row, 1, m.overdue_carried)
        for heading, groups in (("По категориям", m.by_category), ("По блокам", m.by_block),
                                ("По подразделениям", m.by_department)):
            row += 2
            for col, name in enumerate((heading, "Новые", "Повторные", "Просроченные",
                                        "Отложенные", "Повторные жалобы")):
                ws.write(row, col, name, head)
            for g in groups:
                row += 1
                ws.write_row(row, 0, (g.name, g.new, g.repeat, g.overdue, g.postponed,
                                      g.repeat_complaints))
        for heading, items in (("Главные темы", m.top_topics), ("Места", m.top_places)):
            row += 2
            ws.write(row, 0, heading, head)
            ws.write(row, 1, "Новых инцидентов", head)
            for name, count in items:
                row += 1
                ws.write_row(row, 0, (name, count))
        if m.is_empty:
            row += 2
            ws.write(row, 0, "За период инцидентов не было.", bold)

        # Рейтинги
        ws = wb.add_worksheet("Рейтинги")
        ws.set_column(0, 0, 7)
        ws.set_column(1, 1, 36)
        ws.set_column(2, len(RATING_COLUMNS) - 1, 13)
        ws.merge_range(0, 0, 0, len(RATING_COLUMNS) - 1, FORMULA, wrap)
        ws.set_row(0, 75)
        row = 2
        r8s = ctx.ratings
        for heading, rows, apart in (
                ("Муниципалитеты", r8s.municipalities, r8s.unranked_municipalities),
                ("Подразделения", r8s.departments, r8s.unranked_departments),
                ("Исполнители", r8s.executors, r8s.unranked_executors),
                ("Руководители отраслевых блоков", r8s.block_owners,
                 r8s.unranked_block_owners)):
            if heading.startswith(("Руководители", "Муниципалитеты")) and not rows \
                    and not apart:
                continue
            ws.write(row, 0, heading, bold)
            row += 1
            ws.write_row(row, 0, RATING_COLUMNS, head)
            for r in rows:
                row += 1
                ws.write_row(row, 0, (r.rank, r.name, r.due, r.on_time, r.submissions,
                                      r.returns, r.answered))
                ws.write_number(row, 7, r.timeliness, pct)
                ws.write_number(row, 8, r.completeness, pct)
                ws.write_number(row, 9, r.volume, pct)
                ws.write_number(row, 10, r.score, dec)
            if apart:
                row += 1
                ws.write(row, 0, f"Не ранжированы ({len(apart)}): {UNRANKED_REASON}", wrap)
                for r in apart:
                    row += 1
                    ws.write_row(row, 0, ("—", r.name, r.due, r.on_time, r.submissions,
                                          r.returns, r.answered))
            row += 2

        # Инциденты
        ws = wb.add_worksheet("Инциденты", worksheet_class=_rows_sheet())
        ws.write_row(0, 0, ctx.columns, head)
        ws.set_row(0, 45)
        ws.set_column(0, 0, 7)
        ws.set_column(1, 5, 16)
        ws.set_column(6, 7, 11)
        ws.set_column(8, 12, 28)
        ws.set_column(13, 15, 11)
        ws.freeze_panes(1, 1)
        table = ctx.table
        ws.write_rows(1, table, dec, when)
        if table:
            ws.autofilter(0, 0, len(table), len(ctx.columns) - 1)
    finally:
        wb.close()
    return path



def _write_cells(ws: Any, row: int, values: Sequence[Any], dec: Any, when: Any) -> None:
    """One row of the incident table through XlsxWriter's typed writes (the generic
    ``write`` guesses each cell's type); empty cells are not written at all."""
    for col, value in enumerate(values):
        kind = type(value)
        if value is None or value == "":
            continue
        if kind is str:
            ws.write_string(row, col, value)
        elif kind is int:
            ws.write_number(row, col, value)
        elif kind is float:
            ws.write_number(row, col, value, dec)
        elif kind is datetime:
            ws.write_datetime(row, col, value, when)
        else:
            ws.write(row, col, value)


# A string XlsxWriter escapes in its own way (control characters, "_xHHHH_", non-characters)
# or takes for rich text: its row goes through XlsxWriter's own writes.
_UNUSUAL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^<r>")


@cache
def _rows_sheet() -> type:
    """A worksheet class that writes a large table's rows straight into its XML.

    XlsxWriter writes a cell in some twenty Python calls (argument checks, a tuple per cell,
    attribute lists, escaping by regular expression): 3-4 s for the 300,000 cells of a
    region's week. In ``constant_memory`` mode it writes each finished row to a file as
    ``<row r="N"><c …>…</c>…</row>``; ``write_rows`` writes the same XML, byte for byte, in
    one f-string per cell (tests/test_reports.py compares it with XlsxWriter's own). Rows it
    cannot write so (formatted rows, unusual strings, a workbook not in ``constant_memory``)
    go through XlsxWriter's writes. Written against XlsxWriter 3.3 (pinned)."""
    from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name
    from xlsxwriter.worksheet import Worksheet

    class RowsSheet(Worksheet):  # type: ignore[misc]
        def write_rows(self, first: int, rows: Sequence[Sequence[Any]], dec: Any,
                       when: Any) -> None:
            """``rows`` from row ``first`` on (ascending, after every row written so far):
            str, int, float (with ``dec``), datetime (with ``when``); None or "" empty."""
            if not self.constant_memory:
                for i, values in enumerate(rows, start=first):
                    _write_cells(self, i, values, dec, when)
                return
            width = max((len(r) for r in rows), default=0)
            refs = [xl_col_to_name(c) for c in range(width)]
            # Style indexes are taken when first used, as XlsxWriter takes them (in order).
            styles: dict[int, str] = {}

            def style(fmt: Any) -> str:
                found = styles.get(id(fmt))
                if found is None:
                    found = styles[id(fmt)] = f' s="{fmt._get_xf_index()}"' if fmt else ""
                return found

            def plain(col: int) -> str:  # a cell without a format of its own: its column's
                info = self.col_info.get(col)
                return style(info.column_format if info is not None else None)

            limit = self.xls_strmax // 2
            for i, values in enumerate(rows, start=first):
                if i in self.row_info or i >= self.xls_rowmax:
                    _write_cells(self, i, values, dec, when)
                    continue
                if i > self.previous_row:
                    self._write_single_row(i)  # the row before, if XlsxWriter holds one
                n = str(i + 1)
                cells = []
                filled = []
                for col, value in enumerate(values):
                    kind = type(value)
                    if value is None or value == "":
                        continue
                    if kind is str:
                        if len(value) > limit or _UNUSUAL.search(value):
                            break
                        if "&" in value or "<" in value or ">" in value:
                            value = value.replace("&", "&amp;").replace("<", "&lt;") \
                                .replace(">", "&gt;")
                        keep = ' xml:space="preserve"' if _preserve_whitespace(value) else ""
                        cells.append(f'<c r="{refs[col]}{n}"{plain(col)} t="inlineStr">'
                                     f"<is><t{keep}>{value}</t></is></c>")
                    elif kind is int:
                        cells.append(f'<c r="{refs[col]}{n}"{plain(col)}>'
                                     f"<v>{value:.16G}</v></c>")
                    elif kind is float and math.isfinite(value):
                        cells.append(f'<c r="{refs[col]}{n}"{style(dec)}><v>{value:.16G}</v></c>')
                    elif kind is datetime:
                        cells.append(f'<c r="{refs[col]}{n}"{style(when)}>'
                                     f"<v>{self._convert_date_time(value):.16G}</v></c>")
                    else:
                        break
                    filled.append(col)
                else:
                    if cells:
                        self._check_dimensions(i, filled[0])
                        self._check_dimensions(i, filled[-1])
                        self.fh.write(f'<row r="{n}">{"".join(cells)}</row>')
                    continue
                _write_cells(self, i, values, dec, when)

    return RowsSheet
