"""Every change of an incident's state, as pure functions.

Each transition takes the current incident, the actor (``None`` for Otklik itself: routing,
timers, publishers) and the time, checks the guard — role, assignment, state, the version of
the card the actor pressed — and returns an :class:`Outcome`: the new incident, its audit row
and the notifications to send. A refused transition raises :class:`Refused`, which carries the
audit row of the refusal so that storage can log it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from workflows.model import (
    AuditEntry,
    Button,
    Draft,
    DraftKind,
    Incident,
    Notification,
    Person,
    Priority,
    Role,
    State,
)

COORDINATORS = "coordinators"
CURATORS = "curators"

# States in which an executor holds the incident.
HELD = frozenset({State.ASSIGNED, State.IN_PROGRESS, State.ON_REVIEW, State.REOPENED})
OPEN = frozenset(s for s in State if s.is_open)


@dataclass(frozen=True, slots=True)
class Outcome:
    incident: Incident
    audit: AuditEntry
    notifications: tuple[Notification, ...] = ()


class Refused(Exception):
    """The actor may not do this now. ``code`` picks the explanation shown to them."""

    def __init__(self, code: str, audit: AuditEntry, detail: str = "") -> None:
        super().__init__(f"{audit.action} refused: {code} {detail}".strip())
        self.code = code
        self.audit = audit
        self.detail = detail


def block_owners(block: str) -> str:
    return f"block_owners:{block}"


def card_buttons(incident: Incident) -> tuple[tuple[Button, ...], ...]:
    """The executor's buttons on an incident card."""
    return (
        (Button("take", incident.id), Button("decline", incident.id)),
    )


RESULT_STATUSES = ("resolved", "explained")  # Кузбасс-онлайн 3.11.7: «решено», «разъяснено»


def review_buttons(incident: Incident, *, statuses: bool = False
                   ) -> tuple[tuple[Button, ...], ...]:
    """The coordinator's buttons on a draft. ``statuses``: the final answer carries a result
    status, chosen with the approval. An answer about a redirection is approved (or edited)
    only: there is nobody to return it to."""
    n = incident.id
    if incident.redirected_to:
        return ((Button("approve", n), Button("edit_approve", n)),)
    if statuses:
        return (
            tuple(Button("approve", n, s) for s in RESULT_STATUSES),
            tuple(Button("edit_approve", n, s) for s in RESULT_STATUSES),
            (Button("return", n), Button("reassign", n)),
        )
    return (
        (Button("approve", n), Button("return", n)),
        (Button("edit_approve", n), Button("reassign", n)),
    )


def triage_buttons(incident: Incident) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button("reassign", incident.id),),
        (Button("redirect", incident.id), Button("reject", incident.id)),
    )


def actions_for(incident: Incident, person: Person, *, statuses: bool = False,
                source_fixed: bool = False) -> tuple[tuple[Button, ...], ...]:
    """The buttons a person gets on an incident's detail view, by role and state
    (``statuses``: a final answer needs a result status; ``source_fixed``: the incident was
    found by a source, whose key stays, and whose category, the detection's guess, the
    coordinator may correct)."""
    rows: list[tuple[Button, ...]] = []
    n, state = incident.id, incident.state
    if person.has(Role.EXECUTOR) and incident.executor_id == person.id:
        if state in {State.ASSIGNED, State.REOPENED}:
            rows += card_buttons(incident)
        elif state is State.IN_PROGRESS:
            rows.append((Button("answer", n),))
    if person.has(Role.COORDINATOR):
        if state is State.ON_REVIEW:
            rows += review_buttons(incident, statuses=statuses)
        elif state is State.APPROVED:
            rows.append((Button("published", n),))
        elif state is State.AWAITING_FEEDBACK:
            rows.append((Button("close", n), Button("reopen", n)))
        elif state is State.NEW:
            rows += triage_buttons(incident)
        elif state in HELD | {State.WAITING}:
            rows.append((Button("reassign", n), Button("redirect", n)))
        if state in HELD | {State.NEW, State.WAITING}:
            flip = "normal" if incident.priority is Priority.FAST_TRACK else "fast_track"
            rows.append((Button("priority", n, flip), Button("urgent", n)))
            rows.append((Button("extend", n), Button("due", n)))
            rows.append(((Button("source", n),) if not source_fixed else (Button("recat", n),))
                        + (Button("policy", n),))
        if incident.first_response_at is None and state in HELD | {State.NEW}:
            rows.append((Button("first_response", n),))
    oversees = any(person.has(r) for r in (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER))
    if oversees and incident.executor_id is not None and state in HELD:
        rows.append((Button("remind", n),))
    return tuple(rows)


