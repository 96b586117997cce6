"""Every source and procedure of the regulation from the chat (issue 10): the source in one
tap, the platform's own deadline, Кузбасс-онлайн (acceptance clock, subcategory, result
status) and redirection with an answer to the resident — in Telegram through the fake Bot API,
in the VK community chat through the fake VK API, and through the HTTP intake."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import ConfigError, load_config
from bot.reports import build_report
from bot.sources.http_intake import make_app
from fakes.telegram import FakeTelegramServer
from fakes.vk import FakeVkServer
from tests.harness import (
    COORDINATOR,
    PETROV,
    SIDOROVA,
    Clock,
    Harness,
    incident_number,
    load,
    write_config,
)
from tests.test_vk_chat import ORLOVA, VASILIEV, VK_TOKEN, VkHarness, running
from workflows.commands import Approve, ChangeSource, Reassign
from workflows.dates import parse_local
from workflows.ladder import ladder
from workflows.sla import default_policies
from workflows.sources import PICKABLE, source_from_url

EXTRA = """
[[categories]]
key = "yards"
name = "Благоустройство дворов"
block = "ЖКХ"
department = "roads"
subcategories = ["Ямы во дворах", "Освещение", "Детские площадки"]

[[organisations]]
key = "gibdd"
name = "ГИБДД"
to = "Госавтоинспекцию г. Новокузнецка"
answer_within = "30d"

