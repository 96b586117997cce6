"""The figures of the weekly analytic note, from the incidents, the audit log and the answers.

Pure: the caller loads the records and passes the period ``[start, end)`` (aware datetimes);
nothing here reads a clock, a file or a database. The regulations ask for the counts of new,
repeat, overdue and postponed incidents by topic (seed 004, 5.2), and for the timeliness and
completeness of the answers (seed 001, IV.11).

Definitions
-----------

Only real transitions count: audit rows with ``ok=False`` (refusals) are ignored. Nothing at
or after ``end`` is used, so re-running a report for a past period gives the same figures —
except for what the incidents table keeps only as its latest value (``answer_due`` after an
extension or a resumed interim wait, ``first_response_due``, ``clock_start``, category,
department and executor): the report uses those as they are now.

*Period membership* of a moment ``t``: ``start <= t < end``.

- **new** — incidents registered in the period.
- **repeat** — new incidents that repeat an earlier one: another incident with the same author
  (compared case-insensitively, spaces trimmed) and the same category registered within the
  30 days before (``registered - 30 days <= other < registered``; at the very same moment the
  lower id is the earlier), in the same municipality (a region's). Incidents without an author
  or a category are never repeats by this rule. ``repeat_ids`` adds explicit repeats
  (incidents marked as such by people) on top.
- **repeat complaints** — further complaints of a resident linked to their open incident
  instead of becoming a new one (``repeat`` audit rows in the period). They
  are not incidents, so they are not among the new ones: the note gives them apart.
- **closed / reopened / redirected / rejected** — incidents with at least one ``close`` /
  ``reopen`` / ``redirect`` / ``reject`` in the period (each incident counted once).
- **postponed** — incidents with an interim answer published in the period.
- **answered** — incidents with any answer (final or interim) published in the period;
  **finals published** counts the final answers themselves.
- An incident **owes an answer** at a moment unless it was redirected or rejected at or before
  that moment.
- **The answer that meets the deadline** is the first answer (final or interim) published at or
  after ``clock_start`` — the start of the current answer clock: registration, or the end of an
  interim wait, after which ``answer_due`` is the deadline of the final answer. (When
  ``clock_start`` lies at or after ``end`` the round started at registration, as far as this
  period could see.)
- **Answers due in the period** — incidents whose ``answer_due`` falls in the period and which
  owed an answer then. **On time** — the answer that meets the deadline was published at or
  before ``answer_due``. **Answer on-time rate** = on time / due in the period.
- **overdue** — (a) answers due in the period that were not on time (published late, or not
  at all before ``end``), plus (b) *carried over*: incidents whose ``answer_due`` fell before
  the period, that owed an answer then, and still have no answer and were neither redirected
  nor rejected at ``end``. (b) is also given alone as ``overdue_carried``. A report taken
  before the period ends judges at the time it is taken (``now``): an answer due later that
  day and not yet given is neither due nor overdue yet.
- **First response** — the ``first_response`` audit (the primary answer that names the
  deadline) or, if earlier, the first published answer (an answer is more than a primary
  answer; the SLA ladder stops the first-response ping for it as well). **First-response
  on-time rate** = first responses at or before ``first_response_due`` / incidents whose
  ``first_response_due`` falls in the period and which owed an answer then.
- **Time to answer** — from registration to the first published answer (final or interim), in
  working hours of the incident's policy calendar (``WorkingCalendar.working_between``; urgent
  incidents run around the clock, as their deadlines do). Taken over the incidents whose first
  answer was published in the period. **Median** is the usual median (the mean of the two
  middle values for an even count); the **90th percentile** is the nearest-rank one: the value
  at position ⌈0.9·n⌉ of the sorted list.
- **Returns per submission** (quality) = ``return`` transitions / ``submit`` transitions in
  the period.
- **Reopen rate** (resident dissatisfaction) = reopened incidents / final answers published in
  the period.
- **Breakdowns** by category, block and department count, per group, the new, repeat, overdue
  and postponed incidents and the repeat complaints (groups with all zeros are left out).
- **Busiest topics** — the five categories with the most new incidents (ties by name).
- **Busiest places** — the five places named most often in the texts of the new incidents
  (each incident counts a place once; ties by name). A place is the word after «ул.», «улица»
  (also «улице», «улицу», «улицы»), «пр.», «просп.», «проспект» (also «проспекта», «проспекте»,
  «проспекту») or «д.» (деревня; «д. 5», a house number, has no word and is skipped), where the
  word starts with a capital letter: ``ул. Ленина`` and ``улица Ленина`` both give
  «ул. Ленина», ``пр. Строителей`` gives «пр. Строителей». Only the first word is taken
  («ул. Карла Маркса» gives «ул. Карла»), and names written in small letters or before the
  word («Садовая улица») are not found: a rough guide, not a gazetteer.
- **Involved incidents** (one row each, for the exports): registered before ``end`` and
  registered in the period, or with an audit row (a repeat complaint, an SLA ping, any
  transition) or a published answer in the period, or with
  a first-response or answer deadline in the period, or overdue in it. The period is **empty**
  when no incident is involved.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from workflows.calendar import WorkingCalendar
from workflows.model import AuditEntry, Category, DraftKind, Incident, Priority, State
from workflows.regulation import Action
from workflows.sla import Policy

__all__ = [
    "COMPARED",
    "REPEAT_WINDOW",
    "Answer",
    "Change",
    "GroupCount",
    "IncidentRow",
    "Metrics",
    "WorkEvent",
    "compare",
    "compute",
    "find_places",
    "place_of",
    "find_repeats",
    "nearest_rank",
]

REPEAT_WINDOW = timedelta(days=30)
TOP = 5
_HOUR = timedelta(hours=1)
NO_CATEGORY = "Без категории"
NO_DEPARTMENT = "Без подразделения"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as it went out to the resident (a row of the ``answers`` table)."""

    incident_id: int
    kind: DraftKind
    published_at: datetime
    published_by: int | None = None
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One involved incident with its timings, as of the end of the period."""

    incident_id: int
    registered_at: datetime
    source: str
    policy: str
    priority: Priority
    category: str | None
    department: str | None
    executor_id: int | None
    state: State  # at the end of the period, replayed from the audit log
    first_response_due: datetime | None
    first_response_at: datetime | None  # first response or first answer, before end
    first_response_on_time: bool | None  # None: not due yet, or not owed
    first_published_at: datetime | None  # first answer of any kind, before end
    answer_due: datetime | None
    answered_at: datetime | None  # the answer that meets the deadline (see the module doc)
    on_time: bool | None  # None: no deadline, not due yet, or not owed
    working_to_answer: timedelta | None  # registration → first answer, working time
    registered_in_period: bool
    repeat: bool
    repeat_complaints: int  # linked in the period
    due_in_period: bool  # counted in the answer on-time rate
    overdue: bool
    overdue_carried: bool
    postponed: bool  # an interim answer published in the period

    @property
    def hours_to_answer(self) -> float | None:
        if self.working_to_answer is None:
            return None
        return self.working_to_answer / _HOUR


@dataclass(frozen=True, slots=True)
class WorkEvent:
    """A piece of an executor's work in the period, for the ratings.

    ``kind``: "submit" (a draft sent for approval; ``executor_id`` is its author), "return"
    (a draft sent back; attributed to the author of the last submission before it) or
    "answer" (an answer published; attributed to the author of the last submission before
    it, None when nobody submitted one).
    """

    kind: str
    incident_id: int
    at: datetime
    executor_id: int | None
    department: str | None


@dataclass(frozen=True, slots=True)
class GroupCount:
    """One line of a breakdown: a category, a block or a department."""

    key: str
    name: str
    new: int = 0
    repeat: int = 0
    overdue: int = 0
    postponed: int = 0
    repeat_complaints: int = 0


@dataclass(frozen=True)
class Metrics:
    start: datetime
    end: datetime
    new: int
    repeat: int
    repeat_complaints: int
    closed: int
    overdue: int
    overdue_carried: int
    postponed: int
    reopened: int
    redirected: int
    rejected: int
    answered: int
    finals_published: int
    submissions: int
    returns: int
    first_responses_due: int
    first_responses_on_time: int
    answers_due: int
    answers_on_time: int
    # Working hours from registration to the first answer, sorted.
    answer_hours: tuple[float, ...]
    by_category: tuple[GroupCount, ...]
    by_block: tuple[GroupCount, ...]
    by_department: tuple[GroupCount, ...]
    top_topics: tuple[tuple[str, int], ...]
    top_places: tuple[tuple[str, int], ...]
    rows: tuple[IncidentRow, ...]
    events: tuple[WorkEvent, ...]
    # Policy name → involved incidents measured against it.
    policy_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def first_response_rate(self) -> float | None:
        return _ratio(self.first_responses_on_time, self.first_responses_due)

    @property
    def answer_rate(self) -> float | None:
        return _ratio(self.answers_on_time, self.answers_due)

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.answer_hours) if self.answer_hours else None

    @property
    def p90_hours(self) -> float | None:
        return nearest_rank(self.answer_hours, 90)

    @property
    def returns_per_submission(self) -> float | None:
        return _ratio(self.returns, self.submissions)

    @property
    def reopen_rate(self) -> float | None:
        return _ratio(self.reopened, self.finals_published)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def nearest_rank(values: Sequence[float], percent: int) -> float | None:
    """The nearest-rank percentile: the value at position ⌈p/100·n⌉ of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent * len(ordered) / 100))
    return ordered[rank - 1]


