"""SLA policies: deadline rules, reminders and escalation, and the deadlines they give.

The regulations (seed 002, section 3) set deadlines in several kinds of units: working hours
("8 рабочих часов"), calendar hours ("в течение 24 часов"), calendar days ("14 дней") and a
clock time ("в течение суток до 18.00"). A ``Rule`` is one of them; a ``Policy`` bundles the
rules of one channel with its working calendar. Everything here is pure: time is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import TypeAlias
from zoneinfo import ZoneInfo

from workflows.calendar import EVERY_DAY, MON_FRI, WorkingCalendar
from workflows.model import Priority

__all__ = [
    "Deadlines",
    "Duration",
    "DurationKind",
    "Policy",
    "Priority",
    "Reminder",
    "Rule",
    "Until",
    "compute_deadlines",
    "deadline_after",
    "default_policies",
    "escalation_time",
    "parse_duration",
    "parse_reminder",
    "parse_rule",
    "reminder_times",
]


class DurationKind(StrEnum):
    CALENDAR_TIME = "calendar_time"  # "30m", "24h": elapsed clock time
    WORKING_TIME = "working_time"  # "8wh": working hours of the policy's calendar
    CALENDAR_DAYS = "calendar_days"  # "14d": same local clock time n days later
    WORKING_DAYS = "working_days"  # "2wd": n working days later

    @property
    def is_days(self) -> bool:
        return self in (DurationKind.CALENDAR_DAYS, DurationKind.WORKING_DAYS)

    @property
    def is_working(self) -> bool:
        return self in (DurationKind.WORKING_TIME, DurationKind.WORKING_DAYS)


@dataclass(frozen=True)
class Duration:
    """An amount of time: a ``timedelta`` for the *_TIME kinds, whole days (int) otherwise."""

    amount: timedelta | int
    kind: DurationKind

    def __post_init__(self) -> None:
        if self.kind.is_days:
            if isinstance(self.amount, bool) or not isinstance(self.amount, int):
                raise TypeError(f"{self.kind} takes a whole number of days, got {self.amount!r}")
            if self.amount < 0:
                raise ValueError(f"a duration cannot be negative, got {self.amount} days")
        else:
            if not isinstance(self.amount, timedelta):
                raise TypeError(f"{self.kind} takes a timedelta, got {self.amount!r}")
            if self.amount < timedelta(0):
                raise ValueError(f"a duration cannot be negative, got {self.amount}")

    @classmethod
    def minutes(cls, n: int) -> Duration:
        return cls(timedelta(minutes=n), DurationKind.CALENDAR_TIME)

    @classmethod
    def hours(cls, n: int) -> Duration:
        return cls(timedelta(hours=n), DurationKind.CALENDAR_TIME)

    @classmethod
    def working_hours(cls, n: int) -> Duration:
        return cls(timedelta(hours=n), DurationKind.WORKING_TIME)

    @classmethod
    def days(cls, n: int) -> Duration:
        return cls(n, DurationKind.CALENDAR_DAYS)

    @classmethod
    def working_days(cls, n: int) -> Duration:
        return cls(n, DurationKind.WORKING_DAYS)

    def __str__(self) -> str:
        """The canonical config spelling, which ``parse_duration`` reads back."""
        if isinstance(self.amount, int):
            return f"{self.amount}{'wd' if self.kind is DurationKind.WORKING_DAYS else 'd'}"
        working = "w" if self.kind is DurationKind.WORKING_TIME else ""
        minutes, rest = divmod(self.amount, timedelta(minutes=1))
        if rest:  # not expressible in the config syntax (whole minutes); for logs only
            return f"{self.amount} {self.kind}"
        if minutes % 60 == 0:
            return f"{minutes // 60}{working}h"
        return f"{minutes}{working}m"


@dataclass(frozen=True)
class Until:
    """By a local clock time: the first such time at least ``min_time`` ahead.

    The same day if registered at least ``min_time`` before it, else the next day: the next
    working day of the policy's calendar (every day for the Governor's networks, whose
    calendar is around the clock). With ``min_time`` of 4 hours a post at 17:59 is due the
    next day at 18:00, not in one minute. ``min_time`` is elapsed time.
    """

    at: time
    min_time: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.min_time <= timedelta(days=7):
            raise ValueError(f"min_time must be between 0 and 7 days, got {self.min_time}")

    def __str__(self) -> str:
        return f"until {self.at:%H:%M}"


Rule: TypeAlias = Duration | Until


@dataclass(frozen=True)
class Reminder:
    """A point before the deadline: a share of the whole span, or a duration before it."""

    fraction: Fraction | None = None
    before: Duration | None = None

    def __post_init__(self) -> None:
        if (self.fraction is None) == (self.before is None):
            raise ValueError("a reminder is either a fraction or a duration before the deadline")
        if self.fraction is not None and not 0 < self.fraction < 1:
            raise ValueError(f"a reminder fraction must be between 0 and 1, got {self.fraction}")

    def __str__(self) -> str:
        if self.fraction is not None:
            return f"{float(self.fraction * 100):g}%"
        return str(self.before)


@dataclass(frozen=True)
class Policy:
    name: str
    title: str
    calendar: WorkingCalendar
    first_response: Rule | None = None
    answer: Rule | None = None
    answer_fast_track: Rule | None = None
    reminders: tuple[Reminder, ...] = ()
    escalate_after: Duration | None = None
    # The first-response clock is the acceptance «в работу» (Кузбасс-онлайн 3.11.3): shown
    # as such, and the coordinators are reminded at half its time as well as at its end.
    acceptance: bool = False
    # A final answer carries a result status chosen on approval (3.11.7).
    result_statuses: bool = False


@dataclass(frozen=True)
class Deadlines:
    first_response: datetime | None
    answer: datetime | None


# -- parsing -------------------------------------------------------------------------------

_DURATION_HINT = (
    "a whole number and a unit: minutes '30m' / '90 min', hours '1h' / '4 h', "
    "working hours '8wh' / '8 рч', calendar days '14d' / '14 days', working days '2wd'"
)

_UNIT_SPELLINGS: tuple[tuple[str, DurationKind, timedelta | None], ...] = (
    (
        "m min mins minute minutes мин минута минуты минут",
        DurationKind.CALENDAR_TIME,
        timedelta(minutes=1),
    ),
    ("h hr hrs hour hours ч час часа часов", DurationKind.CALENDAR_TIME, timedelta(hours=1)),
    ("wm wmin рм working_minute working_minutes", DurationKind.WORKING_TIME, timedelta(minutes=1)),
    (
        "wh рч working_hour working_hours рабочий_час рабочих_часа рабочих_часов",
        DurationKind.WORKING_TIME,
        timedelta(hours=1),
    ),
    ("d day days д дн день дня дней", DurationKind.CALENDAR_DAYS, None),
    (
        "wd рд working_day working_days рабочий_день рабочих_дня рабочих_дней",
        DurationKind.WORKING_DAYS,
        None,
    ),
)
# Unit spelling (lower case, "_" standing for a space) → kind and the size of one unit; days
# are counted, not timed, so they have no size.
_UNITS: Mapping[str, tuple[DurationKind, timedelta | None]] = MappingProxyType(
    {
        name.replace("_", " "): (kind, size)
        for names, kind, size in _UNIT_SPELLINGS
        for name in names.split()
    }
)

_DURATION_RE = re.compile(r"(\d+)\s*([^\d\s].*)")
_UNTIL_RE = re.compile(r"(?:until|by|до)\s+(\d{1,2})[:.](\d{2})")
_PERCENT_RE = re.compile(r"(\d+(?:[.,]\d+)?)\s*%")
_BEFORE_SUFFIX_RE = re.compile(r"\s+(?:before|до срока)$")


# The readers below are pure, and a config spells the same few rules in every category and
# municipality: each spelling is read once (the values are frozen).


def parse_duration(text: str) -> Duration:
    """Read "30m", "90 min", "1h", "8wh", "8 рч", "14d", "14 days", "2wd"."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected {_DURATION_HINT}")
    return _parse_duration(text)


