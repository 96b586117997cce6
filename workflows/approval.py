"""The procedure of a policy, as pure functions: who assigns the executor, whether the
contact with the resident must be recorded, and the approval chain (002 3.12.3–3.12.5).

The Governor's networks run this way: the incident goes to the head of the department, who
gives it to an executor; the executor calls the resident and records it before submitting;
the draft is approved by the head, then by the coordinator. Other policies keep a single
approval by the coordinator. The step of the chain is not stored apart: it is the number of
``approve_step`` entries in the audit since the last ``submit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from workflows import transitions as core
from workflows.model import (
    AuditEntry,
    Button,
    Incident,
    Notification,
    Person,
    Role,
)
from workflows.regulation import RULES, Action, refusal

# Roles that may stand in an approval chain.
APPROVERS = (Role.DEPARTMENT_HEAD, Role.COORDINATOR)


@dataclass(frozen=True, slots=True)
class Procedure:
    # Who approves a draft, in order; the last one gives the final approval.
    approval: tuple[Role, ...] = (Role.COORDINATOR,)
    # The incident goes to the head of the department, who picks the executor (3.12.3).
    head_assigns: bool = False
    # The executor records the contact with the resident before submitting (3.12.4).
    contact_required: bool = False
    # After the final approval: the letter (DOCX), the signed PDF and the e-mail (3.12.6).
    email_to: tuple[str, ...] = ()


DEFAULT = Procedure()
GOVERNOR = Procedure(approval=(Role.DEPARTMENT_HEAD, Role.COORDINATOR), head_assigns=True,
                     contact_required=True)
BUILT_IN = {"governor": GOVERNOR}


def department_heads(department: str) -> str:
    """The audience of the heads of ``department``."""
    return f"department_heads:{department}"


def is_head_of(person: Person, department: str | None) -> bool:
    return person.has(Role.DEPARTMENT_HEAD) and department in person.departments


def heads_of(department: str | None, people: Iterable[Person]) -> list[Person]:
    return [p for p in people if is_head_of(p, department)]


def executors_of(department: str | None, people: Iterable[Person]) -> list[Person]:
    return [p for p in people if p.has(Role.EXECUTOR) and department in p.departments]


def head_buttons(incident: Incident, executors: Sequence[Person]
                 ) -> tuple[tuple[Button, ...], ...]:
    """One button per executor of the department: the head's choice."""
    return tuple((Button("head_to", incident.id, str(p.id), label=p.name),) for p in executors)


def to_head(incident: Incident, executors: Sequence[Person]) -> Notification:
    """The incident for the heads of its department to assign."""
    return Notification(department_heads(incident.department or ""), "head_assign", {},
                        head_buttons(incident, executors), attach="incident")


def _refuse(incident: Incident, actor: Person | None, action: Action, now: datetime,
            code: str) -> core.Refused:
    return core.Refused(code, AuditEntry(incident.id, actor.id if actor else None, action,
                                         incident.state, None, now, reason=code, ok=False))


def head_assign(incident: Incident, actor: Person, executor: Person, now: datetime, *,
                version: int | None = None) -> core.Outcome:
    """The head of the department gives a new incident of the department to one of its
    executors (3.12.3)."""
    action = Action.HEAD_ASSIGN
    if not is_head_of(actor, incident.department):
        raise _refuse(incident, actor, action, now, "not_the_head")
    if version is not None and version != incident.version:
        raise _refuse(incident, actor, action, now, "stale")
    if incident.state not in RULES[action].states:
        raise _refuse(incident, actor, action, now, "wrong_state")
    if not (executor.has(Role.EXECUTOR) and incident.department in executor.departments):
        raise _refuse(incident, actor, action, now, "not_an_executor")
    # The coordinator's own assignment, with the head standing in for the coordinator.
    out = core.assign(incident, None, executor, now)
    audit = replace(out.audit, actor_id=actor.id, action=action)
    return core.Outcome(out.incident, audit, out.notifications)


def require_contact(incident: Incident, actor: Person, now: datetime, *,
                    procedure: Procedure, contacted: bool) -> None:
    """Refuse a submission without the recorded contact where the procedure asks for it."""
    if procedure.contact_required and not contacted:
        raise _refuse(incident, actor, Action.SUBMIT, now, "contact_required")


def record_contact(incident: Incident, actor: Person, note: str, now: datetime
                   ) -> core.Outcome:
    """«Связался с заявителем»: the executor's note of the call, in the audit (3.12.4)."""
    code = refusal(Action.CONTACT, incident, actor)
    if code:
        raise _refuse(incident, actor, Action.CONTACT, now, code)
    note = note.strip()
    if not note:
        raise _refuse(incident, actor, Action.CONTACT, now, "empty_reason")
    audit = AuditEntry(incident.id, actor.id, Action.CONTACT, incident.state, incident.state, now,
                       reason=note)
    return core.Outcome(incident, audit, ())


