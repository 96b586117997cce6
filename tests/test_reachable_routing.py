"""Routing never picks someone who cannot receive: an executor with no bound chat, or whose
chat blocked the bot, is passed over; when nobody of the department can receive, the
coordinator is told at once with the reassign button."""

from __future__ import annotations

from tests.harness import COORDINATOR, PETROV, SIDOROVA, Harness

registered = 0


async def register(otklik: Harness, text: str) -> int:
    """Register a roads incident as the coordinator; its number (they go 1, 2, 3, …)."""
    global registered
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    registered += 1
    assert await otklik.incident(registered) is not None
    return registered


async def test_blocked_and_unbound_executors_get_no_incidents(otklik: Harness) -> None:
    global registered
    registered = 0
    assert otklik.app is not None
    # An executor invited but who never opened the bot: the newest, with no load at all.
    await otklik.say(COORDINATOR, "/invite executor roads Новиков Илья")
    otklik.server.block_user(PETROV.id)
    first = await register(otklik, "Яма на Ленина, 5")
    assert (await otklik.incident(first)).executor_id == 2  # Петров: not known blocked yet
    sidorova = await otklik.app.usecases.queries.person_for_chat("telegram", SIDOROVA.id)
    assert sidorova is not None
    # The card to Петров bounced: the outbox recorded his chat as unreachable.
    second = await register(otklik, "Яма на Кирова, 7")
    assert (await otklik.incident(second)).executor_id == sidorova.id
    third = await register(otklik, "Яма на Мира, 1")
    assert (await otklik.incident(third)).executor_id == sidorova.id  # not Новиков (unbound)
    otklik.server.block_user(SIDOROVA.id)
    await otklik.say(SIDOROVA, "/my")  # a message to her bounces too
    fourth = await register(otklik, "Яма у школы, 3")
    incident = await otklik.incident(fourth)
    assert incident.executor_id is None and incident.state == "new"
    told = otklik.last_text(COORDINATOR)
    assert "В отделе «Дорожное хозяйство» нет подключённых исполнителей" in told
    assert f"№{fourth}" in told
    otklik.button(COORDINATOR, "reassign", fourth)  # the button is on that message