def _guard(
    incident: Incident,
    actor: Person | None,
    action: str,
    now: datetime,
    *,
    states: Collection[State],
    role: Role | None = None,
    assigned: bool = False,
    version: int | None = None,
) -> None:
    def refuse(code: str, detail: str = "") -> Refused:
        audit = AuditEntry(
            incident.id, actor.id if actor else None, action, incident.state, None, now,
            reason=code if not detail else f"{code}: {detail}", ok=False,
        )
        return Refused(code, audit, detail)

    if actor is not None:
        if not actor.active or (role is not None and not actor.has(role)):
            raise refuse("wrong_role")
        if assigned and incident.executor_id != actor.id:
            raise refuse("not_assigned")
    if version is not None and version != incident.version:
        raise refuse("stale")
    if incident.state not in states:
        raise refuse("wrong_state", incident.state.value)


def _outcome(
    incident: Incident,
    actor: Person | None,
    action: str,
    now: datetime,
    new: Incident,
    notifications: Sequence[Notification] = (),
    reason: str | None = None,
) -> Outcome:
    # Cards carry the version: it moves when the state or the executor does, so that a press
    # on a card from an earlier round is caught, while a deadline or a reminder leaves the
    # cards people hold valid.
    moved = (new.state, new.executor_id) != (incident.state, incident.executor_id)
    new = replace(new, version=incident.version + 1 if moved else incident.version)
    audit = AuditEntry(
        incident.id, actor.id if actor else None, action, incident.state, new.state, now, reason
    )
    return Outcome(new, audit, tuple(notifications))


