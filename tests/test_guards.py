"""Every press or message from someone who may not act is refused politely and audited."""

from __future__ import annotations

from tests.harness import (
    COORDINATOR,
    CURATOR,
    PETROV,
    SIDOROVA,
    STRANGER,
    Harness,
    incident_number,
)


async def register(otklik: Harness, text: str = "Яма на Ленина", category: str = "Дороги") -> int:
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label=category)
    return incident_number(otklik.last_text(COORDINATOR))


def refusals(entries: list, action: str) -> list:
    return [e for e in entries if e.action == action and not e.ok]


async def test_stranger_is_told_politely_and_nothing_else_happens(otklik: Harness) -> None:
    n = await register(otklik)
    before = len(otklik.server.calls)
    await otklik.say(STRANGER, "Привет, у меня жалоба")
    assert "не зарегистрированы" in otklik.last_text(STRANGER)
    # A forged button press (a callback with a real-looking payload) changes nothing.
    call, data = otklik.button(PETROV, "take", n)
    otklik.server.callback(STRANGER, call, data)
    await otklik.step()
    assert (await otklik.incident(n)).state == "assigned"
    assert any("не зарегистрированы" in a for a in otklik.alerts(STRANGER))
    sent_elsewhere = [c for c in otklik.server.calls[before:]
                      if c.chat_id not in (None, STRANGER.id)]
    assert sent_elsewhere == []
    stranger_rows = refusals(await otklik.audit(), "stranger")
    assert len(stranger_rows) == 2 and all(str(STRANGER.id) in e.reason for e in stranger_rows)


async def test_another_executor_cannot_take(otklik: Harness) -> None:
    n = await register(otklik)
    call, data = otklik.button(PETROV, "take", n)
    otklik.server.callback(SIDOROVA, call, data)
    await otklik.step()
    assert "назначен другому исполнителю" in otklik.alerts(SIDOROVA)[-1]
    assert (await otklik.incident(n)).state == "assigned"
    (row,) = refusals(await otklik.audit(), "take")
    assert (row.incident_id, row.reason) == (n, "not_assigned")


async def test_curator_cannot_approve(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Засыпали")
    await otklik.press(PETROV, "submit", n)
    call, data = otklik.button(COORDINATOR, "approve", n)
    otklik.server.callback(CURATOR, call, data)
    await otklik.step()
    assert "нет прав" in otklik.alerts(CURATOR)[-1]
    assert (await otklik.incident(n)).state == "on_review"
    (row,) = refusals(await otklik.audit(), "approve")
    assert (row.actor_id is not None, row.reason) == (True, "wrong_role")


async def test_button_pressed_twice_gets_a_clear_answer(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    await otklik.press(PETROV, "take", n)
    assert "Карточка устарела" in otklik.alerts(PETROV)[-1]
    audit = await otklik.audit()
    assert [e.action for e in audit if e.ok and e.incident_id == n].count("take") == 1
    assert refusals(audit, "take")[0].reason == "stale"


async def test_wrong_state_is_refused(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    # Submitting with no text at all: the executor is told what is missing.
    await otklik.say(PETROV, photo=b"only a photo")
    await otklik.press(PETROV, "submit", n)
    assert "Сначала напишите текст" in otklik.alerts(PETROV)[-1]
    await otklik.say(PETROV, "Засыпали")
    await otklik.press(PETROV, "submit", n)
    # Now on review: the draft can no longer be changed by the executor.
    await otklik.press(PETROV, "clear_attachments", n)
    assert "другом статусе" in otklik.alerts(PETROV)[-1]
    assert refusals(await otklik.audit(), "draft_clear")[0].reason == "wrong_state"
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and len(draft.attachments) == 1


async def test_outdated_review_card_cannot_approve_the_next_draft(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Первый вариант")
    await otklik.press(PETROV, "submit", n)
    old_card, old_data = otklik.button(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "return", n)
    await otklik.say(COORDINATOR, "Переделайте")
    await otklik.press(PETROV, "answer", n)
    await otklik.say(PETROV, "Второй вариант")
    await otklik.press(PETROV, "submit", n)
    otklik.server.callback(COORDINATOR, old_card, old_data)
    await otklik.step()
    assert "Карточка устарела" in otklik.alerts(COORDINATOR)[-1]
    assert (await otklik.incident(n)).state == "on_review"


async def test_executor_cannot_use_coordinator_commands(otklik: Harness) -> None:
    await otklik.say(PETROV, "/invite executor roads Новиков")
    assert "нет прав" in otklik.last_text(PETROV)
    assert refusals(await otklik.audit(), "invite")


async def test_incident_of_someone_else_is_not_shown(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.say(SIDOROVA, f"/incident {n}")
    assert "недоступен" in otklik.last_text(SIDOROVA)
    assert "Яма на Ленина" not in otklik.last_text(SIDOROVA)