@lru_cache(maxsize=256)
def _parse_duration(text: str) -> Duration:
    normal = " ".join(text.strip().lower().split())
    match = _DURATION_RE.fullmatch(normal)
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise ValueError(f"invalid duration {text!r}: expected {_DURATION_HINT}")
    number = int(match.group(1))
    kind, size = unit
    if size is None:
        return Duration(number, kind)
    return Duration(number * size, kind)


def parse_rule(text: str) -> Rule:
    """Read a deadline rule: a duration (see ``parse_duration``) or "until HH:MM"."""
    return _parse_rule(str(text))


@lru_cache(maxsize=256)
def _parse_rule(text: str) -> Rule:
    normal = " ".join(text.strip().lower().split())
    until = _UNTIL_RE.fullmatch(normal)
    if until is not None:
        hour, minute = int(until.group(1)), int(until.group(2))
        if hour > 23 or minute > 59:
            raise ValueError(f"invalid deadline rule {text!r}: {hour:02d}:{minute:02d} is no time")
        return Until(time(hour, minute))
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(
            f"invalid deadline rule {text!r}: expected 'until HH:MM' (e.g. 'until 18:00') or "
            f"{_DURATION_HINT}"
        ) from None


def parse_reminder(text: str) -> Reminder:
    """Read a reminder point: a share of the span like "50%", or a duration like "1wh"
    (optionally followed by "before") meaning that long before the deadline."""
    return _parse_reminder(str(text))


