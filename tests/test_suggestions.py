"""Suggestions from what was approved before (issue 14): a new complaint like one answered
before gets *Как в №…* buttons with a one-line preview on the card and in the draft prompt; a
press — and only a press — puts that answer into the draft to edit; nothing is suggested for
an unrelated complaint, nor from a department the executor does not work in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakes.telegram import FakeTelegramServer, FakeUser
from fakes.vk import FakeVkServer
from tests import test_vk_chat as vkt
from tests.harness import COORDINATOR, PETROV, SIDOROVA, Harness
from tests.test_answer_templates import buttons_of
from tests.test_lifecycle import register
from workflows.model import Person, Role
from workflows.suggestions import Past, SuggestionIndex, preview
from workflows.visibility import answer_scope

PAST = "Яма на дороге по улице Школьной 12, машины бьют колёса"
ANSWER = ("Уважаемый житель! Яму на улице Школьной, 12 заделали холодным асфальтом 24 ноября. "
          "Фото прилагается.")
SIMILAR = "Глубокая яма на дороге на улице Садовой, машины бьют колёса"
UNRELATED = "Не горит светофор на перекрёстке Мира и Гагарина уже неделю"
BY_NAME = {"Петров Павел": PETROV, "Сидорова Мария": SIDOROVA}


async def executor_of(otklik: Harness, n: int) -> FakeUser:
    incident = await otklik.incident(n)
    people = await otklik.app.usecases.queries.people()  # type: ignore[union-attr]
    return BY_NAME[next(p.name for p in people if p.id == incident.executor_id)]


async def answered(otklik: Harness, text: str, answer: str, by: FakeUser | None = None) -> int:
    """An incident taken, answered, approved and published: its answer is now suggestible."""
    n = await register(otklik, text)
    if by is not None:
        await assign(otklik, n, by)
    who = await executor_of(otklik, n)
    await otklik.press(who, "take", n)
    await otklik.say(who, answer)
    await otklik.press(who, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    assert (await otklik.incident(n)).state == "awaiting_feedback"
    return n


async def assign(otklik: Harness, n: int, who: FakeUser) -> None:
    if await executor_of(otklik, n) is not who:
        await otklik.press(COORDINATOR, "reassign", n)
        await otklik.press(COORDINATOR, "to", n, label=who.last_name)
    assert await executor_of(otklik, n) is who


def card_of(otklik: Harness, user: FakeUser, n: int) -> tuple[str, list[str]]:
    call = next(c for c in reversed(otklik.server.sent_to(user.id))
                if f"Инцидент №{n}" in (c.text or "") and c.buttons)
    return call.text or "", [b["text"] for row in call.buttons for b in row]


# --- the pure core ---------------------------------------------------------------------------


def w(text: str) -> list[str]:
    return text.split()


def test_the_index_ranks_like_complaints_and_keeps_to_the_category_and_scope() -> None:
    index = SuggestionIndex()
    index.add(Past(1, "roads", "roads", 10), w("яма дорога улица колесо"))
    index.add(Past(2, "roads", "roads", 10), w("разметка стереться переход"))
    index.add(Past(3, "roads", "district", 11), w("яма дорога колесо"))
    index.add(Past(4, "housing", "housing", 12), w("яма двор дорога"))
    query = w("большой яма дорога колесо")
    for compacted in (False, True):  # the same answers before and after a compaction
        found = index.query(query, category="roads", scope=None)
        assert [n for n, _ in found] == [3, 1], compacted
        assert index.query(w("светофор гореть"), category="roads", scope=None) == []
        index.compact()
    executor = Person(10, "Петров", frozenset({Role.EXECUTOR}), frozenset({"roads"}))
    assert [n for n, _ in index.query(query, category="roads",
                                      scope=answer_scope(executor))] == [1]
    coordinator = Person(1, "Иванова", frozenset({Role.COORDINATOR}))
    assert answer_scope(coordinator) is None
    # The incident itself is never offered; an incident answered again keeps its newest words.
    assert [n for n, _ in index.query(query, category="roads", scope=None, exclude=3)] == [1]
    index.add(Past(1, "roads", "roads", 10), w("разметка переход"))
    assert [n for n, _ in index.query(query, category="roads", scope=None)] == [3]
    assert len(index) == 4 and index.pending == 1
    assert preview("Уважаемый  житель!\nЯму   заделали.") == "Уважаемый житель! Яму заделали."
    assert preview("а" * 100, 10) == "а" * 9 + "…"


# --- Telegram --------------------------------------------------------------------------------


async def test_a_similar_complaint_gets_the_past_answer_to_edit_and_an_unrelated_one_not(
        otklik: Harness) -> None:
    past = await answered(otklik, PAST, ANSWER)
    n = await register(otklik, SIMILAR)
    who = await executor_of(otklik, n)  # both executors work on roads
    text, labels = card_of(otklik, who, n)
    assert f"💡 Как в №{past}" in labels
    assert f"• №{past}: Уважаемый житель! Яму на улице Школьной, 12 заделали" in text
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]

    # The press takes the incident and puts the answer into the draft, to be edited.
    await otklik.press(who, "sug", n, label=f"№{past}")
    assert (await otklik.incident(n)).state == "in_progress"
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == ANSWER
    assert f"согласованный по инциденту №{past}, добавлен в проект" in otklik.texts(who)[-2]
    assert otklik.last_text(who).startswith("📝 Проект") and "Школьной" in otklik.last_text(who)
    edited = ANSWER.replace("Школьной, 12", "Садовой, 3")
    await otklik.press(who, "edit_text", n)
    await otklik.say(who, edited)
    await otklik.press(who, "submit", n)
    assert (await otklik.incident(n)).state == "on_review"
    assert "Садовой, 3" in otklik.last_text(COORDINATOR)

    # An unrelated complaint of the same category: no suggestion, on the card or when taken.
    m = await register(otklik, UNRELATED)
    other = await executor_of(otklik, m)
    text, labels = card_of(otklik, other, m)
    assert not any("Как в" in x for x in labels) and "Похожие" not in text
    await otklik.press(other, "take", m)
    assert not any("Как в" in x for x in buttons_of(otklik, other.id, f"по инциденту №{m}"))


async def test_the_draft_prompt_offers_suggestions_published_since_the_card(
        otklik: Harness) -> None:
    n = await register(otklik, SIMILAR)
    who = await executor_of(otklik, n)
    assert not any("Как в" in x for x in card_of(otklik, who, n)[1])
    past = await answered(otklik, PAST, ANSWER)  # published after the card went out
    suggester = otklik.app.usecases.answers.suggester  # type: ignore[union-attr]
    assert await suggester.refresh(compact=True) == 1  # the scheduler's detection job
    assert suggester.index.pending == 0 and len(suggester.index) == 1
    await otklik.press(who, "take", n)
    prompt = next(t for t in reversed(otklik.texts(who)) if f"по инциденту №{n}" in t)
    assert f"• №{past}: Уважаемый житель!" in prompt
    assert f"💡 Как в №{past}" in buttons_of(otklik, who.id, f"по инциденту №{n}")
    await otklik.say(who, "Добрый день.")
    await otklik.press(who, "sug", n)
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "Добрый день.\n\n" + ANSWER


async def test_no_suggestion_from_a_department_the_executor_does_not_work_in(
        otklik: Harness) -> None:
    past = await answered(otklik, PAST, ANSWER, by=SIDOROVA)
    # The past incident was the housing department's (Сидорова works there, Петров not).
    async with otklik.app.store.write() as uow:  # type: ignore[union-attr]
        await uow.conn.execute("UPDATE incidents SET department = 'housing' WHERE id = ?",
                               (past,))
    n = await register(otklik, SIMILAR)
    await assign(otklik, n, PETROV)
    text, labels = card_of(otklik, PETROV, n)
    assert not any("Как в" in x for x in labels) and "Школьной" not in text
    # A forged press with the hidden incident's number fills nothing.
    await otklik.press(PETROV, "take", n)
    call = otklik.server.sent_to(PETROV.id)[-1]
    otklik.server.callback(PETROV, call, f"i:sug:{n}:-1:{past}")
    await otklik.step()
    assert "предложить нельзя" in otklik.alerts(PETROV)[-1]
    for forged in ("abc", "0", str(n)):  # not a number, out of range, the incident itself
        otklik.server.callback(PETROV, call, f"i:sug:{n}:-1:{forged}")
        await otklik.step()
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]
    # Сидорова, who works in housing, is offered it on her own similar incident.
    m = await register(otklik, SIMILAR + ", двор дома 5")
    await assign(otklik, m, SIDOROVA)
    assert f"💡 Как в №{past}" in card_of(otklik, SIDOROVA, m)[1]
    # Her press works after a restart too (the card outlives the in-memory index).
    await otklik.restart()
    await otklik.press(SIDOROVA, "sug", m, label=f"№{past}")
    draft = await otklik.app.usecases.queries.draft(m)  # type: ignore[union-attr]
    assert draft is not None and draft.text == ANSWER


# --- the VK chat -----------------------------------------------------------------------------


@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    async with FakeVkServer(tokens={vkt.VK_TOKEN: "group"}) as server:
        yield server


@pytest.fixture
async def vk_otklik(server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path
                    ) -> AsyncIterator[vkt.VkHarness]:
    async with vkt.running(server, vk, tmp_path, "") as h:
        yield h


async def test_an_executor_in_vk_answers_with_a_suggestion(vk_otklik: vkt.VkHarness) -> None:
    otklik = vk_otklik
    past = await otklik.register(PAST)
    await otklik.vk_press(vkt.VASILIEV, "take", past)
    await otklik.vk_say(vkt.VASILIEV, ANSWER)
    await otklik.vk_press(vkt.VASILIEV, "submit", past)
    await otklik.press(COORDINATOR, "approve", past)
    await otklik.press(COORDINATOR, "published", past)

    n = await otklik.register(SIMILAR)
    [card] = [m for m in otklik.vk.messages_to(vkt.VASILIEV) if f"Инцидент №{n}" in m["text"]]
    assert f"№{past}: Уважаемый житель!" in card["text"]
    labels = [b["action"]["label"] for row in card["keyboard"]["buttons"] for b in row]
    assert f"💡 Как в №{past}" in labels
    await otklik.vk_press(vkt.VASILIEV, "sug", n)
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and draft.text == ANSWER
    assert (await otklik.incident(n)).state == "in_progress"


class _Answers:
    """The answers table of a store, as the suggester reads it: ``rows`` published answers."""

    def __init__(self, rows: int) -> None:
        self.rows = [{"id": k, "incident_id": k, "text": f"яма на улице номер {k}",
                      "category": "roads", "department": "roads", "executor_id": 1}
                     for k in range(1, rows + 1)]

    async def finals_after(self, after: int, limit: int) -> list[dict[str, object]]:
        return [r for r in self.rows if int(r["id"]) > after][:limit]  # type: ignore[call-overload]


class _Store:
    def __init__(self, rows: int) -> None:
        self.answers = _Answers(rows)

    def read(self) -> object:
        store = self

        class Unit:
            async def __aenter__(self) -> _Store:
                return store

            async def __aexit__(self, *exc: object) -> None:
                return None

        return Unit()


async def test_a_long_catch_up_compacts_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents not compacted are scored one by one at every query: a catch-up of many
    answers (after a start) compacts each time enough are pending, not only at its end."""
    import bot.suggestions as suggestions

    monkeypatch.setattr(suggestions, "BATCH", 2)
    monkeypatch.setattr(suggestions, "COMPACT_AT", 3)
    suggester = suggestions.Suggester(_Store(7), str.split)  # type: ignore[arg-type]
    pending_at_compaction: list[int] = []
    compact = suggester.index.compact

    def counted() -> None:
        pending_at_compaction.append(suggester.index.pending)
        compact()

    monkeypatch.setattr(suggester.index, "compact", counted)
    assert await suggester.refresh() == 7
    # Batches of 2: compacted at 4 pending and again at 3 (the last batch), never more.
    assert pending_at_compaction == [4, 3]
    assert suggester.index.pending == 0 and len(suggester.index) == 7
    assert suggester.index.query(["яма", "улице"], category="roads", scope=None)
