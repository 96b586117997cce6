"""The working calendar: which moments count as working time, and arithmetic on working time.

Working time is computed, not stepped. For every local calendar year a calendar builds (once,
lazily) a table of its working periods as UTC instants together with the running total of
working time before each period; a moment then maps to a position on the working-time axis by
one binary search, and back again by another. Adding 14 working days therefore costs about
the same as adding one working hour.

Instants inside the tables are integer microseconds since the Unix epoch, so arithmetic is
exact: ``working_between(t, add_working(t, d)) == d`` holds to the microsecond.

Working periods are half-open, ``[start, end)``: 17:00 is not working time on an
08:00–17:00 day. A deadline computed by ``add_working`` may land exactly on the end of a
period (Friday 16:00 + 1 working hour is Friday 17:00, not Monday 08:00).

Shortened pre-holiday days (Labour Code, art. 95): on the production calendar the working day
just before a non-working holiday (art. 112) ends an hour earlier. A decreed working Saturday
works to the hours of the weekday its day off was moved to, so it is shortened when that
weekday is (2024-11-02 for 2024-04-30, 2025-11-01 for 2025-11-03). The ``holidays`` package
has no shortened days; they are derived here by that rule, which gives exactly the lists of
the government's decrees for 2024–2027 (see tests/test_calendar.py).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = ["MON_FRI", "EVERY_DAY", "NON_WORKING_HOLIDAYS", "WorkingCalendar"]

MON_FRI: frozenset[int] = frozenset(range(5))
EVERY_DAY: frozenset[int] = frozenset(range(7))

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_MIDNIGHT = time(0, 0)
# How many consecutive years without any working time a search may cross before it gives up:
# a calendar with no working days at all (empty weekdays, only a few extra working days)
# would otherwise loop until datetime's year 9999.
_MAX_EMPTY_YEARS = 10
# How much shorter a pre-holiday working day is (Labour Code, art. 95).
_SHORTENED_BY = 60  # minutes

# The non-working holidays of the Labour Code (art. 112) as (month, day): New Year holidays
# 1–6 and 8 January, Christmas 7 January, 23 February, 8 March, 1 and 9 May, 12 June and
# 4 November. Days off transferred by decree are not among them.
NON_WORKING_HOLIDAYS: frozenset[tuple[int, int]] = frozenset(
    [(1, d) for d in range(1, 9)] + [(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)]
)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _MICRO


def _from_us(us: int) -> datetime:
    """The UTC time ``us`` microseconds after the epoch (the inverse of :func:`_us`)."""
    return _EPOCH + timedelta(microseconds=us)


def _td_us(d: timedelta) -> int:
    return d // _MICRO


def _aware(t: datetime, what: str = "moment") -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {t!r}")
    return t


@lru_cache(maxsize=64)
def _russian_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The Russian production calendar for one year: (days off, working weekend days).

    Days off are the official holidays, their observed days and the transferred days off
    (all of them are keys of ``holidays.Russia``); working weekend days are the Saturdays
    (rarely Sundays) that the government's decree turns into working days, e.g. 2025-11-01.
    """
    russia = holidays.Russia(years=year)
    days_off = frozenset(d for d in russia if d.year == year)
    working = frozenset(d for d in russia.weekend_workdays if d.year == year)
    return days_off, working


@lru_cache(maxsize=64)
def _moved_days_off(year: int) -> dict[date, date]:
    """The decree's transfers around ``year``: working weekend day → the day off moved from it.

    Read from ``holidays.Russia``'s table of substituted days (``(to_month, to_day,
    from_month, from_day[, from_year])`` per year); a transfer may cross the year's end.
    """
    moved: dict[date, date] = {}
    for y in (year - 1, year, year + 1):
        table = getattr(holidays.Russia(years=y), "special_public_holidays", {}) or {}
        entries = table.get(y, ())
        if entries and not isinstance(entries[0], tuple):
            entries = (entries,)
        for entry in entries:
            if len(entry) < 4 or not all(isinstance(x, int) for x in entry):
                continue  # a named extra holiday, not a transfer
            to_month, to_day, from_month, from_day = entry[:4]
            from_year = entry[4] if len(entry) == 5 else y
            moved[date(from_year, from_month, from_day)] = date(y, to_month, to_day)
    return moved


def _is_non_working_holiday(d: date) -> bool:
    return (d.month, d.day) in NON_WORKING_HOLIDAYS


