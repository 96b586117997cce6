"""Every change of an incident's state, as pure functions.

Each transition takes the current incident, the actor (``None`` for Otklik itself: routing,
timers, publishers) and the time, checks the guard — role, assignment, state, the version of
the card the actor pressed — and returns an :class:`Outcome`: the new incident, its audit row
and the notifications to send. A refused transition raises :class:`Refused`, which carries the
audit row of the refusal so that storage can log it.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from workflows.regulation import BUTTONS, Action, offered, refusal

COORDINATORS = "coordinators"
CURATORS = "curators"


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


def block_owners_of(department: str) -> str:
    """The audience of the block owners whose block holds ``department`` (a department key)."""
    return f"block_owners_of:{department}"


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
    """The buttons a person gets on an incident's detail view: the actions the regulation
    (``workflows.regulation``) allows them now, laid out by kind (``statuses``: a final
    answer needs a result status; ``source_fixed``: the incident was found by a source, whose
    key stays; its category, the detection's guess, is corrected with «Категория»)."""
    may = offered(incident, person) - ({Action.SOURCE} if source_fixed else set())
    n = incident.id
    rows: list[tuple[Button, ...]] = []
    placed: set[str] = set()

    def row(*buttons: Button) -> None:
        kept = tuple(b for b in buttons if b.action not in placed
                     and BUTTONS[b.action] in may)
        if kept:
            rows.append(kept)
            placed.update(b.action for b in kept)

    row(Button("take", n), Button("decline", n))
    row(Button("answer", n))
    if Action.APPROVE in may:
        review = review_buttons(incident, statuses=statuses)
        rows += review
        placed.update(b.action for r in review for b in r)
    row(Button("published", n))
    row(Button("close", n), Button("reopen", n))
    if Action.REJECT in may:  # triage: whose it is, or whether it is an incident at all
        row(Button("reassign", n))
        row(Button("redirect", n), Button("reject", n))
    row(Button("reassign", n), Button("redirect", n))
    flip = "normal" if incident.priority is Priority.FAST_TRACK else "fast_track"
    row(Button("priority", n, flip), Button("urgent", n))
    row(Button("extend", n), Button("due", n))
    row(Button("source", n), Button("recat", n), Button("policy", n))
    row(Button("first_response", n))
    row(Button("remind", n))
    row(Button("unmerge", n))
    return tuple(rows)


def guard(
    incident: Incident,
    actor: Person | None,
    action: Action,
    now: datetime,
    *,
    version: int | None = None,
    role: Role | None = None,
) -> None:
    """Refuse ``action`` unless the regulation allows it to ``actor`` now (``role``: who
    stands at this step of an approval chain)."""
    code = refusal(action, incident, actor, version=version, role=role)
    if code:
        detail = incident.state.value if code == "wrong_state" else ""
        audit = AuditEntry(
            incident.id, actor.id if actor else None, action, incident.state, None, now,
            reason=code if not detail else f"{code}: {detail}", ok=False,
        )
        raise Refused(code, audit, detail)


def _outcome(
    incident: Incident,
    actor: Person | None,
    action: Action,
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


# The outcome of a transition defined outside this module (workflows.problems).
transit = _outcome


def _require_text(incident: Incident, actor: Person | None, action: Action, now: datetime,
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
    guard(incident, actor, Action.ASSIGN, now, version=version)
    return _give(incident, actor, Action.ASSIGN, executor, now)


def reassign(incident: Incident, actor: Person, executor: Person, now: datetime, *,
             version: int | None = None) -> Outcome:
    """Move the incident to another executor, whatever stage the work is at."""
    guard(incident, actor, Action.REASSIGN, now, version=version)
    if executor.id == incident.executor_id:
        audit = AuditEntry(incident.id, actor.id, Action.REASSIGN, incident.state, None, now,
                           reason="same_executor", ok=False)
        raise Refused("same_executor", audit)
    return _give(incident, actor, Action.REASSIGN, executor, now)


def _give(incident: Incident, actor: Person | None, action: Action, executor: Person,
          now: datetime) -> Outcome:
    if not executor.has(Role.EXECUTOR):
        audit = AuditEntry(incident.id, actor.id if actor else None, action, incident.state,
                           None, now, reason="not_an_executor", ok=False)
        raise Refused("not_an_executor", audit)
    # (a redirection still on review is called off: the incident is worked on again)
    new = replace(incident, state=State.ASSIGNED, executor_id=executor.id, redirected_to=None)
    notes = [Notification(executor.id, "card", {"reassigned": action is Action.REASSIGN},
                          card_buttons(new), attach="incident")]
    if incident.executor_id is not None and incident.executor_id != executor.id:
        notes.append(Notification(incident.executor_id, "taken_away",
                                  {"new_executor": executor.name}))
    return _outcome(incident, actor, action, now, new, notes, reason=executor.name)


def take(incident: Incident, actor: Person, now: datetime, *,
         version: int | None = None) -> Outcome:
    guard(incident, actor, Action.TAKE, now, version=version)
    new = replace(incident, state=State.IN_PROGRESS)
    return _outcome(incident, actor, Action.TAKE, now, new,
                    [Notification(COORDINATORS, "taken", {"executor": actor.name})])


def decline(incident: Incident, actor: Person, reason: str, now: datetime, *,
            version: int | None = None) -> Outcome:
    """«Не наша компетенция»: back to the coordinator with the executor's reason."""
    guard(incident, actor, Action.DECLINE, now, version=version)
    reason = _require_text(incident, actor, Action.DECLINE, now, reason)
    new = replace(incident, state=State.NEW, executor_id=None)
    note = Notification(COORDINATORS, "declined", {"executor": actor.name, "reason": reason},
                        triage_buttons(new))
    return _outcome(incident, actor, Action.DECLINE, now, new, [note], reason=reason)


def submit(incident: Incident, actor: Person, draft: Draft, now: datetime, *,
           statuses: bool = False) -> Outcome:
    """The executor sends the draft answer for approval (``statuses``: the policy wants a
    result status with a final answer, chosen on approval)."""
    guard(incident, actor, Action.SUBMIT, now)
    _require_text(incident, actor, Action.SUBMIT, now, draft.text)
    new = replace(incident, state=State.ON_REVIEW)
    note = Notification(COORDINATORS, "review", {"executor": actor.name, "kind": draft.kind.value},
                        review_buttons(new, statuses=statuses
                                       and draft.kind is DraftKind.FINAL), attach="draft")
    return _outcome(incident, actor, Action.SUBMIT, now, new, [note], reason=draft.kind.value)


def approve(incident: Incident, actor: Person, draft: Draft, now: datetime, *,
            edited_text: str | None = None, version: int | None = None,
            auto_publish: bool = False, result_status: str | None = None,
            statuses: bool = False, role: Role = Role.COORDINATOR) -> Outcome:
    """Approve the draft, optionally with the coordinator's own wording. Where no publisher
    posts the answer automatically, the coordinator gets the package to publish by hand.

    ``statuses``: a final answer needs its result status («решено» / «разъяснено»), given as
    ``result_status``; it is kept on the incident. ``role``: who gives the final approval
    (the last step of the policy's chain)."""
    action = Action.APPROVE if edited_text is None else Action.EDIT_APPROVE
    guard(incident, actor, action, now, version=version, role=role)
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
    guard(incident, actor, Action.RETURN, now, version=version, role=role)
    reason = _require_text(incident, actor, Action.RETURN, now, reason)
    new = replace(incident, state=State.IN_PROGRESS, redirected_to=None)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "returned", {"reason": reason},
                                  ((Button("answer", incident.id),),)))
    return _outcome(incident, actor, Action.RETURN, now, new, notes, reason=reason)


def set_priority(incident: Incident, actor: Person, priority: Priority, now: datetime, *,
                 answer_due: datetime | None, first_response_due: datetime | None = None
                 ) -> Outcome:
    """Change the priority; the caller computes the deadlines that follow from it."""
    guard(incident, actor, Action.SET_PRIORITY, now)
    new = replace(incident, priority=priority, answer_due=answer_due,
                  first_response_due=first_response_due or incident.first_response_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "priority_changed", {}))
    return _outcome(incident, actor, Action.SET_PRIORITY, now, new, notes, reason=priority.value)