[[organisations]]
key = "sfr"
name = "Социальный фонд"
"""


def _nsk(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    from zoneinfo import ZoneInfo
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Novokuznetsk")).astimezone(UTC)


@pytest.fixture
async def otklik(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                 ) -> AsyncIterator[Harness]:
    h = Harness(server, load(write_config(tmp_path, server, EXTRA)), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def sweep_at(otklik: Harness, when: datetime) -> int:
    otklik.clock.now = when
    assert otklik.app is not None
    sent = await otklik.app.usecases.sweep.sweep()
    await otklik.step()
    return sent


def labels(otklik: Harness, action: str) -> list[list[str]]:
    call, _ = otklik.button(COORDINATOR, action)
    return [[b["text"] for b in row if b["callback_data"].split(":")[1] == action]
            for row in call.buttons if any(
                b["callback_data"].split(":")[1] == action for b in row)]


async def audit_actions(otklik: Harness, n: int) -> list[str]:
    return [e.action for e in await otklik.audit() if e.incident_id == n and e.ok]


# --- the pure core ---------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "source"), [
    ("https://vk.com/wall-1_7", "vk"),
    ("https://m.vk.com/wall-1_7?reply=3", "vk"),
    ("https://vk.ru/club1", "vk"),
    ("https://ok.ru/group/55/topic/66", "ok"),
    ("https://t.me/novokuznetsk_chat/123", "telegram"),
    ("https://pos.gosuslugi.ru/landing/appeal/1", "pos"),
    ("https://www.kuzbass-online.ru/messages/42", "kuzbass_online"),
    ("https://кузбасс-онлайн.рф/messages/42", "kuzbass_online"),
    ("https://gosuslugi.ru/help", None),
    ("https://example.com/vk.com", None),
    ("not a link", None),
    (None, None),
])
def test_a_link_tells_the_source(url: str | None, source: str | None) -> None:
    assert source_from_url(url) == source


@pytest.mark.parametrize(("typed", "expected"), [
    ("до 05.12 17:30", (2026, 12, 5, 17, 30)),
    ("5 декабря 17:30", (2026, 12, 5, 17, 30)),
    ("до 5 декабря 2026 г. 17:30", (2026, 12, 5, 17, 30)),
    ("5 дек. 10:00", (2026, 12, 5, 10, 0)),
    ("12 мая", (2027, 5, 12, 18, 0)),  # a passed day is next year's; no time: 18:00
    ("1 март в 9:15", (2027, 3, 1, 9, 15)),
])
def test_typed_dates_with_month_names(typed: str, expected: tuple[int, ...]) -> None:
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("Asia/Novokuznetsk")
    now = datetime(2026, 12, 2, 9, 0, tzinfo=tz)
    assert parse_local(typed, now, tz) == datetime(*expected, tzinfo=tz)


@pytest.mark.parametrize("typed", ["5 мартышки", "31 февраля", "до", "5 ма 10:00"])
def test_typed_dates_that_are_not_dates(typed: str) -> None:
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("Asia/Novokuznetsk")
    assert parse_local(typed, datetime(2026, 12, 2, tzinfo=tz), tz) is None


def test_the_acceptance_clock_is_reminded_at_half_time() -> None:
    from workflows.model import Incident, Priority, State
    policy = default_policies("Asia/Novokuznetsk")["kuzbass_online"]
    at = _nsk(2026, 11, 23, 9)
    incident = Incident(1, State.ASSIGNED, "kuzbass_online", "…", "yards", "roads", 5,
                        Priority.NORMAL, at, first_response_due=_nsk(2026, 11, 24, 9),
                        answer_due=_nsk(2026, 12, 7, 9))
    firsts = [r.at for r in ladder(incident, policy) if r.kind == "first_response"]
    assert firsts == [_nsk(2026, 11, 23, 21), _nsk(2026, 11, 24, 9)]
    other = default_policies("Asia/Novokuznetsk")["incident_management"]
    assert [r.at for r in ladder(incident, other) if r.kind == "first_response"] == [
        _nsk(2026, 11, 24, 9)]


# --- 1. the source, in one tap -----------------------------------------------------------------

async def test_no_link_asks_the_source_with_the_category(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Позвонил житель: яма у дома 5 по ул. Кирова")
    await otklik.press(COORDINATOR, "intake_yes")
    prompt = otklik.last_text(COORDINATOR)
    assert "Источник по ссылке не определён" in prompt and "Выберите категорию" in prompt
    rows = labels(otklik, "src")
    assert [x for row in rows for x in row] == [
        "ВКонтакте", "Одноклассники", "Telegram", "Инцидент Менеджмент", "ПОС",
        "Кузбасс-онлайн", "Соцсети Губернатора", "Телефон / прямая линия", "Другое"]
    assert all(len(row) <= 3 for row in rows)  # a phone's width
    await otklik.press(COORDINATOR, "src", label="ПОС")
    assert "Источник: Платформа обратной связи" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    incident = await otklik.incident(n)
    assert incident.source == "pos"
    assert otklik.app is not None
    assert otklik.app.usecases.policies.policy_of(incident).name == "pos"
    # Monday 09:00 + 8 working hours of 08:30–17:30.
    assert incident.answer_due == _nsk(2026, 11, 23, 17)


async def test_a_link_gives_the_source_and_goes_straight_to_the_category(
        otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Яма во дворе https://ok.ru/group/55/topic/66")
    assert otklik.last_text(COORDINATOR) == "Новое сообщение. Выберите категорию:"
    call, _ = otklik.button(COORDINATOR, "cat")
    assert not any(b["callback_data"].split(":")[1] == "src" for row in call.buttons
                   for b in row)
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    incident = await otklik.incident(incident_number(otklik.last_text(COORDINATOR)))
    assert incident.source == "ok" and incident.url == "https://ok.ru/group/55/topic/66"


async def test_source_and_policy_change_on_the_card(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Житель на прямой линии: не вывозят мусор")
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "src", label="Телефон")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    assert (await otklik.incident(n)).source == "phone"
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "policy", n)
    await otklik.press(COORDINATOR, "set_pol", n, label="Кузбасс-онлайн")
    incident = await otklik.incident(n)
    assert incident.policy == "kuzbass_online"
    assert incident.answer_due == _nsk(2026, 12, 7, 9)  # 14 days from the registration
    assert "регламент — Кузбасс-онлайн" in otklik.last_text(COORDINATOR)
    assert "07.12.2026" in otklik.last_text(PETROV)  # the executor is told the new deadline
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "source", n)
    await otklik.press(COORDINATOR, "set_src", n, label="Соцсети Губернатора")
    incident = await otklik.incident(n)
    assert incident.source == "governor" and incident.policy == "kuzbass_online"
    # The same source again is refused, and nothing is recorded for it.
    await otklik.press(COORDINATOR, "set_src", n, label="Соцсети Губернатора")
    assert "уже установлено" in otklik.alerts(COORDINATOR)[-1]
    entries = [e for e in await otklik.audit() if e.incident_id == n and e.ok]
    assert [(e.action, e.reason) for e in entries if e.action in ("source", "policy")] == [
        ("policy", "kuzbass_online"), ("source", "governor")]


async def test_a_found_incident_keeps_its_source(otklik: Harness) -> None:
    assert otklik.app is not None
    from workflows.model import Sighting
    result = await otklik.app.usecases.intake.register(None, Sighting(
        "vk", "-1_5", "Яма на дороге у дома 3", "roads", url="https://vk.com/wall-1_5"))
    n = result.incident.id
    await otklik.step()
    await otklik.say(COORDINATOR, f"/incident {n}")
    call, _ = otklik.button(COORDINATOR, "policy", n)
    assert not any(b["callback_data"].split(":")[1] == "source"
                   for row in call.buttons for b in row)
    coordinator = [p for p in await otklik.app.usecases.queries.people()
                              if p.name == "Иванова Анна"][0]
    refused = await otklik.app.usecases.actions.act(coordinator, n, ChangeSource("pos"))
    assert not refused.ok and refused.code == "source_fixed"


# --- 2. the platform's own deadline --------------------------------------------------------------

async def test_the_coordinator_types_the_platform_deadline(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Сообщение с ПОС: не убран снег https://pos.gosuslugi.ru/a/1")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    # ПОС sets the deadline itself: the registration note offers it at once.
    call, _ = otklik.button(COORDINATOR, "due", n)
    assert "Зарегистрирован инцидент" in (call.text or "")
    await otklik.press(COORDINATOR, "due", n)
    assert "до 05.12 17:30" in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "когда-нибудь")
    assert "не распознан" in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "4 декабря 17:30")  # still waiting for the date
    incident = await otklik.incident(n)
    assert incident.answer_due == _nsk(2026, 12, 4, 17, 30)
    assert "platform_due" in await audit_actions(otklik, n)
    assert "04.12.2026 17:30" in otklik.last_text(PETROV)
    # Reminders and the overdue ping run against it (after 17:30 on Friday the ping waits
    # for the next working morning).
    await sweep_at(otklik, _nsk(2026, 12, 4, 16, 31))
    assert any("04.12.2026 17:30" in t for t in otklik.texts(PETROV)[-1:])
    assert not any("Просрочен инцидент" in t for t in otklik.texts(COORDINATOR))
    await sweep_at(otklik, _nsk(2026, 12, 7, 8, 31))
    assert any("Просрочен инцидент" in t and "04.12.2026 17:30" in t
               for t in otklik.texts(COORDINATOR))


async def test_the_http_intake_takes_the_platform_deadline(otklik: Harness) -> None:
    assert otklik.app is not None
    body = {"source": "pos", "external_id": "POS-7", "text": "Не горит фонарь во дворе",
            "category": "yards", "subcategory": "Освещение",
            "due": "2026-11-27T12:00:00+07:00"}
    async with TestClient(TestServer(make_app(otklik.app.usecases.intake, "secret"))) as client:
        auth = {"Authorization": "Bearer secret"}
        response = await client.post("/api/incidents", json=body, headers=auth)
        assert response.status == 201
        n = (await response.json())["id"]
        for change, field in (({"due": "27.11.2026 12:00"}, "due"),
                              ({"due": "2026-11-27T12:00:00"}, "due"),
                              ({"due": 5}, "due"),
                              ({"subcategory": "Погода"}, "subcategory")):
            bad = await client.post("/api/incidents", json=body | change
                                    | {"external_id": "POS-8"}, headers=auth)
            assert bad.status == 400, change
            assert (await bad.json())["field"] == field
    incident = await otklik.incident(n)
    assert incident.answer_due == _nsk(2026, 11, 27, 12)
    assert incident.subcategory == "Освещение" and incident.source == "pos"
    assert await otklik.incident(n + 1) is None  # the bad ones registered nothing


# --- 3. Кузбасс-онлайн ---------------------------------------------------------------------------

async def test_kuzbass_online_from_registration_to_the_result_status(
        otklik: Harness, tmp_path: Path) -> None:
    await otklik.say(COORDINATOR, "Во дворе дома 12 по ул. Ленина не горят фонари")
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "src", label="Кузбасс-онлайн")
    await otklik.press(COORDINATOR, "cat", label="Благоустройство дворов")
    assert "Выберите подкатегорию" in otklik.last_text(COORDINATOR)
    assert labels(otklik, "cat") == [["Ямы во дворах", "Освещение"], ["Детские площадки"]]
    await otklik.press(COORDINATOR, "cat", label="Освещение")
    n = incident_number(otklik.last_text(COORDINATOR))
    incident = await otklik.incident(n)
    assert incident.source == "kuzbass_online" and incident.subcategory == "Освещение"
    assert incident.first_response_due == _nsk(2026, 11, 24, 9)  # accepted within 24 hours
    assert incident.answer_due == _nsk(2026, 12, 7, 9)  # considered within 14 days
    await otklik.say(COORDINATOR, f"/incident {n}")
    card = otklik.last_text(COORDINATOR)
    assert "Принять «в работу» до: <b>24.11.2026 09:00" in card
    assert "Благоустройство дворов / Освещение" in card
    # Reminded at half the time (21:00, so at the start of the next working day) ...
    await sweep_at(otklik, _nsk(2026, 11, 23, 21))
    assert not any("принять «в работу»" in t for t in otklik.texts(COORDINATOR))
    await sweep_at(otklik, _nsk(2026, 11, 24, 8, 31))
    assert sum("нужно принять «в работу»" in t for t in otklik.texts(COORDINATOR)) == 1
    # ... and accepted with one tap: the clock stops.
    await otklik.press(COORDINATOR, "first_response", n)
    await otklik.press(COORDINATOR, "fr_published", n)
    await sweep_at(otklik, _nsk(2026, 11, 24, 9, 1))
    assert sum("нужно принять «в работу»" in t for t in otklik.texts(COORDINATOR)) == 1

    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Фонари во дворе дома 12 заменены 25.11.")
    await otklik.press(PETROV, "submit", n)
    review = otklik.last_text(COORDINATOR)
    assert "выберите статус результата" in review
    assert labels(otklik, "approve") == [["✅ Согласовать: решено", "✅ Согласовать: разъяснено"]]
    assert otklik.app is not None
    coordinator = [p for p in await otklik.app.usecases.queries.people()
                              if p.name == "Иванова Анна"][0]
    refused = await otklik.app.usecases.actions.act(coordinator, n, Approve())  # no status: refused
    assert not refused.ok and refused.code == "status_required"
    await otklik.press(COORDINATOR, "approve", n, label="решено")
    await otklik.press(COORDINATOR, "published", n)
    incident = await otklik.incident(n)
    assert incident.result_status == "resolved" and incident.state == "awaiting_feedback"
    await otklik.say(COORDINATOR, f"/incident {n}")
    assert "Статус результата: <b>решено</b>" in otklik.last_text(COORDINATOR)

    report = await build_report(otklik.app.config, otklik.app.store, _nsk(2026, 11, 23, 0),
                                _nsk(2026, 11, 30, 0), out_dir=tmp_path / "r",
                                templates=otklik.app.usecases.templates,
                                now=otklik.clock.now)
    assert "Статус результата (Кузбасс-онлайн): решено — 1, разъяснено — 0" in report.text
    with report.csv.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    row = next(r for r in rows if r["№"] == str(n))
    assert (row["Источник"], row["Подкатегория"], row["Статус результата"]) == (
        "Кузбасс-онлайн", "Освещение", "решено")
    from openpyxl import load_workbook
    sheet = load_workbook(report.xlsx)["Инциденты"]
    head = [c.value for c in sheet[1]]
    cells = next(dict(zip(head, [c.value for c in r], strict=True)) for r in sheet.iter_rows(
        min_row=2) if r[0].value == n)
    assert (cells["Подкатегория"], cells["Статус результата"]) == ("Освещение", "решено")

    # The transcript of the incident, as the fake server recorded it.
    print("\n=== Кузбасс-онлайн incident transcript ===")
    for call in sorted(otklik.server.sent_to(COORDINATOR.id) + otklik.server.sent_to(PETROV.id),
                       key=lambda c: c.seq):
        who = "coordinator" if call.params.get("chat_id") == COORDINATOR.id else "executor"
        buttons = [b["text"] for row in call.buttons for b in row]
        print(f"--> {who}: {call.text}" + (f"\n    [{' | '.join(buttons)}]" if buttons else ""))


# --- 5. redirected to another body ---------------------------------------------------------

async def test_redirect_to_an_organisation_of_the_config(otklik: Harness, tmp_path: Path
                                                         ) -> None:
    await otklik.say(COORDINATOR, "Не работает светофор на трассе https://vk.com/wall-1_9")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "redirect", n)
    assert labels(otklik, "redirect") == [["ГИБДД"], ["Социальный фонд"],
                                          ["✍️ Другая организация"]]
    await otklik.press(COORDINATOR, "redirect", n, label="ГИБДД")
    review = otklik.last_text(COORDINATOR)
    assert "ответ жителю о перенаправлении" in review
    assert ("Ваше сообщение направлено по компетенции в Госавтоинспекцию г. Новокузнецка. "
            "Срок ответа — до 23.12.2026.") in review
    assert "ГИБДД" in otklik.last_text(PETROV)  # the executor is told
    incident = await otklik.incident(n)
    assert incident.state == "on_review" and incident.redirected_to == "ГИБДД"
    await otklik.press(COORDINATOR, "approve", n)
    assert "Срок ответа — до 23.12.2026" in otklik.last_text(COORDINATOR)  # the package
    await otklik.press(COORDINATOR, "published", n)
    assert (await otklik.incident(n)).state == "redirected"
    assert otklik.app is not None
    report = await build_report(otklik.app.config, otklik.app.store, _nsk(2026, 11, 23, 0),
                                _nsk(2026, 11, 30, 0), out_dir=tmp_path / "r",
                                templates=otklik.app.usecases.templates,
                                now=otklik.clock.now)
    assert report.metrics.redirected == 1
    assert "Куда перенаправлены: ГИБДД — 1" in report.text


async def test_redirect_to_a_typed_organisation(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Не пришла пенсия https://vk.com/wall-1_11")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "redirect", n)
    await otklik.press(COORDINATOR, "redirect", n, label="Другая")
    await otklik.say(COORDINATOR, "Пенсионный отдел\nвопрос о выплатах")
    assert "направлено по компетенции в Пенсионный отдел" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "edit_approve", n)
    await otklik.say(COORDINATOR, "Ваше сообщение направлено в Пенсионный отдел, срок ответа "
                                  "— 30 дней.")
    await otklik.press(COORDINATOR, "published", n)
    incident = await otklik.incident(n)
    assert incident.state == "redirected" and incident.redirected_to == "Пенсионный отдел"


# --- config --------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "message"), [
    ('[[categories]]\nkey = "x"\nname = "X"\nblock = "B"\ndepartment = "roads"\n'
     'subcategories = ["Свет", "свет"]\n', "subcategories"),
    ('[[categories]]\nkey = "x"\nname = "X"\nblock = "B"\ndepartment = "roads"\n'
     'subcategories = [" "]\n', "blank"),
    ('[[organisations]]\nkey = "a"\nname = "А"\nanswer_within = "5wd"\n', "answer_within"),
    ('[[organisations]]\nkey = "a"\nname = "А"\n[[organisations]]\nkey = "a"\nname = "Б"\n',
     "organisations"),
])
def test_config_refuses_bad_subcategories_and_organisations(
        tmp_path: Path, server: FakeTelegramServer, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, server, extra))


def test_config_reads_subcategories_organisations_and_policy_flags(
        tmp_path: Path, server: FakeTelegramServer) -> None:
    config = load_config(write_config(tmp_path, server, EXTRA + """