@lru_cache(maxsize=256)
def _parse_reminder(text: str) -> Reminder:
    normal = " ".join(text.strip().lower().split())
    percent = _PERCENT_RE.fullmatch(normal)
    if percent is not None:
        share = Fraction(percent.group(1).replace(",", ".")) / 100
        if not 0 < share < 1:
            raise ValueError(f"invalid reminder {text!r}: a percentage must be between 0% and 100%")
        return Reminder(fraction=share)
    try:
        return Reminder(before=parse_duration(_BEFORE_SUFFIX_RE.sub("", normal)))
    except ValueError:
        raise ValueError(
            f"invalid reminder {text!r}: expected a percentage of the time to the deadline "
            f"(e.g. '50%') or a duration before the deadline, {_DURATION_HINT}"
        ) from None


# -- arithmetic ----------------------------------------------------------------------------


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {t!r}")
    return t.astimezone(UTC)


def deadline_after(rule: Rule, calendar: WorkingCalendar, start: datetime) -> datetime:
    """The deadline a rule gives for work registered at ``start`` (UTC)."""
    start = _utc(start)
    if isinstance(rule, Until):
        local = start.astimezone(calendar.tz)
        day = local.date()
        if not calendar.is_working_day(day):
            day = calendar.next_working_day(day)
        due = datetime.combine(day, rule.at, tzinfo=calendar.tz).astimezone(UTC)
        while due <= start or due - start < rule.min_time:
            day = calendar.next_working_day(day)
            due = datetime.combine(day, rule.at, tzinfo=calendar.tz).astimezone(UTC)
        return due
    kind = rule.kind
    if kind is DurationKind.WORKING_TIME:
        assert isinstance(rule.amount, timedelta)
        return calendar.add_working(start, rule.amount)
    if kind is DurationKind.WORKING_DAYS:
        assert isinstance(rule.amount, int)
        return calendar.add_working_days(calendar.next_working_moment(start), rule.amount)
    if kind is DurationKind.CALENDAR_TIME:
        assert isinstance(rule.amount, timedelta)
        return calendar.next_working_moment(start + rule.amount)
    # Calendar days keep the local wall-clock time (DST-proof), then wait for working time:
    # "14 days" from Friday 10:00 is Friday 10:00, unless that day is a holiday.
    assert isinstance(rule.amount, int)
    local = start.astimezone(calendar.tz)
    later = datetime.combine(
        local.date() + timedelta(days=rule.amount), local.time(), tzinfo=calendar.tz
    )
    return calendar.next_working_moment(later)


