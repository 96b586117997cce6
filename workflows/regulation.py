"""The regulation as one table: every action on an incident, the states it applies in, who
may take it, whether it needs the incident's executor, where it leads and what it needs from
the person (002 2.3–3.12; docs/design.md, «The life of an incident»).

Everything that asks "may this person do this now" reads this table: the guards of the
transitions (``workflows.transitions``), the buttons offered on an incident's card
(:func:`offered`, drawn by ``transitions.actions_for``) and the checks a front end makes
before it prompts for a reason. A test holds the buttons and the guards to the same answer
for every state and role.

Decisions the table records where the code once said two things:

- *reject* (not an incident: spam, flood) applies while nobody works on the incident: new,
  or on the executor's card not yet taken (assigned; reopened by a reply of the resident).
  It is offered there too, not only on a new one.
- *reopen* applies to a closed incident as well as to one awaiting feedback: the coordinator
  may still reopen it (a late negative comment, 002 3.10.6), and the card offers it.
- The deadline actions (priority, urgent, extend, the platform's deadline, source, policy),
  *redirect* and *reassign* apply to active work (new, held by an executor, waiting for the
  promised date): once an answer is approved or out, they change nothing anybody owes.
- The primary answer (*first response*) is marked before the answer is approved: new or held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from workflows.model import Incident, Person, Role, State


class Action(StrEnum):
    """An action on an incident; the value is the name the audit keeps."""

    TAKE = "take"
    DECLINE = "decline"
    # Open the draft to write the answer (no change of state, not audited).
    ANSWER = "answer"
    CONTACT = "contact"
    SUBMIT = "submit"
    APPROVE = "approve"
    EDIT_APPROVE = "edit_approve"
    RETURN = "return"
    PUBLISH = "publish"
    CLOSE = "close"
    REOPEN = "reopen"
    REJECT = "reject"
    REDIRECT = "redirect"
    ASSIGN = "assign"
    REASSIGN = "reassign"
    HEAD_ASSIGN = "head_assign"
    SET_PRIORITY = "set_priority"
    EXTEND = "extend"
    PLATFORM_DUE = "platform_due"
    SOURCE = "source"
    POLICY = "policy"
    # Correct the category (and so the department): a source's guess, or a slip.
    CATEGORY = "category"
    FIRST_RESPONSE = "first_response"
    REMIND = "remind"
    RESUME = "resume"
    # One problem, many complaints (workflows/problems.py): merge a complaint into a problem,
    # or make it its own incident again.
    MERGE = "merge"
    UNMERGE = "unmerge"


class Need(StrEnum):
    """What an action needs from the person, besides the press."""

    REASON = "reason"  # a reason, passed on word for word
    TEXT = "text"  # the coordinator's own wording of the answer
    DATE = "date"  # a date and time, typed
    EXECUTOR = "executor"  # the person to give it to
    TARGET = "target"  # the body it goes to: an organisation of the config, or typed
    NOTE = "note"  # an optional comment
    DRAFT = "draft"  # the executor's draft answer
    STATUS = "status"  # the result status, where the policy wants one (3.11.7)
    PRIORITY = "priority"
    SOURCE = "source"
    POLICY = "policy"
    CATEGORY = "category"
    PROBLEM = "problem"  # the problem a complaint joins


def _states(where: Callable[[State], bool]) -> frozenset[State]:
    return frozenset(s for s in State if where(s))


OPEN = _states(lambda s: s.is_open)
ACTIVE = _states(lambda s: s.is_active)
HELD = _states(lambda s: s.is_held)
AWAITS_TAKE = _states(lambda s: s.awaits_take)
STAYS: frozenset[State] = frozenset()
OVERSEERS = (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER)


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    # The states the action applies in.
    states: frozenset[State]
    # Who may take it (any one of these roles); Otklik itself (no actor) always may.
    roles: tuple[Role, ...]
    # Only the incident's own executor.
    assignee: bool = False
    # The states it leads to (several: decided by the incident); empty: the state stays.
    leads_to: frozenset[State] = STAYS
    needs: tuple[Need, ...] = ()
    # The presses that offer it on the incident's card (none: offered elsewhere, or never).
    buttons: tuple[str, ...] = ()
    # A further refusal that depends on the incident, not on its state: a refusal code or "".
    unless: Callable[[Incident], str] | None = None


def _first_response_done(incident: Incident) -> str:
    return "already_done" if incident.first_response_at is not None else ""


C = (Role.COORDINATOR,)
E = (Role.EXECUTOR,)
S = State

TABLE: tuple[Rule, ...] = (
    # The executor (002 2.6): takes the card or declines it, writes, submits.
    Rule(Action.TAKE, AWAITS_TAKE, E, True, frozenset({S.IN_PROGRESS}), buttons=("take",)),
    Rule(Action.DECLINE, AWAITS_TAKE, E, True, frozenset({S.NEW}), (Need.REASON,),
         buttons=("decline",)),
    Rule(Action.ANSWER, frozenset({S.IN_PROGRESS}), E, True, buttons=("answer",)),
    Rule(Action.CONTACT, frozenset({S.IN_PROGRESS}), E, True, needs=(Need.NOTE,)),
    Rule(Action.SUBMIT, frozenset({S.IN_PROGRESS}), E, True, frozenset({S.ON_REVIEW}),
         (Need.DRAFT,)),
    # The coordinator (2.3): approves or returns the draft, publishes, follows the reaction.
    Rule(Action.APPROVE, frozenset({S.ON_REVIEW}), C, leads_to=frozenset({S.APPROVED}),
         needs=(Need.STATUS,), buttons=("approve",)),
    Rule(Action.EDIT_APPROVE, frozenset({S.ON_REVIEW}), C, leads_to=frozenset({S.APPROVED}),
         needs=(Need.TEXT, Need.STATUS), buttons=("edit_approve",)),
    Rule(Action.RETURN, frozenset({S.ON_REVIEW}), C, leads_to=frozenset({S.IN_PROGRESS}),
         needs=(Need.REASON,), buttons=("return",)),
    Rule(Action.PUBLISH, frozenset({S.APPROVED}), C,
         leads_to=frozenset({S.WAITING, S.AWAITING_FEEDBACK, S.REDIRECTED}),
         buttons=("published",)),
    Rule(Action.RESUME, frozenset({S.WAITING}), C, leads_to=frozenset({S.IN_PROGRESS})),
    Rule(Action.CLOSE, frozenset({S.AWAITING_FEEDBACK}), C, leads_to=frozenset({S.CLOSED}),
         buttons=("close",)),
    Rule(Action.REOPEN, frozenset({S.AWAITING_FEEDBACK, S.CLOSED}), C,
         leads_to=frozenset({S.REOPENED, S.NEW}), needs=(Need.REASON,), buttons=("reopen",)),
    # Triage: who does it, whether it is ours, whether it is an incident at all.
    Rule(Action.ASSIGN, frozenset({S.NEW}), C, leads_to=frozenset({S.ASSIGNED}),
         needs=(Need.EXECUTOR,)),
    Rule(Action.HEAD_ASSIGN, frozenset({S.NEW}), (Role.DEPARTMENT_HEAD,),
         leads_to=frozenset({S.ASSIGNED}), needs=(Need.EXECUTOR,)),
    Rule(Action.REASSIGN, ACTIVE, C, leads_to=frozenset({S.ASSIGNED}), needs=(Need.EXECUTOR,),
         buttons=("reassign",)),
    Rule(Action.REDIRECT, ACTIVE, C, leads_to=frozenset({S.ON_REVIEW, S.REDIRECTED}),
         needs=(Need.TARGET, Need.NOTE), buttons=("redirect",)),
    Rule(Action.REJECT, frozenset({S.NEW}) | AWAITS_TAKE, C, leads_to=frozenset({S.REJECTED}),
         needs=(Need.REASON,), buttons=("reject",)),
    # Deadlines (3.6–3.9): the state stays.
    Rule(Action.SET_PRIORITY, ACTIVE, C, needs=(Need.PRIORITY, Need.DATE),
         buttons=("priority", "urgent")),
    Rule(Action.EXTEND, ACTIVE, C, needs=(Need.DATE, Need.REASON), buttons=("extend",)),
    Rule(Action.PLATFORM_DUE, ACTIVE, C, needs=(Need.DATE,), buttons=("due",)),
    Rule(Action.SOURCE, ACTIVE, C, needs=(Need.SOURCE,), buttons=("source",)),
    Rule(Action.POLICY, ACTIVE, C, needs=(Need.POLICY,), buttons=("policy",)),
    Rule(Action.CATEGORY, ACTIVE, C, needs=(Need.CATEGORY,), buttons=("recat",)),
    Rule(Action.FIRST_RESPONSE, frozenset({S.NEW}) | HELD, C, buttons=("first_response",),
         unless=_first_response_done),
    # Those who oversee the work nudge the executor.
    Rule(Action.REMIND, HELD, OVERSEERS, buttons=("remind",)),
    # One problem, many complaints: the coordinator merges a complaint, still in hand, into a
    # problem from the suggestion that offers it («Объединить»), and unmerges it from its
    # card («Разъединить»).
    Rule(Action.MERGE, ACTIVE, C, leads_to=frozenset({S.MERGED}), needs=(Need.PROBLEM,)),
    Rule(Action.UNMERGE, frozenset({S.MERGED}), C,
         leads_to=frozenset({S.NEW, *HELD, S.WAITING}), buttons=("unmerge",)),
)
RULES: dict[Action, Rule] = {r.action: r for r in TABLE}
# The action each press on an incident's card stands for.
BUTTONS: dict[str, Action] = {b: r.action for r in TABLE for b in r.buttons}


def refusal(action: Action, incident: Incident, person: Person | None, *,
            version: int | None = None, role: Role | None = None) -> str:
    """Why ``person`` may not take ``action`` on ``incident`` now ("" when they may).

    ``person`` None is Otklik itself (routing, timers, publishers): only the state and the
    version are checked. ``version``: the version of the card pressed; it outdates the card
    only for an action that moves the incident (a deadline or a reminder leaves the cards
    people hold valid). ``role``: who stands at this step of an approval chain, in place of
    the table's roles."""
    rule = RULES[action]
    if person is not None:
        roles = (role,) if role is not None else rule.roles
        if not person.active or not any(person.has(r) for r in roles):
            return "wrong_role"
        if rule.assignee and incident.executor_id != person.id:
            return "not_assigned"
    if version is not None and rule.leads_to and version != incident.version:
        return "stale"
    if incident.state not in rule.states:
        return "wrong_state"
    return rule.unless(incident) if rule.unless is not None else ""


def allowed(incident: Incident, person: Person, actions: Iterable[Action] = Action
            ) -> frozenset[Action]:
    """The actions ``person`` may take on ``incident`` now."""
    return frozenset(a for a in actions if not refusal(a, incident, person))


def offered(incident: Incident, person: Person) -> frozenset[Action]:
    """The actions the incident's card offers ``person``: those allowed that have a button."""
    return allowed(incident, person, (r.action for r in TABLE if r.buttons))
