"""The figures of the analytic note and the ratings, on a week worked out by hand.

The expected numbers below are computed in the comments, from the story of each incident, not
by the code under test. The week is Monday 17 – Sunday 23 November 2025 in Novokuznetsk
(UTC+7), an ordinary working week; «Инцидент Менеджмент» works Mon–Fri 08:00–17:00,
«Платформа обратной связи» 08:30–17:30, the Governor's networks around the clock.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.metrics import (
    Answer,
    IncidentRow,
    Metrics,
    compare,
    compute,
    find_places,
    find_repeats,
    nearest_rank,
)
from workflows.model import AuditEntry, Category, DraftKind, Incident, Priority, State
from workflows.ratings import FORMULA, rate
from workflows.sla import Policy, default_policies

TZ = ZoneInfo("Asia/Novokuznetsk")
POLICIES = default_policies(TZ)
SOURCES = {"vk": "incident_management", "pos": "pos", "governor": "governor"}
CATEGORIES = {
    "roads": Category("roads", "Дороги", "Дороги и транспорт", "roads"),
    "housing": Category("housing", "ЖКХ: отопление", "ЖКХ", "housing"),
    "waste": Category("waste", "ТКО", "ЖКХ", "waste"),
}
DEPARTMENTS = {"roads": "Дорожники", "housing": "Отдел ЖКХ", "waste": "Регоператор"}
PEOPLE = {1: "Координатор", 11: "Петров", 12: "Сидорова", 13: "Алексеев"}
COORD = 1

START = datetime(2025, 11, 17, tzinfo=TZ)
END = datetime(2025, 11, 24, tzinfo=TZ)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TZ)


def policy_of(incident: Incident) -> Policy:
    return POLICIES[SOURCES[incident.source]]


def inc(n: int, *, source: str = "vk", category: str, executor: int | None, author: str | None,
        text: str, registered: datetime, fr_due: datetime | None, due: datetime | None,
        state: State, clock_start: datetime | None = None,
        department: str | None = None) -> Incident:
    return Incident(
        id=n, state=state, source=source, text=text, category=category,
        department=department or CATEGORIES[category].department, executor_id=executor,
        priority=Priority.NORMAL, registered_at=registered, author=author,
        first_response_due=fr_due, answer_due=due, clock_start=clock_start or registered)


def a(n: int, actor: int | None, action: str, frm: State | None, to: State | None,
      when: datetime, reason: str | None = None, ok: bool = True) -> AuditEntry:
    return AuditEntry(n, actor, action, frm, to, when, reason, ok)


S = State
INCIDENTS = [
    # 1: registered Mon 09:00; primary answer 09:30 (due 10:00); answer due 09:00 + 8 wh =
    #    Mon 17:00, published Mon 12:00 → on time, 3 working hours; closed Wed.
    inc(1, category="roads", executor=11, author="Иван", text="Яма на ул. Ленина",
        registered=at(17, 9), fr_due=at(17, 10), due=at(17, 17), state=S.CLOSED),
    # 2: Иван again, roads, a day later → a repeat. Registered Tue 15:00; no primary answer,
    #    first publication Wed 15:00 is after the first-response due Tue 16:00 → late.
    #    Answer due Tue 15:00 + 8 wh = Tue 2 h + Wed 6 h = Wed 14:00; published Wed 15:00 →
    #    late (overdue); 2 + 7 = 9 working hours. One return. Reopened Thu.
    inc(2, category="roads", executor=11, author="Иван", text="Снова яма на улице Ленина",
        registered=at(18, 15), fr_due=at(18, 16), due=at(19, 14), state=S.REOPENED),
    # 3: registered Wed 10:00, primary answer 10:20 (due 11:00) → on time. Interim answer
    #    published Wed 16:30 (postponed; 6.5 working hours to the first answer). The wait
    #    ended Fri 09:00: the clock restarted, final answer due Fri 17:00; the final answer
    #    went out only on Mon 24th, after the period → overdue in this period, state at the
    #    end «approved» (the incident itself is already awaiting feedback).
    inc(3, category="housing", executor=12, author="Мария",
        text="Нет горячей воды, пр. Строителей 5", registered=at(19, 10), fr_due=at(19, 11),
        due=at(21, 17), clock_start=at(21, 9), state=S.AWAITING_FEEDBACK),
    # 4: the Governor's networks (around the clock, no first-response rule): registered
    #    Sat 11:00, due the same day 18:00, published 13:00 → on time, 2 working hours.
    inc(4, source="governor", category="waste", executor=13, author="Пётр",
        text="Не вывозят мусор, д. Ивановка", registered=at(22, 11), fr_due=None,
        due=at(22, 18), state=S.AWAITING_FEEDBACK),
    # 5: spam, rejected Thu 09:30, before both of its deadlines → owes nothing.
    inc(5, category="housing", executor=None, author=None, text="Спам, ул. Яблочная",
        registered=at(20, 9), fr_due=at(20, 10), due=at(20, 17), state=S.REJECTED),
    # 6: last week's, by Ольга: answer due Fri 14th 10:00, still unanswered → carried over.
    inc(6, category="roads", executor=11, author="Ольга", text="ул. Ленина не чищен снег",
        registered=at(13, 10), fr_due=at(13, 11), due=at(14, 10), state=S.IN_PROGRESS),
    # 7: redirected Fri 14:30, before its deadlines.
    inc(7, category="roads", executor=None, author="Анна", text="Вопрос по пенсии",
        registered=at(21, 14), fr_due=at(21, 15), due=at(24, 13), state=S.REDIRECTED),
    # 8: Мария again, housing, two days after №3 → a repeat. POS: answer due Fri 11:00 +
    #    8 wh = Fri 6.5 h + Mon 1.5 h = Mon 24th 10:00, after the period: not due yet.
    inc(8, source="pos", category="housing", executor=12, author=" мария ",
        text="Течёт крыша, улица Гагарина 10", registered=at(21, 11), fr_due=None,
        due=at(24, 10), state=S.IN_PROGRESS),
    # 9: Пётр, but roads (his earlier one is waste) → not a repeat. Sunday evening.
    inc(9, category="roads", executor=11, author="Пётр",
        text="Светофор не работает на проспекте Ленина, ул. Ленина д. 3",
        registered=at(23, 20), fr_due=at(24, 9), due=at(24, 16), state=S.ASSIGNED),
    # 10: Иван in October, 31 days before №1 → №1 is not a repeat; not involved at all.
    inc(10, category="roads", executor=11, author="Иван", text="ул. Ленина",
        registered=at(17, 8, month=10), fr_due=at(17, 9, month=10),
        due=at(17, 16, month=10), state=S.CLOSED),
]

AUDIT = [
    a(10, None, "register", None, S.NEW, at(17, 8, month=10)),
    a(10, COORD, "close", S.AWAITING_FEEDBACK, S.CLOSED, at(20, 8, month=10)),
    a(1, None, "register", None, S.NEW, at(17, 9)),
    a(1, None, "assign", S.NEW, S.ASSIGNED, at(17, 9), "Петров"),
    a(1, 11, "take", S.ASSIGNED, S.IN_PROGRESS, at(17, 9, 10)),
    a(1, COORD, "first_response", S.IN_PROGRESS, S.IN_PROGRESS, at(17, 9, 30)),
    a(1, 11, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(17, 11), "final"),
    a(1, COORD, "approve", S.ON_REVIEW, S.APPROVED, at(17, 11, 30)),
    a(1, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(17, 12)),
    a(1, COORD, "close", S.AWAITING_FEEDBACK, S.CLOSED, at(19, 12)),
    a(2, None, "register", None, S.NEW, at(18, 15)),
    a(2, None, "assign", S.NEW, S.ASSIGNED, at(18, 15), "Петров"),
    a(2, 11, "take", S.ASSIGNED, S.IN_PROGRESS, at(18, 15, 5)),
    a(2, 11, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(18, 16, 30), "final"),
    a(2, COORD, "return", S.ON_REVIEW, S.IN_PROGRESS, at(19, 9), "нет фото"),
    a(2, 11, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(19, 13), "final"),
    a(2, COORD, "approve", S.ON_REVIEW, S.APPROVED, at(19, 13, 30)),
    a(2, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(19, 15)),
    a(2, COORD, "reopen", S.AWAITING_FEEDBACK, S.REOPENED, at(20, 10), "не сделано"),
    # A refused reopen and a refused close: refusals never count.
    a(2, 12, "reopen", S.REOPENED, None, at(20, 11), "wrong_role", ok=False),
    a(3, COORD, "close", S.WAITING, None, at(20, 9), "wrong_state", ok=False),
    a(3, None, "register", None, S.NEW, at(19, 10)),
    a(3, None, "assign", S.NEW, S.ASSIGNED, at(19, 10), "Сидорова"),
    a(3, COORD, "first_response", S.ASSIGNED, S.ASSIGNED, at(19, 10, 20)),
    a(3, 12, "take", S.ASSIGNED, S.IN_PROGRESS, at(19, 10, 30)),
    a(3, 12, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(19, 16), "interim"),
    a(3, COORD, "approve", S.ON_REVIEW, S.APPROVED, at(19, 16, 10)),
    a(3, COORD, "publish", S.APPROVED, S.WAITING, at(19, 16, 30)),
    a(3, None, "resume", S.WAITING, S.IN_PROGRESS, at(21, 9)),
    a(3, 12, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(21, 16), "final"),
    a(3, COORD, "approve", S.ON_REVIEW, S.APPROVED, at(21, 16, 30)),
    a(3, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(24, 9)),  # after the period
    a(4, None, "register", None, S.NEW, at(22, 11)),
    a(4, None, "assign", S.NEW, S.ASSIGNED, at(22, 11), "Алексеев"),
    a(4, 13, "take", S.ASSIGNED, S.IN_PROGRESS, at(22, 11, 10)),
    a(4, 13, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(22, 12), "final"),
    a(4, COORD, "approve", S.ON_REVIEW, S.APPROVED, at(22, 12, 30)),
    a(4, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(22, 13)),
    a(5, None, "register", None, S.NEW, at(20, 9)),
    a(5, COORD, "reject", S.NEW, S.REJECTED, at(20, 9, 30), "спам"),
    a(6, None, "register", None, S.NEW, at(13, 10)),
    a(6, None, "assign", S.NEW, S.ASSIGNED, at(13, 10), "Петров"),
    a(6, 11, "take", S.ASSIGNED, S.IN_PROGRESS, at(13, 10, 15)),
    a(6, COORD, "first_response", S.IN_PROGRESS, S.IN_PROGRESS, at(13, 10, 30)),
    a(6, COORD, "remind", S.IN_PROGRESS, S.IN_PROGRESS, at(18, 10)),
    # Ольга complained again under the same post: linked to №6 as a repeat complaint.
    a(6, None, "repeat", S.IN_PROGRESS, S.IN_PROGRESS, at(19, 9), "снова не чищено"),
    a(7, None, "register", None, S.NEW, at(21, 14)),
    a(7, COORD, "redirect", S.NEW, S.REDIRECTED, at(21, 14, 30), "СФР"),
    a(8, None, "register", None, S.NEW, at(21, 11)),
    a(8, None, "assign", S.NEW, S.ASSIGNED, at(21, 11), "Сидорова"),
    a(8, 12, "take", S.ASSIGNED, S.IN_PROGRESS, at(21, 11, 30)),
    a(9, None, "register", None, S.NEW, at(23, 20)),
    a(9, None, "assign", S.NEW, S.ASSIGNED, at(23, 20), "Петров"),
]

ANSWERS = [
    Answer(10, DraftKind.FINAL, at(17, 15, month=10), COORD),
    Answer(1, DraftKind.FINAL, at(17, 12), COORD, 2),
    Answer(2, DraftKind.FINAL, at(19, 15), COORD, 1),
    Answer(3, DraftKind.INTERIM, at(19, 16, 30), COORD),
    Answer(3, DraftKind.FINAL, at(24, 9), COORD, 1),  # after the period
    Answer(4, DraftKind.FINAL, at(22, 13), COORD),
]


def figures(start: datetime = START, end: datetime = END, **kw: object) -> Metrics:
    return compute(INCIDENTS, AUDIT, ANSWERS, start=start, end=end, policies_for=policy_of,
                   categories=CATEGORIES, departments=DEPARTMENTS, **kw)  # type: ignore[arg-type]


def row(m: Metrics, n: int) -> IncidentRow:
    (found,) = [r for r in m.rows if r.incident_id == n]
    return found


def test_counts_of_the_week() -> None:
    m = figures()
    # Involved: 1–9 (№10 is October's); new: all but №6 (last week's) and №10.
    assert [r.incident_id for r in m.rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert m.new == 8
    assert m.repeat == 2  # №2 (Иван, roads), №8 (Мария, housing)
    assert m.repeat_complaints == 1  # Ольга's second complaint, linked to №6
    assert m.closed == 1  # №1; the refused close of №3 does not count
    assert m.reopened == 1  # №2; the refused reopen does not count
    assert m.redirected == 1  # №7
    assert m.rejected == 1  # №5
    assert m.postponed == 1  # №3's interim answer
    assert m.answered == 4  # №1, №2, №3 (interim), №4; №3's final is after the period
    assert m.finals_published == 3  # №1, №2, №4
    assert m.overdue == 3  # №2 (late), №3 (final not out by Fri 17:00), №6 (carried over)
    assert m.overdue_carried == 1
    assert m.submissions == 6  # №1: 1, №2: 2, №3: 2, №4: 1
    assert m.returns == 1
    assert not m.is_empty


def test_rates_and_times() -> None:
    m = figures()
    # First response due in the week and owed: №1 (on time), №2 (late: first publication
    # Wed 15:00 > Tue 16:00), №3 (on time). №5 and №7 were closed off before theirs.
    assert (m.first_responses_on_time, m.first_responses_due) == (2, 3)
    assert m.first_response_rate == pytest.approx(2 / 3)
    # Answers due in the week and owed: №1 (on time), №2 (late), №3 (late), №4 (on time).
    assert (m.answers_on_time, m.answers_due) == (2, 4)
    assert m.answer_rate == 0.5
    # First answers published in the week: №4 2 h, №1 3 h, №3 6.5 h, №2 9 h.
    assert m.answer_hours == pytest.approx((2.0, 3.0, 6.5, 9.0))
    assert m.median_hours == pytest.approx(4.75)  # (3 + 6.5) / 2
    assert m.p90_hours == pytest.approx(9.0)  # rank ⌈0.9 · 4⌉ = 4
    assert m.returns_per_submission == pytest.approx(1 / 6)
    assert m.reopen_rate == pytest.approx(1 / 3)  # 1 reopened / 3 finals


def test_rows_carry_the_timings() -> None:
    m = figures()
    r3 = row(m, 3)
    assert r3.state is State.APPROVED  # replayed to the end of the period
    assert r3.first_response_at == at(19, 10, 20)
    assert r3.first_published_at == at(19, 16, 30)
    assert r3.answered_at is None  # nothing after the restart of the clock (Fri 09:00)
    assert r3.on_time is False and r3.overdue and r3.postponed
    assert r3.working_to_answer == timedelta(hours=6, minutes=30)
    r2 = row(m, 2)
    assert r2.first_response_at == at(19, 15) and r2.first_response_on_time is False
    assert r2.on_time is False and r2.repeat and r2.state is State.REOPENED
    assert r2.hours_to_answer == pytest.approx(9.0)
    r6 = row(m, 6)
    assert r6.overdue and r6.overdue_carried and not r6.registered_in_period
    assert r6.repeat_complaints == 1 and not r6.repeat and row(m, 1).repeat_complaints == 0
    r8 = row(m, 8)
    assert r8.on_time is None and not r8.overdue and r8.repeat  # due after the period
    r5 = row(m, 5)
    assert r5.state is State.REJECTED and r5.on_time is None and not r5.due_in_period
    assert row(m, 9).state is State.ASSIGNED and not row(m, 9).repeat
    assert row(m, 1).state is State.CLOSED and not row(m, 1).repeat  # №10 is 31 days back


def test_breakdowns_topics_and_places() -> None:
    m = figures()
    as_tuples = [(g.key, g.new, g.repeat, g.overdue, g.postponed) for g in m.by_category]
    # roads: new №1, 2, 7, 9; repeat №2; overdue №2, 6. housing: new №3, 5, 8; repeat №8;
    # overdue and postponed №3. waste: new №4.
    assert as_tuples == [("roads", 4, 1, 2, 0), ("housing", 3, 1, 1, 1), ("waste", 1, 0, 0, 0)]
    assert [g.repeat_complaints for g in m.by_category] == [1, 0, 0]  # №6 is roads
    # Both blocks have 4 new; more overdue goes first.
    assert [(g.name, g.new, g.repeat, g.overdue, g.postponed) for g in m.by_block] == [
        ("Дороги и транспорт", 4, 1, 2, 0), ("ЖКХ", 4, 1, 1, 1)]
    assert [(g.name, g.new) for g in m.by_department] == [
        ("Дорожники", 4), ("Отдел ЖКХ", 3), ("Регоператор", 1)]
    assert m.top_topics == (("Дороги", 4), ("ЖКХ: отопление", 3), ("ТКО", 1))
    # New incidents only: ул. Ленина in №1, 2, 9; one each for the others; «ул. Яблочная»
    # (№5) is sixth in name order and falls off the top five; №6's is last week's.
    assert m.top_places == (("ул. Ленина", 3), ("д. Ивановка", 1), ("пр. Ленина", 1),
                            ("пр. Строителей", 1), ("ул. Гагарина", 1))
    assert dict(m.policy_counts) == {"incident_management": 7, "governor": 1, "pos": 1}


def test_explicit_repeats_add_to_the_found_ones() -> None:
    assert figures(repeat_ids={9}).repeat == 3
    assert find_repeats(INCIDENTS) == {2, 8}


def test_previous_week_and_comparison() -> None:
    prev = figures(START - timedelta(days=7), START)
    # Only №6: new, primary answer on time, answer due Fri 14th 10:00 missed.
    assert (prev.new, prev.overdue, prev.overdue_carried) == (1, 1, 0)
    assert (prev.first_response_rate, prev.answer_rate) == (1.0, 0.0)
    assert prev.median_hours is None and prev.answered == 0
    changes = compare(figures(), prev)
    assert (changes["new"].current, changes["new"].previous, changes["new"].delta) == (8, 1, 7)
    assert changes["overdue"].delta == 2 and changes["overdue"].relative == 2.0
    assert changes["answer_rate"].delta == 0.5
    assert changes["median_hours"].delta is None


def test_empty_period() -> None:
    m = figures(datetime(2025, 9, 1, tzinfo=TZ), datetime(2025, 9, 8, tzinfo=TZ))
    assert m.is_empty and m.rows == ()
    assert (m.new, m.repeat, m.closed, m.overdue, m.postponed, m.answered) == (0,) * 6
    assert m.first_response_rate is None and m.answer_rate is None
    assert m.median_hours is None and m.p90_hours is None
    assert m.returns_per_submission is None and m.reopen_rate is None
    assert m.by_category == () and m.top_topics == () and m.top_places == ()
    ratings = rate(m, departments=DEPARTMENTS, people=PEOPLE)
    assert ratings.departments == () and ratings.executors == ()


def test_ratings_order_and_components() -> None:
    ratings = rate(figures(), departments=DEPARTMENTS, people=PEOPLE)
    # roads (№1, 2, 6, 7, 9): due 2 (№1 on time, №2 late) → T = 1/2; 3 drafts, 1 return →
    #   C = 2/3; 2 answers (the most) → V = 1; score = 0.2 + 4/15 + 0.2 = 2/3.
    # housing (№3, 5, 8): due 1 (№3 late) → T = 0; 2 drafts, no returns → C = 1; 1 answer
    #   → V = 1/2; score = 0 + 0.4 + 0.1 = 0.5.
    # waste (№4): T = 1, C = 1, V = 1/2 → 0.9.
    deps = [(r.rank, r.key, r.due, r.on_time, r.submissions, r.returns, r.answered)
            for r in ratings.departments]
    assert deps == [(1, "waste", 1, 1, 1, 0, 1), (2, "roads", 2, 1, 3, 1, 2),
                    (3, "housing", 1, 0, 2, 0, 1)]
    assert [r.score for r in ratings.departments] == pytest.approx([0.9, 2 / 3, 0.5])
    roads = ratings.departments[1]
    assert (roads.timeliness, roads.completeness, roads.volume) == pytest.approx((0.5, 2 / 3, 1))
    # Executors mirror it: Алексеев (№4), Петров (№1, 2, 6, 9), Сидорова (№3, 8).
    assert [(r.name, r.key) for r in ratings.executors] == [
        ("Алексеев", "13"), ("Петров", "11"), ("Сидорова", "12")]
    assert [r.score for r in ratings.executors] == pytest.approx([0.9, 2 / 3, 0.5])
    assert "0,4 × своевременность + 0,4 × полнота + 0,2 × объём" in FORMULA


def test_equal_scores_go_by_name() -> None:
    # Two executors with the same record: one incident each, answered on time.
    story = []
    incidents = []
    answers = []
    for n, (person, hour) in enumerate(((12, 9), (11, 10)), start=1):
        incidents.append(inc(n, category="roads", executor=person, author=None, text="",
                             registered=at(18, hour), fr_due=None, due=at(18, 16),
                             state=S.AWAITING_FEEDBACK))
        story += [a(n, person, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(18, hour, 30)),
                  a(n, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(18, hour + 1))]
        answers.append(Answer(n, DraftKind.FINAL, at(18, hour + 1)))
    m = compute(incidents, story, answers, start=START, end=END, policies_for=policy_of,
                categories=CATEGORIES, departments=DEPARTMENTS)
    executors = rate(m, departments=DEPARTMENTS, people=PEOPLE).executors
    assert [r.name for r in executors] == ["Петров", "Сидорова"]  # П before С
    assert executors[0].score == executors[1].score == 1.0


def test_no_work_in_the_period_is_listed_apart_not_ranked() -> None:
    # Two executors who answered, one late (T = 0, C = 1, V = 1 → 0.6) and one on time
    # (1.0); Алексеев holds an incident whose deadline is next week and has published
    # nothing: with T = C = 1 and V = 0 he would score 0.8 and rank above the late one.
    incidents = [
        inc(1, category="roads", executor=11, author=None, text="", registered=at(18, 9),
            fr_due=None, due=at(18, 12), state=S.AWAITING_FEEDBACK),
        inc(2, category="housing", executor=12, author=None, text="", registered=at(18, 9),
            fr_due=None, due=at(18, 16), state=S.AWAITING_FEEDBACK),
        inc(3, category="waste", executor=13, author=None, text="", registered=at(21, 9),
            fr_due=None, due=at(25, 16), state=S.IN_PROGRESS),
    ]
    story = [
        a(1, 11, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(18, 13)),
        a(1, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(18, 14)),
        a(2, 12, "submit", S.IN_PROGRESS, S.ON_REVIEW, at(18, 10)),
        a(2, COORD, "publish", S.APPROVED, S.AWAITING_FEEDBACK, at(18, 11)),
    ]
    answers = [Answer(1, DraftKind.FINAL, at(18, 14)), Answer(2, DraftKind.FINAL, at(18, 11))]
    m = compute(incidents, story, answers, start=START, end=END, policies_for=policy_of,
                categories=CATEGORIES, departments=DEPARTMENTS)
    ratings = rate(m, departments=DEPARTMENTS, people=PEOPLE)
    assert [(r.rank, r.name) for r in ratings.executors] == [(1, "Сидорова"), (2, "Петров")]
    assert [r.score for r in ratings.executors] == pytest.approx([1.0, 0.6])
    assert [(r.rank, r.name, r.due, r.answered) for r in ratings.unranked_executors] == [
        (0, "Алексеев", 0, 0)]
    assert [r.key for r in ratings.departments] == ["housing", "roads"]
    assert [r.key for r in ratings.unranked_departments] == ["waste"]
    assert ratings.unranked == 2


def test_block_owners_are_rated_over_their_departments() -> None:
    # Owner 21 has roads and waste, owner 22 housing, owner 23 a department without work.
    people = {**PEOPLE, 21: "Морозов", 22: "Зайцева", 23: "Яковлев"}
    ratings = rate(figures(), departments=DEPARTMENTS, people=people,
                   block_owners={21: ["roads", "waste"], 22: ["housing"], 23: ["parks"]})
    # Морозов: roads (due 2, on time 1, 3 drafts, 1 return, 2 answers) + waste (1, 1, 1, 0,
    #   1) → T = 2/3, C = 3/4, V = 3/3; score = 0.4·2/3 + 0.4·3/4 + 0.2 = 23/30.
    # Зайцева: housing (1, 0, 2, 0, 1) → T = 0, C = 1, V = 1/3 → 0.4 + 1/15 = 7/15.
    rows = [(r.rank, r.name, r.due, r.on_time, r.submissions, r.returns, r.answered)
            for r in ratings.block_owners]
    assert rows == [(1, "Морозов", 3, 2, 4, 1, 3), (2, "Зайцева", 1, 0, 2, 0, 1)]
    assert [r.score for r in ratings.block_owners] == pytest.approx([23 / 30, 7 / 15])
    assert ratings.unranked_block_owners == ()  # no involved department: not in the list
    assert rate(figures(), departments=DEPARTMENTS, people=people).block_owners == ()


def test_places_and_percentiles_helpers() -> None:
    assert find_places("ул.Садовая, улица Мира и д. 5, в д. Берёзовка") == [
        "ул. Садовая", "ул. Мира", "д. Берёзовка"]
    assert find_places("улица у нас грязная") == []
    assert nearest_rank([5, 1, 3, 2, 4, 6, 7, 8, 9, 10], 90) == 9
    assert nearest_rank([], 90) is None


def test_period_must_be_aware_and_ordered() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        figures(datetime(2025, 11, 17), END)
    with pytest.raises(ValueError, match="end after"):
        figures(END, START)


def test_the_period_in_any_zone_gives_the_same_figures() -> None:
    """compute compares in UTC (the zone the storage reads moments back in) but keeps the
    period as it was given: the same instants in another zone give the same figures."""
    utc = ZoneInfo("UTC")
    local = figures(now=at(21, 12))
    shifted = figures(START.astimezone(utc), END.astimezone(utc), now=at(21, 12).astimezone(utc))
    assert local.start is START and local.end is END
    assert shifted.start.tzinfo is utc
    assert dataclasses.replace(shifted, start=START, end=END) == local
    moscow = ZoneInfo("Europe/Moscow")
    assert figures(START.astimezone(moscow), END.astimezone(moscow)).rows == figures().rows