def _before(duration: Duration, calendar: WorkingCalendar, deadline: datetime) -> datetime:
    """The moment ``duration`` before ``deadline``."""
    if duration.kind is DurationKind.WORKING_TIME:
        assert isinstance(duration.amount, timedelta)
        return calendar.add_working(deadline, -duration.amount)
    if duration.kind is DurationKind.CALENDAR_TIME:
        assert isinstance(duration.amount, timedelta)
        return deadline - duration.amount
    assert isinstance(duration.amount, int)
    if duration.kind is DurationKind.WORKING_DAYS:
        return calendar.add_working_days(deadline, -duration.amount)
    local = deadline.astimezone(calendar.tz)
    earlier = datetime.combine(
        local.date() - timedelta(days=duration.amount), local.time(), tzinfo=calendar.tz
    )
    return earlier.astimezone(UTC)


def _calendar_for(policy: Policy, priority: Priority) -> WorkingCalendar:
    # An urgent request is worked on "regardless of the day of the week and the time of day"
    # (regulation 3.9), so its working units run around the clock.
    if priority is Priority.URGENT:
        return WorkingCalendar.always(policy.calendar.tz)
    return policy.calendar


def compute_deadlines(
    policy: Policy,
    priority: Priority,
    registered_at: datetime,
    urgent_deadline: datetime | None = None,
) -> Deadlines:
    """The first-response and answer deadlines (UTC) of work registered at ``registered_at``.

    ``normal`` uses the policy's ``answer`` rule, ``fast_track`` its ``answer_fast_track``
    (or ``answer`` when the policy has none), ``urgent`` the explicit ``urgent_deadline`` as
    it is (``urgent_deadline`` is ignored for the other priorities). For urgent work the
    first-response rule runs around the clock. A first response is never due after the
    answer.
    """
    priority = Priority(priority)
    registered_at = _utc(registered_at)
    calendar = _calendar_for(policy, priority)
    answer: datetime | None
    if priority is Priority.URGENT:
        if urgent_deadline is None:
            raise ValueError("an urgent request needs an explicit deadline")
        answer = _utc(urgent_deadline)
    else:
        rule = policy.answer
        if priority is Priority.FAST_TRACK and policy.answer_fast_track is not None:
            rule = policy.answer_fast_track
        answer = None if rule is None else deadline_after(rule, calendar, registered_at)
    first: datetime | None = None
    if policy.first_response is not None:
        first = deadline_after(policy.first_response, calendar, registered_at)
        if answer is not None:
            first = min(first, answer)
    return Deadlines(first_response=first, answer=answer)


def reminder_times(
    policy: Policy,
    start: datetime,
    deadline: datetime,
    *,
    priority: Priority = Priority.NORMAL,
) -> list[datetime]:
    """The reminder points strictly between ``start`` and ``deadline``, then the deadline.

    A fraction is a share of the working time between the two (of the elapsed time if there
    is no working time between them, e.g. an urgent request on a Sunday); a duration is
    counted back from the deadline. Points that would fall before ``start`` are dropped.
    """
    start, deadline = _utc(start), _utc(deadline)
    calendar = _calendar_for(policy, Priority(priority))
    points = {deadline}
    span = calendar.working_between(start, deadline) if deadline > start else timedelta(0)
    for reminder in policy.reminders:
        if reminder.fraction is not None:
            share = reminder.fraction
            if span > timedelta(0):
                offset = span * share.numerator // share.denominator
                point = calendar.add_working(start, offset)
            else:
                point = start + (deadline - start) * share.numerator // share.denominator
        else:
            assert reminder.before is not None
            point = _before(reminder.before, calendar, deadline)
        if start < point < deadline:
            points.add(point)
    return sorted(points)