# -- repeats and places -----------------------------------------------------------------------


def _author_key(author: str | None) -> str | None:
    if author is None:
        return None
    key = " ".join(author.split()).casefold()
    return key or None


def find_repeats(incidents: Iterable[Incident], window: timedelta = REPEAT_WINDOW) -> set[int]:
    """Ids of the incidents that repeat an earlier one by author and category (module doc)."""
    groups: dict[tuple[str, str, str | None], list[Incident]] = defaultdict(list)
    for inc in incidents:
        author = _author_key(inc.author)
        if author is not None and inc.category is not None:
            groups[(author, inc.category, inc.municipality)].append(inc)
    found: set[int] = set()
    for members in groups.values():
        members.sort(key=lambda i: (i.registered_at, i.id))
        for earlier, later in zip(members, members[1:], strict=False):
            if later.registered_at - earlier.registered_at <= window:
                # The nearest earlier one is enough: if it is outside the window, all are.
                found.add(later.id)
    return found


_PLACE_RE = re.compile(
    r"(?<![А-Яа-яЁёA-Za-z])"
    r"(?P<kind>(?i:ул\.|улиц[аеуы]\b|пр\.|просп\.|проспект[аеу]?\b|д\.))"
    r"\s*(?P<name>[А-ЯЁ][а-яё]+(?:-[А-ЯЁа-яё][а-яё]+)?)"
)
_PLACE_KIND = {"ул": "ул.", "пр": "пр.", "д.": "д."}


