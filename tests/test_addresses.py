"""Addresses in complaint texts (issue 14): found, normalised, kept with the incident, shown on
the card (tests/test_answer_templates.py), counted among the busiest places of the note and
exported in the «Адрес» column."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.addresses import address_of, make_extractor
from bot.reports import INCIDENT_COLUMNS, build_report
from tests.harness import PETROV, SIDOROVA, Harness
from tests.test_lifecycle import register
from workflows.addresses import extract_address

extract = make_extractor()


@pytest.mark.parametrize(("text", "street", "house", "settlement"), [
    ("Уважаемые, на ул. Ленина д. 5 нет света третий день", "ул. Ленина", "5", None),
    ("г. Курск, улица Карла Маркса, дом 62/8, во дворе яма", "ул. Карла Маркса", "62/8",
     "г. Курск"),
    ("В селе Полевая по улице Школьной 12 не вывозят мусор", "ул. Школьная", "12", "с. Полевая"),
    ("пр-т Победы 50, подъезд 3 не убирают", "пр-т Победы", "50", None),
    ("Проспект дружбы 2 квартира 38, холодно", "пр-т Дружбы", "2", None),
    ("у дома №19 на проспекте Дружбы со стороны проезда", "пр-т Дружбы", "19", None),
    ("Рядом с домом 1 «А» по улице Светлой растёт клён", "ул. Светлая", "1А", None),
    ("ул. 2-я Новоселовка, д. 7б — нет освещения", "ул. 2-я Новоселовка", "7Б", None),
    ("город Курск, ул. С. Разина, д.24, кв. 4", "ул. С. Разина", "24", "г. Курск"),
    ("по адресу ул. Урицкого 22 проходит труба", "ул. Урицкого", "22", None),
    ("В доме по проспекту Ленинского Комсомола 58 пахнет", "пр-т Ленинского Комсомола", "58",
     None),
    ("3й Московский переулок 27, 4 подъезд", "пер. 3й Московский", "27", None),
    ("В пос. Юбилейный по ул. Цветочной напротив дома 56а упало дерево", "ул. Цветочная", "56А",
     "пос. Юбилейный"),
    ("по ул. Гагарина около дома №14/1 мусор", "ул. Гагарина", "14/1", None),
    ("На улице Разина яма уже 2 месяца", "ул. Разина", None, None),
    ("Проезд возле дома пр. Энтузиастов д. 10 разбит", "пр-т Энтузиастов", "10", None),
])
def test_addresses_are_found_and_normalised(text: str, street: str, house: str | None,
                                            settlement: str | None) -> None:
    found = extract(text)
    assert found is not None
    assert (found.street, found.house, found.settlement) == (street, house, settlement)


@pytest.mark.parametrize("text", [
    "Ночами на улице всего +2 градуса, в квартире холодно",
    "На улице температура ближе к нулю, а батареи холодные",
    "Яма на дороге у школы",
    "",
])
def test_no_address_where_none_is_named(text: str) -> None:
    assert address_of(text) is None


def test_the_normal_form_and_the_core_without_morphology() -> None:
    assert address_of("г. Курска, по улице Школьной 12") == "г. Курск, ул. Школьная, д. 12"
    # Without the injected morphology the name is kept as written (the core does no I/O).
    plain = extract_address("по улице Школьной 12")
    assert plain is not None and str(plain) == "ул. Школьной, д. 12"


async def test_the_note_counts_places_by_address_and_the_exports_carry_it(
        otklik: Harness, tmp_path: Path) -> None:
    start = otklik.clock()
    texts = ["Яма на дороге по улице Школьной 12", "Яма на дороге, ул. Школьная, д. 14",
             "Яма на дороге по проспекту Победы 3", "Яма на дороге у школы"]
    numbers = [await register(otklik, t) for t in texts]
    assert (await otklik.incident(numbers[0])).address == "ул. Школьная, д. 12"
    cards = [t for user in (PETROV, SIDOROVA) for t in otklik.texts(user)
             if f"Инцидент №{numbers[1]}" in t]
    assert cards and "Адрес: ул. Школьная, д. 14" in cards[0]
    app = otklik.app
    assert app is not None
    report = await build_report(app.config, app.store, start - timedelta(days=1),
                                start + timedelta(days=1), out_dir=tmp_path,
                                now=start + timedelta(hours=1))
    assert report.metrics.top_places[0] == ("ул. Школьная", 2)
    assert ("пр-т Победы", 1) in report.metrics.top_places
    column = INCIDENT_COLUMNS.index("Адрес")
    with report.csv.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert [r[column] for r in rows[1:]] == ["ул. Школьная, д. 12", "ул. Школьная, д. 14",
                                             "пр-т Победы, д. 3", ""]
    sheet = load_workbook(report.xlsx)["Инциденты"]
    assert [c.value for c in sheet[1]][column] == "Адрес"
    assert sheet.cell(row=2, column=column + 1).value == "ул. Школьная, д. 12"