def _require_text(incident: Incident, actor: Person | None, action: str, now: datetime,
                  text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        audit = AuditEntry(incident.id, actor.id if actor else None, action, incident.state,
                           None, now, reason="empty_reason", ok=False)
        raise Refused("empty_reason", audit)
    return text


def register(
    incident_id: int,
    *,
    source: str,
    text: str,
    category: str | None,
    department: str | None,
    priority: Priority,
    now: datetime,
    actor: Person | None,
    url: str | None = None,
    author: str | None = None,
    first_response_due: datetime | None = None,
    answer_due: datetime | None = None,
    subcategory: str | None = None,
) -> Outcome:
    """A new incident, found by a source or registered by a coordinator."""
    actor_id = actor.id if actor else None
    if actor is not None and not actor.has(Role.COORDINATOR):
        audit = AuditEntry(incident_id, actor_id, "register", None, None, now,
                           reason="wrong_role", ok=False)
        raise Refused("wrong_role", audit)
    incident = Incident(
        id=incident_id, state=State.NEW, source=source, text=text, category=category,
        department=department, executor_id=None, priority=priority, registered_at=now,
        url=url, author=author, first_response_due=first_response_due, answer_due=answer_due,
        subcategory=subcategory,
    )
    return Outcome(incident, AuditEntry(incident_id, actor_id, "register", None, State.NEW, now))


def assign(incident: Incident, actor: Person | None, executor: Person, now: datetime, *,
           version: int | None = None) -> Outcome:
    """Give a new (or declined) incident to an executor: automatic routing or the coordinator."""
    _guard(incident, actor, "assign", now, states={State.NEW}, role=Role.COORDINATOR,
           version=version)
    return _give(incident, actor, "assign", executor, now)


def reassign(incident: Incident, actor: Person, executor: Person, now: datetime, *,
             version: int | None = None) -> Outcome:
    """Move the incident to another executor, whatever stage the work is at."""
    _guard(incident, actor, "reassign", now, states=HELD | {State.NEW, State.WAITING},
           role=Role.COORDINATOR, version=version)
    if executor.id == incident.executor_id:
        audit = AuditEntry(incident.id, actor.id, "reassign", incident.state, None, now,
                           reason="same_executor", ok=False)
        raise Refused("same_executor", audit)
    return _give(incident, actor, "reassign", executor, now)


def _give(incident: Incident, actor: Person | None, action: str, executor: Person,
          now: datetime) -> Outcome:
    if not executor.has(Role.EXECUTOR):
        audit = AuditEntry(incident.id, actor.id if actor else None, action, incident.state,
                           None, now, reason="not_an_executor", ok=False)
        raise Refused("not_an_executor", audit)
    # (a redirection still on review is called off: the incident is worked on again)
    new = replace(incident, state=State.ASSIGNED, executor_id=executor.id, redirected_to=None)
    notes = [Notification(executor.id, "card", {"reassigned": action == "reassign"},
                          card_buttons(new), attach="incident")]
    if incident.executor_id is not None and incident.executor_id != executor.id:
        notes.append(Notification(incident.executor_id, "taken_away",
                                  {"new_executor": executor.name}))
    return _outcome(incident, actor, action, now, new, notes, reason=executor.name)


def take(incident: Incident, actor: Person, now: datetime, *,
         version: int | None = None) -> Outcome:
    _guard(incident, actor, "take", now, states={State.ASSIGNED, State.REOPENED},
           role=Role.EXECUTOR, assigned=True, version=version)
    new = replace(incident, state=State.IN_PROGRESS)
    return _outcome(incident, actor, "take", now, new,
                    [Notification(COORDINATORS, "taken", {"executor": actor.name})])


def decline(incident: Incident, actor: Person, reason: str, now: datetime, *,
            version: int | None = None) -> Outcome:
    """«Не наша компетенция»: back to the coordinator with the executor's reason."""
    _guard(incident, actor, "decline", now, states={State.ASSIGNED, State.REOPENED},
           role=Role.EXECUTOR, assigned=True, version=version)
    reason = _require_text(incident, actor, "decline", now, reason)
    new = replace(incident, state=State.NEW, executor_id=None)
    note = Notification(COORDINATORS, "declined", {"executor": actor.name, "reason": reason},
                        triage_buttons(new))
    return _outcome(incident, actor, "decline", now, new, [note], reason=reason)


def submit(incident: Incident, actor: Person, draft: Draft, now: datetime, *,
           statuses: bool = False) -> Outcome:
    """The executor sends the draft answer for approval (``statuses``: the policy wants a
    result status with a final answer, chosen on approval)."""
    _guard(incident, actor, "submit", now, states={State.IN_PROGRESS}, role=Role.EXECUTOR,
           assigned=True)
    _require_text(incident, actor, "submit", now, draft.text)
    new = replace(incident, state=State.ON_REVIEW)
    note = Notification(COORDINATORS, "review", {"executor": actor.name, "kind": draft.kind.value},
                        review_buttons(new, statuses=statuses
                                       and draft.kind is DraftKind.FINAL), attach="draft")
    return _outcome(incident, actor, "submit", now, new, [note], reason=draft.kind.value)


def approve(incident: Incident, actor: Person, draft: Draft, now: datetime, *,
            edited_text: str | None = None, version: int | None = None,
            auto_publish: bool = False, result_status: str | None = None,
            statuses: bool = False, role: Role = Role.COORDINATOR) -> Outcome:
    """Approve the draft, optionally with the coordinator's own wording. Where no publisher
    posts the answer automatically, the coordinator gets the package to publish by hand.

    ``statuses``: a final answer needs its result status («решено» / «разъяснено»), given as
    ``result_status``; it is kept on the incident. ``role``: who gives the final approval
    (the last step of the policy's chain)."""
    action = "approve" if edited_text is None else "edit_approve"
    _guard(incident, actor, action, now, states={State.ON_REVIEW}, role=role,
           version=version)
    needs_status = statuses and draft.kind is DraftKind.FINAL and not incident.redirected_to
    if result_status is not None and result_status not in RESULT_STATUSES or (
            needs_status and result_status is None):
        audit = AuditEntry(incident.id, actor.id, action, incident.state, None, now,
                           reason="status_required", ok=False)
        raise Refused("status_required", audit)
    text = draft.text
    if edited_text is not None:
        text = _require_text(incident, actor, action, now, edited_text)
    new = replace(incident, state=State.APPROVED, approved_text=text, approved_kind=draft.kind,
                  result_status=result_status if needs_status else incident.result_status)
    notes = [
        Notification(incident.executor_id, "approved", {"edited": edited_text is not None})
        if incident.executor_id is not None and not incident.redirected_to else None,
        Notification(actor.id, "publishing", {}) if auto_publish else
        Notification(actor.id, "publish_package", {"text": text},
                     ((Button("published", new.id),),), attach="draft"),
    ]
    return _outcome(incident, actor, action, now, new, [n for n in notes if n],
                    reason=new.result_status if needs_status else None)


def return_draft(incident: Incident, actor: Person, reason: str, now: datetime, *,
                 version: int | None = None, role: Role = Role.COORDINATOR) -> Outcome:
    """«На доработку»: the reason reaches the executor word for word. ``role``: whose step
    of the approval chain it is."""
    _guard(incident, actor, "return", now, states={State.ON_REVIEW}, role=role,
           version=version)
    reason = _require_text(incident, actor, "return", now, reason)
    new = replace(incident, state=State.IN_PROGRESS, redirected_to=None)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "returned", {"reason": reason},
                                  ((Button("answer", incident.id),),)))
    return _outcome(incident, actor, "return", now, new, notes, reason=reason)