def find_places(text: str) -> list[str]:
    """The places named in a text, normalised («улица Ленина» → «ул. Ленина»), in order."""
    places: list[str] = []
    for m in _PLACE_RE.finditer(text or ""):
        kind = m["kind"].lower()
        prefix = _PLACE_KIND["ул"] if kind.startswith("ул") else (
            _PLACE_KIND["пр"] if kind.startswith("пр") else _PLACE_KIND["д."])
        places.append(f"{prefix} {m['name']}")
    return places


def place_of(address: str) -> str:
    """The place an address counts for among the busiest: settlement and street, no house
    («г. Курск, ул. Школьная, д. 12» → «г. Курск, ул. Школьная»)."""
    return address.split(", д. ")[0]


def _top(counter: Mapping[str, int], n: int = TOP) -> tuple[tuple[str, int], ...]:
    items = [(k, v) for k, v in counter.items() if v > 0]
    items.sort(key=lambda kv: (-kv[1], kv[0].casefold()))
    return tuple(items[:n])


# -- the computation --------------------------------------------------------------------------


def _aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {t!r}")
    return t


def _calendar(policy: Policy, priority: Priority) -> WorkingCalendar:
    # As in workflows.sla: urgent work is counted around the clock (regulation 3.9).
    if priority is Priority.URGENT:
        return WorkingCalendar.always(policy.calendar.tz)
    return policy.calendar


