"""The SLA ladder: which reminder and escalation pings an incident is owed, and when.

Everything is derived from (incident, policy, start, step, now), so the scheduler needs to keep
only two columns per incident: ``sla_step`` (how many rungs of the ladder are behind us) and
``next_action_at`` (when the next rung is delivered; indexed, the sweep loads the rows with
``next_action_at <= now``). Storage writes the new step, the new ``next_action_at`` and the
pings to the outbox in one transaction, so a restart between two rungs neither repeats nor
loses a ping: a sweep that runs twice at the same time finds the step already advanced.

The ladder of one deadline is a fixed list. Its length and its times depend only on the
inputs of the deadline — ``answer_due``, ``first_response_due``, ``priority``, ``start`` and
the policy — never on which of the owed states the incident is in: a stored step keeps its
meaning when the executor takes the incident, submits a draft or gets it returned. A rung that
nobody owes in the current state (a reminder while the draft is on review, the first-response
ping once the primary answer is out) gets an empty audience and is passed over silently when it
comes due; the step still advances past it.

The caller resets ``sla_step`` whenever the ladder's inputs change (``ladder_changed``): a new
or moved deadline, a new priority, the clock restarting after an interim answer's wait. Step 0
replays the new ladder from its beginning, so the reminders and the first-response ping whose
moments are already past are caught up at once (collapsed into one reminder);
``restart_step`` skips exactly those, and keeps everything from the new deadline on.
A reassignment to another executor with the same deadline keeps the step: the rungs still to
come go to the new executor, the ones already sent are not repeated. Changing a policy's
reminder points or escalation while incidents are under way shifts the positions of their
rungs: reset their steps with ``restart_step`` when the configuration changes.

The caller's part, in short:

- after registration and after every transition, in the same transaction: if
  ``ladder_changed(before, after)``, ``step = restart_step(after, policy, now=now)`` (or 0);
  then store ``step`` and ``next_action(after, policy, step=step)`` — also without a reset,
  since a state leaving or re-entering the owed states ends or resumes the ladder;
- in the sweep, for each incident with ``next_action_at <= now``:
  ``d = due(incident, policy, step=step, now=now)``, then enqueue ``d.pings`` and store
  ``d.step`` and ``d.next_action_at`` in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from workflows.calendar import WorkingCalendar
from workflows.model import Button, Incident, Notification, Priority, State
from workflows.sla import Policy, escalation_time, reminder_times
from workflows.transitions import COORDINATORS, CURATORS, block_owners_of

__all__ = [
    "OWED",
    "Due",
    "Rung",
    "deliver_at",
    "due",
    "ladder",
    "ladder_changed",
    "next_action",
    "restart_step",
]

Audience = tuple[int | str, ...]

# States in which somebody still owes the answer (``State.answer_owed``).
OWED = frozenset(s for s in State if s.answer_owed)
# Rungs pressed by the executor; several due at once collapse into the latest.
_EXECUTOR_KINDS = frozenset({"reminder", "deadline"})
# Order of rungs falling on the same moment.
_RANK = {"first_response": 0, "reminder": 1, "deadline": 2, "overdue": 3, "escalation": 4}
_TEMPLATES = {kind: f"sla_{kind}" for kind in _RANK}


@dataclass(frozen=True, slots=True)
class Rung:
    """One ping of the ladder.

    ``audience`` is empty when nobody owes this rung in the incident's current state: it is
    then skipped, not delayed.
    """

    kind: str  # "first_response" | "reminder" | "deadline" | "overdue" | "escalation"
    at: datetime  # when it becomes due (UTC), before any wait for working hours
    audience: Audience
    template: str


@dataclass(frozen=True, slots=True)
class Due:
    """The outcome of one sweep for one incident: what to send and what to store."""

    pings: tuple[Notification, ...]
    step: int  # the new sla_step
    next_action_at: datetime | None  # delivery time of the next rung; None: nothing left


def _as_utc(t: datetime) -> datetime:
    """``t`` in UTC; a naive time is refused (it would be read in the machine's zone)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {t!r}")
    return t.astimezone(UTC)


def _working_calendar(policy: Policy, priority: Priority) -> WorkingCalendar:
    # Urgent work runs around the clock (regulation 3.9), as in workflows.sla.
    if priority is Priority.URGENT:
        return WorkingCalendar.always(policy.calendar.tz)
    return policy.calendar


def _audience(kind: str, incident: Incident) -> Audience:
    state = incident.state
    if kind in _EXECUTOR_KINDS:
        if state.executor_owes and incident.executor_id is not None:
            return (incident.executor_id,)
        return ()
    if kind == "first_response":
        # Owed until the coordinator marks the primary answer published.
        return (COORDINATORS,) if incident.first_response_at is None else ()
    if kind == "overdue":
        return (COORDINATORS,)
    # escalation: the owners of the department's block, then the curators.
    if incident.department:
        return (block_owners_of(incident.department), CURATORS)
    return (CURATORS,)


def _start(incident: Incident, start: datetime | None) -> datetime:
    return _as_utc(start or incident.clock_start or incident.registered_at)


def ladder(incident: Incident, policy: Policy, *, start: datetime | None = None) -> list[Rung]:
    """All rungs for the incident's current deadline, in time order.

    ``start`` is when the clock started: registration, or the end of an interim answer's wait
    (by default the incident's ``clock_start``, else its registration).
    Reminders to the executor at the policy's points before the deadline, the deadline ping to
    the executor, the overdue ping to the coordinators at the deadline, and the escalation to
    the department's block owners and the curators at ``escalation_time``. When
    ``first_response_due`` lies at or after ``start``, a first-response ping to the
    coordinators comes at that moment.

    Empty when nobody owes an answer (waiting, awaiting feedback, closed, redirected,
    rejected) or when there is no answer deadline.
    """
    deadline = incident.answer_due
    if incident.state not in OWED or deadline is None:
        return []
    start, deadline = _start(incident, start), _as_utc(deadline)
    priority = Priority(incident.priority)
    points: list[tuple[str, datetime]] = []
    first = incident.first_response_due
    if first is not None and _as_utc(first) >= start:
        points.append(("first_response", _as_utc(first)))
        if policy.acceptance:  # the acceptance «в работу» is reminded at half its time too
            half = start + (_as_utc(first) - start) / 2
            if start < half < _as_utc(first):
                points.append(("first_response", half))
    for point in reminder_times(policy, start, deadline, priority=priority):
        points.append(("reminder" if point < deadline else "deadline", point))
    points.append(("overdue", deadline))
    escalation = escalation_time(policy, deadline, priority=priority)
    if escalation is not None:
        points.append(("escalation", escalation))
    points.sort(key=lambda p: (p[1], _RANK[p[0]]))
    return [Rung(kind, at, _audience(kind, incident), _TEMPLATES[kind]) for kind, at in points]


def deliver_at(rung: Rung, incident: Incident, calendar: WorkingCalendar) -> datetime:
    """When the rung is sent: at once for urgent incidents, whatever the hour; otherwise at
    the first working moment at or after it is due (a 20:00 reminder goes out at 08:00 of the
    next working day).

    Monotone in ``rung.at``, so the delivery times of a ladder are in the ladder's order.
    """
    if Priority(incident.priority) is Priority.URGENT:
        return rung.at
    return calendar.next_working_moment(rung.at)


def next_action(
    incident: Incident, policy: Policy, *, start: datetime | None = None, step: int
) -> datetime | None:
    """The delivery time of the rung at ``step`` (None: no rung left). What to store as
    ``next_action_at`` after a transition or a reset, without sending anything."""
    _check_step(step)
    rungs = ladder(incident, policy, start=start)
    if step >= len(rungs):
        return None
    return deliver_at(rungs[step], incident, policy.calendar)


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"an SLA step cannot be negative, got {step}")


