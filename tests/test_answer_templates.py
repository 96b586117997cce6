"""Typical answers per category (issue 14): ``[[answer_templates]]`` checked by check-config,
kept by coordinators with /templates, offered as *Шаблон: …* buttons on the card and in the
draft prompt (Telegram and the VK chat), filled with the incident's address and deadline only
on the executor's press, and used for the primary answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from fakes.telegram import FakeTelegramServer
from fakes.vk import FakeVkServer
from tests import test_vk_chat as vkt
from tests.harness import COORDINATOR, PETROV, TOKEN, Harness, cli, make_clock, write_config
from tests.test_lifecycle import register
from workflows.answer_templates import fill, parse_typed, unknown_placeholders

TEMPLATES = """
[[answer_templates]]
category = "roads"
title = "Ямочный ремонт"
text = "Здравствуйте! Ремонт покрытия по адресу {address} выполнит {department} до {deadline}."

[[answer_templates]]
category = "roads"
title = "Первичный ответ"
text = "Сообщение №{number} о дороге ({address}) принято, ответ будет дан до {deadline}."

[[answer_templates]]
category = "housing"
title = "График отопления"
text = "Отопление по адресу {address} восстановят по графику."
"""

POTHOLE = "Яма на дороге по улице Школьной 12, машины бьют колёса"


@pytest.fixture
async def otklik(server: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(server, load_config(write_config(tmp_path, server, TEMPLATES)), make_clock())
    await h.start()
    try:
        yield h
    finally:
        await h.close()


def buttons_of(otklik: Harness, user_id: int, needle: str) -> list[str]:
    """The labels of the newest message to ``user_id`` that contains ``needle``."""
    for call in reversed(otklik.server.sent_to(user_id)):
        if needle in (call.text or ""):
            return [b["text"] for row in call.buttons for b in row]
    raise AssertionError(f"no message with {needle!r}")


# --- the pure core ---------------------------------------------------------------------------


def test_placeholders_are_checked_and_filled_from_a_fixed_dict_only() -> None:
    assert unknown_placeholders("По адресу {address} до {deadline}.") == []
    assert unknown_placeholders("{adres} и {address.__class__} и {deadline:%d} {adres}") == [
        "{adres}", "{address.__class__}", "{deadline:%d}"]
    assert unknown_placeholders("скобка { одна") == ["{"]
    assert unknown_placeholders("литерал {{ и }}") == []
    values = {"address": "ул. Школьная, д. 12", "deadline": "25.11.2026 18:00"}
    assert fill("По адресу {address} до {deadline}, {{как есть}}.", values) == \
        "По адресу ул. Школьная, д. 12 до 25.11.2026 18:00, {как есть}."
    # Nothing but the dict's strings is reachable: an attribute stays as typed.
    assert fill("{address.__class__} {department}", values) == "{address.__class__} —"
    assert parse_typed("Заголовок\nТекст ответа\nв две строки") == (
        "Заголовок", "Текст ответа\nв две строки")
    assert parse_typed("Только название") is None and parse_typed("\n\nтекст") is None


def test_check_config_refuses_an_unknown_placeholder_naming_it(tmp_path: Path) -> None:
    bad = TEMPLATES.replace("до {deadline}.\"\n\n[[answer_templates]]\ncategory = \"roads\"",
                            "до {srok}.\"\n\n[[answer_templates]]\ncategory = \"roads\"", 1)
    assert "{srok}" in bad
    path = tmp_path / "otklik.toml"
    path.write_text(vkt.CONFIG.format(token=TOKEN, api_base="http://127.0.0.1:1",
                                      vk_token="", group_id=1, vk_api_base="") + bad,
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"answer_templates\[0\]\.text: unknown placeholder "
                                          r"\{srok\}"):
        load_config(path)
    done = cli("check-config", "--config", str(path))
    assert done.returncode != 0 and "unknown placeholder {srok}" in done.stderr + done.stdout

    path.write_text(path.read_text(encoding="utf-8").replace("{srok}", "{deadline}").replace(
        'category = "housing"\ntitle', 'category = "parks"\ntitle'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"answer_templates\[2\]\.category: unknown category "
                                          r"'parks'"):
        load_config(path)


# --- Telegram --------------------------------------------------------------------------------


async def test_a_template_press_fills_the_draft_with_the_address_and_deadline(
        otklik: Harness) -> None:
    n = await register(otklik, POTHOLE)
    incident = await otklik.incident(n)
    assert incident.address == "ул. Школьная, д. 12"
    card = next(t for t in otklik.texts(PETROV) if f"Инцидент №{n}" in t)
    assert "Адрес: ул. Школьная, д. 12" in card
    labels = buttons_of(otklik, PETROV.id, f"Инцидент №{n}")
    # Only the category's own templates, the primary answer's one left to its button.
    assert "📄 Шаблон: Ямочный ремонт" in labels
    assert not any("Первичный ответ" in x or "График" in x for x in labels)
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]

    # The press on the card takes the incident and puts the filled text into the draft.
    await otklik.press(PETROV, "tpl", n, label="Ямочный ремонт")
    assert (await otklik.incident(n)).state == "in_progress"
    due = otklik.app.templates.local(incident.answer_due)  # type: ignore[union-attr]
    expected = (f"Здравствуйте! Ремонт покрытия по адресу ул. Школьная, д. 12 выполнит "
                f"Дорожное хозяйство до {due}.")
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == expected
    assert "добавлен в проект ответа" in otklik.texts(PETROV)[-2]
    preview = otklik.last_text(PETROV)
    assert preview.startswith("📝 Проект") and expected in preview

    # The executor edits it as any draft and submits.
    await otklik.press(PETROV, "edit_text", n)
    await otklik.say(PETROV, expected + " Приносим извинения.")
    await otklik.press(PETROV, "submit", n)
    assert (await otklik.incident(n)).state == "on_review"
    assert "Приносим извинения." in otklik.last_text(COORDINATOR)


async def test_the_draft_prompt_offers_templates_and_a_second_one_is_added(
        otklik: Harness) -> None:
    n = await register(otklik, "Яма на дороге у школы")  # no address in the text
    await otklik.press(PETROV, "take", n)
    labels = buttons_of(otklik, PETROV.id, f"по инциденту №{n}")
    assert labels == ["📄 Шаблон: Ямочный ремонт"]
    await otklik.say(PETROV, "Добрый день.")
    await otklik.press(PETROV, "tpl", n)
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text.startswith("Добрый день.\n\nЗдравствуйте! Ремонт "
                                                       "покрытия по адресу адрес не указан")
    assert "🔁 Заменить текст последним сообщением" in str(
        otklik.server.sent_to(PETROV.id)[-1].buttons)


async def test_the_primary_answer_uses_the_category_template(otklik: Harness) -> None:
    n = await register(otklik, POTHOLE)
    incident = await otklik.incident(n)
    await otklik.press(COORDINATOR, "first_response", n)
    due = otklik.app.templates.local(incident.answer_due)  # type: ignore[union-attr]
    assert (f"Сообщение №{n} о дороге (ул. Школьная, д. 12) принято, ответ будет дан до {due}."
            in otklik.last_text(COORDINATOR))
    # A category without such a template keeps the built-in text.
    m = await register(otklik, "Нет отопления в доме, батарея холодная", category="ЖКХ")
    await otklik.press(COORDINATOR, "first_response", m)
    assert "Здравствуйте! Ваше сообщение принято в работу" in otklik.last_text(COORDINATOR)


async def test_coordinator_adds_and_deletes_templates_in_the_chat(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/templates")
    listing = otklik.last_text(COORDINATOR)
    assert "Ямочный ремонт" in listing and "График отопления" in listing
    assert "из настроек" in listing

    await otklik.press(COORDINATOR, "tpl_add")
    await otklik.press(COORDINATOR, "tpl_cat", label="Дороги")
    await otklik.say(COORDINATOR, "Только название")
    assert "первая строка — название" in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "Разметка\nРазметку по адресу {adress} нанесут до {deadline}.")
    assert "неизвестная подстановка: {adress}" in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "Ямочный ремонт\nДругой текст.")
    assert "уже есть шаблон с таким названием" in otklik.last_text(COORDINATOR)
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        assert len(await uow.templates.in_use("roads")) == 2  # nothing half-saved
    await otklik.say(COORDINATOR, "Разметка\nРазметку по адресу {address} нанесут до {deadline}.")
    assert any("Шаблон «Разметка» добавлен в категорию «Дороги»" in t
               for t in otklik.texts(COORDINATOR))

    n = await register(otklik, POTHOLE)
    labels = buttons_of(otklik, PETROV.id, f"Инцидент №{n}")
    assert labels[-2:] == ["📄 Шаблон: Ямочный ремонт", "📄 Шаблон: Разметка"]

    # Deleted with a button; the button already on the card then says so and fills nothing.
    await otklik.say(COORDINATOR, "/templates")
    await otklik.press(COORDINATOR, "tpl_del", label="Разметка")
    assert any("Шаблон «Разметка» удалён" in t for t in otklik.texts(COORDINATOR))
    await otklik.press(PETROV, "take", n)
    await otklik.press(PETROV, "tpl", n, label="Разметка")
    assert "Шаблон удалён" in otklik.alerts(PETROV)[-1]
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]

    # An executor may not open the list.
    await otklik.say(PETROV, "/templates")
    assert "Ямочный ремонт" not in otklik.last_text(PETROV)


async def test_config_templates_come_back_as_the_config_says(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/templates")
    await otklik.press(COORDINATOR, "tpl_del", label="График отопления")
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        assert [t.title for t in await uow.templates.in_use("housing")] == []
    await otklik.restart()
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        assert [t.title for t in await uow.templates.in_use("housing")] == ["График отопления"]
        assert len(await uow.templates.in_use()) == 3  # not seeded twice


# --- the VK chat -----------------------------------------------------------------------------


@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    async with FakeVkServer(tokens={vkt.VK_TOKEN: "group"}) as server:
        yield server


@pytest.fixture
async def vk_otklik(server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path
                    ) -> AsyncIterator[vkt.VkHarness]:
    async with vkt.running(server, vk, tmp_path, TEMPLATES) as h:
        yield h


async def test_an_executor_in_vk_fills_the_draft_from_a_template(
        vk_otklik: vkt.VkHarness) -> None:
    otklik = vk_otklik
    n = await otklik.register(POTHOLE)
    [card] = [m for m in otklik.vk.messages_to(vkt.VASILIEV) if f"Инцидент №{n}" in m["text"]]
    assert "Адрес: ул. Школьная, д. 12" in card["text"]
    labels = [b["action"]["label"] for row in card["keyboard"]["buttons"] for b in row]
    assert "📄 Шаблон: Ямочный ремонт" in labels
    payload = otklik.vk_button(vkt.VASILIEV, "tpl", n)
    assert json.loads(json.dumps(payload))["a"] == "tpl"

    await otklik.vk_press(vkt.VASILIEV, "tpl", n)
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and "по адресу ул. Школьная, д. 12" in draft.text
    assert (await otklik.incident(n)).state == "in_progress"
    assert any(t.startswith("📝 Проект ответа") and "ул. Школьная, д. 12" in t
               for t in otklik.vk_texts(vkt.VASILIEV))


async def test_forged_template_presses_are_refused_and_fill_nothing(otklik: Harness) -> None:
    n = await register(otklik, POTHOLE)
    housing = next(t for t in await otklik.app.usecases.answers.in_use("housing")  # type: ignore
                   if t.title == "График отопления")
    card = next(c for c in reversed(otklik.server.sent_to(PETROV.id))
                if f"Инцидент №{n}" in (c.text or ""))
    for data in (f"i:tpl:{n}:-1:abc", f"i:tpl:{n}:-1:0", f"i:tpl:{n}:-1:{housing.id}",
                 "i:tpl_del:1:-1:", "i:tpl_cat:0:-1:nope", "i:tpl_cat:0:-1:roads",
                 "i:tpl_add:0:-1:"):
        update = otklik.server.callback(PETROV, card, data)
        await otklik.step()
        query_id = update["callback_query"]["id"]
        [answer] = [c for c in otklik.server.calls_to("answerCallbackQuery")
                    if c.params.get("callback_query_id") == query_id]
        assert answer.params.get("show_alert") and answer.params.get("text"), data
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]
    assert len(await otklik.app.usecases.answers.in_use()) == 3  # type: ignore[union-attr]


async def test_a_long_list_of_templates_stays_one_readable_message(otklik: Harness) -> None:
    usecases = otklik.app.usecases  # type: ignore[union-attr]
    coordinator = next(p for p in await usecases.queries.people() if p.name == "Иванова Анна")
    for i in range(12):
        result = await usecases.answers.add(coordinator, "roads", f"Шаблон {i}",
                                                   "Текст <b>ответа</b> & прочее. " * 100)
        assert result.ok
    await otklik.say(COORDINATOR, "/templates")
    [listing] = [c for c in otklik.server.sent_to(COORDINATOR.id)[-1:]]
    assert listing.ok and "Шаблон 0" in (listing.text or "")
    assert len(listing.text or "") <= 4096