def compute(
    incidents: Iterable[Incident],
    audit: Iterable[AuditEntry],
    answers: Iterable[Answer],
    *,
    start: datetime,
    end: datetime,
    policies_for: Callable[[Incident], Policy],
    categories: Mapping[str, Category],
    departments: Mapping[str, str],
    repeat_ids: Collection[int] = (),
    now: datetime | None = None,
) -> Metrics:
    """The figures of the period ``[start, end)``; see the module docstring for each one.

    Pass every incident registered before ``end`` (at least those of the 30 days before
    ``start`` as well, for the repeats) with its audit rows and answers; anything at or after
    ``end`` is ignored. ``repeat_ids`` are explicit repeats, added to those found by author
    and category. Of the audit rows before ``start`` only these count, so only these need
    be passed (the reports read no more: bot.storage.sqlite._used_before, keep the two in
    step): per incident the last one changing the state, the first ``first_response``, the
    last ``submit``, and every ``redirect``, ``reject``, ``merge`` and ``unmerge``.

    ``now`` is when the report is taken: a deadline not yet answered is missed only when it
    lies before ``min(end, now)`` — an answer due at 17:00 is not late at 09:00 — and until
    then it counts neither as due nor as overdue. Without ``now`` the period is judged at its
    end.
    """
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        raise ValueError(f"the period must end after it starts, got {start} – {end}")
    # The figures keep the period as given; the comparisons below use it in UTC, the zone
    # the storage hands every moment back in: comparing two datetimes of the same tzinfo is
    # a plain comparison, while two zones cost a utcoffset() each (20x slower, and a report
    # makes a million comparisons at a region's volume). Same instants, same results.
    period_start, period_end = start, end
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    horizon = end if now is None else min(end, _aware(now, "now").astimezone(UTC))
    explicit_repeats = set(repeat_ids)
    known = [i for i in incidents if i.registered_at < end]
    by_id = {i.id: i for i in known}
    repeats = find_repeats(known) | explicit_repeats

    history: dict[int, list[AuditEntry]] = defaultdict(list)
    for e in audit:
        if e.ok and e.incident_id is not None and e.at < end and e.incident_id in by_id:
            history[e.incident_id].append(e)
    for entries in history.values():
        entries.sort(key=lambda e: e.at)
    published: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        if a.published_at < end and a.incident_id in by_id:
            published[a.incident_id].append(a)
    for items in published.values():
        items.sort(key=lambda a: a.published_at)

    # The actions as plain strings, local: the loop below compares each audit row's action
    # with them, and an enum member is a slower operand (an attribute lookup and a subclass).
    first_response_action, unmerge_action = str(Action.FIRST_RESPONSE), str(Action.UNMERGE)
    submit_action, return_action = str(Action.SUBMIT), str(Action.RETURN)
    closing_actions = frozenset(str(a) for a in (Action.REDIRECT, Action.REJECT, Action.MERGE))

    def in_period(t: datetime | None) -> bool:
        return t is not None and start <= t < end

    rows: list[IncidentRow] = []
    events: list[WorkEvent] = []
    counted: dict[str, set[int]] = {k: set() for k in ("close", "reopen", "redirect", "reject")}
    submissions = returns = finals = 0
    fr_due = fr_on_time = 0
    answer_hours: list[float] = []
    places: Counter[str] = Counter()

    for inc in sorted(known, key=lambda i: i.id):
        policy = policies_for(inc)
        entries = history.get(inc.id, [])
        items = published.get(inc.id, [])

        state = inc.state
        first_response: datetime | None = None
        closed_off: datetime | None = None
        last_author: int | None = None
        touched = False
        complaints = 0
        for e in entries:
            action, at = e.action, e.at
            if e.to_state is not None:
                state = e.to_state
            if action == first_response_action and first_response is None:
                first_response = at
            # A complaint merged into a problem owes nothing of its own (its lead answers)
            # until it is unmerged.
            if action in closing_actions:
                if closed_off is None:
                    closed_off = at
            elif action == unmerge_action and e.ok:
                closed_off = None
            inside = start <= at < end
            if not inside:
                if action == submit_action:
                    last_author = e.actor_id
                continue
            touched = True
            if action == submit_action:
                last_author = e.actor_id
                submissions += 1
                events.append(WorkEvent("submit", inc.id, at, e.actor_id, inc.department))
            elif action == return_action:
                returns += 1
                events.append(WorkEvent("return", inc.id, at, last_author, inc.department))
            if action in counted:
                counted[action].add(inc.id)
            if action == "repeat":
                complaints += 1
        if first_response is None and inc.first_response_at is not None \
                and inc.first_response_at < end:
            first_response = inc.first_response_at

        first_published = items[0].published_at if items else None
        postponed = False
        for a in items:
            if not in_period(a.published_at):
                continue
            touched = True
            if a.kind is DraftKind.INTERIM:
                postponed = True
            else:
                finals += 1
            author = _author_before(entries, a.published_at)
            events.append(WorkEvent("answer", inc.id, a.published_at, author, inc.department))

        round_start = inc.clock_start if inc.clock_start and inc.clock_start < end \
            else inc.registered_at
        answered_at = next((a.published_at for a in items if a.published_at >= round_start),
                           None)

        def owed(t: datetime, closed_off: datetime | None = closed_off) -> bool:
            return closed_off is None or closed_off > t

        due = inc.answer_due
        on_time: bool | None = None
        due_in_period = overdue = carried = False
        if due is not None:
            if answered_at is not None:
                on_time = answered_at <= due
            elif due < horizon and owed(due):
                on_time = False
            due_in_period = in_period(due) and owed(due) and on_time is not None
            overdue = due_in_period and not on_time
            carried = (due < start and owed(due) and answered_at is None
                       and closed_off is None)

        fr_at = min((t for t in (first_response, first_published) if t is not None),
                    default=None)
        fr_deadline = inc.first_response_due
        fr_ok: bool | None = None
        if fr_deadline is not None:
            if fr_at is not None:
                fr_ok = fr_at <= fr_deadline
            elif fr_deadline < horizon and owed(fr_deadline):
                fr_ok = False
            if in_period(fr_deadline) and owed(fr_deadline) and fr_ok is not None:
                fr_due += 1
                fr_on_time += bool(fr_ok)

        working = None
        if first_published is not None:
            working = _calendar(policy, inc.priority).working_between(
                inc.registered_at, first_published)
            if in_period(first_published):
                answer_hours.append(working / _HOUR)

        new = in_period(inc.registered_at)
        if new:
            places.update({place_of(inc.address)} if inc.address else set(find_places(inc.text)))
        involved = (new or touched or due_in_period or overdue or carried
                    or in_period(fr_deadline) or in_period(due))
        if not involved:
            continue
        rows.append(IncidentRow(
            incident_id=inc.id, registered_at=inc.registered_at, source=inc.source,
            policy=policy.name, priority=inc.priority, category=inc.category,
            department=inc.department, executor_id=inc.executor_id, state=state,
            first_response_due=fr_deadline, first_response_at=fr_at,
            first_response_on_time=fr_ok, first_published_at=first_published,
            answer_due=due, answered_at=answered_at, on_time=on_time,
            working_to_answer=working, registered_in_period=new,
            repeat=new and inc.id in repeats, repeat_complaints=complaints,
            due_in_period=due_in_period,
            overdue=overdue or carried, overdue_carried=carried, postponed=postponed,
        ))

    answers_due = [r for r in rows if r.due_in_period]
    category_names = {k: c.name for k, c in categories.items()}
    return Metrics(
        start=period_start, end=period_end,
        new=sum(r.registered_in_period for r in rows),
        repeat=sum(r.repeat for r in rows),
        repeat_complaints=sum(r.repeat_complaints for r in rows),
        closed=len(counted["close"]),
        overdue=sum(r.overdue for r in rows),
        overdue_carried=sum(r.overdue_carried for r in rows),
        postponed=sum(r.postponed for r in rows),
        reopened=len(counted["reopen"]),
        redirected=len(counted["redirect"]),
        rejected=len(counted["reject"]),
        answered=len({e.incident_id for e in events if e.kind == "answer"}),
        finals_published=finals,
        submissions=submissions,
        returns=returns,
        first_responses_due=fr_due,
        first_responses_on_time=fr_on_time,
        answers_due=len(answers_due),
        answers_on_time=sum(bool(r.on_time) for r in answers_due),
        answer_hours=tuple(sorted(answer_hours)),
        by_category=_breakdown(rows, lambda r: r.category or "",
                               lambda k: category_names.get(k, k) if k else NO_CATEGORY),
        by_block=_breakdown(rows, lambda r: _block(r.category, categories),
                            lambda k: k or NO_CATEGORY),
        by_department=_breakdown(rows, lambda r: r.department or "",
                                 lambda k: departments.get(k, k) if k else NO_DEPARTMENT),
        top_topics=_top(Counter(
            category_names.get(r.category, r.category) if r.category else NO_CATEGORY
            for r in rows if r.registered_in_period)),
        top_places=_top(places),
        rows=tuple(rows),
        events=tuple(sorted(events, key=lambda e: (e.at, e.incident_id))),
        policy_counts=MappingProxyType(dict(Counter(r.policy for r in rows))),
    )