def step_of(entries: Sequence[AuditEntry]) -> int:
    """The current step of the chain: ``approve_step`` entries since the last submission."""
    step = 0
    for e in entries:
        if not e.ok:
            continue
        if e.action == Action.SUBMIT:
            step = 0
        elif e.action == "approve_step":
            step += 1
    return step


def approver(procedure: Procedure, step: int) -> Role:
    chain = procedure.approval or DEFAULT.approval
    return chain[min(step, len(chain) - 1)]


def is_last(procedure: Procedure, step: int) -> bool:
    return step >= len(procedure.approval or DEFAULT.approval) - 1


def audience(role: Role, incident: Incident) -> int | str:
    if role is Role.DEPARTMENT_HEAD:
        return department_heads(incident.department or "")
    return core.COORDINATORS


def review_buttons(incident: Incident, role: Role, last: bool
                   ) -> tuple[tuple[Button, ...], ...]:
    """The same approve / return buttons at every step; the coordinator at the last step
    also edits and reassigns, as before."""
    if role is Role.COORDINATOR and last:
        return core.review_buttons(incident)
    return ((Button("approve", incident.id), Button("return", incident.id)),)


def may_act(actor: Person, incident: Incident, role: Role) -> bool:
    """Whether ``actor`` stands at a step of ``role`` for this incident."""
    if role is Role.DEPARTMENT_HEAD:
        return is_head_of(actor, incident.department)
    return actor.has(role)


def _check_step(incident: Incident, actor: Person, action: Action, now: datetime, role: Role,
                version: int | None) -> None:
    if version is not None and version != incident.version:
        raise _refuse(incident, actor, action, now, "stale")
    if not incident.state.awaits_approval:
        raise _refuse(incident, actor, action, now, "wrong_state")
    if not may_act(actor, incident, role):
        raise _refuse(incident, actor, action, now,
                      "not_the_head" if role is Role.DEPARTMENT_HEAD else "wrong_role")


def mark_head_return(out: core.Outcome, role: Role) -> core.Outcome:
    """A return at the head's step: the executor reads whose comment it is."""
    if role is not Role.DEPARTMENT_HEAD:
        return out
    notes = tuple(replace(n, context=n.context | {"by_head": True})
                  if n.template == "returned" else n for n in out.notifications)
    return core.Outcome(out.incident, out.audit, notes)


def route_submission(out: core.Outcome, procedure: Procedure) -> core.Outcome:
    """A submitted draft goes to the first step of the chain (the coordinators by default)."""
    role = approver(procedure, 0)
    if role is Role.COORDINATOR and len(procedure.approval) <= 1:
        return out
    notes = tuple(
        replace(n, to=audience(role, out.incident),
                buttons=review_buttons(out.incident, role, is_last(procedure, 0)),
                context=n.context | {"step": role.value})
        if n.template == "review" else n for n in out.notifications)
    return core.Outcome(out.incident, out.audit, notes)


def approve_step(incident: Incident, actor: Person, now: datetime, *, procedure: Procedure,
                 step: int, kind: str = "final", version: int | None = None) -> core.Outcome:
    """Approval at a step before the last: the draft moves to the next approver. The card's
    version moves too, so that the buttons of the step just passed are stale."""
    role = approver(procedure, step)
    _check_step(incident, actor, Action.APPROVE, now, role, version)
    new = replace(incident, version=incident.version + 1)
    following = approver(procedure, step + 1)
    notes = [Notification(audience(following, new), "review",
                          {"step": following.value, "approved_by": actor.name, "kind": kind},
                          review_buttons(new, following, is_last(procedure, step + 1)),
                          attach="draft")]
    if incident.executor_id is not None:
        notes.append(Notification(incident.executor_id, "approved_step",
                                  {"who": actor.name, "role": role.value}))
    audit = AuditEntry(incident.id, actor.id, "approve_step", incident.state, incident.state,
                       now, reason=role.value)
    return core.Outcome(new, audit, tuple(notes))


def check_final(incident: Incident, actor: Person, action: Action, now: datetime, *,
                procedure: Procedure, step: int, version: int | None = None) -> Role:
    """The role of the step an approval or a return is given at; refused when ``actor``
    does not stand there. The core's own guard then runs with that role."""
    role = approver(procedure, step)
    _check_step(incident, actor, action, now, role, version)
    return role