[sla.policies.pos]
title = "ПОС"
answer = "8wh"
acceptance = true
result_statuses = true
"""))
    assert config.subcategories == {"yards": ("Ямы во дворах", "Освещение",
                                              "Детские площадки")}
    assert config.organisations["gibdd"].to == "Госавтоинспекцию г. Новокузнецка"
    assert config.organisations["sfr"].to == "Социальный фонд"
    assert config.organisations["sfr"].answer_within.days == 30
    assert config.policies["pos"].acceptance and config.policies["pos"].result_statuses
    assert config.policies["kuzbass_online"].result_statuses


def test_every_pickable_source_has_a_label() -> None:
    from bot.templates import Templates
    t = Templates("Asia/Novokuznetsk")
    for key in PICKABLE:
        assert t.phrase_raw("source_buttons", key) and t.phrase_raw("sources", key) != key


# --- the VK community chat -------------------------------------------------------------------

@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    async with FakeVkServer(tokens={VK_TOKEN: "group"}) as s:
        yield s


@pytest.fixture
async def vk_otklik(server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path
                    ) -> AsyncIterator[VkHarness]:
    async with running(server, vk, tmp_path, EXTRA) as h:
        yield h


async def test_vk_kuzbass_online_with_source_subcategory_due_and_status(
        vk_otklik: VkHarness) -> None:
    h = vk_otklik
    await h.vk_say(ORLOVA, "Во дворе дома 7 яма, сообщение с Кузбасс-онлайн")
    await h.vk_press(ORLOVA, "intake_yes")
    await h.vk_press(ORLOVA, "src", label="Кузбасс-онлайн")
    await h.vk_press(ORLOVA, "cat", label="Благоустройство дворов")
    await h.vk_press(ORLOVA, "cat", label="Ямы во дворах")
    n = incident_number(h.vk_last(ORLOVA))
    incident = await h.incident(n)
    assert (incident.source, incident.subcategory) == ("kuzbass_online", "Ямы во дворах")
    await h.vk_say(ORLOVA, f"/incident {n}")
    assert "Принять «в работу» до" in h.vk_last(ORLOVA) or any(
        "Принять «в работу» до" in t for t in h.vk_texts(ORLOVA)[-3:])
    await h.vk_press(ORLOVA, "due", n)
    await h.vk_say(ORLOVA, "до 01.12 12:00")
    assert (await h.incident(n)).answer_due == _nsk(2026, 12, 1, 12)
    await h.vk_press(VASILIEV, "take", n)
    await h.vk_say(VASILIEV, "Яма во дворе дома 7 засыпана, асфальт уложен.")
    await h.vk_press(VASILIEV, "submit", n)
    await h.vk_press(ORLOVA, "approve", n, label="разъяснено")
    await h.vk_press(ORLOVA, "published", n)
    incident = await h.incident(n)
    assert incident.result_status == "explained" and incident.state == "awaiting_feedback"


async def test_vk_source_policy_and_redirect(vk_otklik: VkHarness) -> None:
    h = vk_otklik
    await h.vk_say(ORLOVA, "Нет пенсии уже месяц https://t.me/nk_chat/5")
    await h.vk_press(ORLOVA, "cat", label="Дороги")
    n = incident_number(h.vk_last(ORLOVA))
    assert (await h.incident(n)).source == "telegram"
    await h.vk_say(ORLOVA, f"/incident {n}")
    await h.vk_press(ORLOVA, "policy", n)
    await h.vk_press(ORLOVA, "set_pol", n, label="Губернатор")
    assert (await h.incident(n)).policy == "governor"
    await h.vk_say(ORLOVA, f"/incident {n}")
    await h.vk_press(ORLOVA, "source", n)
    await h.vk_press(ORLOVA, "set_src", n, label="Телефон")
    assert (await h.incident(n)).source == "phone"
    await h.vk_say(ORLOVA, f"/incident {n}")
    await h.vk_press(ORLOVA, "redirect", n)
    await h.vk_press(ORLOVA, "redirect", n, label="Социальный фонд")
    assert any("направлено по компетенции в Социальный фонд" in t
               for t in h.vk_texts(ORLOVA)[-3:])
    await h.vk_press(ORLOVA, "approve", n)
    await h.vk_press(ORLOVA, "published", n)
    incident = await h.incident(n)
    assert incident.state == "redirected" and incident.redirected_to == "Социальный фонд"
    assert [e.action for e in await h.audit() if e.incident_id == n and e.ok
            and e.action in ("policy", "source", "redirect", "approve", "publish")] == [
        "policy", "source", "redirect", "approve", "publish"]


def test_a_policy_overridden_without_the_flags_keeps_the_built_in_ones(
        tmp_path: Path, server: FakeTelegramServer) -> None:
    config = load_config(write_config(tmp_path, server, """
