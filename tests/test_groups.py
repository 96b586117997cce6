"""Telegram group chats as a source: complaints found on lemmas, answers published as
replies, a resident's reply reopening the incident."""

from __future__ import annotations

from fakes.telegram import FakeUser
from tests.harness import COORDINATOR, PETROV, Harness

GROUP = -1001234567890
RESIDENT = FakeUser(7007, "Галина", "Жительница")
NEIGHBOUR = FakeUser(7008, "Сосед")


async def complain(otklik: Harness, text: str, user: FakeUser = RESIDENT) -> dict:
    update = otklik.server.message(user, text, chat_id=GROUP)
    await otklik.step()
    return update


async def answer_and_approve(otklik: Harness, n: int) -> None:
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Яму засыпали щебнем, асфальт положим весной.")
    await otklik.press(PETROV, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)


async def test_group_complaint_becomes_an_incident_once(otklik: Harness) -> None:
    update = await complain(otklik, "Опять огромные ямами вся улица Кирова, сколько можно!")
    incident = await otklik.incident(1)
    assert incident is not None and incident.category == "roads"
    assert incident.url == f"https://t.me/c/1234567890/{update['message']['message_id']}"
    assert "Найден и зарегистрирован инцидент №1" in otklik.last_text(COORDINATOR)
    assert "Инцидент №1" in otklik.last_text(PETROV)
    otklik.server.redeliver(update["update_id"])
    await otklik.step()
    assert await otklik.incident(2) is None
    # Chatter without a keyword, or too short, is not an incident; the group gets no reply.
    await complain(otklik, "Всем доброе утро, соседи!", NEIGHBOUR)
    await complain(otklik, "Яма!", NEIGHBOUR)
    assert await otklik.incident(2) is None
    assert otklik.server.sent_to(GROUP) == []


async def test_a_second_complaint_of_the_same_author_is_a_repeat(otklik: Harness) -> None:
    await complain(otklik, "Во дворе дома 5 яма, машины бьются")
    await complain(otklik, "Напоминаю про яму во дворе дома 5, никто не приехал")
    assert await otklik.incident(2) is None
    assert "Повторное сообщение жителя по инциденту №1" in otklik.last_text(PETROV)
    assert any(e.action == "repeat" for e in await otklik.audit())


async def test_answer_is_published_as_a_reply_and_a_reply_reopens(otklik: Harness) -> None:
    update = await complain(otklik, "Во дворе дома 5 огромная яма, машины бьются")
    await answer_and_approve(otklik, 1)
    assert "будет опубликован автоматически" in otklik.last_text(COORDINATOR)
    assert otklik.app is not None
    await otklik.app.usecases.sweep.sweep()
    await otklik.step()
    (reply,) = otklik.server.sent_to(GROUP)
    assert reply.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert reply.text == "Яму засыпали щебнем, асфальт положим весной."
    assert (await otklik.incident(1)).state == "awaiting_feedback"
    # Someone else's message does not reopen it; the resident's own reply does.
    await complain(otklik, "А у нас во дворе тоже плохо", NEIGHBOUR)
    assert (await otklik.incident(1)).state == "awaiting_feedback"
    await complain(otklik, "Ничего не засыпали, яма на месте!")
    incident = await otklik.incident(1)
    assert incident.state == "reopened" and incident.executor_id is not None
    assert "Ничего не засыпали" in otklik.last_text(PETROV)


async def test_reply_after_the_window_does_not_reopen(otklik: Harness) -> None:
    await complain(otklik, "Во дворе дома 5 огромная яма, машины бьются")
    await answer_and_approve(otklik, 1)
    assert otklik.app is not None
    await otklik.app.usecases.sweep.sweep()
    otklik.clock.advance(days=2, seconds=1)
    await otklik.app.usecases.sweep.sweep()
    assert (await otklik.incident(1)).state == "closed"
    await complain(otklik, "Спасибо, но там снова яма появилась")
    incident = await otklik.incident(1)
    assert incident.state == "closed"
    assert await otklik.incident(2) is not None  # a new complaint, a new incident


async def test_deleted_message_falls_back_to_the_manual_package(otklik: Harness) -> None:
    update = await complain(otklik, "Во дворе дома 5 огромная яма, машины бьются")
    assert otklik.app is not None
    await otklik.app.bot.delete_message(GROUP, update["message"]["message_id"])
    await answer_and_approve(otklik, 1)
    await otklik.app.usecases.sweep.sweep()
    await otklik.step()
    (package,) = [t for t in otklik.texts(COORDINATOR) if "Не удалось опубликовать" in t]
    assert "Не удалось опубликовать" in package and "сообщение жителя удалено" in package
    assert "Яму засыпали щебнем" in package
    assert (await otklik.incident(1)).state == "approved"
    await otklik.press(COORDINATOR, "published", 1)
    assert (await otklik.incident(1)).state == "awaiting_feedback"


async def test_a_group_not_listed_is_told_once_and_left(otklik: Harness) -> None:
    other = -1009876543210
    for text in ("Огромная яма на Кирова, машины бьются!", "Ещё одна яма во дворе дома 7"):
        otklik.server.message(RESIDENT, text, chat_id=other)
    await otklik.step()
    assert await otklik.incident(1) is None  # not a source
    (said,) = otklik.server.sent_to(other)
    assert "не подключена" in (said.text or "") and str(other) in (said.text or "")
    (left,) = otklik.server.calls_to("leaveChat")
    assert left.ok and left.params["chat_id"] == other
    assert other in otklik.server.left_chats
    assert otklik.texts(PETROV) == [] and not any("яма" in t for t in otklik.texts(COORDINATOR))
    assert [e.reason for e in await otklik.audit() if e.action == "group_left"] == [
        f"telegram:{other}"]
    # Added back and written to again (the record is kept): not a second notice.
    otklik.server.left_chats.discard(other)
    await complain_in(otklik, other, "Яма у школы номер 3, опасно")
    assert len(otklik.server.sent_to(other)) == 1 and await otklik.incident(1) is None


async def complain_in(otklik: Harness, chat_id: int, text: str) -> None:
    otklik.server.message(RESIDENT, text, chat_id=chat_id)
    await otklik.step()
