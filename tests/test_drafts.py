"""Drafts are never replaced silently: a caption or a second text adds to the draft, the
preview says so and shows the length, and offers to replace the text instead. Long answers
(more than one message) can be written and previewed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakes.telegram import FakeTelegramServer
from fakes.vk import FakeVkServer
from tests import test_vk_chat as vkt
from tests.harness import COORDINATOR, PETROV, Harness
from tests.test_lifecycle import register
from tests.test_vk_chat import VASILIEV, VkHarness

LONG = ("Уважаемый житель! Ремонт дорожного покрытия выполнен. " * 50)[:2057] + "."


def previews(otklik: Harness) -> list[str]:
    return [t for t in otklik.texts(PETROV) if t.startswith("📝 Проект")]


async def taken(otklik: Harness) -> int:
    n = await register(otklik, "Яма на дороге у школы")
    await otklik.press(PETROV, "take", n)
    return n


async def test_a_caption_adds_to_a_long_draft_and_can_replace_it(otklik: Harness) -> None:
    n = await taken(otklik)
    await otklik.say(PETROV, LONG)
    assert len(LONG) == 2058
    assert "Текст: 2058 символов.\nВложения: нет." in previews(otklik)[-1]

    await otklik.say(PETROV, photo=b"\xff\xd8 after", caption="Фото после ремонта.")
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == LONG + "\n\nФото после ремонта."
    assert [a.kind for a in draft.attachments] == ["photo"]
    preview = previews(otklik)[-1]
    assert "Текст: 2079 символов." in preview
    assert "Последнее сообщение (19 символов) добавлено к тексту" in preview
    call, _ = otklik.button(PETROV, "replace_text", n)
    assert call.text == preview
    assert "🔁 Заменить текст последним сообщением" in str(call.buttons)

    await otklik.press(PETROV, "replace_text", n)
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "Фото после ремонта."
    assert len(draft.attachments) == 1  # the photo stays
    preview = previews(otklik)[-1]
    assert "Текст: 19 символов." in preview and "добавлено" not in preview
    assert "replace_text" not in str(otklik.server.sent_to(PETROV.id)[-1].buttons)
    # The button of the old preview is stale now: answered, nothing changes.
    await otklik.press(PETROV, "replace_text", n)
    assert (await otklik.app.usecases.queries.draft(n)).text == "Фото после ремонта."  # type: ignore


async def test_an_answer_longer_than_one_message_is_written_and_previewed(
        otklik: Harness) -> None:
    n = await taken(otklik)
    parts = [f"Часть {i}. " + "Работы выполнены в полном объёме. " * 110 for i in range(3)]
    assert all(3000 < len(p) <= 4096 for p in parts)
    for part in parts:
        await otklik.say(PETROV, part)
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "\n\n".join(p.rstrip() for p in parts[:2]) \
        + "\n\n" + parts[2]
    preview = previews(otklik)[-1]
    assert len(preview) <= 4096  # the fake Bot API refuses longer messages
    assert f"Текст: {len(draft.text)} символ" in preview
    assert "здесь показаны первые 3000" in preview and "уйдёт весь текст" in preview
    assert len(previews(otklik)) == 3

    await otklik.press(PETROV, "submit", n)
    assert (await otklik.incident(n)).state == "on_review"
    review = "\n".join(t for t in otklik.texts(COORDINATOR) if t)
    for part in parts:  # the coordinator reads the whole answer before approving
        assert part.strip()[-200:] in review


async def test_edit_text_makes_the_next_text_replace_the_draft(otklik: Harness) -> None:
    n = await taken(otklik)
    await otklik.say(PETROV, "Старый текст.")
    await otklik.press(PETROV, "edit_text", n)
    assert "первое сообщение заменит текущий текст" in otklik.last_text(PETROV)
    await otklik.say(PETROV, "Новый текст.")
    await otklik.say(PETROV, "И продолжение.")
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "Новый текст.\n\nИ продолжение."


# --- the same in the VK community chat (handlers/flows/ is shared) -------------------------


@pytest.fixture
async def vk_otklik(server: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[VkHarness]:
    async with FakeVkServer(tokens={vkt.VK_TOKEN: "group"}) as vk, \
            vkt.running(server, vk, tmp_path) as h:
        yield h


async def test_vk_text_with_photos_adds_to_the_draft_and_can_replace_it(
        vk_otklik: VkHarness) -> None:
    otklik = vk_otklik
    n = await otklik.register("Яма на Заречной")
    await otklik.vk_press(VASILIEV, "take", n)
    await otklik.vk_say(VASILIEV, LONG)
    await otklik.vk_say(VASILIEV, "Фото после ремонта.", [b"\xff\xd8 after"])
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and draft.text == LONG + "\n\nФото после ремонта."
    preview = [t for t in otklik.vk_texts(VASILIEV) if t.startswith("📝 Проект")][-1]
    assert "Текст: 2079 символов." in preview and "добавлено к тексту" in preview
    await otklik.vk_press(VASILIEV, "replace_text", n)
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and draft.text == "Фото после ремонта."
    assert [a.kind for a in draft.attachments] == ["photo"]
