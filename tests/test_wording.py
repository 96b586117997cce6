"""Russian as an official writes it: people's names declined («от Петрова Павла»,
«Приглашение для Новикова Ильи»), verbs agreeing with the person, no «обращение» for what
the regulation calls «сообщение» or «инцидент», no first person from the bot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.templates import decline, gendered
from tests.harness import COORDINATOR, PETROV, SIDOROVA, Harness
from tests.test_lifecycle import register

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.parametrize(("name", "genitive", "dative"), [
    ("Сидорова Мария", "Сидоровой Марии", "Сидоровой Марии"),
    ("Новиков Илья", "Новикова Ильи", "Новикову Илье"),
    ("Петров Павел Игоревич", "Петрова Павла Игоревича", "Петрову Павлу Игоревичу"),
    ("Иванова Анна Сергеевна", "Ивановой Анны Сергеевны", "Ивановой Анне Сергеевне"),
    ("Шевчук Никита", "Шевчука Никиты", "Шевчуку Никите"),
    ("Черных Ольга", "Черных Ольги", "Черных Ольге"),
    ("Шевченко Инга", "Шевченко Инги", "Шевченко Инге"),
    ("Толстой Лев", "Толстого Льва", "Толстому Льву"),
    ("Smith John", "Smith John", "Smith John"),  # not Russian: as written
    ("Ким Саша", "Ким Саша", "Ким Саша"),  # gender unknown: as written
])
def test_names_are_declined(name: str, genitive: str, dative: str) -> None:
    assert decline(name, "genitive") == genitive
    assert decline(name, "dative") == dative


def test_the_verb_agrees_with_the_person() -> None:
    assert gendered("Петров Павел", "взял", "взяла") == "взял"
    assert gendered("Сидорова Мария", "взял", "взяла") == "взяла"
    assert gendered("Алиева Лейла Тофик кызы", "взял", "взяла") == "взяла"
    assert gendered("Ким Саша", "взял", "взяла") == "взял(а)"  # cannot tell
    assert gendered("Ким Саша", "ему", "ей", "этому человеку") == "этому человеку"


async def test_take_and_review_name_the_executor_properly(otklik: Harness) -> None:
    n = await register(otklik, "Яма на дороге у школы")
    await otklik.press(PETROV, "take", n)
    assert f"Петров Павел взял в работу инцидент №{n}." in otklik.texts(COORDINATOR)[-1]
    await otklik.say(PETROV, "Яму засыпали.")
    await otklik.press(PETROV, "submit", n)
    assert f"по инциденту №{n} от Петрова Павла." in otklik.last_text(COORDINATOR)

    m = await register(otklik, "Не греет батарея", category="ЖКХ")
    await otklik.press(SIDOROVA, "take", m)
    assert f"Сидорова Мария взяла в работу инцидент №{m}." in otklik.texts(COORDINATOR)[-1]


async def test_an_invitation_is_for_a_declined_name(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/invite executor roads Новиков Илья")
    text = otklik.last_text(COORDINATOR)
    assert "Приглашение для <b>Новикова Ильи</b>" in text and "Перешлите ему ссылку" in text
    await otklik.say(COORDINATOR, "/invite curator Смирнова Ольга")
    text = otklik.last_text(COORDINATOR)
    assert "Приглашение для <b>Смирновой Ольги</b>" in text and "Перешлите ей ссылку" in text


async def test_the_bot_speaks_impersonally(otklik: Harness) -> None:
    await otklik.say(PETROV)  # a message with nothing the bot reads (a sticker, say)
    assert otklik.last_text(PETROV).startswith("Сообщение не распознано.")
    n = await register(otklik, "Яма на дороге у школы")
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "urgent", n)
    await otklik.say(COORDINATOR, "когда-нибудь")
    assert otklik.last_text(COORDINATOR).startswith("Срок не распознан.")
    for text in otklik.texts(PETROV) + otklik.texts(COORDINATOR):
        assert "Не понял" not in text


def test_no_obrashchenie_and_no_first_person_in_any_template() -> None:
    for path in sorted(TEMPLATES.rglob("*")):
        if not path.is_file() or path.suffix not in (".html", ".toml"):
            continue  # the folders of the web board's pages are read file by file
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"обращени", text, re.IGNORECASE), path.name
        assert not re.search(r"\b(Не понял|не буду|я|мне)\b|\(а\)", text), path.name


def test_when_the_gender_is_unknown_the_sentence_is_impersonal() -> None:
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from bot.templates import Templates

    t = Templates(ZoneInfo("UTC"))
    incident = SimpleNamespace(id=7)
    assert t.render("taken", executor="Smith John", incident=incident) == \
        "✅ Инцидент №7 взят в работу: Smith John."
    assert t.render("taken", executor="Петрова Анна", incident=incident) == \
        "✅ Петрова Анна взяла в работу инцидент №7."