def _author_before(entries: Sequence[AuditEntry], moment: datetime) -> int | None:
    """The author of the last submission at or before ``moment``."""
    author = None
    for e in entries:
        if e.at > moment:
            break
        if e.action == Action.SUBMIT:
            author = e.actor_id
    return author


def _block(category: str | None, categories: Mapping[str, Category]) -> str:
    if category is None:
        return ""
    known = categories.get(category)
    return known.block if known is not None else category


def _breakdown(
    rows: Sequence[IncidentRow],
    key: Callable[[IncidentRow], str],
    name: Callable[[str], str],
) -> tuple[GroupCount, ...]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for r in rows:
        s = sums[key(r)]
        s[0] += r.registered_in_period
        s[1] += r.repeat
        s[2] += r.overdue
        s[3] += r.postponed
        s[4] += r.repeat_complaints
    groups = [GroupCount(k, name(k), *s) for k, s in sums.items() if any(s)]
    groups.sort(key=lambda g: (-g.new, -g.overdue, g.name.casefold()))
    return tuple(groups)


# -- week over week ---------------------------------------------------------------------------

COMPARED: tuple[str, ...] = (
    "new", "repeat", "repeat_complaints", "closed", "overdue", "postponed", "reopened",
    "redirected", "rejected", "answered", "first_response_rate", "answer_rate",
    "median_hours", "p90_hours", "returns_per_submission", "reopen_rate",
)


@dataclass(frozen=True, slots=True)
class Change:
    """A figure now and in the previous period. For rates the delta is in shares (0.05 is
    five percentage points); ``relative`` is delta / previous for counts (None from zero)."""

    key: str
    current: float | None
    previous: float | None

    @property
    def delta(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def relative(self) -> float | None:
        if self.delta is None or not self.previous:
            return None
        return self.delta / self.previous


def compare(current: Metrics, previous: Metrics) -> dict[str, Change]:
    """Each figure of ``COMPARED`` in both periods, keyed by its name."""
    return {k: Change(k, getattr(current, k), getattr(previous, k)) for k in COMPARED}
