"""The working calendar: working days, working hours and working-time arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.calendar import EVERY_DAY, MON_FRI, WorkingCalendar

TZ = ZoneInfo("Asia/Novokuznetsk")  # UTC+7, no DST
BERLIN = ZoneInfo("Europe/Berlin")  # with DST, to keep zoneinfo honest
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, tz: ZoneInfo = TZ) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def local(t: datetime, tz: ZoneInfo = TZ) -> datetime:
    return t.astimezone(tz)


OFFICE = WorkingCalendar(tz=TZ)  # Mon–Fri 08:00–17:00, production calendar
WITH_LUNCH = WorkingCalendar(tz=TZ, lunch=(time(12, 0), time(13, 0)))
POS = WorkingCalendar(tz=TZ, start=time(8, 30), end=time(17, 30))
ALWAYS = WorkingCalendar.always(TZ)
BERLIN_OFFICE = WorkingCalendar(tz=BERLIN, production_calendar=False)
BERLIN_ALWAYS = WorkingCalendar.always(BERLIN)


# -- days -----------------------------------------------------------------------------------


def test_defaults_are_the_incident_management_calendar() -> None:
    assert OFFICE.weekdays == MON_FRI
    assert (OFFICE.start, OFFICE.end, OFFICE.lunch) == (time(8), time(17), None)
    assert OFFICE.production_calendar
    assert not OFFICE.around_the_clock
    assert ALWAYS.around_the_clock and ALWAYS.weekdays == EVERY_DAY


def test_new_year_holidays_2026_are_off() -> None:
    # holidays 0.109: 1–8 Jan plus 9 Jan (moved from Sat 3 Jan); 10–11 Jan is a weekend.
    for day in range(1, 12):
        assert not OFFICE.is_working_day(date(2026, 1, day)), day
    assert OFFICE.is_working_day(date(2026, 1, 12))
    # 31 Dec 2025 is a day off moved from Sun 5 Jan 2025, 31 Dec 2026 one from Sun 4 Jan 2026.
    assert not OFFICE.is_working_day(date(2025, 12, 31))
    assert not OFFICE.is_working_day(date(2026, 12, 31))


def test_working_saturday_2025_11_01_is_a_working_day() -> None:
    assert OFFICE.is_working_day(date(2025, 11, 1))  # Saturday, worked for Monday 3 Nov
    assert not OFFICE.is_working_day(date(2025, 11, 3))
    assert not OFFICE.is_working_day(date(2025, 11, 4))  # Unity Day


def test_mon_fri_calendar_agrees_with_holidays_russia() -> None:
    russia = holidays.Russia(years=range(2024, 2028))
    day = date(2024, 1, 1)
    while day.year < 2028:
        assert OFFICE.is_working_day(day) == russia.is_working_day(day), day
        day += timedelta(days=1)


def test_without_production_calendar_only_weekdays_count() -> None:
    plain = WorkingCalendar(tz=TZ, production_calendar=False)
    assert plain.is_working_day(date(2026, 1, 5))  # a Monday in the New Year holidays
    assert not plain.is_working_day(date(2025, 11, 1))  # a Saturday, worked or not


def test_extra_days_from_the_config_win() -> None:
    cal = WorkingCalendar(
        tz=TZ,
        extra_days_off=frozenset({date(2026, 11, 23)}),  # a Monday
        extra_working_days=frozenset({date(2026, 11, 28), date(2026, 1, 5)}),  # Sat; holiday
    )
    assert not cal.is_working_day(date(2026, 11, 23))
    assert cal.is_working_day(date(2026, 11, 28))
    assert cal.is_working_day(date(2026, 1, 5))
    # Friday 16:00 + 8 working hours: Saturday is worked, so it ends there.
    assert local(cal.add_working(at(2026, 11, 27, 16), 8 * H)) == at(2026, 11, 28, 15)
    # Friday 16:00 + 8 working hours skipping the extra Monday off.
    assert local(cal.add_working(at(2026, 11, 20, 16), 8 * H)) == at(2026, 11, 24, 15)


def test_config_values_are_coerced() -> None:
    cal = WorkingCalendar(
        tz="Asia/Novokuznetsk",  # type: ignore[arg-type]
        weekdays=[0, 1, 2, 3, 4],  # type: ignore[arg-type]
        extra_days_off=[date(2026, 11, 23)],  # type: ignore[arg-type]
    )
    assert cal == WorkingCalendar(tz=TZ, extra_days_off=frozenset({date(2026, 11, 23)}))
    assert hash(cal) == hash(WorkingCalendar(tz=TZ, extra_days_off=frozenset({date(2026, 11, 23)})))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weekdays": frozenset({7})}, "weekdays"),
        ({"start": time(17), "end": time(8)}, "end after it starts"),
        ({"lunch": (time(7), time(9))}, "inside the working day"),
        ({"lunch": (time(13), time(12))}, "inside the working day"),
        (
            {
                "extra_days_off": frozenset({date(2026, 1, 5)}),
                "extra_working_days": frozenset({date(2026, 1, 5)}),
            },
            "2026-01-05",
        ),
    ],
)
def test_bad_calendars_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(tz=TZ, **kwargs)  # type: ignore[arg-type]


def test_next_working_day() -> None:
    assert OFFICE.next_working_day(date(2025, 12, 30)) == date(2026, 1, 12)
    assert OFFICE.next_working_day(date(2026, 11, 20)) == date(2026, 11, 23)
    assert ALWAYS.next_working_day(date(2026, 12, 31)) == date(2027, 1, 1)


# -- moments --------------------------------------------------------------------------------


def test_working_time_is_half_open() -> None:
    assert OFFICE.is_working_time(at(2026, 11, 20, 8))
    assert OFFICE.is_working_time(at(2026, 11, 20, 16, 59))
    assert not OFFICE.is_working_time(at(2026, 11, 20, 17))
    assert not OFFICE.is_working_time(at(2026, 11, 20, 7, 59))
    assert not OFFICE.is_working_time(at(2026, 11, 21, 10))  # Saturday
    # Any zone in, the same answer: 01:00 UTC is 08:00 in Novokuznetsk.
    assert OFFICE.is_working_time(datetime(2026, 11, 20, 1, tzinfo=UTC))
    assert ALWAYS.is_working_time(at(2026, 1, 1, 3))


def test_next_working_moment() -> None:
    t = at(2026, 11, 18, 10)
    assert OFFICE.next_working_moment(t) == t
    assert OFFICE.next_working_moment(t).tzinfo is UTC
    assert local(OFFICE.next_working_moment(at(2026, 11, 20, 17))) == at(2026, 11, 23, 8)
    assert local(OFFICE.next_working_moment(at(2026, 11, 21, 12))) == at(2026, 11, 23, 8)
    assert local(OFFICE.next_working_moment(at(2025, 12, 30, 18))) == at(2026, 1, 12, 8)
    assert local(WITH_LUNCH.next_working_moment(at(2026, 11, 18, 12, 30))) == at(2026, 11, 18, 13)


def test_friday_afternoon_plus_working_hours() -> None:
    friday = at(2026, 11, 20, 16)
    # Landing exactly on the end of the day stays there.
    assert local(OFFICE.add_working(friday, H)) == at(2026, 11, 20, 17)
    assert local(OFFICE.add_working(friday, 8 * H)) == at(2026, 11, 23, 15)
    assert OFFICE.add_working(friday, 8 * H).tzinfo is UTC


def test_new_year_holidays_are_skipped() -> None:
    assert local(OFFICE.add_working(at(2025, 12, 30, 16), 8 * H)) == at(2026, 1, 12, 15)
    # holidays 0.109: 31 Dec 2026 and 1–8 Jan 2027 off, 9–10 Jan a weekend.
    assert local(OFFICE.add_working(at(2026, 12, 30, 16), 8 * H)) == at(2027, 1, 11, 15)


def test_working_saturday_counts() -> None:
    assert local(OFFICE.add_working(at(2025, 10, 31, 16), 8 * H)) == at(2025, 11, 1, 15)
    # ...it is a shortened day (it ends at 16:00), and after it the 3rd (transferred) and
    # the 4th (Unity Day) are off.
    assert local(OFFICE.add_working(at(2025, 11, 1, 15), 2 * H)) == at(2025, 11, 5, 9)


def test_starting_outside_working_hours() -> None:
    assert local(OFFICE.add_working(at(2026, 11, 21, 12), H)) == at(2026, 11, 23, 9)
    assert local(OFFICE.add_working(at(2026, 11, 18, 6), H)) == at(2026, 11, 18, 9)
    assert local(OFFICE.add_working(at(2026, 11, 18, 20), H)) == at(2026, 11, 19, 9)


def test_lunch_break_is_skipped() -> None:
    assert not WITH_LUNCH.is_working_time(at(2026, 11, 18, 12, 30))
    assert local(WITH_LUNCH.add_working(at(2026, 11, 18, 11), 2 * H)) == at(2026, 11, 18, 14)
    assert local(WITH_LUNCH.add_working(at(2026, 11, 18, 11), H)) == at(2026, 11, 18, 12)
    assert local(WITH_LUNCH.add_working(at(2026, 11, 18, 12, 30), H)) == at(2026, 11, 18, 14)
    assert WITH_LUNCH.working_between(at(2026, 11, 18, 8), at(2026, 11, 18, 17)) == 8 * H


def test_zero_and_negative_durations() -> None:
    t = at(2026, 11, 21, 12)  # Saturday
    assert OFFICE.add_working(t, timedelta(0)) == t
    assert local(OFFICE.add_working(at(2026, 11, 23, 9), -2 * H)) == at(2026, 11, 20, 16)
    # Backwards onto a boundary: the end of the previous period, as forwards.
    assert local(OFFICE.add_working(at(2026, 11, 23, 9), -H)) == at(2026, 11, 20, 17)
    assert local(OFFICE.add_working(at(2026, 1, 12, 9), -H)) == at(2025, 12, 30, 17)


def test_working_between() -> None:
    friday, monday = at(2026, 11, 20, 16), at(2026, 11, 23, 15)
    assert OFFICE.working_between(friday, monday) == 8 * H
    assert OFFICE.working_between(monday, friday) == -8 * H
    assert OFFICE.working_between(friday, friday) == timedelta(0)
    assert OFFICE.working_between(at(2025, 12, 30, 16), at(2026, 1, 12, 15)) == 8 * H
    # Two whole years of a Mon–Fri 9-hour day: 247 + 247 working days, four of each year
    # shortened by an hour before a holiday.
    assert OFFICE.working_between(at(2025, 1, 1), at(2027, 1, 1)) == ((247 + 247) * 9 - 8) * H
    assert ALWAYS.working_between(at(2026, 1, 1), at(2027, 1, 1)) == 365 * 24 * H


def test_add_working_days() -> None:
    assert local(OFFICE.add_working_days(at(2026, 11, 20, 10), 1)) == at(2026, 11, 23, 10)
    assert local(OFFICE.add_working_days(at(2026, 11, 20, 10), 14)) == at(2026, 12, 10, 10)
    # The same clock time, moved into working time when it is not working time.
    assert local(OFFICE.add_working_days(at(2026, 11, 20, 20), 1)) == at(2026, 11, 24, 8)
    assert local(OFFICE.add_working_days(at(2025, 12, 29, 10), 2)) == at(2026, 1, 12, 10)
    assert local(OFFICE.add_working_days(at(2026, 11, 23, 10), -1)) == at(2026, 11, 20, 10)
    assert local(OFFICE.add_working_days(at(2026, 1, 12, 10), -1)) == at(2025, 12, 30, 10)
    assert local(OFFICE.add_working_days(at(2026, 11, 21, 10), 0)) == at(2026, 11, 23, 8)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.add_working(datetime(2026, 11, 20, 16), H)


def test_a_calendar_without_working_time_fails_instead_of_looping() -> None:
    never = WorkingCalendar(tz=TZ, weekdays=frozenset(), production_calendar=False)
    with pytest.raises(ValueError, match="no working"):
        never.add_working(at(2026, 1, 1), H)
    with pytest.raises(ValueError, match="no working"):
        never.next_working_moment(at(2026, 1, 1))


def test_dst_zone_office_hours_are_wall_clock() -> None:
    # Berlin moves to summer time on Sunday 2026-03-29; the office day stays 08:00–17:00.
    friday = at(2026, 3, 27, 16, tz=BERLIN)
    assert local(BERLIN_OFFICE.add_working(friday, 8 * H), BERLIN) == at(2026, 3, 30, 15, tz=BERLIN)


def test_dst_zone_around_the_clock_is_elapsed_time() -> None:
    saturday = at(2026, 3, 28, 12, tz=BERLIN)
    end = BERLIN_ALWAYS.add_working(saturday, 24 * H)
    assert end == saturday.astimezone(UTC) + 24 * H  # real elapsed time
    assert local(end, BERLIN) == at(2026, 3, 29, 13, tz=BERLIN)
    day = BERLIN_ALWAYS.working_between(at(2026, 3, 29, tz=BERLIN), at(2026, 3, 30, tz=BERLIN))
    assert day == 23 * H


# -- shortened pre-holiday days (Labour Code, art. 95) ------------------------------------

# The shortened (7-hour, pre-holiday) days of the official production calendars that go with
# the government's decrees on the transfer of days off for 2024–2027, typed by hand. Working
# Saturdays that are shortened: 2024-11-02 and 2025-11-01 (worked for Tuesday 30 April 2024
# and Monday 3 November 2025), 2027-02-20 (for Monday 22 February).
OFFICIAL_SHORT_DAYS = {
    2024: [date(2024, 2, 22), date(2024, 3, 7), date(2024, 5, 8), date(2024, 6, 11),
           date(2024, 11, 2)],
    2025: [date(2025, 3, 7), date(2025, 4, 30), date(2025, 6, 11), date(2025, 11, 1)],
    2026: [date(2026, 4, 30), date(2026, 5, 8), date(2026, 6, 11), date(2026, 11, 3)],
    2027: [date(2027, 2, 20), date(2027, 4, 30), date(2027, 6, 11), date(2027, 11, 3)],
}


@pytest.mark.parametrize("year", sorted(OFFICIAL_SHORT_DAYS))
def test_shortened_days_are_those_of_the_decrees(year: int) -> None:
    assert OFFICE.short_days(date(year, 1, 1), date(year, 12, 31)) == OFFICIAL_SHORT_DAYS[year]


def test_what_is_not_a_shortened_day() -> None:
    # A Friday before a Sunday holiday (23 Feb 2025), a working Saturday whose day off comes
    # before an ordinary day (27 Apr 2024 → Mon 29 Apr; 28 Dec 2024 → Mon 30 Dec), a day
    # before a transferred day off (30 Dec 2026 before 31 Dec), and days off themselves.
    for d in (date(2025, 2, 21), date(2024, 4, 27), date(2024, 12, 28), date(2026, 12, 30),
              date(2025, 5, 7), date(2026, 11, 4), date(2026, 11, 7)):
        assert not OFFICE.is_short_day(d), d
    assert OFFICE.day_end(date(2026, 12, 30)) == time(17)


def test_a_shortened_day_ends_an_hour_earlier() -> None:
    tuesday = date(2026, 11, 3)
    assert OFFICE.day_end(tuesday) == time(16) and POS.day_end(tuesday) == time(16, 30)
    assert OFFICE.is_working_time(at(2026, 11, 3, 15, 59))
    assert not OFFICE.is_working_time(at(2026, 11, 3, 16))
    assert OFFICE.working_between(at(2026, 11, 3), at(2026, 11, 4)) == 8 * H
    # 9 working hours from Monday 16:00: 1 on Monday, 8 on the short Tuesday, so Tuesday
    # 16:00 — not Tuesday 17:00; one more hour is Thursday 09:00 (Wednesday is the holiday).
    assert local(OFFICE.add_working(at(2026, 11, 2, 16), 9 * H)) == at(2026, 11, 3, 16)
    assert local(OFFICE.add_working(at(2026, 11, 2, 16), 10 * H)) == at(2026, 11, 5, 9)
    # The official norm of 2026: 247 days, 1972 hours of a 40-hour week.
    eight = WorkingCalendar(tz=TZ, start=time(9), end=time(17))
    assert eight.working_between(at(2026, 1, 1), at(2027, 1, 1)) == 1972 * H


def test_shortened_days_follow_the_config() -> None:
    cal = WorkingCalendar(tz=TZ, extra_short_days=frozenset({date(2026, 12, 30)}),
                          not_short_days=frozenset({date(2026, 11, 3)}))
    assert cal.is_short_day(date(2026, 12, 30)) and cal.day_end(date(2026, 12, 30)) == time(16)
    assert not cal.is_short_day(date(2026, 11, 3))
    # An extra shortened day that is a day off stays a day off.
    assert not WorkingCalendar(tz=TZ, extra_short_days=frozenset({date(2026, 11, 4)})
                               ).is_short_day(date(2026, 11, 4))
    # Off without the production calendar, or when turned off.
    assert not WorkingCalendar(tz=TZ, shortened_pre_holiday=False).is_short_day(date(2026, 11, 3))
    assert not WorkingCalendar(tz=TZ, production_calendar=False).is_short_day(date(2026, 11, 3))
    assert not ALWAYS.is_short_day(date(2026, 11, 3))
    # A day the deployment made a day off is no holiday: the day before stays full.
    moved = WorkingCalendar(tz=TZ, extra_working_days=frozenset({date(2026, 11, 4)}))
    assert not moved.is_short_day(date(2026, 11, 3))
    with pytest.raises(ValueError, match="both as extra shortened days and as not shortened"):
        WorkingCalendar(tz=TZ, extra_short_days=frozenset({date(2026, 11, 3)}),
                        not_short_days=frozenset({date(2026, 11, 3)}))
    with pytest.raises(ValueError, match="cannot be shortened"):
        WorkingCalendar(tz=TZ, start=time(8), end=time(9))


def test_a_shortened_day_may_end_inside_the_lunch_break() -> None:
    cal = WorkingCalendar(tz=TZ, start=time(8), end=time(13, 30), lunch=(time(12), time(13)))
    assert cal.working_between(at(2026, 11, 3), at(2026, 11, 4)) == 4 * H
    assert cal.day_end(date(2026, 11, 3)) == time(12)
    assert cal.working_between(at(2026, 11, 2), at(2026, 11, 3)) == 4.5 * H


# -- properties -----------------------------------------------------------------------------

CALENDARS = {
    "office": OFFICE,
    "lunch": WITH_LUNCH,
    "pos": POS,
    "always": ALWAYS,
    "berlin": BERLIN_OFFICE,
    "berlin_always": BERLIN_ALWAYS,
    "extras": WorkingCalendar(
        tz=TZ,
        extra_days_off=frozenset({date(2026, 11, 23), date(2026, 12, 30)}),
        extra_working_days=frozenset({date(2026, 1, 5), date(2026, 11, 28)}),
    ),
    # Shortened days with the config's own, and one ending inside the lunch break.
    "short_extras": WorkingCalendar(
        tz=TZ,
        lunch=(time(12, 0), time(13, 0)),
        extra_short_days=frozenset({date(2026, 11, 20), date(2025, 12, 30)}),
        not_short_days=frozenset({date(2026, 11, 3)}),
    ),
    "short_lunch": WorkingCalendar(
        tz=TZ, start=time(8), end=time(13, 30), lunch=(time(12), time(13))
    ),
}

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
# Up to about 30 working days of nine hours, to the microsecond.
durations = st.timedeltas(min_value=US, max_value=30 * 9 * H)
calendars = st.sampled_from(sorted(CALENDARS))


@settings(max_examples=300, deadline=None)
@given(name=calendars, t=moments, d=durations)
def test_working_between_inverts_add_working(name: str, t: datetime, d: timedelta) -> None:
    cal = CALENDARS[name]
    assert cal.working_between(t, cal.add_working(t, d)) == d
    assert cal.working_between(cal.add_working(t, -d), t) == d


@settings(max_examples=300, deadline=None)
@given(name=calendars, t=moments, d=durations)
def test_add_working_lands_in_working_time_or_on_a_period_end(
    name: str, t: datetime, d: timedelta
) -> None:
    cal = CALENDARS[name]
    end = cal.add_working(t, d)
    assert end > t
    assert end.tzinfo is UTC
    # Inside a period, or its very end: the instant just before is always working time.
    assert cal.is_working_time(end - US)
    if not cal.is_working_time(end):
        assert cal.next_working_moment(end) > end


@settings(max_examples=300, deadline=None)
@given(name=calendars, t=moments, d1=durations, d2=durations)
def test_add_working_is_monotonic(name: str, t: datetime, d1: timedelta, d2: timedelta) -> None:
    cal = CALENDARS[name]
    small, large = sorted((d1, d2))
    a, b = cal.add_working(t, small), cal.add_working(t, large)
    assert a <= b
    assert (a == b) == (small == large)


@settings(max_examples=200, deadline=None)
@given(name=calendars, a=moments, b=moments, c=moments)
def test_working_between_is_additive(name: str, a: datetime, b: datetime, c: datetime) -> None:
    cal = CALENDARS[name]
    assert cal.working_between(a, b) + cal.working_between(b, c) == cal.working_between(a, c)
    assert cal.working_between(a, b) == -cal.working_between(b, a)
    assert abs(cal.working_between(a, b)) <= abs(b - a)


@settings(max_examples=200, deadline=None)
@given(name=calendars, t=moments)
def test_next_working_moment_is_working_and_costs_nothing(name: str, t: datetime) -> None:
    cal = CALENDARS[name]
    nxt = cal.next_working_moment(t)
    assert nxt >= t
    assert cal.is_working_time(nxt)
    assert cal.working_between(t, nxt) == timedelta(0)
    assert cal.is_working_day(local(nxt, cal.tz).date())


@settings(max_examples=200, deadline=None)
@given(name=calendars, day=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 30)))
def test_a_day_holds_its_hours_less_one_when_shortened(name: str, day: date) -> None:
    cal = CALENDARS[name]
    a = datetime.combine(day, time(0), tzinfo=cal.tz)
    b = datetime.combine(day + timedelta(days=1), time(0), tzinfo=cal.tz)
    if not cal.is_working_day(day) or cal.tz is BERLIN:
        return
    full = sum((e - s for s, e in _full_periods(cal, day)), timedelta(0))
    expected = full - H if cal.is_short_day(day) else full
    if cal.is_short_day(day) and cal.lunch is not None:
        # The hour taken off may fall into the lunch break, which does not count.
        lunch_end = datetime.combine(day, cal.lunch[1], tzinfo=cal.tz)
        end = datetime.combine(day, cal.end, tzinfo=cal.tz)
        if end - H < lunch_end:
            expected = full - (end - lunch_end)
    assert cal.working_between(a, b) == expected
    assert cal.is_working_time(datetime.combine(day, cal.day_end(day), tzinfo=cal.tz) - US) \
        or cal.around_the_clock


def _full_periods(cal: WorkingCalendar, day: date) -> list[tuple[datetime, datetime]]:
    """The periods of ``day`` as if it were not shortened."""
    full = WorkingCalendar(tz=cal.tz, weekdays=cal.weekdays, start=cal.start, end=cal.end,
                           lunch=cal.lunch, production_calendar=cal.production_calendar,
                           shortened_pre_holiday=False)
    return full._periods(day)