def _late_by(rung: Rung, incident: Incident, policy: Policy, now: datetime) -> timedelta | None:
    if rung.kind not in {"overdue", "escalation"} or incident.answer_due is None:
        return None
    calendar = _working_calendar(policy, Priority(incident.priority))
    return max(calendar.working_between(_as_utc(incident.answer_due), now), timedelta(0))


def _buttons(incident: Incident, to: int | str) -> tuple[tuple[Button, ...], ...]:
    n = incident.id
    if isinstance(to, int):  # the executor: act on it, or look at it
        act = "take" if incident.state.awaits_take else "answer"
        return ((Button(act, n), Button("show", n)),)
    return ((Button("show", n), Button("remind", n)),)


def due(
    incident: Incident,
    policy: Policy,
    *,
    start: datetime | None = None,
    step: int,
    now: datetime,
) -> Due:
    """The pings due at ``now`` for an incident whose first ``step`` rungs are behind it.

    Every rung from ``step`` on whose delivery time is at or before ``now`` is handled now, in
    order — several at once after an outage. Executor reminders due together collapse into
    the latest of them (a late "half the time is gone" next to "the deadline is now" says
    nothing new); the step still advances past all of them. Rungs with an empty audience are
    passed over. Running the same sweep again with the returned step sends nothing.

    Each ping's context holds ``kind``, ``deadline`` (the answer deadline), ``due_at`` (when
    the rung fell due), ``late_by`` (working time past the deadline for overdue and
    escalation pings, else None) and ``step`` (the rung's index in the ladder, a natural
    idempotency key together with the incident and the deadline).
    """
    _check_step(step)
    now = _as_utc(now)
    rungs = ladder(incident, policy, start=start)
    calendar = policy.calendar
    batch: list[tuple[int, Rung]] = []
    new_step = step
    while new_step < len(rungs) and deliver_at(rungs[new_step], incident, calendar) <= now:
        if rungs[new_step].audience:
            batch.append((new_step, rungs[new_step]))
        new_step += 1
    last_executor = max((i for i, r in batch if r.kind in _EXECUTOR_KINDS), default=None)
    pings: list[Notification] = []
    for index, rung in batch:
        if rung.kind in _EXECUTOR_KINDS and index != last_executor:
            continue
        context: dict[str, object] = {
            "kind": rung.kind,
            "deadline": incident.answer_due,
            "due_at": rung.at,
            "late_by": _late_by(rung, incident, policy, now),
            "step": index,
        }
        for to in rung.audience:
            pings.append(Notification(to, rung.template, dict(context), _buttons(incident, to)))
    following = deliver_at(rungs[new_step], incident, calendar) if new_step < len(rungs) else None
    return Due(tuple(pings), new_step, following)


def ladder_changed(before: Incident, after: Incident) -> bool:
    """Whether a transition from ``before`` to ``after`` gives a new ladder, so that the
    caller must reset ``sla_step`` (to 0 or to ``restart_step``).

    A new executor alone does not: the remaining rungs simply go to the new one. Nor does a
    change of state or a published first response: they only change who a rung is owed to.
    A caller passing its own ``start`` compares that itself.
    """
    return (
        before.answer_due != after.answer_due
        or before.first_response_due != after.first_response_due
        or before.priority != after.priority
        or before.clock_start != after.clock_start
    )


def restart_step(
    incident: Incident, policy: Policy, *, start: datetime | None = None, now: datetime
) -> int:
    """The step to store when the ladder is rebuilt at ``now`` (see ``ladder_changed``).

    Skips the leading first-response and reminder rungs whose delivery time is already past:
    they belong to the time before the change and would only be caught up as stale pings.
    Never skips the deadline, overdue or escalation rungs, even of a deadline set in the past.
    """
    now = _as_utc(now)
    step = 0
    for rung in ladder(incident, policy, start=start):
        if rung.kind not in {"first_response", "reminder"}:
            break
        if deliver_at(rung, incident, policy.calendar) > now:
            break
        step += 1
    return step