[sla.policies.kuzbass_online]
title = "Кузбасс-онлайн"
hours = "08:30-17:30"
first_response = "24h"
answer = "14d"

[sla.policies.letters]
title = "Письма"
answer = "5wd"
"""))
    assert config.policies["kuzbass_online"].acceptance
    assert config.policies["kuzbass_online"].result_statuses
    assert not config.policies["letters"].acceptance
    assert not config.policies["letters"].result_statuses


def test_the_example_config_shows_the_new_keys() -> None:
    example = Path(__file__).parent.parent / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    for key in ("subcategories =", "[[organisations]]", "answer_within =", "to =",
                "acceptance = true", "result_statuses = true", "phone (телефон"):
        assert key in text, key
    config = load_config(example)
    assert config.organisations and config.subcategories["roads"]


async def test_kuzbass_edit_and_approve_with_a_status_and_a_called_off_redirect(
        otklik: Harness) -> None:
    assert otklik.app is not None
    from workflows.model import Sighting
    usecases = otklik.app.usecases
    n = (await usecases.intake.register(None, Sighting(
        "kuzbass_online", "KO-1", "Не вывезли мусор со двора", "roads"))).incident.id
    await otklik.step()
    # A redirection on review, called off by reassigning: the incident is worked on again.
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "redirect", n)
    await otklik.press(COORDINATOR, "redirect", n, label="ГИБДД")
    await otklik.say(COORDINATOR, f"/incident {n}")
    assert labels(otklik, "approve") == [["✅ Согласовать"]]  # no status for a redirection
    coordinator = [p for p in await usecases.queries.people() if p.name == "Иванова Анна"][0]
    sidorova = [p for p in await usecases.queries.people() if p.name == "Сидорова Мария"][0]
    assert (await usecases.actions.act(coordinator, n, Reassign(sidorova.id))).ok
    assert (await otklik.incident(n)).redirected_to is None
    await otklik.step()
    await otklik.press(SIDOROVA, "take", n)
    await otklik.say(SIDOROVA, "Мусор вывезен 24.11.")
    await otklik.press(SIDOROVA, "submit", n)
    await otklik.press(COORDINATOR, "edit_approve", n, label="разъяснено")
    await otklik.say(COORDINATOR, "Мусор со двора вывезен 24.11, график вывоза — по средам.")
    await otklik.press(COORDINATOR, "published", n)
    incident = await otklik.incident(n)
    assert incident.state == "awaiting_feedback" and incident.result_status == "explained"
    assert incident.approved_text.startswith("Мусор со двора вывезен")
