"""The SLA ladder: reminders, overdue and escalation pings, delivered once each across restarts.

Expected moments are worked out by hand in the comments (Mon–Fri 08:00–17:00 for the
Инцидент Менеджмент policy, Asia/Novokuznetsk = UTC+7, no holidays in mid-March 2025).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.ladder import (
    Due,
    Rung,
    deliver_at,
    due,
    ladder,
    ladder_changed,
    next_action,
    restart_step,
)
from workflows.model import Button, Incident, Priority, State
from workflows.sla import Policy, compute_deadlines, default_policies, parse_reminder
from workflows.transitions import COORDINATORS, CURATORS, block_owners_of

TZ = ZoneInfo("Asia/Novokuznetsk")  # UTC+7
H = timedelta(hours=1)
POLICIES = default_policies(TZ)
IM = POLICIES["incident_management"]
EXECUTOR = 7
ROADS = block_owners_of("roads")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


# Friday 14 March 2025, 16:00 local; the following Monday is 17 March.
FRI_16 = at(2025, 3, 14, 16)
MON = (2025, 3, 17)
TUE = (2025, 3, 18)


def incident(
    state: State = State.IN_PROGRESS,
    *,
    registered: datetime = FRI_16,
    priority: Priority = Priority.NORMAL,
    policy: Policy = IM,
    urgent_deadline: datetime | None = None,
    executor_id: int | None = EXECUTOR,
    department: str | None = "roads",
) -> Incident:
    deadlines = compute_deadlines(policy, priority, registered, urgent_deadline)
    return Incident(
        id=42,
        state=state,
        source="im",
        text="Яма на дороге",
        category="roads",
        department=department,
        executor_id=executor_id,
        priority=priority,
        registered_at=registered,
        first_response_due=deadlines.first_response,
        answer_due=deadlines.answer,
    )


def shape(rungs: list[Rung]) -> list[tuple[str, datetime, tuple[int | str, ...]]]:
    return [(r.kind, r.at.astimezone(TZ), r.audience) for r in rungs]


def sent(d: Due) -> list[tuple[int, str, int | str]]:
    return [(int(n.context["step"]), str(n.context["kind"]), n.to) for n in d.pings]


# -- the ladder -------------------------------------------------------------------------------


def test_friday_afternoon_ladder_lands_on_monday() -> None:
    inc = incident(State.ASSIGNED)
    # 8 working hours from Friday 16:00: one on Friday (16–17), seven on Monday 08:00–15:00.
    assert inc.answer_due == at(*MON, 15).astimezone(UTC)
    assert shape(ladder(inc, IM, start=FRI_16)) == [
        # The first response (1 wh) is due at the close of Friday.
        ("first_response", at(2025, 3, 14, 17), (COORDINATORS,)),
        # Half of the 8 wh: Friday's hour and three more on Monday → 11:00.
        ("reminder", at(*MON, 11), (EXECUTOR,)),
        # One working hour before the 15:00 deadline.
        ("reminder", at(*MON, 14), (EXECUTOR,)),
        ("deadline", at(*MON, 15), (EXECUTOR,)),
        ("overdue", at(*MON, 15), (COORDINATORS,)),
        # Two working hours after the deadline: 15:00–17:00, the end of Monday's work.
        ("escalation", at(*MON, 17), (ROADS, CURATORS)),
    ]
    rungs = ladder(inc, IM, start=FRI_16)
    assert [r.template for r in rungs] == [
        "sla_first_response",
        "sla_reminder",
        "sla_reminder",
        "sla_deadline",
        "sla_overdue",
        "sla_escalation",
    ]
    # Friday 17:00 and Monday 17:00 are outside working hours: the pings wait for 08:00.
    delivered = [deliver_at(r, inc, IM.calendar).astimezone(TZ) for r in rungs]
    assert delivered == [
        at(*MON, 8),
        at(*MON, 11),
        at(*MON, 14),
        at(*MON, 15),
        at(*MON, 15),
        at(*TUE, 8),
    ]


def test_fast_track_halves_the_span() -> None:
    inc = incident(priority=Priority.FAST_TRACK)
    # 4 wh: Friday 16–17 and Monday 08–11. Half of it is 2 wh → Monday 09:00; 1 wh before
    # the deadline → Monday 10:00; escalation 2 wh after → Monday 13:00.
    assert [(k, t) for k, t, _ in shape(ladder(inc, IM, start=FRI_16))] == [
        ("first_response", at(2025, 3, 14, 17)),
        ("reminder", at(*MON, 9)),
        ("reminder", at(*MON, 10)),
        ("deadline", at(*MON, 11)),
        ("overdue", at(*MON, 11)),
        ("escalation", at(*MON, 13)),
    ]


def test_urgent_sunday_night_pings_at_once() -> None:
    sunday_23 = at(2025, 3, 16, 23)
    inc = incident(priority=Priority.URGENT, registered=sunday_23, urgent_deadline=at(*MON, 6))
    rungs = ladder(inc, IM, start=sunday_23)
    # Around the clock: first response an hour later, half of the 7 h at 02:30, an hour before
    # the 06:00 deadline at 05:00, escalation two hours after it at 08:00.
    assert [(k, t) for k, t, _ in shape(rungs)] == [
        ("first_response", at(*MON, 0)),
        ("reminder", at(*MON, 2, 30)),
        ("reminder", at(*MON, 5)),
        ("deadline", at(*MON, 6)),
        ("overdue", at(*MON, 6)),
        ("escalation", at(*MON, 8)),
    ]
    for rung in rungs:
        assert deliver_at(rung, inc, IM.calendar) == rung.at
    # The sweep at 02:30 at night sends the halfway reminder there and then.
    d = due(inc, IM, start=sunday_23, step=1, now=at(*MON, 2, 30))
    assert sent(d) == [(1, "reminder", EXECUTOR)]
    assert d.step == 2
    assert d.next_action_at == at(*MON, 5)


def test_non_urgent_reminder_at_20_waits_for_the_morning() -> None:
    # A reminder counted in clock hours can fall in the evening: registered Monday 14:00,
    # 8 wh end on Tuesday 13:00 (14–17 on Monday, 08–13 on Tuesday), and 17 h before that is
    # Monday 20:00.
    policy = replace(IM, first_response=None, reminders=(parse_reminder("17h"),))
    monday_14 = at(*MON, 14)
    inc = incident(registered=monday_14, policy=policy)
    reminder = ladder(inc, policy, start=monday_14)[0]
    assert (reminder.kind, reminder.at) == ("reminder", at(*MON, 20))
    assert deliver_at(reminder, inc, policy.calendar) == at(*TUE, 8)

    # The scheduler stores Tuesday 08:00; a sweep in the evening sends nothing.
    assert next_action(inc, policy, start=monday_14, step=0) == at(*TUE, 8)
    evening = due(inc, policy, start=monday_14, step=0, now=at(*MON, 20, 5))
    assert evening == Due((), 0, at(*TUE, 8))
    morning = due(inc, policy, start=monday_14, step=0, now=at(*TUE, 8))
    assert sent(morning) == [(0, "reminder", EXECUTOR)]

    # The same rung for an urgent incident goes at 20:00 sharp.
    urgent = replace(inc, priority=Priority.URGENT)
    assert deliver_at(reminder, urgent, policy.calendar) == at(*MON, 20)


@pytest.mark.parametrize(
    ("due_at", "delivered"),
    [
        (at(2025, 3, 13, 20), at(2025, 3, 14, 8)),  # Thursday evening → Friday morning
        (at(2025, 3, 14, 20), at(*MON, 8)),  # Friday evening → Monday morning
        (at(2025, 3, 15, 11), at(*MON, 8)),  # Saturday → Monday
        (at(*MON, 7, 59), at(*MON, 8)),
        (at(*MON, 8), at(*MON, 8)),  # working time already
    ],
)
def test_deliver_at_waits_for_working_hours(due_at: datetime, delivered: datetime) -> None:
    rung = Rung("reminder", due_at.astimezone(UTC), (EXECUTOR,), "sla_reminder")
    assert deliver_at(rung, incident(), IM.calendar) == delivered


# -- overdue and escalation -------------------------------------------------------------------


def test_escalation_follows_overdue_with_late_by() -> None:
    inc = incident(State.IN_PROGRESS)
    # Steps 0–2 (first response, two reminders) are behind us.
    at_1530 = due(inc, IM, start=FRI_16, step=3, now=at(*MON, 15, 30))
    assert sent(at_1530) == [(3, "deadline", EXECUTOR), (4, "overdue", COORDINATORS)]
    overdue = at_1530.pings[1]
    assert overdue.template == "sla_overdue"
    assert overdue.context["late_by"] == timedelta(minutes=30)
    assert overdue.context["deadline"] == at(*MON, 15)
    assert at_1530.pings[0].context["late_by"] is None
    assert at_1530.step == 5
    # Escalation is due at Monday 17:00, i.e. delivered at Tuesday 08:00.
    assert at_1530.next_action_at == at(*TUE, 8)

    at_0900 = due(inc, IM, start=FRI_16, step=5, now=at(*TUE, 9))
    assert sent(at_0900) == [(5, "escalation", ROADS), (5, "escalation", CURATORS)]
    for ping in at_0900.pings:
        assert ping.template == "sla_escalation"
        # Monday 15–17 and Tuesday 08–09: three working hours late.
        assert ping.context["late_by"] == 3 * H
        assert ping.buttons == ((Button("show", 42), Button("remind", 42)),)
    assert at_0900.step == 6
    assert at_0900.next_action_at is None


def test_escalation_without_department_goes_to_curators() -> None:
    inc = incident(department=None)
    assert ladder(inc, IM, start=FRI_16)[-1].audience == (CURATORS,)


def test_executor_buttons_follow_the_state() -> None:
    now = at(*MON, 11)
    assigned = due(incident(State.ASSIGNED), IM, start=FRI_16, step=1, now=now)
    assert assigned.pings[0].buttons == ((Button("take", 42), Button("show", 42)),)
    working = due(incident(State.IN_PROGRESS), IM, start=FRI_16, step=1, now=now)
    assert working.pings[0].buttons == ((Button("answer", 42), Button("show", 42)),)
    first = due(incident(State.ASSIGNED), IM, start=FRI_16, step=0, now=at(*MON, 8))
    assert first.pings[0].to == COORDINATORS
    assert first.pings[0].buttons == ((Button("show", 42), Button("remind", 42)),)


# -- restarts and late sweeps -----------------------------------------------------------------


def run_sweeps(
    inc: Incident, policy: Policy, start: datetime, times: list[datetime]
) -> list[list[tuple[int, str, int | str]]]:
    """Sweep at each time like the scheduler after a restart: only (step, next_action_at)
    survive between calls, and due() is called only when next_action_at has come."""
    step = 0
    next_at = next_action(inc, policy, start=start, step=step)
    log = []
    for now in times:
        if next_at is None or next_at > now:
            log.append([])
            continue
        d = due(inc, policy, start=start, step=step, now=now)
        step, next_at = d.step, d.next_action_at
        log.append(sent(d))
    return log


def test_restarts_send_every_message_exactly_once() -> None:
    inc = incident(State.ASSIGNED)
    times = [
        at(2025, 3, 14, 17),  # first response due, but only delivered on Monday
        at(*MON, 8),
        at(*MON, 8),  # the same sweep once more, e.g. after a crash before the next tick
        at(*MON, 11),
        # Down from 11:01 to 16:30: the 14:00 reminder, the deadline and the overdue ping are
        # all due; the reminder is folded into the deadline ping.
        at(*MON, 16, 30),
        at(*MON, 16, 30),
        at(*MON, 17),  # escalation due, delivered at Tuesday 08:00
        at(*TUE, 8),
        at(*TUE, 8),
        at(2025, 3, 19, 8),
    ]
    assert run_sweeps(inc, IM, FRI_16, times) == [
        [],
        [(0, "first_response", COORDINATORS)],
        [],
        [(1, "reminder", EXECUTOR)],
        [(3, "deadline", EXECUTOR), (4, "overdue", COORDINATORS)],
        [],
        [],
        [(5, "escalation", ROADS), (5, "escalation", CURATORS)],
        [],
        [],
    ]


def test_one_late_sweep_sends_everything_once_and_collapses_reminders() -> None:
    inc = incident(State.ASSIGNED)
    d = due(inc, IM, start=FRI_16, step=0, now=at(*TUE, 9))
    assert sent(d) == [
        (0, "first_response", COORDINATORS),
        (3, "deadline", EXECUTOR),
        (4, "overdue", COORDINATORS),
        (5, "escalation", ROADS),
        (5, "escalation", CURATORS),
    ]
    assert (d.step, d.next_action_at) == (6, None)
    again = due(inc, IM, start=FRI_16, step=d.step, now=at(*TUE, 9))
    assert again == Due((), 6, None)


def test_only_reminders_due_collapse_into_the_latest() -> None:
    d = due(incident(), IM, start=FRI_16, step=1, now=at(*MON, 14, 30))
    assert sent(d) == [(2, "reminder", EXECUTOR)]
    assert d.step == 3
    assert d.next_action_at == at(*MON, 15)


def test_nothing_due_yet() -> None:
    d = due(incident(), IM, start=FRI_16, step=1, now=at(*MON, 10, 59))
    assert d == Due((), 1, at(*MON, 11))


def test_negative_step_is_refused() -> None:
    with pytest.raises(ValueError):
        due(incident(), IM, start=FRI_16, step=-1, now=at(*MON, 9))


# -- states -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [State.WAITING, State.AWAITING_FEEDBACK, State.CLOSED, State.REDIRECTED, State.REJECTED],
)
def test_no_rungs_when_nobody_owes_an_answer(state: State) -> None:
    inc = incident(state)
    assert ladder(inc, IM, start=FRI_16) == []
    assert due(inc, IM, start=FRI_16, step=2, now=at(*TUE, 9)) == Due((), 2, None)
    assert next_action(inc, IM, start=FRI_16, step=0) is None


def test_no_rungs_without_an_answer_deadline() -> None:
    inc = replace(incident(), answer_due=None)
    assert ladder(inc, IM, start=FRI_16) == []


@pytest.mark.parametrize("state", [State.APPROVED, State.ON_REVIEW])
def test_coordinator_owes_it_only_overdue_and_escalation(state: State) -> None:
    inc = replace(incident(state), first_response_at=at(2025, 3, 14, 16, 30))
    rungs = ladder(inc, IM, start=FRI_16)
    # Same positions as for the executor's states, so a stored step keeps its meaning.
    assert len(rungs) == len(ladder(incident(State.IN_PROGRESS), IM, start=FRI_16))
    assert [r.kind for r in rungs if r.audience] == ["overdue", "escalation"]
    d = due(inc, IM, start=FRI_16, step=0, now=at(*TUE, 9))
    assert [(s, k) for s, k, _ in sent(d)] == [(4, "overdue"), (5, "escalation"), (5, "escalation")]
    assert d.step == 6


def test_new_incident_without_executor_pings_coordinators() -> None:
    inc = incident(State.NEW, executor_id=None)
    d = due(inc, IM, start=FRI_16, step=0, now=at(*MON, 15))
    assert sent(d) == [(0, "first_response", COORDINATORS), (4, "overdue", COORDINATORS)]


def test_state_change_keeps_the_step_meaningful() -> None:
    # Taken on Monday morning after the first-response ping: the next rung is still the 11:00
    # reminder, now with the answer button; the first-response rung is not repeated.
    assigned = incident(State.ASSIGNED)
    first = due(assigned, IM, start=FRI_16, step=0, now=at(*MON, 8))
    assert sent(first) == [(0, "first_response", COORDINATORS)]
    taken = replace(assigned, state=State.IN_PROGRESS)
    assert not ladder_changed(assigned, taken)
    later = due(taken, IM, start=FRI_16, step=first.step, now=at(*MON, 11))
    assert sent(later) == [(1, "reminder", EXECUTOR)]
    assert later.pings[0].buttons[0][0] == Button("answer", 42)


def test_first_response_ping_stops_once_published() -> None:
    inc = replace(incident(State.ASSIGNED), first_response_at=at(2025, 3, 14, 16, 40))
    assert not ladder_changed(incident(State.ASSIGNED), inc)
    assert ladder(inc, IM, start=FRI_16)[0].audience == ()
    # Monday 08:00: the first-response rung is passed over, the next one is the 11:00 reminder.
    assert due(inc, IM, start=FRI_16, step=0, now=at(*MON, 8)) == Due((), 1, at(*MON, 11))
    # Unpublished, it is owed whatever the executor has done meanwhile.
    taken = incident(State.IN_PROGRESS)
    assert sent(due(taken, IM, start=FRI_16, step=0, now=at(*MON, 8))) == [
        (0, "first_response", COORDINATORS)
    ]


def test_start_defaults_to_the_clock_start() -> None:
    inc = incident()
    assert ladder(inc, IM) == ladder(inc, IM, start=FRI_16)
    # After an interim answer the clock restarts on Wednesday 19 March at 10:00 with 8 wh
    # more: Thursday 09:00 (10–17 on Wednesday, 08–09 on Thursday).
    wed_10 = at(2025, 3, 19, 10)
    resumed = replace(
        inc, clock_start=wed_10.astimezone(UTC), answer_due=at(2025, 3, 20, 9).astimezone(UTC)
    )
    assert ladder_changed(inc, resumed)
    assert ladder_changed(replace(inc, answer_due=resumed.answer_due), resumed)
    # The first response (due last Friday) is long past the new start: no rung for it. Half
    # of 8 wh is Wednesday 14:00; an hour before the 09:00 deadline is the close of
    # Wednesday, 17:00 (delivered at 08:00); escalation two working hours after, Thursday 11:00.
    assert [(k, t) for k, t, _ in shape(ladder(resumed, IM))] == [
        ("reminder", at(2025, 3, 19, 14)),
        ("reminder", at(2025, 3, 19, 17)),
        ("deadline", at(2025, 3, 20, 9)),
        ("overdue", at(2025, 3, 20, 9)),
        ("escalation", at(2025, 3, 20, 11)),
    ]
    assert ladder(resumed, IM) == ladder(resumed, IM, start=wed_10)
    assert deliver_at(ladder(resumed, IM)[1], resumed, IM.calendar) == at(2025, 3, 20, 8)


def test_reassignment_keeps_the_ladder() -> None:
    inc = incident()
    other = replace(inc, executor_id=8, state=State.ASSIGNED)
    assert not ladder_changed(inc, other)
    d = due(other, IM, start=FRI_16, step=2, now=at(*MON, 14))
    assert sent(d) == [(2, "reminder", 8)]


def test_changed_deadline_gives_a_new_ladder() -> None:
    inc = incident(State.ASSIGNED)
    # The coordinator moves the deadline to Tuesday 15:00 on Monday at 12:00; the caller
    # resets the step, because the new ladder's positions mean other moments.
    moved = replace(inc, answer_due=at(*TUE, 15).astimezone(UTC))
    assert ladder_changed(inc, moved)
    assert ladder_changed(inc, replace(inc, priority=Priority.FAST_TRACK))
    # 17 wh from Friday 16:00 to Tuesday 15:00; half of it (8.5 wh) is Monday 15:30.
    assert [(k, t) for k, t, _ in shape(ladder(moved, IM, start=FRI_16))] == [
        ("first_response", at(2025, 3, 14, 17)),
        ("reminder", at(*MON, 15, 30)),
        ("reminder", at(*TUE, 14)),
        ("deadline", at(*TUE, 15)),
        ("overdue", at(*TUE, 15)),
        ("escalation", at(*TUE, 17)),
    ]
    noon = at(*MON, 12)
    # Step 0 would catch up the first-response ping; restart_step skips what is past.
    assert sent(due(moved, IM, start=FRI_16, step=0, now=noon)) == [
        (0, "first_response", COORDINATORS)
    ]
    step = restart_step(moved, IM, start=FRI_16, now=noon)
    assert step == 1
    assert due(moved, IM, start=FRI_16, step=step, now=noon) == Due((), 1, at(*MON, 15, 30))


def test_restart_step_never_skips_a_past_deadline() -> None:
    inc = incident()
    late = replace(inc, answer_due=at(*MON, 9).astimezone(UTC))
    step = restart_step(late, IM, start=FRI_16, now=at(*MON, 12))
    assert [r.kind for r in ladder(late, IM, start=FRI_16)[step:]] == [
        "deadline",
        "overdue",
        "escalation",
    ]


# -- the property -----------------------------------------------------------------------------

STATES = [State.NEW, State.ASSIGNED, State.IN_PROGRESS, State.ON_REVIEW, State.APPROVED]


@st.composite
def cases(draw: st.DrawFn) -> tuple[Incident, Policy, list[datetime]]:
    policy = POLICIES[draw(st.sampled_from(sorted(POLICIES)))]
    day = draw(st.dates(min_value=at(2025, 1, 1).date(), max_value=at(2026, 12, 20).date()))
    clock = draw(st.times(max_value=time(23, 59)).map(lambda t: t.replace(second=0, microsecond=0)))
    registered = datetime.combine(day, clock, tzinfo=TZ)
    priority = draw(st.sampled_from(list(Priority)))
    urgent = None
    if priority is Priority.URGENT:
        urgent = registered + timedelta(minutes=draw(st.integers(1, 72 * 60)))
    state = draw(st.sampled_from(STATES))
    inc = incident(
        state,
        registered=registered,
        priority=priority,
        policy=policy,
        urgent_deadline=urgent,
        executor_id=None if state is State.NEW else EXECUTOR,
    )
    minutes = draw(st.lists(st.integers(0, 25 * 24 * 60), max_size=20))
    # Some sweeps repeat a time exactly, like a sweep run again after a crash.
    repeats = draw(st.lists(st.sampled_from(minutes), max_size=3)) if minutes else []
    times = sorted(registered + timedelta(minutes=m) for m in minutes + repeats)
    return inc, policy, [*times, registered + timedelta(days=90)]


@settings(max_examples=150, deadline=None)
@given(cases())
def test_each_rung_is_sent_once_and_none_is_lost(
    case: tuple[Incident, Policy, list[datetime]],
) -> None:
    inc, policy, times = case
    start = inc.registered_at
    rungs = ladder(inc, policy, start=start)
    step, next_at = 0, next_action(inc, policy, start=start, step=0)
    handled_at: dict[int, datetime] = {}
    sent_in: dict[int, int] = {}
    for sweep, now in enumerate(times):
        d = due(inc, policy, start=start, step=step, now=now)
        if next_at is None or next_at > now:
            # Nothing may come out of a sweep before the stored time.
            assert d == Due((), step, next_at)
            continue
        steps = [int(p.context["step"]) for p in d.pings]
        assert steps == sorted(steps)
        for s in dict.fromkeys(steps):
            assert s not in sent_in, "a rung was sent twice"
            assert step <= s < d.step
            assert deliver_at(rungs[s], inc, policy.calendar) <= now
            assert [p.to for p in d.pings if p.context["step"] == s] == list(rungs[s].audience)
            sent_in[s] = sweep
        for s in range(step, d.step):
            handled_at[s] = now
        assert d.step > step
        step, next_at = d.step, d.next_action_at
    # The final sweep is far past everything: the ladder is done.
    assert (step, next_at) == (len(rungs), None)
    for s, rung in enumerate(rungs):
        delivery = deliver_at(rung, inc, policy.calendar)
        # Handled by the first sweep at or after its delivery time, not later.
        assert handled_at[s] == min(t for t in times if t >= delivery)
        if s in sent_in:
            continue
        # Not sent: nobody owed it, or a later executor ping of the same sweep replaced it.
        assert not rung.audience or _collapsed(s, rungs, sent_in, handled_at)


def _collapsed(
    s: int, rungs: list[Rung], sent_in: dict[int, int], handled_at: dict[int, datetime]
) -> bool:
    executor = {"reminder", "deadline"}
    return rungs[s].kind in executor and any(
        j > s and rungs[j].kind in executor and handled_at[j] == handled_at[s] for j in sent_in
    )