def mark_published(incident: Incident, actor: Person | None, now: datetime, *,
                   version: int | None = None, promised_at: datetime | None = None,
                   feedback_window: timedelta = timedelta(days=2)) -> Outcome:
    """The approved answer is out: a final answer awaits the resident's reaction for the
    feedback window, an interim one waits for the promised date."""
    guard(incident, actor, Action.PUBLISH, now, version=version)
    interim = incident.approved_kind is DraftKind.INTERIM
    if incident.redirected_to:  # the resident is told where the message went: done
        new = replace(incident, state=State.REDIRECTED)
        return _outcome(incident, actor, Action.PUBLISH, now, new)
    new = replace(incident, state=State.WAITING if interim else State.AWAITING_FEEDBACK,
                  promised_at=promised_at if interim else None,
                  feedback_until=None if interim else now + feedback_window)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "published", {"interim": interim}))
    return _outcome(incident, actor, Action.PUBLISH, now, new, notes)


def redirect(incident: Incident, actor: Person, to: str, note: str, now: datetime, *,
             version: int | None = None, answer: bool = False) -> Outcome:
    """Hand the incident over to another body (not a municipal matter), with a note.

    ``answer``: the resident is told where the message went (the caller saves that answer
    as the draft): the incident goes on review to the coordinator, and is redirected once the
    answer is approved and published (:func:`mark_published`)."""
    guard(incident, actor, Action.REDIRECT, now, version=version)
    to = _require_text(incident, actor, Action.REDIRECT, now, to)
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
    return _outcome(incident, actor, Action.REDIRECT, now, new, notes,
                    reason=f"{to}: {note}" if note else to)