@dataclass(frozen=True, slots=True)
class _YearTable:
    """Working periods of one local year, as UTC microseconds."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    # cum[j]: working microseconds in this year before period j starts.
    cum: tuple[int, ...]
    total: int
    # Ordinals (date.toordinal) of the working days of this year, sorted.
    days: tuple[int, ...]

    def offset(self, x: int) -> int:
        """Working microseconds of this year before instant ``x`` (x inside the year)."""
        j = bisect_right(self.starts, x) - 1
        if j < 0:
            return 0
        return self.cum[j] + min(x, self.ends[j]) - self.starts[j]

    def at(self, o: int) -> int:
        """The earliest instant at working position ``o`` (0 < o <= total).

        "Earliest" is what makes a deadline landing on a period boundary stay at the end of
        the earlier period instead of jumping to the start of the next one.
        """
        j = bisect_left(self.cum, o) - 1
        return self.starts[j] + (o - self.cum[j])


@lru_cache(maxsize=256)
def _table_of(calendar: WorkingCalendar, year: int) -> _YearTable:
    """A year's table, shared by equal calendars (each config load makes a new one)."""
    return calendar._build(year)


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class WorkingCalendar:
    """When work is done: working weekdays and hours in a time zone, with holidays.

    ``start == end == 00:00`` means around the clock; ``end == 00:00`` alone means until
    midnight. With ``production_calendar`` the Russian production calendar applies: official
    holidays and transferred days off are off, decreed working Saturdays are on. The
    deployment's ``extra_days_off`` and ``extra_working_days`` win over everything else.
    With ``shortened_pre_holiday`` (and the production calendar) a working day just before a
    non-working holiday ends an hour earlier (see the module docstring);
    ``extra_short_days`` adds such days, ``not_short_days`` removes them.

    All methods accept aware datetimes in any zone and return aware datetimes in UTC.
    """

    tz: ZoneInfo
    weekdays: frozenset[int] = MON_FRI
    start: time = time(8, 0)
    end: time = time(17, 0)
    lunch: tuple[time, time] | None = None
    production_calendar: bool = True
    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    shortened_pre_holiday: bool = True
    extra_short_days: frozenset[date] = frozenset()
    not_short_days: frozenset[date] = frozenset()
    # Per-year tables, built lazily; not part of the calendar's identity.
    _years: dict[int, _YearTable] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # Coerce the config layer's plain values (a zone name, lists of dates) so that the
        # calendar stays hashable and comparable.
        if isinstance(self.tz, str):
            object.__setattr__(self, "tz", ZoneInfo(self.tz))
        for name in ("weekdays", "extra_days_off", "extra_working_days", "extra_short_days",
                     "not_short_days"):
            value = getattr(self, name)
            if not isinstance(value, frozenset):
                object.__setattr__(self, name, frozenset(value))
        if not self.weekdays <= EVERY_DAY:
            raise ValueError(
                f"weekdays must be numbers 0 (Monday) to 6 (Sunday), got {sorted(self.weekdays)}"
            )
        for t in (self.start, self.end, *(self.lunch or ())):
            if t.tzinfo is not None or t.second or t.microsecond:
                raise ValueError(f"working hours must be naive HH:MM times, got {t!r}")
        day_start, day_end = self._day_bounds()
        if day_start >= day_end:
            raise ValueError(
                f"the working day must end after it starts, got {self.start:%H:%M}–{self.end:%H:%M}"
            )
        if self.lunch is not None:
            l0, l1 = (_minutes(t) for t in self.lunch)
            if not day_start < l0 < l1 < day_end:
                raise ValueError(
                    f"lunch {self.lunch[0]:%H:%M}–{self.lunch[1]:%H:%M} must lie inside the "
                    f"working day {self.start:%H:%M}–{self.end:%H:%M}"
                )
        both = self.extra_days_off & self.extra_working_days
        if both:
            raise ValueError(
                "dates listed both as extra days off and as extra working days: "
                + ", ".join(d.isoformat() for d in sorted(both))
            )
        both = self.extra_short_days & self.not_short_days
        if both:
            raise ValueError(
                "dates listed both as extra shortened days and as not shortened days: "
                + ", ".join(d.isoformat() for d in sorted(both))
            )
        if self.shortens and day_end - _SHORTENED_BY <= day_start:
            raise ValueError(
                f"a working day of {self.start:%H:%M}–{self.end:%H:%M} cannot be shortened by "
                "an hour before holidays (turn shortened_pre_holiday off)"
            )

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def always(cls, tz: ZoneInfo | str) -> WorkingCalendar:
        """Every day around the clock, no holidays (urgent work, the Governor's networks)."""
        return cls(
            tz=tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz),
            weekdays=EVERY_DAY,
            start=_MIDNIGHT,
            end=_MIDNIGHT,
            lunch=None,
            production_calendar=False,
        )

    @property
    def around_the_clock(self) -> bool:
        return self.start == _MIDNIGHT and self.end == _MIDNIGHT and self.lunch is None

    @property
    def shortens(self) -> bool:
        """Whether this calendar has shortened pre-holiday days at all."""
        return self.production_calendar and self.shortened_pre_holiday

    # -- days -------------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        if isinstance(d, datetime):
            raise TypeError("is_working_day takes a date; use is_working_time for a moment")
        if d in self.extra_working_days:
            return True
        if d in self.extra_days_off:
            return False
        if not self.production_calendar:
            return d.weekday() in self.weekdays
        days_off, working_weekend_days = _russian_year(d.year)
        if d in days_off:
            return False
        # A decreed working Saturday is a working day even for a Mon–Fri calendar. For a
        # Mon–Fri calendar this is exactly holidays.Russia.is_working_day(); for calendars
        # with other weekdays their own weekdays stay working unless they are holidays.
        return d.weekday() in self.weekdays or d in working_weekend_days

    def is_short_day(self, d: date) -> bool:
        """A working day that ends an hour earlier: the day just before a non-working
        holiday (Labour Code, art. 95), or a decreed working weekend day whose moved day off
        is such a day; plus the config's ``extra_short_days``, less its ``not_short_days``."""
        if not self.shortens or not self.is_working_day(d):
            return False
        if d in self.not_short_days:
            return False
        if d in self.extra_short_days:
            return True
        moved = _moved_days_off(d.year).get(d) if d.weekday() >= 5 else None
        ahead = (moved or d) + timedelta(days=1)
        return _is_non_working_holiday(ahead) and not self.is_working_day(ahead)

    def day_end(self, d: date) -> time:
        """When the work of day ``d`` ends (an hour early on a shortened day, at the lunch
        break when the hour taken off reaches into it); 00:00 means midnight at the end of
        the day."""
        if not self.is_short_day(d):
            return self.end
        end = self._day_bounds()[1] - _SHORTENED_BY
        if self.lunch is not None:
            l0, l1 = (_minutes(t) for t in self.lunch)
            if l0 < end <= l1:
                end = l0
        return time(end // 60, end % 60)

    def short_days(self, a: date, b: date) -> list[date]:
        """The shortened days from ``a`` to ``b``, both included."""
        return [date.fromordinal(n) for n in range(a.toordinal(), b.toordinal() + 1)
                if self.is_short_day(date.fromordinal(n))]

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return self._shift_working_day(d, 1)

    # -- moments ----------------------------------------------------------------------------

    def is_working_time(self, t: datetime) -> bool:
        x = _us(_aware(t))
        tab = self._table(self._year_of(t))
        j = bisect_right(tab.starts, x) - 1
        return j >= 0 and x < tab.ends[j]

    def next_working_moment(self, t: datetime) -> datetime:
        """``t`` itself (in UTC) if it is working time, else the start of the next period."""
        x = _us(_aware(t))
        year = self._year_of(t)
        tab = self._table(year)
        k = bisect_right(tab.starts, x)
        if k > 0 and x < tab.ends[k - 1]:
            return _from_us(x)
        empty = 0
        while k >= len(tab.starts):
            year, k = year + 1, 0
            tab = self._table(year)
            empty = self._check_empty(tab, empty)
        return _from_us(tab.starts[k])

    def add_working(self, t: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``t`` (before it, if negative).

        Ends on the end of a working period rather than the start of the next one when the
        two are the same position (Friday 16:00 + 1 working hour = Friday 17:00). A zero
        duration returns ``t`` unchanged (in UTC).
        """
        step = _td_us(duration)
        x = _us(_aware(t))
        if step == 0:
            return _from_us(x)
        year = self._year_of(t)
        tab = self._table(year)
        o = tab.offset(x) + step
        empty = 0
        if step > 0:
            while o > tab.total:
                o -= tab.total
                year += 1
                tab = self._table(year)
                empty = self._check_empty(tab, empty)
        else:
            while o <= 0:
                year -= 1
                tab = self._table(year)
                o += tab.total
                empty = self._check_empty(tab, empty)
        return _from_us(tab.at(o))

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        xa, xb = _us(_aware(a)), _us(_aware(b))
        if xb < xa:
            return -self.working_between(b, a)
        ya, yb = self._year_of(a), self._year_of(b)
        if ya == yb:
            tab = self._table(ya)
            return timedelta(microseconds=tab.offset(xb) - tab.offset(xa))
        first = self._table(ya)
        total = first.total - first.offset(xa)
        total += sum(self._table(y).total for y in range(ya + 1, yb))
        total += self._table(yb).offset(xb)
        return timedelta(microseconds=total)

    def add_working_days(self, t: datetime, n: int) -> datetime:
        """``n`` working days after (before, if negative) ``t``'s local day, at the same
        local clock time, moved forward into working time if that time is not working."""
        local = _aware(t).astimezone(self.tz)
        if n == 0:
            return self.next_working_moment(local)
        day = self._shift_working_day(local.date(), n)
        moved = datetime.combine(day, local.time(), tzinfo=self.tz)
        return self.next_working_moment(moved)

    # -- internals --------------------------------------------------------------------------

    def _year_of(self, t: datetime) -> int:
        return t.astimezone(self.tz).year

    def _day_bounds(self) -> tuple[int, int]:
        """The working day as minutes after local midnight; end 00:00 is midnight at the end."""
        end = _minutes(self.end)
        return _minutes(self.start), end if end else 24 * 60

    def _periods(self, d: date) -> list[tuple[datetime, datetime]]:
        day_start, day_end = self._day_bounds()
        bounds = [day_start]
        if self.lunch is not None:
            bounds += [_minutes(self.lunch[0]), _minutes(self.lunch[1])]
        bounds.append(day_end)
        midnight = datetime.combine(d, _MIDNIGHT)
        periods = []
        short_end = day_end - _SHORTENED_BY if self.is_short_day(d) else day_end
        for a, b in zip(bounds[::2], bounds[1::2], strict=True):
            # A shortened day ends an hour early, inside the lunch break if need be.
            if a >= short_end:
                continue
            b = min(b, short_end)
            # Wall-clock times, then attached to the zone: across a DST change this yields the
            # real length of the period (zoneinfo resolves gaps and folds with fold=0).
            start = (midnight + timedelta(minutes=a)).replace(tzinfo=self.tz)
            end = (midnight + timedelta(minutes=b)).replace(tzinfo=self.tz)
            periods.append((start, end))
        return periods

    def _table(self, year: int) -> _YearTable:
        tab = self._years.get(year)
        if tab is None:
            tab = _table_of(self, year)
            self._years[year] = tab
        return tab

    def _build(self, year: int) -> _YearTable:
        if not 1 < year < 9999:
            raise ValueError(f"year {year} is outside the supported range")
        starts: list[int] = []
        ends: list[int] = []
        cum: list[int] = []
        days: list[int] = []
        total = 0
        first = date(year, 1, 1).toordinal()
        for ordinal in range(first, date(year, 12, 31).toordinal() + 1):
            d = date.fromordinal(ordinal)
            if not self.is_working_day(d):
                continue
            days.append(ordinal)
            for start, end in self._periods(d):
                a, b = _us(start), _us(end)
                if b <= a:  # a period swallowed by a DST gap
                    continue
                if starts and a < ends[-1]:  # a DST fold overlapping the previous day
                    a = ends[-1]
                    if b <= a:
                        continue
                starts.append(a)
                ends.append(b)
                cum.append(total)
                total += b - a
        return _YearTable(tuple(starts), tuple(ends), tuple(cum), total, tuple(days))

    @staticmethod
    def _check_empty(tab: _YearTable, empty: int) -> int:
        empty = empty + 1 if tab.total == 0 else 0
        if empty > _MAX_EMPTY_YEARS:
            raise ValueError(
                f"the calendar has no working time in {_MAX_EMPTY_YEARS} consecutive years"
            )
        return empty

    def _shift_working_day(self, d: date, n: int) -> date:
        """The n-th working day after ``d`` (n > 0) or the |n|-th before it (n < 0)."""
        year = d.year
        tab = self._table(year)
        ordinal = d.toordinal()
        empty = 0
        if n > 0:
            i = bisect_right(tab.days, ordinal)
            while n > len(tab.days) - i:
                n -= len(tab.days) - i
                year, i = year + 1, 0
                tab = self._table(year)
                empty = self._check_days(tab, empty)
            return date.fromordinal(tab.days[i + n - 1])
        m = -n
        i = bisect_left(tab.days, ordinal)
        while m > i:
            m -= i
            year -= 1
            tab = self._table(year)
            i = len(tab.days)
            empty = self._check_days(tab, empty)
        return date.fromordinal(tab.days[i - m])

    @staticmethod
    def _check_days(tab: _YearTable, empty: int) -> int:
        empty = empty + 1 if not tab.days else 0
        if empty > _MAX_EMPTY_YEARS:
            raise ValueError(
                f"the calendar has no working days in {_MAX_EMPTY_YEARS} consecutive years"
            )
        return empty
