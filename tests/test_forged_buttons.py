"""Forged and malformed button presses: each is answered, none raises, none changes a mode.

The presses go through the fake Bot API as real callback queries (and through the fake VK as
``message_event``s): the data is what an attacker or a mangled client could send.
"""

from __future__ import annotations

import logging

import pytest

from fakes.telegram import Call
from tests import test_vk_chat
from tests.harness import COORDINATOR, PETROV, Harness, incident_number
from tests.test_vk_chat import VASILIEV, VkHarness

HUGE = 2**70
# The VK chat's fixtures: the fake VK and an Otklik wired to it.
vk = test_vk_chat.vk
vk_otklik = test_vk_chat.otklik


async def register_and_take(otklik: Harness) -> int:
    await otklik.say(COORDINATOR, "Яма на Ленина, 5")
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    await otklik.press(PETROV, "take", n)
    return n


def forged(n: int) -> list[tuple[str, str]]:
    """(who presses, callback data): coordinator's and executor's forgeries."""
    return [
        ("coordinator", f"i:to:{n}:-1:abc"),
        ("coordinator", f"i:to:{n}:-1:{HUGE}"),
        ("coordinator", f"i:to:{n}:-1:-5"),
        ("coordinator", f"i:priority:{n}:-1:bogus"),
        ("coordinator", f"i:show:{HUGE}:-1:"),
        ("coordinator", f"i:approve:{n}:{HUGE}:"),
        ("coordinator", f"i:cat:{HUGE}:-1:roads"),
        ("coordinator", "i:cat:0:-1:nope"),
        ("coordinator", "i:inv_dept:0:-1:wizard/"),
        ("coordinator", "i:inv_dept:0:-1:executor/"),
        ("coordinator", "i:inv_dept:0:-1:executor/atlantis"),
        ("coordinator", "i:inv_role:0:-1:wizard"),
        ("coordinator", f"i:promise:{n}:-1:pick"),
        ("coordinator", "i:take:abc:-1:"),
        ("coordinator", "junk"),
        ("coordinator", "i:"),
        ("executor", f"i:promise:{n}:-1:999999999"),
        ("executor", f"i:promise:{n}:-1:-1"),
        ("executor", f"i:promise:{n}:-1:x"),
        ("executor", f"i:extend:{n}:-1:"),
        ("executor", f"i:urgent:{n}:-1:"),
        ("executor", f"i:redirect:{n}:-1:"),
        ("executor", f"i:take:{HUGE}:-1:"),
        ("executor", f"i:submit:{n}:-1:{'x' * 70}"),
        ("executor", f"i:nonsense:{n}:-1:"),
    ]


async def test_forged_presses_are_answered_and_change_nothing(
        otklik: Harness, caplog: pytest.LogCaptureFixture) -> None:
    n = await register_and_take(otklik)
    await otklik.say(PETROV, "Первая часть ответа")
    assert otklik.app is not None
    store = otklik.app.store

    async def modes() -> list[object]:
        async with store.read() as uow:
            return [await uow.chat_modes.get(pid, "telegram") for pid in (1, 2)]

    before = await modes()
    incident_before = await otklik.incident(n)
    card: Call = otklik.server.sent_to(PETROV.id)[-1]
    coordinator_card: Call = otklik.server.sent_to(COORDINATOR.id)[-1]
    caplog.set_level(logging.ERROR)
    for who, data in forged(n):
        user, message = ((COORDINATOR, coordinator_card) if who == "coordinator"
                         else (PETROV, card))
        update = otklik.server.callback(user, message, data)
        await otklik.step()
        query_id = update["callback_query"]["id"]
        answers = [c for c in otklik.server.calls_to("answerCallbackQuery")
                   if c.params.get("callback_query_id") == query_id]
        assert len(answers) == 1 and answers[0].ok, data
        assert answers[0].params.get("text"), f"{data}: answered without a word"
        assert answers[0].params.get("show_alert"), data
    assert [r.getMessage() for r in caplog.records] == []
    assert await modes() == before
    after = await otklik.incident(n)
    assert (after.state, after.priority, after.executor_id) == (
        incident_before.state, incident_before.priority, incident_before.executor_id)
    # The executor's draft still takes their text (no mode swallowed it).
    await otklik.say(PETROV, "Вторая редакция ответа")
    assert "Вторая редакция ответа" in otklik.last_text(PETROV)
    draft = await otklik.app.usecases.queries.draft(n)
    # A second text adds to the draft (it is never silently replaced).
    assert draft is not None and draft.text == "Первая часть ответа\n\nВторая редакция ответа"
    stale = [c.params["text"] for c in otklik.server.calls_to("answerCallbackQuery")
             if "устарела" in str(c.params.get("text"))]
    assert len(stale) >= 10


async def test_real_promise_buttons_still_work(otklik: Harness) -> None:
    n = await register_and_take(otklik)
    await otklik.say(PETROV, "Сделаем в течение недели")
    await otklik.press(PETROV, "interim", n)
    await otklik.press(PETROV, "promise", n, label="3")
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.kind == "interim" and draft.promised_date is not None


async def test_forged_vk_presses_are_answered_and_change_nothing(
        vk_otklik: VkHarness, caplog: pytest.LogCaptureFixture) -> None:
    otklik = vk_otklik
    n = await otklik.register("Яма на Ленина, 5")
    await otklik.vk_press(VASILIEV, "take", n)
    await otklik.vk_say(VASILIEV, "Первая часть ответа")
    store = otklik.a.store

    async def mode() -> object:
        async with store.read() as uow:
            person = await uow.people.by_chat("vk", VASILIEV)
            assert person is not None
            return await uow.chat_modes.get(person.id, "vk")

    before = await mode()
    payloads: list[object] = [
        {"a": "promise", "n": n, "x": "999999999"},
        {"a": "to", "n": n, "x": "abc"},
        {"a": "priority", "n": n, "x": "bogus"},
        {"a": "show", "n": HUGE},
        {"a": "take", "n": n, "v": -HUGE},
        {"a": "extend", "n": n},
        {"a": "inv_dept", "n": 0, "x": "wizard/"},
        {"a": "take", "n": "1"},
        "not json",
        [1, 2],
    ]
    caplog.set_level(logging.ERROR)
    for payload in payloads:
        otklik.vk.push_message_event(VASILIEV, payload)  # type: ignore[arg-type]
        await otklik.step()
    assert [r.getMessage() for r in caplog.records] == []
    answers = [a for a in otklik.vk.event_answers if a["user_id"] == VASILIEV]
    assert len(answers) == 1 + len(payloads)  # «take» and every forged press
    assert all((a["event_data"] or {}).get("text") for a in answers[1:])
    assert await mode() == before
    await otklik.vk_say(VASILIEV, "Вторая редакция ответа")
    draft = await otklik.a.usecases.queries.draft(n)
    # A second text adds to the draft (it is never silently replaced).
    assert draft is not None and draft.text == "Первая часть ответа\n\nВторая редакция ответа"
