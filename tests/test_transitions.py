"""Transitions of an incident: happy paths, every guard, the whole life, buttons by role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

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
from workflows.transitions import (
    COORDINATORS,
    CURATORS,
    Outcome,
    Refused,
    actions_for,
    approve,
    assign,
    close,
    decline,
    mark_published,
    reassign,
    redirect,
    register,
    reject,
    reopen,
    resume,
    return_draft,
    set_priority,
    submit,
    take,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
N = 7  # the incident id used throughout


# --- builders ---------------------------------------------------------------------------------


def person(pid: int, *roles: Role, name: str = "", departments: tuple[str, ...] = ("roads",),
           active: bool = True) -> Person:
    return Person(pid, name or f"person{pid}", frozenset(roles), frozenset(departments), active)


COORD = person(1, Role.COORDINATOR, name="Смирнова")
COORD2 = person(2, Role.COORDINATOR, name="Козлов")
CURATOR = person(3, Role.CURATOR, name="Куратор")
EXEC = person(10, Role.EXECUTOR, name="Иванов")
OTHER = person(11, Role.EXECUTOR, name="Петров")


def incident(state: State = State.NEW, executor: Person | None = None, *, version: int = 3,
             **kw: object) -> Incident:
    fields: dict[str, object] = dict(
        id=N, state=state, source="incident_management", text="Яма на ул. Ленина, 5",
        category="roads_pits", department="roads",
        executor_id=executor.id if executor else None, priority=Priority.NORMAL,
        registered_at=NOW - timedelta(hours=2), version=version,
    )
    fields.update(kw)
    return Incident(**fields)  # type: ignore[arg-type]


def draft(text: str = "Яма заделана 23.11, фото прилагаем.",
          kind: DraftKind = DraftKind.FINAL, author: Person = EXEC) -> Draft:
    return Draft(N, author.id, text, kind)


def refusal(call: Callable[[], object]) -> Refused:
    with pytest.raises(Refused) as info:
        call()
    return info.value


def assert_refused(r: Refused, code: str, before: Incident, actor: Person | None,
                   action: str) -> None:
    assert r.code == code
    a = r.audit
    assert a.ok is False
    assert a.action == action
    assert a.incident_id == before.id
    assert a.actor_id == (actor.id if actor else None)
    assert a.from_state is before.state
    assert a.to_state is None
    assert a.at == NOW


def assert_moved(out: Outcome, before: Incident, action: str, to: State,
                 actor: Person | None, reason: str | None = None) -> None:
    assert out.incident.state is to
    # The version moves with the state or the executor, and only then.
    moved = (to, out.incident.executor_id) != (before.state, before.executor_id)
    assert out.incident.version == before.version + (1 if moved else 0)
    assert out.audit == AuditEntry(before.id, actor.id if actor else None, action,
                                   before.state, to, NOW, reason, ok=True)


def note_to(out: Outcome, to: int | str) -> Notification:
    notes = [n for n in out.notifications if n.to == to]
    assert len(notes) == 1, out.notifications
    return notes[0]


def recipients(out: Outcome) -> list[int | str]:
    return sorted((n.to for n in out.notifications), key=str)


def actions(rows: tuple[tuple[Button, ...], ...]) -> list[str]:
    return [b.action for row in rows for b in row]


CARD = ((Button("take", N), Button("decline", N)),)
REVIEW = ((Button("approve", N), Button("return", N)),
          (Button("edit_approve", N), Button("reassign", N)))
TRIAGE = ((Button("reassign", N),), (Button("redirect", N), Button("reject", N)))
ANSWER = ((Button("answer", N),),)


# --- happy paths ------------------------------------------------------------------------------


def test_register_by_a_source_opens_a_new_incident_at_version_zero() -> None:
    due = NOW + timedelta(hours=8)
    out = register(N, source="vk", text="Нет света", category="light", department="energy",
                   priority=Priority.URGENT, now=NOW, actor=None, url="https://vk.com/wall1_2",
                   author="Жительница", first_response_due=NOW + timedelta(hours=1),
                   answer_due=due)
    inc = out.incident
    assert (inc.id, inc.state, inc.executor_id, inc.version) == (N, State.NEW, None, 0)
    assert (inc.source, inc.text, inc.category, inc.department) == (
        "vk", "Нет света", "light", "energy")
    assert (inc.priority, inc.registered_at, inc.answer_due) == (Priority.URGENT, NOW, due)
    assert (inc.url, inc.author) == ("https://vk.com/wall1_2", "Жительница")
    assert out.audit == AuditEntry(N, None, "register", None, State.NEW, NOW)
    assert out.notifications == ()


def test_register_by_hand_is_for_coordinators_only() -> None:
    out = register(N, source="manual", text="t", category=None, department=None,
                   priority=Priority.NORMAL, now=NOW, actor=COORD)
    assert out.audit.actor_id == COORD.id
    r = refusal(lambda: register(N, source="manual", text="t", category=None, department=None,
                                 priority=Priority.NORMAL, now=NOW, actor=EXEC))
    assert r.code == "wrong_role"
    assert (r.audit.ok, r.audit.from_state, r.audit.to_state, r.audit.actor_id) == (
        False, None, None, EXEC.id)


def test_assign_sends_the_card_with_take_and_decline_to_the_executor() -> None:
    before = incident(State.NEW)
    out = assign(before, COORD, EXEC, NOW, version=before.version)
    assert_moved(out, before, "assign", State.ASSIGNED, COORD, reason=EXEC.name)
    assert out.incident.executor_id == EXEC.id
    assert recipients(out) == [EXEC.id]
    card = note_to(out, EXEC.id)
    assert card.template == "card"
    assert card.context["reassigned"] is False
    assert card.buttons == CARD
    assert card.attach == "incident"


def test_reassign_moves_the_card_and_tells_the_previous_executor() -> None:
    before = incident(State.IN_PROGRESS, EXEC)
    out = reassign(before, COORD, OTHER, NOW, version=before.version)
    assert_moved(out, before, "reassign", State.ASSIGNED, COORD, reason=OTHER.name)
    assert out.incident.executor_id == OTHER.id
    assert recipients(out) == [EXEC.id, OTHER.id]
    card = note_to(out, OTHER.id)
    assert (card.template, card.context["reassigned"], card.buttons, card.attach) == (
        "card", True, CARD, "incident")
    away = note_to(out, EXEC.id)
    assert away.template == "taken_away"
    assert away.context["new_executor"] == OTHER.name
    assert away.buttons == ()


def test_take_starts_the_work_and_tells_the_coordinators() -> None:
    before = incident(State.ASSIGNED, EXEC)
    out = take(before, EXEC, NOW, version=before.version)
    assert_moved(out, before, "take", State.IN_PROGRESS, EXEC)
    assert out.incident.executor_id == EXEC.id
    assert recipients(out) == [COORDINATORS]
    note = note_to(out, COORDINATORS)
    assert note.template == "taken"
    assert note.context["executor"] == EXEC.name


def test_decline_returns_the_incident_to_the_coordinators_with_the_reason() -> None:
    before = incident(State.ASSIGNED, EXEC)
    out = decline(before, EXEC, "Не наша компетенция: это дорога региона", NOW,
                  version=before.version)
    assert_moved(out, before, "decline", State.NEW, EXEC,
                 reason="Не наша компетенция: это дорога региона")
    assert out.incident.executor_id is None
    assert recipients(out) == [COORDINATORS]
    note = note_to(out, COORDINATORS)
    assert note.template == "declined"
    assert note.context["executor"] == EXEC.name
    assert note.context["reason"] == "Не наша компетенция: это дорога региона"
    assert note.buttons == TRIAGE


def test_submit_sends_the_draft_with_its_files_for_review() -> None:
    before = incident(State.IN_PROGRESS, EXEC)
    out = submit(before, EXEC, draft(), NOW)
    assert_moved(out, before, "submit", State.ON_REVIEW, EXEC, reason="final")
    assert recipients(out) == [COORDINATORS]
    note = note_to(out, COORDINATORS)
    assert note.template == "review"
    assert note.context["executor"] == EXEC.name
    assert note.context["kind"] == "final"
    assert note.buttons == REVIEW
    assert note.attach == "draft"


def test_approve_keeps_the_executors_text_and_hands_the_publish_package_to_the_approver() -> None:
    before = incident(State.ON_REVIEW, EXEC)
    d = draft()
    out = approve(before, COORD, d, NOW, version=before.version)
    assert_moved(out, before, "approve", State.APPROVED, COORD)
    assert out.incident.approved_text == d.text
    assert out.incident.approved_kind is DraftKind.FINAL
    assert recipients(out) == [COORD.id, EXEC.id]
    told = note_to(out, EXEC.id)
    assert (told.template, told.context["edited"]) == ("approved", False)
    package = note_to(out, COORD.id)
    assert package.template == "publish_package"
    assert package.context["text"] == d.text
    assert package.buttons == ((Button("published", N),),)
    assert package.attach == "draft"


def test_edit_approve_publishes_the_coordinators_wording() -> None:
    before = incident(State.ON_REVIEW, EXEC)
    edited = "Уважаемая Анна! Яма заделана 23 ноября."
    out = approve(before, COORD, draft(), NOW, edited_text=edited, version=before.version)
    assert_moved(out, before, "edit_approve", State.APPROVED, COORD)
    assert out.incident.approved_text == edited
    assert note_to(out, EXEC.id).context["edited"] is True
    assert note_to(out, COORD.id).context["text"] == edited


def test_return_reason_reaches_executor_verbatim() -> None:
    before = incident(State.ON_REVIEW, EXEC)
    reason = "Нет фото «после».\nУкажите дату — и адрес!"
    out = return_draft(before, COORD, reason, NOW, version=before.version)
    assert_moved(out, before, "return", State.IN_PROGRESS, COORD, reason=reason)
    assert out.incident.executor_id == EXEC.id
    assert recipients(out) == [EXEC.id]
    note = note_to(out, EXEC.id)
    assert note.template == "returned"
    assert note.context["reason"] == reason
    assert note.buttons == ANSWER


def test_set_priority_changes_the_deadline_and_tells_the_executor() -> None:
    first = NOW + timedelta(hours=1)
    before = incident(State.IN_PROGRESS, EXEC, first_response_due=first,
                      answer_due=NOW + timedelta(hours=8))
    due = NOW + timedelta(hours=4)
    out = set_priority(before, COORD, Priority.FAST_TRACK, NOW, answer_due=due)
    assert_moved(out, before, "set_priority", State.IN_PROGRESS, COORD, reason="fast_track")
    assert out.incident.priority is Priority.FAST_TRACK
    assert out.incident.answer_due == due
    assert out.incident.first_response_due == first
    assert [(n.to, n.template) for n in out.notifications] == [(EXEC.id, "priority_changed")]


def test_publishing_a_final_answer_waits_for_the_residents_reaction() -> None:
    before = incident(State.APPROVED, EXEC, approved_text="Готово", approved_kind=DraftKind.FINAL)
    out = mark_published(before, COORD, NOW, version=before.version)
    assert_moved(out, before, "publish", State.AWAITING_FEEDBACK, COORD)
    assert out.incident.approved_text == "Готово"
    assert recipients(out) == [EXEC.id]
    note = note_to(out, EXEC.id)
    assert (note.template, note.context["interim"]) == ("published", False)


def test_publishing_an_interim_answer_waits_for_the_promised_date() -> None:
    before = incident(State.APPROVED, EXEC, approved_text="Сделаем до 1.12",
                      approved_kind=DraftKind.INTERIM)
    out = mark_published(before, COORD, NOW, version=before.version)
    assert_moved(out, before, "publish", State.WAITING, COORD)
    note = note_to(out, EXEC.id)
    assert (note.template, note.context["interim"]) == ("published", True)


def test_resume_asks_the_executor_for_the_final_answer() -> None:
    before = incident(State.WAITING, EXEC, approved_text="Сделаем до 1.12",
                      approved_kind=DraftKind.INTERIM)
    out = resume(before, None, NOW)
    assert_moved(out, before, "resume", State.IN_PROGRESS, None)
    assert (out.incident.approved_text, out.incident.approved_kind) == (None, None)
    assert out.incident.executor_id == EXEC.id
    assert recipients(out) == [EXEC.id]
    note = note_to(out, EXEC.id)
    assert (note.template, note.buttons) == ("final_due", ANSWER)


def test_redirect_hands_the_incident_to_another_body_with_the_note() -> None:
    before = incident(State.IN_PROGRESS, EXEC)
    out = redirect(before, COORD, "Кузбассавтодор", "трасса регионального значения", NOW,
                   version=before.version)
    assert_moved(out, before, "redirect", State.REDIRECTED, COORD,
                 reason="Кузбассавтодор: трасса регионального значения")
    assert out.incident.redirected_to == "Кузбассавтодор"
    assert recipients(out) == [EXEC.id, CURATORS]
    for to in (CURATORS, EXEC.id):
        note = note_to(out, to)
        assert note.template == "redirected"
        assert note.context["to"] == "Кузбассавтодор"
        assert note.context["note"] == "трасса регионального значения"


def test_redirect_without_a_note_records_the_body_alone() -> None:
    before = incident(State.NEW)
    out = redirect(before, COORD, "Прокуратура", "", NOW)
    assert_moved(out, before, "redirect", State.REDIRECTED, COORD, reason="Прокуратура")
    assert recipients(out) == [CURATORS]


def test_reject_closes_a_non_incident_and_tells_curators_and_the_executor() -> None:
    before = incident(State.ASSIGNED, EXEC)
    out = reject(before, COORD, "спам", NOW, version=before.version)
    assert_moved(out, before, "reject", State.REJECTED, COORD, reason="спам")
    assert recipients(out) == [EXEC.id, CURATORS]
    for to in (CURATORS, EXEC.id):
        note = note_to(out, to)
        assert (note.template, note.context["reason"]) == ("rejected", "спам")


def test_reopen_gives_the_incident_back_to_the_same_executor() -> None:
    before = incident(State.AWAITING_FEEDBACK, EXEC, approved_text="Готово",
                      approved_kind=DraftKind.FINAL)
    out = reopen(before, COORD, "Житель: яму так и не заделали", NOW)
    assert_moved(out, before, "reopen", State.REOPENED, COORD,
                 reason="Житель: яму так и не заделали")
    assert out.incident.executor_id == EXEC.id
    assert (out.incident.approved_text, out.incident.approved_kind) == (None, None)
    assert recipients(out) == [EXEC.id, COORDINATORS]
    card = note_to(out, EXEC.id)
    assert card.template == "reopened"
    assert card.context["reason"] == "Житель: яму так и не заделали"
    assert card.buttons == CARD
    assert note_to(out, COORDINATORS).template == "reopened"


def test_reopen_without_an_executor_goes_back_to_triage() -> None:
    before = incident(State.AWAITING_FEEDBACK, None, approved_text="Готово",
                      approved_kind=DraftKind.FINAL)
    out = reopen(before, None, "не решено", NOW)
    assert_moved(out, before, "reopen", State.NEW, None, reason="не решено")
    assert recipients(out) == [COORDINATORS]
    assert note_to(out, COORDINATORS).context["reason"] == "не решено"


def test_close_tells_the_executor() -> None:
    before = incident(State.AWAITING_FEEDBACK, EXEC)
    out = close(before, COORD, NOW, version=before.version)
    assert_moved(out, before, "close", State.CLOSED, COORD)
    assert [(n.to, n.template) for n in out.notifications] == [(EXEC.id, "closed")]


# --- guards: who ------------------------------------------------------------------------------

# (action in the audit, state, actor, call)
WRONG_ROLE = [
    pytest.param("approve", State.ON_REVIEW, EXEC,
                 lambda inc, who: approve(inc, who, draft(), NOW), id="executor-approves"),
    pytest.param("return", State.ON_REVIEW, EXEC,
                 lambda inc, who: return_draft(inc, who, "переделай", NOW),
                 id="executor-returns"),
    pytest.param("assign", State.NEW, EXEC,
                 lambda inc, who: assign(inc, who, OTHER, NOW), id="executor-assigns"),
    pytest.param("reassign", State.IN_PROGRESS, EXEC,
                 lambda inc, who: reassign(inc, who, OTHER, NOW), id="executor-reassigns"),
    pytest.param("publish", State.APPROVED, EXEC,
                 lambda inc, who: mark_published(inc, who, NOW), id="executor-publishes"),
    pytest.param("close", State.AWAITING_FEEDBACK, EXEC,
                 lambda inc, who: close(inc, who, NOW), id="executor-closes"),
    pytest.param("reopen", State.AWAITING_FEEDBACK, EXEC,
                 lambda inc, who: reopen(inc, who, "r", NOW), id="executor-reopens"),
    pytest.param("resume", State.WAITING, EXEC,
                 lambda inc, who: resume(inc, who, NOW), id="executor-resumes"),
    pytest.param("reject", State.ASSIGNED, EXEC,
                 lambda inc, who: reject(inc, who, "спам", NOW), id="executor-rejects"),
    pytest.param("redirect", State.IN_PROGRESS, EXEC,
                 lambda inc, who: redirect(inc, who, "МЧС", "", NOW), id="executor-redirects"),
    pytest.param("set_priority", State.IN_PROGRESS, EXEC,
                 lambda inc, who: set_priority(inc, who, Priority.URGENT, NOW, answer_due=NOW),
                 id="executor-sets-priority"),
    pytest.param("take", State.ASSIGNED, CURATOR,
                 lambda inc, who: take(inc, who, NOW), id="curator-takes"),
    pytest.param("decline", State.ASSIGNED, COORD,
                 lambda inc, who: decline(inc, who, "не моё", NOW), id="coordinator-declines"),
    pytest.param("submit", State.IN_PROGRESS, COORD,
                 lambda inc, who: submit(inc, who, draft(author=COORD), NOW),
                 id="coordinator-submits"),
    pytest.param("approve", State.ON_REVIEW, CURATOR,
                 lambda inc, who: approve(inc, who, draft(), NOW), id="curator-approves"),
]


@pytest.mark.parametrize(("action", "state", "actor", "call"), WRONG_ROLE)
def test_an_actor_without_the_role_is_refused(action: str, state: State, actor: Person,
                                              call: Callable[[Incident, Person], Outcome]
                                              ) -> None:
    before = incident(state, EXEC)
    assert_refused(refusal(lambda: call(before, actor)), "wrong_role", before, actor, action)


@pytest.mark.parametrize(("action", "state", "call"), [
    pytest.param("take", State.ASSIGNED, lambda inc, who: take(inc, who, NOW), id="take"),
    pytest.param("take", State.REOPENED, lambda inc, who: take(inc, who, NOW),
                 id="take-reopened"),
    pytest.param("decline", State.ASSIGNED,
                 lambda inc, who: decline(inc, who, "не моё", NOW), id="decline"),
    pytest.param("submit", State.IN_PROGRESS,
                 lambda inc, who: submit(inc, who, draft(author=OTHER), NOW), id="submit"),
])
def test_another_executor_cannot_act_on_someone_elses_incident(
        action: str, state: State, call: Callable[[Incident, Person], Outcome]) -> None:
    before = incident(state, EXEC)
    assert_refused(refusal(lambda: call(before, OTHER)), "not_assigned", before, OTHER, action)


def test_an_inactive_executor_cannot_take_their_own_incident() -> None:
    gone = replace(EXEC, active=False)
    before = incident(State.ASSIGNED, EXEC)
    assert_refused(refusal(lambda: take(before, gone, NOW)), "wrong_role", before, gone, "take")


def test_an_inactive_coordinator_cannot_approve() -> None:
    gone = replace(COORD, active=False)
    before = incident(State.ON_REVIEW, EXEC)
    assert_refused(refusal(lambda: approve(before, gone, draft(), NOW)), "wrong_role", before,
                   gone, "approve")


@pytest.mark.parametrize("executor", [
    pytest.param(replace(OTHER, active=False), id="inactive-executor"),
    pytest.param(COORD2, id="coordinator"),
    pytest.param(CURATOR, id="curator"),
])
def test_only_an_active_executor_can_be_given_an_incident(executor: Person) -> None:
    new = incident(State.NEW)
    assert_refused(refusal(lambda: assign(new, COORD, executor, NOW)), "not_an_executor", new,
                   COORD, "assign")
    held = incident(State.IN_PROGRESS, EXEC)
    assert_refused(refusal(lambda: reassign(held, COORD, executor, NOW)), "not_an_executor",
                   held, COORD, "reassign")


def test_reassign_to_the_same_executor_is_refused() -> None:
    before = incident(State.IN_PROGRESS, EXEC)
    assert_refused(refusal(lambda: reassign(before, COORD, EXEC, NOW)), "same_executor", before,
                   COORD, "reassign")


# --- guards: when -----------------------------------------------------------------------------

WRONG_STATE = [
    pytest.param("take", State.IN_PROGRESS, EXEC, lambda inc, who: take(inc, who, NOW),
                 id="take-in-progress"),
    pytest.param("decline", State.IN_PROGRESS, EXEC,
                 lambda inc, who: decline(inc, who, "не моё", NOW), id="decline-after-take"),
    pytest.param("submit", State.ASSIGNED, EXEC,
                 lambda inc, who: submit(inc, who, draft(), NOW), id="submit-before-take"),
    pytest.param("submit", State.ON_REVIEW, EXEC,
                 lambda inc, who: submit(inc, who, draft(), NOW), id="submit-twice"),
    pytest.param("approve", State.IN_PROGRESS, COORD,
                 lambda inc, who: approve(inc, who, draft(), NOW), id="approve-in-progress"),
    pytest.param("approve", State.APPROVED, COORD,
                 lambda inc, who: approve(inc, who, draft(), NOW), id="approve-twice"),
    pytest.param("return", State.APPROVED, COORD,
                 lambda inc, who: return_draft(inc, who, "ещё", NOW), id="return-after-approve"),
    pytest.param("publish", State.ON_REVIEW, COORD,
                 lambda inc, who: mark_published(inc, who, NOW), id="publish-before-approve"),
    pytest.param("close", State.APPROVED, COORD, lambda inc, who: close(inc, who, NOW),
                 id="close-before-publish"),
    pytest.param("close", State.IN_PROGRESS, COORD, lambda inc, who: close(inc, who, NOW),
                 id="close-in-progress"),
    pytest.param("reject", State.IN_PROGRESS, COORD,
                 lambda inc, who: reject(inc, who, "спам", NOW), id="reject-after-take"),
    pytest.param("assign", State.ASSIGNED, COORD,
                 lambda inc, who: assign(inc, who, OTHER, NOW), id="assign-assigned"),
    pytest.param("reassign", State.APPROVED, COORD,
                 lambda inc, who: reassign(inc, who, OTHER, NOW), id="reassign-approved"),
    pytest.param("reopen", State.IN_PROGRESS, COORD,
                 lambda inc, who: reopen(inc, who, "жалоба", NOW), id="reopen-in-progress"),
    pytest.param("resume", State.IN_PROGRESS, COORD, lambda inc, who: resume(inc, who, NOW),
                 id="resume-in-progress"),
    pytest.param("redirect", State.CLOSED, COORD,
                 lambda inc, who: redirect(inc, who, "МЧС", "", NOW), id="redirect-closed"),
    pytest.param("set_priority", State.REJECTED, COORD,
                 lambda inc, who: set_priority(inc, who, Priority.URGENT, NOW, answer_due=NOW),
                 id="priority-rejected"),
]


@pytest.mark.parametrize(("action", "state", "actor", "call"), WRONG_STATE)
def test_an_action_in_the_wrong_state_is_refused(action: str, state: State, actor: Person,
                                                 call: Callable[[Incident, Person], Outcome]
                                                 ) -> None:
    before = incident(state, EXEC)
    r = refusal(lambda: call(before, actor))
    assert_refused(r, "wrong_state", before, actor, action)
    assert r.detail == state.value


def test_approve_with_the_version_of_a_previous_review_round_is_refused() -> None:
    first_round = incident(State.ON_REVIEW, EXEC)
    returned = return_draft(first_round, COORD2, "нет фото", NOW,
                            version=first_round.version).incident
    second_round = submit(returned, EXEC, draft("Теперь с фото"), NOW).incident
    assert second_round.state is State.ON_REVIEW
    r = refusal(lambda: approve(second_round, COORD, draft(), NOW, version=first_round.version))
    assert_refused(r, "stale", second_round, COORD, "approve")
    # The card of the current round still works.
    approve(second_round, COORD, draft(), NOW, version=second_round.version)


@pytest.mark.parametrize(("action", "state", "actor", "call"), [
    pytest.param("take", State.ASSIGNED, EXEC,
                 lambda inc, who, v: take(inc, who, NOW, version=v), id="take"),
    pytest.param("decline", State.ASSIGNED, EXEC,
                 lambda inc, who, v: decline(inc, who, "не моё", NOW, version=v), id="decline"),
    pytest.param("return", State.ON_REVIEW, COORD,
                 lambda inc, who, v: return_draft(inc, who, "ещё", NOW, version=v), id="return"),
    pytest.param("publish", State.APPROVED, COORD,
                 lambda inc, who, v: mark_published(inc, who, NOW, version=v), id="publish"),
    pytest.param("close", State.AWAITING_FEEDBACK, COORD,
                 lambda inc, who, v: close(inc, who, NOW, version=v), id="close"),
    pytest.param("assign", State.NEW, COORD,
                 lambda inc, who, v: assign(inc, who, OTHER, NOW, version=v), id="assign"),
    pytest.param("reassign", State.IN_PROGRESS, COORD,
                 lambda inc, who, v: reassign(inc, who, OTHER, NOW, version=v), id="reassign"),
    pytest.param("reject", State.NEW, COORD,
                 lambda inc, who, v: reject(inc, who, "спам", NOW, version=v), id="reject"),
    pytest.param("redirect", State.NEW, COORD,
                 lambda inc, who, v: redirect(inc, who, "МЧС", "", NOW, version=v),
                 id="redirect"),
])
def test_a_press_on_an_outdated_card_is_refused(
        action: str, state: State, actor: Person,
        call: Callable[[Incident, Person, int], Outcome]) -> None:
    # The state is right for the action; only the card is older than the incident.
    current = incident(state, EXEC if state is not State.NEW else None, version=5)
    r = refusal(lambda: call(current, actor, 4))
    assert_refused(r, "stale", current, actor, action)
    assert call(current, actor, 5).incident.version == 6


def test_an_edit_approve_press_on_an_outdated_card_is_refused() -> None:
    current = incident(State.ON_REVIEW, EXEC, version=5)
    r = refusal(lambda: approve(current, COORD, draft(), NOW, edited_text="x", version=4))
    assert r.code == "stale"
    assert (r.audit.ok, r.audit.from_state, r.audit.to_state, r.audit.actor_id) == (
        False, State.ON_REVIEW, None, COORD.id)


def test_a_reopen_press_on_an_outdated_card_is_refused() -> None:
    awaiting = incident(State.AWAITING_FEEDBACK, EXEC)
    closed = close(awaiting, None, NOW).incident
    r = refusal(lambda: reopen(closed, COORD, "жалоба", NOW, version=awaiting.version))
    assert_refused(r, "stale", closed, COORD, "reopen")


# --- guards: what -----------------------------------------------------------------------------

BLANKS = ["", "   ", "\n\t"]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(("action", "state", "actor", "call"), [
    pytest.param("decline", State.ASSIGNED, EXEC,
                 lambda inc, who, t: decline(inc, who, t, NOW), id="decline"),
    pytest.param("return", State.ON_REVIEW, COORD,
                 lambda inc, who, t: return_draft(inc, who, t, NOW), id="return"),
    pytest.param("reject", State.ASSIGNED, COORD,
                 lambda inc, who, t: reject(inc, who, t, NOW), id="reject"),
    pytest.param("redirect", State.IN_PROGRESS, COORD,
                 lambda inc, who, t: redirect(inc, who, t, "заметка", NOW), id="redirect"),
    pytest.param("reopen", State.AWAITING_FEEDBACK, COORD,
                 lambda inc, who, t: reopen(inc, who, t, NOW), id="reopen"),
    pytest.param("edit_approve", State.ON_REVIEW, COORD,
                 lambda inc, who, t: approve(inc, who, draft(), NOW, edited_text=t),
                 id="edit_approve"),
    pytest.param("submit", State.IN_PROGRESS, EXEC,
                 lambda inc, who, t: submit(inc, who, draft(t), NOW), id="submit"),
])
def test_an_empty_reason_or_text_is_refused(action: str, state: State, actor: Person,
                                            call: Callable[[Incident, Person, str], Outcome],
                                            blank: str) -> None:
    before = incident(state, EXEC)
    assert_refused(refusal(lambda: call(before, actor, blank)), "empty_reason", before, actor,
                   action)


def test_reasons_are_stored_without_surrounding_blanks() -> None:
    before = incident(State.ASSIGNED, EXEC)
    out = decline(before, EXEC, "  не наш участок \n", NOW)
    assert out.audit.reason == "не наш участок"
    assert note_to(out, COORDINATORS).context["reason"] == "не наш участок"


# --- the system itself ------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "state", "to", "call"), [
    pytest.param("assign", State.NEW, State.ASSIGNED,
                 lambda inc: assign(inc, None, EXEC, NOW), id="assign"),
    pytest.param("publish", State.APPROVED, State.AWAITING_FEEDBACK,
                 lambda inc: mark_published(inc, None, NOW), id="publish"),
    pytest.param("reopen", State.AWAITING_FEEDBACK, State.REOPENED,
                 lambda inc: reopen(inc, None, "житель недоволен", NOW), id="reopen"),
    pytest.param("close", State.AWAITING_FEEDBACK, State.CLOSED,
                 lambda inc: close(inc, None, NOW), id="close"),
    pytest.param("resume", State.WAITING, State.IN_PROGRESS,
                 lambda inc: resume(inc, None, NOW), id="resume"),
])
def test_the_system_may_act_without_a_person(action: str, state: State, to: State,
                                             call: Callable[[Incident], Outcome]) -> None:
    before = incident(state, EXEC if state is not State.NEW else None,
                      approved_kind=DraftKind.FINAL if state is State.APPROVED else None)
    out = call(before)
    assert out.incident.state is to
    assert out.audit.actor_id is None
    assert out.audit.ok is True
    assert out.incident.version == before.version + 1


def test_the_system_still_respects_the_state() -> None:
    before = incident(State.IN_PROGRESS, EXEC)
    assert_refused(refusal(lambda: close(before, None, NOW)), "wrong_state", before, None,
                   "close")


# --- the whole life ---------------------------------------------------------------------------


def test_the_whole_life_of_an_incident() -> None:
    out = register(N, source="incident_management", text="Яма во дворе", category="roads_pits",
                   department="roads", priority=Priority.NORMAL, now=NOW, actor=None)
    audits = [out.audit]

    def step(o: Outcome, state: State) -> Incident:
        assert o.incident.state is state
        assert o.incident.version == len(audits)
        assert o.audit.from_state is audits[-1].to_state
        audits.append(o.audit)
        return o.incident

    inc = out.incident
    inc = step(assign(inc, None, OTHER, NOW, version=inc.version), State.ASSIGNED)
    inc = step(decline(inc, OTHER, "Это не наш участок", NOW, version=inc.version), State.NEW)
    assert inc.executor_id is None
    inc = step(assign(inc, COORD, EXEC, NOW, version=inc.version), State.ASSIGNED)
    assert inc.executor_id == EXEC.id
    inc = step(take(inc, EXEC, NOW, version=inc.version), State.IN_PROGRESS)
    inc = step(submit(inc, EXEC, draft("Заделаем"), NOW), State.ON_REVIEW)
    inc = step(return_draft(inc, COORD, "Приложите фото", NOW, version=inc.version),
               State.IN_PROGRESS)
    inc = step(submit(inc, EXEC, draft("Заделали, фото прилагаем"), NOW), State.ON_REVIEW)
    edited = "Уважаемый житель! Яма заделана, фото прилагаем."
    inc = step(approve(inc, COORD, draft("Заделали, фото прилагаем"), NOW, edited_text=edited,
                       version=inc.version), State.APPROVED)
    assert (inc.approved_text, inc.approved_kind) == (edited, DraftKind.FINAL)
    inc = step(mark_published(inc, COORD, NOW, version=inc.version), State.AWAITING_FEEDBACK)
    inc = step(reopen(inc, None, "Яма снова появилась", NOW), State.REOPENED)
    assert inc.executor_id == EXEC.id
    inc = step(take(inc, EXEC, NOW, version=inc.version), State.IN_PROGRESS)
    inc = step(submit(inc, EXEC, draft("Заделали повторно"), NOW), State.ON_REVIEW)
    inc = step(approve(inc, COORD, draft("Заделали повторно"), NOW, version=inc.version),
               State.APPROVED)
    assert inc.approved_text == "Заделали повторно"
    inc = step(mark_published(inc, None, NOW, version=inc.version), State.AWAITING_FEEDBACK)
    inc = step(close(inc, None, NOW, version=inc.version), State.CLOSED)

    assert [a.action for a in audits] == [
        "register", "assign", "decline", "assign", "take", "submit", "return", "submit",
        "edit_approve", "publish", "reopen", "take", "submit", "approve", "publish", "close",
    ]
    assert [a.actor_id for a in audits] == [
        None, None, OTHER.id, COORD.id, EXEC.id, EXEC.id, COORD.id, EXEC.id,
        COORD.id, COORD.id, None, EXEC.id, EXEC.id, COORD.id, None, None,
    ]
    assert all(a.ok for a in audits)
    assert not inc.state.is_open


def test_an_interim_answer_waits_then_asks_for_the_final_one() -> None:
    inc = incident(State.IN_PROGRESS, EXEC)
    interim = Draft(N, EXEC.id, "Работы запланированы на 1 декабря", DraftKind.INTERIM,
                    promised_date=NOW + timedelta(days=8))
    inc = submit(inc, EXEC, interim, NOW).incident
    out = approve(inc, COORD, interim, NOW, version=inc.version)
    assert (out.incident.approved_kind, out.incident.approved_text) == (
        DraftKind.INTERIM, interim.text)
    out = mark_published(out.incident, COORD, NOW, version=out.incident.version)
    assert out.incident.state is State.WAITING
    out = resume(out.incident, None, NOW + timedelta(days=8))
    assert out.incident.state is State.IN_PROGRESS
    assert out.incident.version == 7  # 3 + submit, approve, publish, resume
    assert [(n.to, n.template, n.buttons) for n in out.notifications] == [
        (EXEC.id, "final_due", ANSWER)]
    # The final round runs like any other.
    inc = submit(out.incident, EXEC, draft("Готово, фото прилагаем"), NOW).incident
    inc = approve(inc, COORD, draft("Готово, фото прилагаем"), NOW).incident
    assert mark_published(inc, COORD, NOW).incident.state is State.AWAITING_FEEDBACK


# --- buttons by role and state ----------------------------------------------------------------


@pytest.mark.parametrize("state", [State.ASSIGNED, State.REOPENED])
def test_the_executor_gets_take_and_decline_on_their_card(state: State) -> None:
    assert actions_for(incident(state, EXEC), EXEC) == CARD


def test_the_executor_gets_answer_while_in_progress() -> None:
    assert actions_for(incident(State.IN_PROGRESS, EXEC), EXEC) == ANSWER


@pytest.mark.parametrize("state", [State.ON_REVIEW, State.APPROVED, State.WAITING,
                                   State.AWAITING_FEEDBACK, State.CLOSED])
def test_the_executor_gets_no_buttons_while_others_decide(state: State) -> None:
    assert actions_for(incident(state, EXEC), EXEC) == ()


@pytest.mark.parametrize("state", [State.ASSIGNED, State.IN_PROGRESS, State.REOPENED])
def test_nobody_gets_buttons_on_someone_elses_incident(state: State) -> None:
    inc = incident(state, EXEC)
    assert actions_for(inc, OTHER) == ()
    # The curator may only nudge the executor.
    assert actions_for(inc, CURATOR) == ((Button("remind", N),),)
    assert actions_for(inc, replace(EXEC, active=False)) == ()


def test_the_coordinator_reviews_with_approve_return_edit_and_reassign() -> None:
    rows = actions_for(incident(State.ON_REVIEW, EXEC), COORD)
    assert rows[:2] == REVIEW
    assert "published" not in actions(rows)


def test_the_coordinator_gets_published_on_an_approved_answer() -> None:
    assert actions_for(incident(State.APPROVED, EXEC), COORD) == ((Button("published", N),),)


def test_the_coordinator_gets_close_and_reopen_while_awaiting_feedback() -> None:
    assert actions_for(incident(State.AWAITING_FEEDBACK, EXEC), COORD) == (
        (Button("close", N), Button("reopen", N)),)


def test_the_coordinator_triages_a_new_incident() -> None:
    rows = actions_for(incident(State.NEW), COORD)
    assert rows[:2] == TRIAGE
    assert actions(rows)[3:] == ["priority", "urgent", "extend", "due", "source", "recat",
                                 "policy", "first_response"]
    # An incident found by a source keeps its source; its category (the detection's guess)
    # and its policy may still change.
    fixed = actions(actions_for(incident(State.NEW), COORD, source_fixed=True))
    assert "source" not in fixed and "recat" in fixed and "policy" in fixed


@pytest.mark.parametrize(("current", "flip"), [(Priority.NORMAL, "fast_track"),
                                               (Priority.FAST_TRACK, "normal")])
def test_the_priority_button_flips_fast_track(current: Priority, flip: str) -> None:
    rows = actions_for(incident(State.IN_PROGRESS, EXEC, priority=current), COORD)
    assert rows == ((Button("reassign", N), Button("redirect", N)),
                    (Button("priority", N, flip), Button("urgent", N)),
                    (Button("extend", N), Button("due", N)),
                    (Button("source", N), Button("recat", N), Button("policy", N)),
                    (Button("first_response", N),),
                    (Button("remind", N),))


def test_nothing_but_reopen_is_offered_on_a_finished_incident() -> None:
    # A closed incident may still be reopened by the coordinator; the rest is over.
    assert actions_for(incident(State.CLOSED, EXEC), COORD) == ((Button("reopen", N),),)
    for state in (State.REDIRECTED, State.REJECTED):
        assert actions_for(incident(state, EXEC), COORD) == ()


def test_an_inactive_coordinator_gets_no_buttons() -> None:
    assert actions_for(incident(State.ON_REVIEW, EXEC), replace(COORD, active=False)) == ()
