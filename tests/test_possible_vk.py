"""«Возможный инцидент» in the VK community chat: the card with its buttons reaches a
coordinator who works from VK, and a press there registers the incident (issue 11)."""

from __future__ import annotations

from fakes.telegram import FakeUser
from tests.test_vk_chat import ORLOVA, VkHarness, otklik, vk  # noqa: F401 (fixtures)

GROUP = -1001234567890
RESIDENT = FakeUser(7007, "Галина", "Жительница")
TEXT = ("Когда администрация наведёт порядок у дома 5 на ул. Мирной? Шлагбаум сломан, "
        "просим принять меры")


async def test_a_coordinator_in_vk_decides_a_possible_complaint(
        otklik: VkHarness) -> None:  # noqa: F811
    otklik.server.message(RESIDENT, TEXT, chat_id=GROUP)
    await otklik.step()
    card = otklik.vk_last(ORLOVA)
    assert "Возможный инцидент" in card and "Шлагбаум сломан" in card
    otklik.vk_button(ORLOVA, "pc", label="Не инцидент")
    otklik.vk_button(ORLOVA, "pc_more")
    await otklik.vk_press(ORLOVA, "pc", label="ЖКХ")
    incident = await otklik.incident(1)
    assert incident is not None and incident.category == "housing"
    assert otklik.snackbars(ORLOVA)[-1] == "Готово."
    # A second press on the decided card is answered, not obeyed.
    await otklik.vk_press(ORLOVA, "pc", label="Не инцидент")
    assert "уже разобрано" in otklik.snackbars(ORLOVA)[-1]
    assert await otklik.incident(2) is None