def escalation_time(
    policy: Policy, deadline: datetime, *, priority: Priority = Priority.NORMAL
) -> datetime | None:
    """When overdue work escalates to the block owner and the curator (None: never)."""
    if policy.escalate_after is None:
        return None
    calendar = _calendar_for(policy, Priority(priority))
    deadline = _utc(deadline)
    if policy.escalate_after.kind is DurationKind.WORKING_TIME:
        # Counted from the deadline even if it lies outside working hours.
        assert isinstance(policy.escalate_after.amount, timedelta)
        return calendar.add_working(deadline, policy.escalate_after.amount)
    return deadline_after(policy.escalate_after, calendar, deadline)


# -- the regulation's defaults -------------------------------------------------------------


GOVERNOR_MIN_TIME = timedelta(hours=4)


def default_policies(
    tz: ZoneInfo | str,
    extra_days_off: Iterable[date] = (),
    extra_working_days: Iterable[date] = (),
    extra_short_days: Iterable[date] = (),
    not_short_days: Iterable[date] = (),
) -> dict[str, Policy]:
    """The policies of the Kuzbass regulation (seed 002, section 3) for one deployment.

    The deployment's extra days off, working days and shortened days apply to the office
    calendars, not to the Governor's networks, which are worked every day. The office
    calendars end an hour early before holidays (Labour Code, art. 95).
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    off, on = frozenset(extra_days_off), frozenset(extra_working_days)
    short, not_short = frozenset(extra_short_days), frozenset(not_short_days)

    def office(start: time, end: time) -> WorkingCalendar:
        return WorkingCalendar(
            tz=zone,
            weekdays=MON_FRI,
            start=start,
            end=end,
            lunch=None,
            production_calendar=True,
            extra_days_off=off,
            extra_working_days=on,
            shortened_pre_holiday=True,
            extra_short_days=short,
            not_short_days=not_short,
        )

    halfway_and_last_hour = (parse_reminder("50%"), parse_reminder("1wh"))
    policies = (
        # 3.2, 3.6, 3.7: Mon–Fri 08:00–17:00; a primary answer within the hour; the answer
        # in 8 working hours, fast track in 4.
        Policy(
            name="incident_management",
            title="Инцидент Менеджмент",
            calendar=office(time(8, 0), time(17, 0)),
            first_response=parse_rule("1wh"),
            answer=parse_rule("8wh"),
            answer_fast_track=parse_rule("4wh"),
            reminders=halfway_and_last_hour,
            escalate_after=parse_duration("2wh"),
        ),
        # 3.10: Mon–Fri 08:30–17:30; the platform sets the deadline, 8 working hours until it
        # is read from the platform.
        Policy(
            name="pos",
            title="Платформа обратной связи",
            calendar=office(time(8, 30), time(17, 30)),
            answer=parse_rule("8wh"),
            reminders=halfway_and_last_hour,
            escalate_after=parse_duration("2wh"),
        ),
        # 3.11: accepted "в работу" within 24 hours, considered within 14 days.
        Policy(
            name="kuzbass_online",
            title="Кузбасс-онлайн",
            calendar=office(time(8, 30), time(17, 30)),
            first_response=parse_rule("24h"),
            answer=parse_rule("14d"),
            reminders=(parse_reminder("50%"), parse_reminder("1wd")),
            escalate_after=parse_duration("1wd"),
            acceptance=True,
            result_statuses=True,
        ),
        # 3.12: every day; the answer "в течение суток до 18.00": the first 18:00 at least
        # four hours ahead.
        Policy(
            name="governor",
            title="Губернаторские соцсети",
            calendar=WorkingCalendar(
                tz=zone,
                weekdays=EVERY_DAY,
                start=time(0, 0),
                end=time(0, 0),
                production_calendar=False,
            ),
            answer=Until(time(18, 0), GOVERNOR_MIN_TIME),
            reminders=(parse_reminder("50%"), parse_reminder("1h")),
            escalate_after=parse_duration("1h"),
        ),
    )
    return {policy.name: policy for policy in policies}