def set_priority(incident: Incident, actor: Person, priority: Priority, now: datetime, *,
                 answer_due: datetime | None, first_response_due: datetime | None = None
                 ) -> Outcome:
    """Change the priority; the caller computes the deadlines that follow from it."""
    _guard(incident, actor, "set_priority", now, states=OPEN, role=Role.COORDINATOR)
    new = replace(incident, priority=priority, answer_due=answer_due,
                  first_response_due=first_response_due or incident.first_response_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "priority_changed", {}))
    return _outcome(incident, actor, "set_priority", now, new, notes, reason=priority.value)


def mark_published(incident: Incident, actor: Person | None, now: datetime, *,
                   version: int | None = None, promised_at: datetime | None = None,
                   feedback_window: timedelta = timedelta(days=2)) -> Outcome:
    """The approved answer is out: a final answer awaits the resident's reaction for the
    feedback window, an interim one waits for the promised date."""
    _guard(incident, actor, "publish", now, states={State.APPROVED}, role=Role.COORDINATOR,
           version=version)
    interim = incident.approved_kind is DraftKind.INTERIM
    if incident.redirected_to:  # the resident is told where the message went: done
        new = replace(incident, state=State.REDIRECTED)
        return _outcome(incident, actor, "publish", now, new)
    new = replace(incident, state=State.WAITING if interim else State.AWAITING_FEEDBACK,
                  promised_at=promised_at if interim else None,
                  feedback_until=None if interim else now + feedback_window)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "published", {"interim": interim}))
    return _outcome(incident, actor, "publish", now, new, notes)


def redirect(incident: Incident, actor: Person, to: str, note: str, now: datetime, *,
             version: int | None = None, answer: bool = False) -> Outcome:
    """Hand the incident over to another body (not a municipal matter), with a note.

    ``answer``: the resident is told where the message went (the caller saves that answer
    as the draft): the incident goes on review to the coordinator, and is redirected once the
    answer is approved and published (:func:`mark_published`)."""
    _guard(incident, actor, "redirect", now, states=OPEN - {State.APPROVED},
           role=Role.COORDINATOR, version=version)
    to = _require_text(incident, actor, "redirect", now, to)
    state = State.ON_REVIEW if answer else State.REDIRECTED
    new = replace(incident, state=state, redirected_to=to)
    ctx = {"to": to, "note": note}
    notes = [Notification(CURATORS, "redirected", ctx)]
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "redirected", ctx))
    if answer:
        notes.append(Notification(actor.id, "review",
                                  {"executor": actor.name, "kind": "final", "redirect": to},
                                  review_buttons(new), attach="draft"))
    return _outcome(incident, actor, "redirect", now, new, notes,
                    reason=f"{to}: {note}" if note else to)


