"""One problem, many complaints (issue 14.4): a complaint like an open one at the same
address is offered to merge, and nothing is merged without the press; the problem's answer is
published under every complaint (the real vk_api against the fake VK API); an unmerge gives a
complaint back its own life."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.reports import build_report
from fakes.vk import GROUP_ID, FakeVkServer
from tests.harness import COORDINATOR, PETROV, SIDOROVA, Harness
from tests.test_vk_source import (
    ANSWER,
    DISTRICT,
    NEIGHBOUR,
    RESIDENT,
    answer_and_approve,
    otklik,  # noqa: F401  (the fixture)
    poll,
    publish,
    vk,  # noqa: F401  (the fixture)
    wall_post,
)
from workflows import problems
from workflows.commands import Unmerge
from workflows.model import Incident, Person, Priority, Role, State
from workflows.transitions import Refused

THIRD = 7000003
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def suggestions(otklik: Harness) -> list[str]:  # noqa: F811
    return [t for t in otklik.texts(COORDINATOR) if "похож на проблему" in t]


# --- the pure grouping -----------------------------------------------------------------------

def inc(n: int, text: str, *, address: str | None = None, category: str = "roads",
        at: datetime = NOW, state: State = State.ASSIGNED) -> Incident:
    return Incident(n, state, "vk", text, category, category, 2, Priority.NORMAL, at,
                    address=address)


def words(text: str) -> tuple[str, ...]:
    return tuple(w.strip(".,!").lower() for w in text.split() if len(w) > 2)


def cand(i: Incident, n: int = 0) -> problems.Candidate:
    return problems.Candidate(i, words(i.text), n)


def test_the_same_address_groups_and_an_unrelated_complaint_does_not() -> None:
    lead = inc(1, "Яма у дома", address="ул. Ленина, д. 5", at=NOW - timedelta(days=2))
    other = inc(2, "Нет света во дворе", address="ул. Кирова, д. 1", at=NOW - timedelta(days=1))
    new = inc(3, "Опять яма, подвеску разбил", address="ул. Ленина, д. 5")
    found = problems.match(new, words(new.text), [cand(lead, 4), cand(other)])
    assert found is not None and (found.lead.id, found.complaints, found.by) == (1, 4, "address")
    unrelated = inc(4, "Не вывозят мусор с площадки", address="ул. Мира, д. 9")
    assert problems.match(unrelated, words(unrelated.text), [cand(lead), cand(other)]) is None
    # A problem is of one municipality: the same address in another one is another place.
    elsewhere = replace(new, municipality="pr")
    assert problems.match(elsewhere, words(new.text), [cand(lead, 4), cand(other)]) is None


def test_close_text_groups_within_the_window_and_the_category_only() -> None:
    lead = inc(1, "На перекрёстке Кирова и Ленина огромная яма на дороге")
    new = inc(2, "Огромная яма на дороге на перекрёстке Кирова", at=NOW + timedelta(hours=3))
    found = problems.match(new, words(new.text), [cand(lead)])
    assert found is not None and found.by == "text" and found.score >= problems.THRESHOLD
    late = inc(2, new.text, at=NOW + timedelta(days=8))
    assert problems.match(late, words(late.text), [cand(lead)]) is None
    housing = inc(2, new.text, category="housing", at=NOW + timedelta(hours=1))
    assert problems.match(housing, words(housing.text), [cand(lead)]) is None
    closed = inc(1, lead.text, state=State.CLOSED)
    assert problems.match(new, words(new.text), [cand(closed)]) is None
    # A complaint already merged is no problem of its own.
    merged = inc(1, lead.text, state=State.MERGED)
    assert problems.match(new, words(new.text), [cand(merged)]) is None
    # Close text never joins two different known places; an unknown place may still join.
    here = inc(1, "Огромная яма на дороге, машины бьют колёса", address="ул. Школьная, д. 12")
    there = inc(2, "Огромная яма на дороге, машины бьют колёса", address="ул. Садовая, д. 3",
                at=NOW + timedelta(hours=1))
    assert problems.match(there, words(there.text), [cand(here)]) is None
    nowhere = inc(2, there.text, at=NOW + timedelta(hours=1))
    found = problems.match(nowhere, words(nowhere.text), [cand(here)])
    assert found is not None and found.by == "text"


def test_merging_never_crosses_departments_nor_merges_into_itself() -> None:
    coordinator = Person(1, "Координатор", frozenset({Role.COORDINATOR}))
    a, b = inc(1, "Яма"), inc(2, "Яма", category="housing")
    for lead, code in ((b, "not_same_problem"), (a, "same_incident"),
                       (inc(3, "Яма", state=State.MERGED), "wrong_state")):
        with pytest.raises(Refused) as refused:
            problems.merge(a, lead, coordinator, NOW)
        assert refused.value.code == code and not refused.value.audit.ok
    out = problems.merge(a, inc(3, "Яма"), coordinator, NOW)
    assert (out.incident.state, out.incident.executor_id) == (State.MERGED, None)
    executor = Person(2, "Петров", frozenset({Role.EXECUTOR}), frozenset({"roads"}))
    with pytest.raises(Refused):
        problems.merge(a, inc(3, "Яма"), executor, NOW)


# --- through the chat and VK -----------------------------------------------------------------

async def three_complaints(otklik: Harness, vk: FakeVkServer, *,  # noqa: F811
                           merge: bool = False) -> list[tuple[int, int]]:
    """Three residents under three posts about the same pothole: (post, comment) each
    (``merge``: the coordinator merges each as it is offered)."""
    vk.add_user(THIRD, "Третий", "Житель")
    out = []
    for author, text in ((RESIDENT, "Во дворе дома 5 по улице Ленина огромная яма"),
                         (NEIGHBOUR, "На ул. Ленина, д. 5 яма, машины бьются"),
                         (THIRD, "Яма во дворе дома 5 на улице Ленина, когда засыплют?")):
        post = wall_post(vk)
        comment = vk.add_comment(DISTRICT, post, text, author)
        out.append((post, int(comment["id"])))
        await poll(otklik)
        if merge and len(out) > 1:
            await otklik.press(COORDINATOR, "merge", len(out))
    return out


async def test_a_similar_complaint_is_offered_to_merge_and_an_unrelated_one_is_not(
        otklik: Harness, vk: FakeVkServer) -> None:  # noqa: F811
    await three_complaints(otklik, vk)
    assert [await otklik.incident(n) for n in (1, 2, 3)] != [None] * 3
    offers = suggestions(otklik)
    assert len(offers) == 2 and "Инцидент №2 похож на проблему №1 (1 жалоба)" in offers[0]
    assert "ул. Ленина, д. 5" in offers[0]
    # Nothing is merged without the press.
    assert (await otklik.incident(2)).state == "assigned"
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Холодные батареи в доме 7 по улице Мира", RESIDENT)
    await poll(otklik)
    assert (await otklik.incident(4)).category == "housing"
    assert len(suggestions(otklik)) == 2  # the unrelated one is offered to nobody
    await otklik.press(COORDINATOR, "separate", 2)
    assert (await otklik.incident(2)).state == "assigned"
    assert any(e.action == "problem_separate" and e.incident_id == 2
               for e in await otklik.audit())


async def test_a_problem_of_three_vk_complaints_gets_one_answer_published_three_times(
        otklik: Harness, vk: FakeVkServer, tmp_path: Path) -> None:  # noqa: F811
    threads = await three_complaints(otklik, vk, merge=True)
    assert "Жалоба №3 объединена с проблемой №1" in otklik.last_text(COORDINATOR)
    assert "№3 похож на проблему №1 (2 жалобы)" in suggestions(otklik)[-1]
    for n in (2, 3):
        complaint = await otklik.incident(n)
        assert (complaint.state, complaint.executor_id) == ("merged", None)
    # Routing gave the complaints to another executor: she is told they left her queue.
    assert "Инцидент №3 объединён с проблемой №1" in otklik.last_text(SIDOROVA)
    await otklik.say(COORDINATOR, "/incident 1")
    assert "Проблема №1: 3 жалобы" in otklik.last_text(COORDINATOR)
    # The executor's queue holds the problem only, and says so.
    await otklik.say(PETROV, "/my")
    assert "Проблема №1: 3 жалобы" in otklik.last_text(PETROV)
    assert "№2 ·" not in otklik.last_text(PETROV)

    await answer_and_approve(otklik, 1)
    await publish(otklik)

    for post, comment in threads:
        (reply,) = [c for c in vk.comments(DISTRICT, post) if c["from_id"] == -GROUP_ID]
        assert (reply["reply_to_comment"], reply["text"]) == (comment, ANSWER)
    assert len(vk.calls_to("wall.createComment")) == 3
    assert (await otklik.incident(1)).state == "awaiting_feedback"
    audit = await otklik.audit()
    assert {e.incident_id for e in audit if e.action == "problem_published" and e.ok} == {2, 3}
    # A second sweep posts nothing more.
    await publish(otklik)
    assert len(vk.calls_to("wall.createComment")) == 3
    # The note counts the problem and its complaints apart.
    assert otklik.app is not None
    now = otklik.app.clock()
    report = await build_report(otklik.app.config, otklik.app.store, now - timedelta(days=1),
                                now + timedelta(hours=1), out_dir=tmp_path, now=now)
    assert "Проблемы (несколько жалоб об одном): <b>1</b>, жалоб в них: <b>3</b>" in report.text


async def test_unmerge_gives_the_complaint_back_its_state_and_executor(
        otklik: Harness, vk: FakeVkServer) -> None:  # noqa: F811
    await three_complaints(otklik, vk)
    before = await otklik.incident(2)
    assert before.state == "assigned" and before.executor_id is not None
    await otklik.press(COORDINATOR, "merge", 2)
    await otklik.say(COORDINATOR, "/incident 2")
    assert "Проблема №1: 2 жалобы" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "unmerge", 2)
    complaint = await otklik.incident(2)
    assert (complaint.state, complaint.executor_id) == ("assigned", before.executor_id)
    entries = [e for e in await otklik.audit() if e.incident_id == 2 and e.ok]
    assert [e.action for e in entries][-2:] == ["merge", "unmerge"]
    # Its own again: the problem has no complaints, and a second unmerge is refused.
    await otklik.say(COORDINATOR, "/incident 1")
    assert "Проблема №1" not in otklik.last_text(COORDINATOR)
    assert otklik.app is not None
    usecases = otklik.app.usecases
    coordinator = await usecases.queries.person_for_chat("telegram", COORDINATOR.id)
    assert coordinator is not None
    result = await usecases.actions.act(coordinator, 2, Unmerge())
    assert (result.ok, result.code) == (False, "wrong_state")


async def test_the_interim_and_the_final_answer_of_a_problem_reach_every_complaint(
        otklik: Harness, vk: FakeVkServer) -> None:  # noqa: F811
    threads = await three_complaints(otklik, vk, merge=True)
    interim = "Ремонт включён в план, выполним до конца недели."
    await otklik.press(PETROV, "take", 1)
    await otklik.say(PETROV, interim)
    await otklik.press(PETROV, "interim", 1)
    await otklik.press(PETROV, "promise", 1, label="Через 3 дня")
    await otklik.press(PETROV, "submit", 1)
    await otklik.press(COORDINATOR, "approve", 1)
    await publish(otklik)
    lead = await otklik.incident(1)
    assert lead.state == "waiting" and lead.promised_at is not None
    otklik.clock.now = lead.promised_at + timedelta(minutes=1)
    await publish(otklik)  # the promised date: the lead is back in work
    assert (await otklik.incident(1)).state == "in_progress"
    await otklik.press(PETROV, "answer", 1)
    await otklik.say(PETROV, ANSWER)
    await otklik.press(PETROV, "submit", 1)
    await otklik.press(COORDINATOR, "approve", 1)
    await publish(otklik)

    for post, comment in threads:
        replies = [c for c in vk.comments(DISTRICT, post) if c["from_id"] == -GROUP_ID]
        assert [(r["reply_to_comment"], r["text"]) for r in replies] == [
            (comment, interim), (comment, ANSWER)]