def reject(incident: Incident, actor: Person, reason: str, now: datetime, *,
           version: int | None = None) -> Outcome:
    """Not an incident (spam, flood, no question to answer)."""
    guard(incident, actor, Action.REJECT, now, version=version)
    reason = _require_text(incident, actor, Action.REJECT, now, reason)
    new = replace(incident, state=State.REJECTED)
    notes = [Notification(CURATORS, "rejected", {"reason": reason})]
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "rejected", {"reason": reason}))
    return _outcome(incident, actor, Action.REJECT, now, new, notes, reason=reason)


def reopen(incident: Incident, actor: Person | None, reason: str, now: datetime, *,
           version: int | None = None) -> Outcome:
    """The resident is not satisfied: the incident goes back to the same executor."""
    guard(incident, actor, Action.REOPEN, now, version=version)
    reason = _require_text(incident, actor, Action.REOPEN, now, reason)
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
    return _outcome(incident, actor, Action.REOPEN, now, new, notes, reason=reason)


def close(incident: Incident, actor: Person | None, now: datetime, *,
          version: int | None = None) -> Outcome:
    guard(incident, actor, Action.CLOSE, now, version=version)
    new = replace(incident, state=State.CLOSED)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "closed", {}))
    return _outcome(incident, actor, Action.CLOSE, now, new, notes)


def resume(incident: Incident, actor: Person | None, now: datetime, *,
           answer_due: datetime | None = None) -> Outcome:
    """The promised date of an interim answer has come: the final answer is due, and the
    answer clock starts again."""
    guard(incident, actor, Action.RESUME, now)
    new = replace(incident, state=State.IN_PROGRESS, approved_text=None, approved_kind=None,
                  promised_at=None, clock_start=now,
                  answer_due=answer_due or incident.answer_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "final_due", {},
                                  ((Button("answer", incident.id),),)))
    return _outcome(incident, actor, Action.RESUME, now, new, notes)


def first_response(incident: Incident, actor: Person, now: datetime) -> Outcome:
    """The primary answer that names the deadline is published: the first-response clock
    stops. The state does not change."""
    guard(incident, actor, Action.FIRST_RESPONSE, now)  # refused once it is marked
    new = replace(incident, first_response_at=now)
    return _outcome(incident, actor, Action.FIRST_RESPONSE, now, new)


def extend(incident: Incident, actor: Person, answer_due: datetime, reason: str,
           now: datetime) -> Outcome:
    """Move the answer deadline, with a reason (audited); the executor is told."""
    guard(incident, actor, Action.EXTEND, now)
    reason = _require_text(incident, actor, Action.EXTEND, now, reason)
    if answer_due <= now:
        audit = AuditEntry(incident.id, actor.id, Action.EXTEND, incident.state, None, now,
                           reason="deadline_in_past", ok=False)
        raise Refused("deadline_in_past", audit)
    new = replace(incident, answer_due=answer_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "deadline_extended", {"reason": reason}))
    return _outcome(incident, actor, Action.EXTEND, now, new, notes, reason=reason)


def remind(incident: Incident, actor: Person, now: datetime) -> Outcome:
    """Someone who oversees the incident nudges its executor. The state does not change."""
    guard(incident, actor, Action.REMIND, now)
    buttons = (card_buttons(incident) if incident.state.awaits_take
               else ((Button("answer", incident.id),),))
    notes = [Notification(incident.executor_id, "reminded", {"who": actor.name}, buttons)
             ] if incident.executor_id is not None else []
    return _outcome(incident, actor, Action.REMIND, now, incident, notes)


def platform_due(incident: Incident, actor: Person, answer_due: datetime, now: datetime
                 ) -> Outcome:
    """The platform's own deadline (ПОС sets it itself, ЦУР may change the one of «Инцидент
    Менеджмент»), typed by the coordinator: it replaces the answer deadline (audited); the
    executor is told."""
    guard(incident, actor, Action.PLATFORM_DUE, now)
    if answer_due <= now:
        audit = AuditEntry(incident.id, actor.id, Action.PLATFORM_DUE, incident.state, None, now,
                           reason="deadline_in_past", ok=False)
        raise Refused("deadline_in_past", audit)
    new = replace(incident, answer_due=answer_due)
    notes = []
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "deadline_changed", {}))
    return _outcome(incident, actor, Action.PLATFORM_DUE, now, new, notes,
                    reason=answer_due.isoformat())


def reclock(incident: Incident, actor: Person, now: datetime, *, source: str | None = None,
            policy: str | None = None, answer_due: datetime | None,
            first_response_due: datetime | None) -> Outcome:
    """The coordinator changes the source (``source``) or the deadline policy (``policy``) of
    an incident; the caller computes the deadlines that follow. Audited as ``source`` or
    ``policy`` with the new value; the executor is told the new deadline."""
    action = Action.SOURCE if source is not None else Action.POLICY
    guard(incident, actor, action, now)
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
    guard(incident, actor, Action.CATEGORY, now)
    if category == incident.category:
        audit = AuditEntry(incident.id, actor.id, Action.CATEGORY, incident.state, None, now,
                           reason="unchanged", ok=False)
        raise Refused("unchanged", audit)
    new = replace(incident, category=category, department=department, subcategory=None)
    return _outcome(incident, actor, Action.CATEGORY, now, new, reason=category)
