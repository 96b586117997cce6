"""The regulation table (workflows/regulation.py) is the one answer to "may this person do
this now": the buttons offered on a card and the guards of the transitions never disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows import problems
from workflows import transitions as core
from workflows.model import Draft, Incident, Person, Priority, Role, State
from workflows.regulation import BUTTONS, RULES, TABLE, Action, allowed, offered, refusal
from workflows.transitions import Refused, actions_for

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
N = 7
OTHER_EXECUTOR = Person(9, "Другой", frozenset({Role.EXECUTOR}), frozenset({"roads"}))
PEOPLE = [Person(1, role.value, frozenset({role}), frozenset({"roads"})) for role in Role]
PEOPLE.append(Person(1, "Все роли", frozenset(Role), frozenset({"roads"})))


def incident(state: State, executor_id: int | None, **kw: object) -> Incident:
    return Incident(N, state, "vk", "Яма", "roads", "roads",
                    None if state is State.NEW else executor_id, Priority.NORMAL, NOW,
                    version=3, **kw)  # type: ignore[arg-type]


def offered_on_card(inc: Incident, person: Person) -> set[Action]:
    return {BUTTONS[b.action] for row in actions_for(inc, person) for b in row}


@pytest.mark.parametrize("state", list(State))
def test_the_buttons_offered_are_exactly_what_the_guards_allow(state: State) -> None:
    on_card = {a for a in Action if RULES[a].buttons}
    for person in PEOPLE:
        for own in (True, False):  # the person's own incident, or another executor's
            for done in (None, NOW):  # the primary answer marked or not
                inc = incident(state, person.id if own else OTHER_EXECUTOR.id,
                               first_response_at=done)
                assert offered_on_card(inc, person) == offered(inc, person), (person, own)
                assert offered(inc, person) == allowed(inc, person) & on_card
                # An inactive person is offered nothing and allowed nothing.
                gone = Person(person.id, person.name, person.roles, person.departments,
                              active=False)
                assert actions_for(inc, gone) == () and allowed(inc, gone) == frozenset()


# Each card action, run through its transition: refused exactly when the table refuses it.
EXECUTOR = Person(2, "Петров", frozenset({Role.EXECUTOR}), frozenset({"roads"}))
CALLS = {
    Action.TAKE: lambda i, p: core.take(i, p, NOW),
    Action.DECLINE: lambda i, p: core.decline(i, p, "не наше", NOW),
    Action.SUBMIT: lambda i, p: core.submit(i, p, Draft(N, p.id, "Готово"), NOW),
    Action.APPROVE: lambda i, p: core.approve(i, p, Draft(N, 2, "Готово"), NOW),
    Action.EDIT_APPROVE: lambda i, p: core.approve(i, p, Draft(N, 2, "Готово"), NOW,
                                                   edited_text="Иначе"),
    Action.RETURN: lambda i, p: core.return_draft(i, p, "ещё", NOW),
    Action.PUBLISH: lambda i, p: core.mark_published(i, p, NOW),
    Action.CLOSE: lambda i, p: core.close(i, p, NOW),
    Action.REOPEN: lambda i, p: core.reopen(i, p, "жалоба", NOW),
    Action.REJECT: lambda i, p: core.reject(i, p, "спам", NOW),
    Action.REDIRECT: lambda i, p: core.redirect(i, p, "МЧС", "", NOW),
    Action.ASSIGN: lambda i, p: core.assign(i, p, OTHER_EXECUTOR, NOW),
    Action.REASSIGN: lambda i, p: core.reassign(i, p, OTHER_EXECUTOR, NOW),
    Action.SET_PRIORITY: lambda i, p: core.set_priority(i, p, Priority.FAST_TRACK, NOW,
                                                        answer_due=NOW + timedelta(hours=4)),
    Action.EXTEND: lambda i, p: core.extend(i, p, NOW + timedelta(days=1), "подрядчик", NOW),
    Action.PLATFORM_DUE: lambda i, p: core.platform_due(i, p, NOW + timedelta(days=1), NOW),
    Action.SOURCE: lambda i, p: core.reclock(i, p, NOW, source="pos", answer_due=None,
                                             first_response_due=None),
    Action.POLICY: lambda i, p: core.reclock(i, p, NOW, policy="pos", answer_due=None,
                                             first_response_due=None),
    Action.CATEGORY: lambda i, p: core.recategorize(i, p, "housing", "housing", NOW),
    Action.FIRST_RESPONSE: lambda i, p: core.first_response(i, p, NOW),
    Action.REMIND: lambda i, p: core.remind(i, p, NOW),
    Action.RESUME: lambda i, p: core.resume(i, p, NOW),
    Action.MERGE: lambda i, p: problems.merge(
        i, Incident(N + 1, State.IN_PROGRESS, "vk", "Яма", "roads", "roads", 2,
                    Priority.NORMAL, NOW), p, NOW),
    Action.UNMERGE: lambda i, p: problems.unmerge(i, p, NOW, state=State.NEW,
                                                  executor_id=None),
}


@pytest.mark.parametrize("action", list(CALLS))
def test_every_transition_guards_by_the_table(action: Action) -> None:
    rule = RULES[action]
    for state in State:
        for person in (*PEOPLE, EXECUTOR):
            inc = incident(state, EXECUTOR.id)
            code = refusal(action, inc, person)
            try:
                out = CALLS[action](inc, person)
            except Refused as r:
                assert (r.code, r.audit.action, r.audit.ok) == (code, action, False), (
                    state, person)
                continue
            assert not code, (state, person)
            assert out.audit.action == action and out.audit.ok
            # It leads where the table says (or the state stays).
            assert out.incident.state in (rule.leads_to or {state})


def test_every_action_is_in_the_table_once_and_every_button_names_one_action() -> None:
    assert [r.action for r in TABLE] == list(dict.fromkeys(r.action for r in TABLE))
    assert set(RULES) == set(Action)
    assert set(BUTTONS) == {b for r in TABLE for b in r.buttons}


@pytest.mark.parametrize(("action", "state"), [
    (Action.REJECT, State.ASSIGNED), (Action.REJECT, State.REOPENED),
    (Action.REOPEN, State.CLOSED)])
def test_what_the_guard_once_allowed_but_never_offered_is_offered(action: Action,
                                                                   state: State) -> None:
    coordinator = PEOPLE[[r for r in Role].index(Role.COORDINATOR)]
    inc = incident(state, EXECUTOR.id)
    assert action in offered_on_card(inc, coordinator)


def test_state_groups_are_properties_of_the_states() -> None:
    assert {s for s in State if s.is_final} == {
        State.CLOSED, State.REDIRECTED, State.REJECTED, State.MERGED}
    assert {s for s in State if s.awaits_take} == {State.ASSIGNED, State.REOPENED}
    assert {s for s in State if s.is_held} == {
        State.ASSIGNED, State.IN_PROGRESS, State.ON_REVIEW, State.REOPENED}
    assert {s for s in State if s.answer_owed} == {s for s in State if s.is_held} | {
        State.NEW, State.APPROVED}
    assert {s for s in State if s.is_active} == {s for s in State if s.is_held} | {
        State.NEW, State.WAITING}
    for s in State:
        assert s.is_open is not s.is_final


def test_every_command_names_an_action_of_the_table_and_is_immutable() -> None:
    import dataclasses
    import typing

    from workflows import commands

    kinds = typing.get_args(commands.Command)
    assert {k.action for k in kinds} <= set(RULES)
    extend = commands.Extend(NOW, "подрядчик")
    with pytest.raises(dataclasses.FrozenInstanceError):
        extend.reason = "другая"  # type: ignore[misc]
