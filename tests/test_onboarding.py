"""Invitations: an admin invites with buttons or one command; the link binds once."""

from __future__ import annotations

import re

from fakes.telegram import FakeUser
from tests.harness import COORDINATOR, PETROV, Harness

NEWCOMER = FakeUser(5005, "Илья", "Новиков")
INTRUDER = FakeUser(6006, "Чужой")


def link_token(text: str) -> str:
    found = re.search(r"\?start=(\S+)", text)
    assert found, text
    return found.group(1)


async def test_invite_with_buttons_and_one_time_link(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/invite")
    await otklik.press(COORDINATOR, "inv_role", label="исполнитель")
    await otklik.press(COORDINATOR, "inv_dept", label="Отдел ЖКХ")
    await otklik.say(COORDINATOR, "Новиков Илья")
    token = link_token(otklik.last_text(COORDINATOR))
    await otklik.say(NEWCOMER, f"/start {token}")
    assert "Добро пожаловать, Новиков Илья" in otklik.last_text(NEWCOMER)
    person = await otklik.app.usecases.queries.person_for_chat("telegram", NEWCOMER.id)  # type: ignore[union-attr]
    assert person is not None and person.departments == {"housing"}
    # The link works once: somebody else who got hold of it is not let in.
    await otklik.say(INTRUDER, f"/start {token}")
    assert "недействительна" in otklik.last_text(INTRUDER)
    assert await otklik.app.usecases.queries.person_for_chat("telegram", INTRUDER.id) is None  # type: ignore[union-attr]
    # The new executor now gets work routed to the department.
    await otklik.say(NEWCOMER, "/my")
    assert "Открытых инцидентов нет" in otklik.last_text(NEWCOMER)


async def test_invite_in_one_command(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/invite curator Смирнова Ольга")
    token = link_token(otklik.last_text(COORDINATOR))
    await otklik.say(NEWCOMER, f"/start {token}")
    assert "куратор" in otklik.last_text(NEWCOMER)


async def test_bad_invite_command_explains_the_format(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/invite wizard Гэндальф")
    assert "Формат: /invite" in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "/invite executor Без Отдела")
    assert "подразделение" in otklik.last_text(COORDINATOR)


async def test_only_admins_invite(otklik: Harness) -> None:
    await otklik.say(PETROV, "/invite")
    assert "нет прав" in otklik.last_text(PETROV)
    assert "Приглашение" not in otklik.last_text(PETROV)