def reject(incident: Incident, actor: Person, reason: str, now: datetime, *,
           version: int | None = None) -> Outcome:
    """Not an incident (spam, flood, no question to answer)."""
    _guard(incident, actor, "reject", now, states={State.NEW, State.ASSIGNED, State.REOPENED},
           role=Role.COORDINATOR, version=version)
    reason = _require_text(incident, actor, "reject", now, reason)
    new = replace(incident, state=State.REJECTED)
    notes = [Notification(CURATORS, "rejected", {"reason": reason})]
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "rejected", {"reason": reason}))
    return _outcome(incident, actor, "reject", now, new, notes, reason=reason)


def reopen(incident: Incident, actor: Person | None, reason: str, now: datetime, *,
           version: int | None = None) -> Outcome:
    """The resident is not satisfied: the incident goes back to the same executor."""
    _guard(incident, actor, "reopen", now, states={State.AWAITING_FEEDBACK, State.CLOSED},
           role=Role.COORDINATOR, version=version)
    reason = _require_text(incident, actor, "reopen", now, reason)
    if incident.executor_id is None:
        new = replace(incident, state=State.NEW, approved_text=None, approved_kind=None)
        notes = [Notification(COORDINATORS, "reopened", {"reason": reason})]
    else:
        new = replace(incident, state=State.REOPENED, approved_text=None, approved_kind=None)
        notes = [
            Notification(incident.executor_id, "reopened", {"reason": reason},
                         card_buttons(new)),
            Notification(COORDINATORS, "reopened", {"reason": reason}),
        ]
    return _outcome(incident, actor, "reopen", now, new, notes, reason=reason)


def close(incident: Incident, actor: Person | None, now: datetime, *,
          version: int | None = None) -> Outcome:
    _guard(incident, actor, "close", now, states={State.AWAITING_FEEDBACK},
           role=Role.COORDINATOR, version=version)
    new = replace(incident, state=State.CLOSED)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "closed", {}))
    return _outcome(incident, actor, "close", now, new, notes)


def resume(incident: Incident, actor: Person | None, now: datetime, *,
           answer_due: datetime | None = None) -> Outcome:
    """The promised date of an interim answer has come: the final answer is due, and the
    answer clock starts again."""
    _guard(incident, actor, "resume", now, states={State.WAITING}, role=Role.COORDINATOR)
    new = replace(incident, state=State.IN_PROGRESS, approved_text=None, approved_kind=None,
                  promised_at=None, clock_start=now,
                  answer_due=answer_due or incident.answer_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "final_due", {},
                                  ((Button("answer", incident.id),),)))
    return _outcome(incident, actor, "resume", now, new, notes)


def first_response(incident: Incident, actor: Person, now: datetime) -> Outcome:
    """The primary answer that names the deadline is published: the first-response clock
    stops. The state does not change."""
    _guard(incident, actor, "first_response", now, states=OPEN - {State.REDIRECTED},
           role=Role.COORDINATOR)
    if incident.first_response_at is not None:
        audit = AuditEntry(incident.id, actor.id, "first_response", incident.state, None, now,
                           reason="already_done", ok=False)
        raise Refused("already_done", audit)
    new = replace(incident, first_response_at=now)
    return _outcome(incident, actor, "first_response", now, new)


