"""SLA rules: parsing, deadlines by policy and priority, reminders and escalation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.calendar import WorkingCalendar
from workflows.sla import (
    Deadlines,
    Duration,
    DurationKind,
    Policy,
    Priority,
    Reminder,
    Until,
    compute_deadlines,
    deadline_after,
    default_policies,
    escalation_time,
    parse_duration,
    parse_reminder,
    parse_rule,
    reminder_times,
)

TZ = ZoneInfo("Asia/Novokuznetsk")  # UTC+7
H = timedelta(hours=1)
POLICIES = default_policies(TZ)
IM = POLICIES["incident_management"]
POS = POLICIES["pos"]
KO = POLICIES["kuzbass_online"]
GOV = POLICIES["governor"]


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def local(t: datetime | None) -> datetime | None:
    return None if t is None else t.astimezone(TZ)


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", Duration(timedelta(minutes=30), DurationKind.CALENDAR_TIME)),
        ("90 min", Duration(timedelta(minutes=90), DurationKind.CALENDAR_TIME)),
        ("1h", Duration(H, DurationKind.CALENDAR_TIME)),
        ("4 h", Duration(4 * H, DurationKind.CALENDAR_TIME)),
        (" 24H ", Duration(24 * H, DurationKind.CALENDAR_TIME)),
        ("8wh", Duration(8 * H, DurationKind.WORKING_TIME)),
        ("8 wh", Duration(8 * H, DurationKind.WORKING_TIME)),
        ("8 рч", Duration(8 * H, DurationKind.WORKING_TIME)),
        ("8 working hours", Duration(8 * H, DurationKind.WORKING_TIME)),
        ("45wm", Duration(timedelta(minutes=45), DurationKind.WORKING_TIME)),
        ("14d", Duration(14, DurationKind.CALENDAR_DAYS)),
        ("14 days", Duration(14, DurationKind.CALENDAR_DAYS)),
        ("14 дней", Duration(14, DurationKind.CALENDAR_DAYS)),
        ("2wd", Duration(2, DurationKind.WORKING_DAYS)),
        ("2 working days", Duration(2, DurationKind.WORKING_DAYS)),
    ],
)
def test_parse_duration(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "h", "8", "wh8", "-1h", "1.5h", "8 whs", "8 weeks"])
def test_parse_duration_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(text)
    message = str(raised.value)
    assert repr(text) in message
    assert "expected a whole number and a unit" in message
    for example in ("'30m'", "'1h'", "'8wh'", "'14d'", "'2wd'"):
        assert example in message


def test_duration_constructors_and_spelling() -> None:
    assert Duration.working_hours(8) == parse_duration("8wh")
    assert Duration.minutes(90) == parse_duration("90m")
    assert Duration.hours(24) == parse_duration("24h")
    assert Duration.days(14) == parse_duration("14d")
    assert Duration.working_days(2) == parse_duration("2wd")
    assert [str(parse_duration(t)) for t in ("90 min", "120m", "8 рч", "14 days", "2wd")] == [
        "90m",
        "2h",
        "8wh",
        "14d",
        "2wd",
    ]
    with pytest.raises(TypeError):
        Duration(H, DurationKind.CALENDAR_DAYS)
    with pytest.raises(ValueError, match="negative"):
        Duration(-H, DurationKind.WORKING_TIME)


@given(
    st.builds(
        Duration,
        st.integers(0, 10_000).map(lambda m: timedelta(minutes=m)),
        st.sampled_from([DurationKind.CALENDAR_TIME, DurationKind.WORKING_TIME]),
    )
    | st.builds(
        Duration,
        st.integers(0, 400),
        st.sampled_from([DurationKind.CALENDAR_DAYS, DurationKind.WORKING_DAYS]),
    )
)
def test_duration_spelling_reads_back(duration: Duration) -> None:
    assert parse_duration(str(duration)) == duration


def test_parse_rule() -> None:
    assert parse_rule("until 18:00") == Until(time(18, 0))
    assert parse_rule("до 18.00") == Until(time(18, 0))
    assert parse_rule("by 9:30") == Until(time(9, 30))
    assert parse_rule("8wh") == Duration.working_hours(8)
    assert str(parse_rule("until 18:00")) == "until 18:00"
    with pytest.raises(ValueError, match="no time"):
        parse_rule("until 25:00")
    with pytest.raises(ValueError, match="expected 'until HH:MM'.*'8wh'"):
        parse_rule("tomorrow")


def test_parse_reminder() -> None:
    assert parse_reminder("50%") == Reminder(fraction=Fraction(1, 2))
    assert parse_reminder("12,5 %") == Reminder(fraction=Fraction(1, 8))
    assert parse_reminder("1wh") == Reminder(before=Duration.working_hours(1))
    assert parse_reminder("1 wh before") == Reminder(before=Duration.working_hours(1))
    assert [str(parse_reminder(t)) for t in ("50%", "1wh")] == ["50%", "1wh"]
    with pytest.raises(ValueError, match="between 0% and 100%"):
        parse_reminder("150%")
    with pytest.raises(ValueError, match="between 0% and 100%"):
        parse_reminder("0%")
    with pytest.raises(ValueError, match=r"expected a percentage .*'50%'"):
        parse_reminder("soon")


# -- the regulation's policies --------------------------------------------------------------


def test_default_policies() -> None:
    assert {name: p.title for name, p in POLICIES.items()} == {
        "incident_management": "Инцидент Менеджмент",
        "pos": "Платформа обратной связи",
        "kuzbass_online": "Кузбасс-онлайн",
        "governor": "Губернаторские соцсети",
    }
    assert IM.calendar == WorkingCalendar(tz=TZ, start=time(8), end=time(17))
    assert (POS.calendar.start, POS.calendar.end) == (time(8, 30), time(17, 30))
    assert GOV.calendar.around_the_clock
    assert IM.first_response == Duration.working_hours(1)
    assert IM.answer == Duration.working_hours(8)
    assert IM.answer_fast_track == Duration.working_hours(4)
    assert IM.reminders == (parse_reminder("50%"), parse_reminder("1wh"))
    assert IM.escalate_after == Duration.working_hours(2)
    assert KO.first_response == Duration.hours(24)
    assert KO.answer == Duration.days(14)
    assert GOV.answer == Until(time(18), timedelta(hours=4))


def test_normal_answer_is_eight_working_hours() -> None:
    deadlines = compute_deadlines(IM, Priority.NORMAL, at(2026, 11, 20, 16))
    assert local(deadlines.first_response) == at(2026, 11, 20, 17)
    assert local(deadlines.answer) == at(2026, 11, 23, 15)
    assert deadlines.answer is not None and deadlines.answer.tzinfo is UTC


def test_fast_track_is_four_working_hours() -> None:
    assert local(compute_deadlines(IM, Priority.FAST_TRACK, at(2026, 11, 18, 10)).answer) == at(
        2026, 11, 18, 14
    )
    assert local(compute_deadlines(IM, Priority.FAST_TRACK, at(2026, 11, 20, 16)).answer) == at(
        2026, 11, 23, 11
    )
    # A policy without a fast-track rule falls back to its answer rule (10:00–17:30 is 7.5 h).
    assert local(compute_deadlines(POS, Priority.FAST_TRACK, at(2026, 11, 18, 10)).answer) == at(
        2026, 11, 19, 9
    )


def test_registered_on_a_holiday_starts_on_the_next_working_day() -> None:
    deadlines = compute_deadlines(IM, Priority.NORMAL, at(2026, 1, 3, 12))
    assert local(deadlines.first_response) == at(2026, 1, 12, 9)
    assert local(deadlines.answer) == at(2026, 1, 12, 16)


def test_across_the_new_year_holidays() -> None:
    assert local(compute_deadlines(IM, "normal", at(2025, 12, 30, 16)).answer) == at(  # type: ignore[arg-type]
        2026, 1, 12, 15
    )


def test_urgent_uses_the_explicit_deadline_any_day_any_hour() -> None:
    saturday_night = at(2026, 11, 21, 22)
    deadlines = compute_deadlines(
        IM, Priority.URGENT, at(2026, 11, 21, 10), urgent_deadline=saturday_night
    )
    assert deadlines.answer == saturday_night
    assert deadlines.answer is not None and deadlines.answer.tzinfo is UTC
    # The primary answer is due within the hour even on a Saturday.
    assert local(deadlines.first_response) == at(2026, 11, 21, 11)
    with pytest.raises(ValueError, match="explicit deadline"):
        compute_deadlines(IM, Priority.URGENT, at(2026, 11, 21, 10))


def test_first_response_is_never_due_after_the_answer() -> None:
    deadlines = compute_deadlines(
        IM, Priority.URGENT, at(2026, 11, 21, 10), urgent_deadline=at(2026, 11, 21, 10, 30)
    )
    assert deadlines == Deadlines(at(2026, 11, 21, 10, 30), at(2026, 11, 21, 10, 30))


def test_no_rule_no_deadline() -> None:
    assert compute_deadlines(POS, Priority.NORMAL, at(2026, 11, 18, 10)).first_response is None
    bare = Policy(name="bare", title="—", calendar=IM.calendar)
    assert compute_deadlines(bare, Priority.NORMAL, at(2026, 11, 18, 10)) == Deadlines(None, None)


def test_naive_registration_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadlines(IM, Priority.NORMAL, datetime(2026, 11, 18, 10))


@pytest.mark.parametrize(
    ("registered", "due"),
    [
        (at(2026, 11, 18, 10), at(2026, 11, 18, 18)),  # 4 hours or more before: the same day
        (at(2026, 11, 18, 14), at(2026, 11, 18, 18)),
        # less than 4 hours before 18:00: the next day, not in a minute
        (at(2026, 11, 18, 14, 1), at(2026, 11, 19, 18)),
        (at(2026, 11, 20, 17, 59), at(2026, 11, 21, 18)),
        (at(2026, 11, 18, 18), at(2026, 11, 19, 18)),  # at or after 18:00: the next day
        (at(2026, 11, 18, 23, 30), at(2026, 11, 19, 18)),
        (at(2026, 11, 22, 9), at(2026, 11, 22, 18)),  # Sunday is a day like any other
        (at(2026, 12, 31, 20), at(2027, 1, 1, 18)),  # and so is New Year's Day
    ],
)
def test_governor_networks_until_18(registered: datetime, due: datetime) -> None:
    assert local(compute_deadlines(GOV, Priority.NORMAL, registered).answer) == due


def test_until_rule_on_an_office_calendar_waits_for_a_working_day() -> None:
    rule = parse_rule("until 18:00")
    assert local(deadline_after(rule, IM.calendar, at(2026, 11, 20, 19))) == at(2026, 11, 23, 18)
    assert local(deadline_after(rule, IM.calendar, at(2026, 11, 21, 10))) == at(2026, 11, 23, 18)


def test_kuzbass_online_fourteen_days_and_24_hours() -> None:
    deadlines = compute_deadlines(KO, Priority.NORMAL, at(2026, 11, 18, 10))
    assert local(deadlines.answer) == at(2026, 12, 2, 10)
    assert local(deadlines.first_response) == at(2026, 11, 19, 10)
    # 24 hours from a Friday end on a Saturday: moved to Monday's opening.
    friday = compute_deadlines(KO, Priority.NORMAL, at(2026, 11, 20, 10))
    assert local(friday.first_response) == at(2026, 11, 23, 8, 30)
    assert local(friday.answer) == at(2026, 12, 4, 10)


def test_fourteen_days_landing_in_the_holidays_moves_to_working_time() -> None:
    # 18 Dec 2026 + 14 days = 1 Jan 2027: holidays until 8 Jan, then a weekend.
    deadlines = compute_deadlines(KO, Priority.NORMAL, at(2026, 12, 18, 10))
    assert local(deadlines.answer) == at(2027, 1, 11, 8, 30)
    # Registered in the evening: 14 days later in the evening, moved to the next morning.
    assert local(compute_deadlines(KO, Priority.NORMAL, at(2026, 11, 18, 20)).answer) == at(
        2026, 12, 3, 8, 30
    )


def test_working_days_rule() -> None:
    two_days = Policy(name="x", title="x", calendar=IM.calendar, answer=parse_rule("2wd"))
    assert local(compute_deadlines(two_days, Priority.NORMAL, at(2026, 11, 19, 10)).answer) == at(
        2026, 11, 23, 10
    )
    # Outside working hours the count starts at the next opening.
    assert local(compute_deadlines(two_days, Priority.NORMAL, at(2026, 11, 20, 20)).answer) == at(
        2026, 11, 25, 8
    )


def test_extra_days_from_the_config_reach_the_policies() -> None:
    policies = default_policies(
        "Asia/Novokuznetsk",
        extra_days_off=[date(2026, 11, 23)],
        extra_working_days=[date(2026, 11, 28)],
    )
    im = policies["incident_management"]
    assert local(compute_deadlines(im, Priority.NORMAL, at(2026, 11, 20, 16)).answer) == at(
        2026, 11, 24, 15
    )
    assert local(compute_deadlines(im, Priority.NORMAL, at(2026, 11, 27, 16)).answer) == at(
        2026, 11, 28, 15
    )
    # The Governor's networks work every day regardless.
    assert policies["governor"].calendar == GOV.calendar


# -- reminders and escalation ---------------------------------------------------------------


def test_reminders_at_half_time_and_one_working_hour_before() -> None:
    start = at(2026, 11, 18, 9)
    deadline = compute_deadlines(IM, Priority.NORMAL, start).answer
    assert deadline is not None
    assert [local(t) for t in reminder_times(IM, start, deadline)] == [
        at(2026, 11, 18, 13),
        at(2026, 11, 18, 16),
        at(2026, 11, 18, 17),
    ]


def test_reminders_skip_the_weekend() -> None:
    start = at(2026, 11, 20, 16)
    deadline = compute_deadlines(IM, Priority.NORMAL, start).answer
    assert deadline is not None
    times = reminder_times(IM, start, deadline)
    assert [local(t) for t in times] == [
        at(2026, 11, 23, 11),
        at(2026, 11, 23, 14),
        at(2026, 11, 23, 15),
    ]
    assert all(t.tzinfo is UTC for t in times)


def test_reminders_before_the_start_are_dropped() -> None:
    start = at(2026, 11, 18, 16, 30)
    assert [local(t) for t in reminder_times(IM, start, at(2026, 11, 18, 17))] == [
        at(2026, 11, 18, 16, 45),
        at(2026, 11, 18, 17),
    ]
    assert reminder_times(IM, start, start) == [start]


def test_urgent_reminders_run_around_the_clock() -> None:
    start, deadline = at(2026, 11, 22, 10), at(2026, 11, 22, 18)  # a Sunday
    times = reminder_times(IM, start, deadline, priority=Priority.URGENT)
    assert [local(t) for t in times] == [at(2026, 11, 22, 14), at(2026, 11, 22, 17), deadline]


def test_governor_reminders() -> None:
    start = at(2026, 11, 18, 10)
    deadline = compute_deadlines(GOV, Priority.NORMAL, start).answer
    assert deadline is not None
    assert [local(t) for t in reminder_times(GOV, start, deadline)] == [
        at(2026, 11, 18, 14),
        at(2026, 11, 18, 17),
        at(2026, 11, 18, 18),
    ]


def test_kuzbass_online_reminder_one_working_day_before() -> None:
    start = at(2026, 11, 20, 16)
    deadline = compute_deadlines(KO, Priority.NORMAL, start).answer
    assert deadline is not None
    assert [local(t) for t in reminder_times(KO, start, deadline)] == [
        at(2026, 11, 27, 16),
        at(2026, 12, 3, 16),
        at(2026, 12, 4, 16),
    ]


def test_escalation_after_two_working_hours() -> None:
    assert local(escalation_time(IM, at(2026, 11, 23, 15))) == at(2026, 11, 23, 17)
    assert local(escalation_time(IM, at(2026, 11, 20, 16))) == at(2026, 11, 23, 9)
    assert local(escalation_time(GOV, at(2026, 11, 22, 18))) == at(2026, 11, 22, 19)
    assert (
        escalation_time(Policy(name="x", title="x", calendar=IM.calendar), at(2026, 1, 1)) is None
    )


# -- shortened pre-holiday days and the Governor's four hours -------------------------------

_MOMENTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 20),
                        timezones=st.just(UTC))


def test_answer_on_the_day_before_a_holiday_ends_an_hour_earlier() -> None:
    # Thursday 30 April 2026 is shortened (1 May is a holiday): 08:00–16:00.
    assert local(compute_deadlines(IM, Priority.NORMAL, at(2026, 4, 30, 8)).answer) == at(
        2026, 4, 30, 16)
    # From 09:00 the eighth hour falls on Monday 4 May (1–3 May off), not at 17:00 on the 30th.
    assert local(compute_deadlines(IM, Priority.NORMAL, at(2026, 4, 30, 9)).answer) == at(
        2026, 5, 4, 9)
    # Reminders follow: half of the 8 hours is Thursday 13:00, one working hour before
    # Monday 09:00 is the end of the short Thursday, 16:00.
    due = compute_deadlines(IM, Priority.NORMAL, at(2026, 4, 30, 9)).answer
    assert due is not None
    assert [local(t) for t in reminder_times(IM, at(2026, 4, 30, 9), due)] == [
        at(2026, 4, 30, 13), at(2026, 4, 30, 16), at(2026, 5, 4, 9)]


@given(start=_MOMENTS, priority=st.sampled_from([Priority.NORMAL, Priority.FAST_TRACK]),
       name=st.sampled_from(["incident_management", "pos"]))
def test_working_hour_deadlines_are_exact_and_end_by_the_days_end(
        start: datetime, priority: Priority, name: str) -> None:
    policy = POLICIES[name]
    cal = policy.calendar
    rule = policy.answer_fast_track if priority is Priority.FAST_TRACK and \
        policy.answer_fast_track else policy.answer
    assert isinstance(rule, Duration)
    due = compute_deadlines(policy, priority, start).answer
    assert due is not None
    assert cal.working_between(start, due) == rule.amount
    day = due.astimezone(TZ).date()
    assert cal.is_working_day(day)
    assert due.astimezone(TZ).time() <= cal.day_end(day)


@given(start=_MOMENTS)
def test_governor_deadline_is_the_first_18_00_at_least_four_hours_ahead(start: datetime) -> None:
    due = compute_deadlines(GOV, Priority.NORMAL, start).answer
    assert due is not None
    assert local(due).time() == time(18) and 4 * H <= due - start < 28 * H
    earlier = due - timedelta(days=1)
    assert earlier - start < 4 * H