def extend(incident: Incident, actor: Person, answer_due: datetime, reason: str,
           now: datetime) -> Outcome:
    """Move the answer deadline, with a reason (audited); the executor is told."""
    _guard(incident, actor, "extend", now, states=OPEN, role=Role.COORDINATOR)
    reason = _require_text(incident, actor, "extend", now, reason)
    if answer_due <= now:
        audit = AuditEntry(incident.id, actor.id, "extend", incident.state, None, now,
                           reason="deadline_in_past", ok=False)
        raise Refused("deadline_in_past", audit)
    new = replace(incident, answer_due=answer_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "deadline_extended", {"reason": reason}))
    return _outcome(incident, actor, "extend", now, new, notes, reason=reason)


def remind(incident: Incident, actor: Person, now: datetime) -> Outcome:
    """Someone who oversees the incident nudges its executor. The state does not change."""
    if not (actor.has(Role.COORDINATOR) or actor.has(Role.CURATOR)
            or actor.has(Role.BLOCK_OWNER)):
        audit = AuditEntry(incident.id, actor.id, "remind", incident.state, None, now,
                           reason="wrong_role", ok=False)
        raise Refused("wrong_role", audit)
    _guard(incident, actor, "remind", now, states=HELD)
    buttons = (card_buttons(incident) if incident.state in {State.ASSIGNED, State.REOPENED}
               else ((Button("answer", incident.id),),))
    notes = [Notification(incident.executor_id, "reminded", {"who": actor.name}, buttons)
             ] if incident.executor_id is not None else []
    return _outcome(incident, actor, "remind", now, incident, notes)


def platform_due(incident: Incident, actor: Person, answer_due: datetime, now: datetime
                 ) -> Outcome:
    """The platform's own deadline (ПОС sets it itself, ЦУР may change the one of «Инцидент
    Менеджмент»), typed by the coordinator: it replaces the answer deadline (audited); the
    executor is told."""
    _guard(incident, actor, "platform_due", now, states=OPEN, role=Role.COORDINATOR)
    if answer_due <= now:
        audit = AuditEntry(incident.id, actor.id, "platform_due", incident.state, None, now,
                           reason="deadline_in_past", ok=False)
        raise Refused("deadline_in_past", audit)
    new = replace(incident, answer_due=answer_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "deadline_changed", {}))
    return _outcome(incident, actor, "platform_due", now, new, notes,
                    reason=answer_due.isoformat())


def reclock(incident: Incident, actor: Person, now: datetime, *, source: str | None = None,
            policy: str | None = None, answer_due: datetime | None,
            first_response_due: datetime | None) -> Outcome:
    """The coordinator changes the source (``source``) or the deadline policy (``policy``) of
    an incident; the caller computes the deadlines that follow. Audited as ``source`` or
    ``policy`` with the new value; the executor is told the new deadline."""
    action = "source" if source is not None else "policy"
    _guard(incident, actor, action, now, states=OPEN, role=Role.COORDINATOR)
    value = source if source is not None else policy
    if not value or value == (incident.source if source is not None else incident.policy):
        audit = AuditEntry(incident.id, actor.id, action, incident.state, None, now,
                           reason="unchanged", ok=False)
        raise Refused("unchanged", audit)
    new = replace(incident, source=source or incident.source,
                  policy=policy if policy is not None else incident.policy,
                  answer_due=answer_due, first_response_due=first_response_due)
    notes = []
    if incident.executor_id is not None and new.answer_due != incident.answer_due:
        notes.append(Notification(incident.executor_id, "deadline_changed", {}))
    return _outcome(incident, actor, action, now, new, notes, reason=value)


def recategorize(incident: Incident, actor: Person, category: str, department: str | None,
                 now: datetime) -> Outcome:
    """The coordinator corrects the category of an incident (one a source found: the
    detection's guess); the department follows the category, as at registration. Audited as
    ``category`` with the new key; the caller re-routes when the department changed."""
    _guard(incident, actor, "category", now, states=HELD | {State.NEW, State.WAITING},
           role=Role.COORDINATOR)
    if category == incident.category:
        audit = AuditEntry(incident.id, actor.id, "category", incident.state, None, now,
                           reason="unchanged", ok=False)
        raise Refused("unchanged", audit)
    new = replace(incident, category=category, department=department, subcategory=None)
    return _outcome(incident, actor, "category", now, new, reason=category)
