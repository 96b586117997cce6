"""Executors and coordinators working from VK: the community chat over HTTP, against the fake
VK API (Bots Long Poll, callback buttons, uploads) and the fake Bot API."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.config import load_config
from bot.templates import Templates
from fakes.driver import FAST, FAST_VK_RETRY
from fakes.telegram import FakeTelegramServer, FakeUser
from fakes.vk import GROUP_ID, FakeVkServer
from handlers.flows import Press
from handlers.vk.render import (
    BUTTONS_LIMIT,
    LABEL_LIMIT,
    PAYLOAD_LIMIT,
    ROW_LIMIT,
    ROWS_LIMIT,
    keyboards,
    plain_text,
    split_text,
    unpack_press,
)
from tests.harness import COORDINATOR, TOKEN, Harness, incident_number, make_clock
from workflows.model import Button

VK_TOKEN = "vk1.a.community-token-for-tests"
VASILIEV = 7001  # executor, roads, VK only
SIDOROVA_VK, SIDOROVA_TG = 7002, 2002  # executor, housing, Telegram and VK
ORLOVA = 7100  # coordinator, VK only
NEWCOMER, OTHER_NEWCOMER, STRANGER = 8001, 8002, 9999

CONFIG = """
timezone = "Asia/Novokuznetsk"
database = "otklik.sqlite3"
files_dir = "files"

[telegram]
token = "{token}"
api_base = "{api_base}"
groups = [-1001234567890]

[vk]
token = "{vk_token}"
group_id = {group_id}
api_base = "{vk_api_base}"

[[departments]]
key = "roads"
name = "Дорожное хозяйство"

[[departments]]
key = "housing"
name = "Отдел ЖКХ"

[[categories]]
key = "roads"
name = "Дороги"
block = "Дороги и транспорт"
department = "roads"

[[categories]]
key = "housing"
name = "ЖКХ"
block = "ЖКХ"
department = "housing"

[[people]]
name = "Иванова Анна"
roles = ["coordinator", "admin"]
telegram_id = 1001

[[people]]
name = "Орлова Елена"
roles = ["coordinator"]
vk_id = 7100

[[people]]
name = "Васильев Виктор"
roles = ["executor"]
departments = ["roads"]
vk_id = 7001

[[people]]
name = "Сидорова Мария"
roles = ["executor"]
departments = ["housing"]
telegram_id = 2002
vk_id = 7002

[[people]]
name = "Кузнецов Олег"
roles = ["curator"]
telegram_id = 3001
"""


class VkHarness(Harness):
    """The Telegram harness plus the VK community chat: pushes VK events, reads VK replies."""

    vk: FakeVkServer

    async def start(self) -> App:
        self.app = App(self.config, clock=self.clock, limits=FAST, album_delay=0.05,
                       vk_retry=FAST_VK_RETRY, vk_rps=math.inf)
        await self.app.start()
        return self.app

    @property
    def a(self) -> App:
        assert self.app is not None
        return self.app

    async def step(self) -> None:
        while await self.a.poll_once() + await self.a.poll_vk_once():
            pass
        await self.a.settle()

    async def vk_say(self, user_id: int, text: str = "", attachments: list[Any] | None = None,
                     **kw: Any) -> dict[str, Any]:
        event = self.vk.push_message_new(user_id, text, attachments, **kw)
        await self.step()
        return event

    def vk_button(self, user_id: int, action: str, n: int | None = None,
                  label: str | None = None) -> dict[str, Any]:
        """The payload of the newest callback button for ``action`` sent to ``user_id``."""
        for message in reversed(self.vk.messages_to(user_id)):
            for row in (message.get("keyboard") or {}).get("buttons", []):
                for button in row:
                    action_ = button["action"]
                    payload = json.loads(action_["payload"])
                    if payload.get("a") != action or (n is not None and payload["n"] != n):
                        continue
                    if label is not None and label not in action_["label"]:
                        continue
                    return dict(payload)
        raise AssertionError(f"no {action!r} button for {user_id}: {self.vk_texts(user_id)[-3:]}")

    async def vk_press(self, user_id: int, action: str, n: int | None = None,
                       label: str | None = None) -> dict[str, Any]:
        event = self.vk.push_message_event(user_id, self.vk_button(user_id, action, n, label))
        await self.step()
        return event

    def vk_texts(self, user_id: int) -> list[str]:
        return [m["text"] for m in self.vk.messages_to(user_id)]

    def vk_last(self, user_id: int) -> str:
        texts = [t for t in self.vk_texts(user_id) if t]
        return texts[-1] if texts else ""

    def snackbars(self, user_id: int) -> list[str]:
        return [(a["event_data"] or {}).get("text", "") for a in self.vk.event_answers
                if a["user_id"] == user_id]

    async def register(self, text: str, category: str = "Дороги") -> int:
        await self.say(COORDINATOR, text)
        if "http" not in text:  # a plain text is registered on «Да»; a link goes straight on
            await self.press(COORDINATOR, "intake_yes")
        await self.press(COORDINATOR, "cat", label=category)
        return incident_number(self.last_text(COORDINATOR))

    async def actions(self, n: int) -> list[str]:
        return [e.action for e in await self.audit() if e.incident_id == n and e.ok]


@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    async with FakeVkServer(tokens={VK_TOKEN: "group"}) as server:
        yield server


@contextlib.asynccontextmanager
async def running(server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path,
                  extra: str = "") -> AsyncIterator[VkHarness]:
    """Otklik with the VK community chat: :data:`CONFIG` and ``extra`` appended to it."""
    path = tmp_path / "otklik.toml"
    path.write_text(CONFIG.format(token=TOKEN, api_base=server.api_base, vk_token=VK_TOKEN,
                                  group_id=GROUP_ID, vk_api_base=vk.api_base) + extra,
                    encoding="utf-8")
    h = VkHarness(server, load_config(path), make_clock())
    h.vk = vk
    await h.start()
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def otklik(server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path
                 ) -> AsyncIterator[VkHarness]:
    async with running(server, vk, tmp_path) as h:
        yield h


def read(path: str | None) -> bytes:
    return Path(path or "").read_bytes()


def keyboard_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["keyboard"]["buttons"] for b in row]


# ----------------------------------------------------------------------------- lifecycle


async def test_executor_in_vk_answers_and_the_coordinator_in_telegram_approves(
        otklik: VkHarness) -> None:
    vk = otklik.vk
    n = await otklik.register("Яма на дороге у школы №5 https://vk.com/wall-1_10")
    [card] = [m for m in vk.messages_to(VASILIEV) if f"Инцидент №{n}" in m["text"]]
    # Plain text (no tags), the resident's words in «», the link spelled out.
    assert "<b>" not in card["text"] and "«Яма на дороге у школы №5" in card["text"]
    assert "ссылка (https://vk.com/wall-1_10)" in card["text"]
    assert card["keyboard"]["inline"] is True
    buttons = keyboard_of(card)
    assert {b["action"]["type"] for b in buttons} == {"callback"}
    assert [json.loads(b["action"]["payload"])["a"] for b in buttons] == ["take", "decline"]

    event = await otklik.vk_press(VASILIEV, "take", n)
    assert (await otklik.incident(n)).state == "in_progress"
    [answer] = vk.event_answers
    assert answer["event_id"] == event["object"]["event_id"]
    assert answer["event_data"] == {"type": "show_snackbar", "text": "Готово."}
    assert f"по инциденту №{n}" in otklik.vk_last(VASILIEV)  # asked to write the answer

    await otklik.vk_say(VASILIEV, "Яму засыпали, фото прилагаем.",
                        [b"\xff\xd8 pothole-before", b"\xff\xd8 pothole-after"])
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and draft.text == "Яму засыпали, фото прилагаем."
    assert [a.kind for a in draft.attachments] == ["photo", "photo"]
    assert [read(a.local_path) for a in draft.attachments] == [
        b"\xff\xd8 pothole-before", b"\xff\xd8 pothole-after"]
    previews = [t for t in otklik.vk_texts(VASILIEV) if t.startswith("📝 Проект ответа")]
    assert len(previews) == 1 and "фото — 2" in previews[0]  # one preview for the message

    await otklik.vk_press(VASILIEV, "submit", n)
    assert (await otklik.incident(n)).state == "on_review"
    assert otklik.snackbars(VASILIEV)[-1] == f"Проект ответа по инциденту №{n} отправлен на " \
                                             "согласование."
    # The coordinator in Telegram sees the photos (uploaded from disk) and the buttons.
    sent = otklik.server.sent_to(COORDINATOR.id)
    album = [c for c in sent if c.method == "sendMediaGroup"][-1]
    assert sorted(album.files.values()) == [b"\xff\xd8 pothole-after", b"\xff\xd8 pothole-before"]
    assert "Яму засыпали, фото прилагаем." in otklik.last_text(COORDINATOR)

    await otklik.press(COORDINATOR, "approve", n)
    assert (await otklik.incident(n)).state == "approved"
    assert any(f"№{n} согласован" in t for t in otklik.vk_texts(VASILIEV))
    assert await otklik.actions(n) == ["register", "assign", "take", "submit", "approve"]


async def test_coordinator_in_vk_returns_and_approves_with_callback_buttons(
        otklik: VkHarness) -> None:
    vk = otklik.vk
    n = await otklik.register("Разбит асфальт во дворе")
    await otklik.vk_press(VASILIEV, "take", n)
    act = vk.add_doc(VASILIEV, "акт.pdf", b"%PDF-1.4 act")
    await otklik.vk_say(VASILIEV, "Асфальт уложим в пятницу.", [b"\xff\xd8 yard", act])
    await otklik.vk_press(VASILIEV, "submit", n)

    # The coordinator in VK gets the files (uploaded for the conversation), then the draft.
    sent = vk.messages_to(ORLOVA)
    files_message, review = sent[-2], sent[-1]
    kinds = [a["type"] for a in files_message["attachments"]]
    assert kinds == ["photo", "doc"] and files_message["text"] == ""
    photo = files_message["attachments"][0]["photo"]
    assert vk.photo_content(f"photo{photo['owner_id']}_{photo['id']}") == b"\xff\xd8 yard"
    doc = files_message["attachments"][1]["doc"]
    assert vk.doc_content(f"doc{doc['owner_id']}_{doc['id']}") == b"%PDF-1.4 act"
    assert doc["title"] == "акт.pdf"
    assert "Асфальт уложим в пятницу." in review["text"]
    assert [json.loads(b["action"]["payload"])["a"] for b in keyboard_of(review)] == [
        "approve", "return", "edit_approve", "reassign"]

    await otklik.vk_press(ORLOVA, "return", n)
    assert "Что доработать" in otklik.vk_last(ORLOVA)
    await otklik.vk_say(ORLOVA, "Укажите точную дату & приложите фото <до>")
    assert (await otklik.incident(n)).state == "in_progress"
    # Word for word, as typed (plain text in VK: nothing escaped).
    assert "Укажите точную дату & приложите фото <до>" in otklik.vk_last(VASILIEV)

    await otklik.vk_press(VASILIEV, "answer", n)
    await otklik.vk_say(VASILIEV, "Асфальт уложим 27 ноября.")
    await otklik.vk_press(VASILIEV, "submit", n)
    await otklik.vk_press(ORLOVA, "approve", n)
    incident = await otklik.incident(n)
    assert incident.state == "approved"
    assert "Асфальт уложим 27 ноября." in otklik.vk_last(ORLOVA)  # the publication package
    await otklik.vk_press(ORLOVA, "published", n)
    assert (await otklik.incident(n)).state == "awaiting_feedback"
    assert await otklik.actions(n) == ["register", "assign", "take", "submit", "return",
                                       "submit", "approve", "publish"]
    assert all(c.ok for c in vk.calls_to("messages.send"))


async def test_person_on_both_platforms_is_notified_on_both(otklik: VkHarness) -> None:
    n = await otklik.register("Нет отопления в доме 7", category="ЖКХ")
    assert f"Инцидент №{n}" in otklik.last_text(otklik_user(SIDOROVA_TG))
    assert any(f"Инцидент №{n}" in t for t in otklik.vk_texts(SIDOROVA_VK))

    await otklik.vk_press(SIDOROVA_VK, "take", n)
    # Writing in Telegram a photo and text: one draft, shown to the VK coordinator with it.
    await otklik.say(otklik_user(SIDOROVA_TG), "/my")
    await otklik.press(otklik_user(SIDOROVA_TG), "show", n)
    await otklik.press(otklik_user(SIDOROVA_TG), "answer", n)
    await otklik.say(otklik_user(SIDOROVA_TG), photo=b"\xff\xd8 radiator")
    await otklik.say(otklik_user(SIDOROVA_TG), "Отопление включили.")
    await otklik.press(otklik_user(SIDOROVA_TG), "submit", n)
    assert (await otklik.incident(n)).state == "on_review"
    files = otklik.vk.messages_to(ORLOVA)[-2]["attachments"]
    photo = files[0]["photo"]
    assert otklik.vk.photo_content(f"photo{photo['owner_id']}_{photo['id']}") == (
        b"\xff\xd8 radiator")
    # The decision reaches the executor on both platforms.
    await otklik.vk_press(ORLOVA, "approve", n)
    assert any(f"№{n} согласован" in t for t in otklik.texts(otklik_user(SIDOROVA_TG)))
    assert any(f"№{n} согласован" in t for t in otklik.vk_texts(SIDOROVA_VK))


async def test_coordinator_in_vk_registers_a_shared_wall_post(otklik: VkHarness) -> None:
    post = {"id": 42, "owner_id": -77, "from_id": 501, "date": 0, "text": "Яма у остановки"}
    await otklik.vk_say(ORLOVA, "", [{"type": "wall", "wall": post}])
    assert "Выберите категорию" in otklik.vk_last(ORLOVA)
    await otklik.vk_press(ORLOVA, "cat", label="Дороги")
    n = incident_number(otklik.vk_last(ORLOVA))
    incident = await otklik.incident(n)
    assert incident.url == "https://vk.com/wall-77_42" and incident.source == "vk"
    assert incident.text == "Яма у остановки" and incident.state == "assigned"
    assert any(f"Инцидент №{n}" in t for t in otklik.vk_texts(VASILIEV))


def otklik_user(user_id: int) -> FakeUser:
    return FakeUser(user_id, "Мария", "Сидорова")


# ----------------------------------------------------------------------------- invitations


def vk_ref(text: str) -> str:
    found = re.search(r"https://vk\.me/club(\d+)\?ref=(\S+)", text)
    assert found, text
    assert int(found.group(1)) == GROUP_ID
    return found.group(2)


async def test_invite_link_opened_in_vk_binds_the_vk_account(otklik: VkHarness) -> None:
    await otklik.say(COORDINATOR, "/invite executor roads Новиков Илья")
    invitation = otklik.last_text(COORDINATOR)
    assert "?start=" in invitation  # the Telegram link is still there
    token = vk_ref(invitation)
    # The user follows vk.me/club…?ref=TOKEN and presses «Начать».
    await otklik.vk_say(NEWCOMER, "Начать", payload={"command": "start"}, ref=token,
                        ref_source="invite")
    assert "Добро пожаловать, Новиков Илья" in otklik.vk_last(NEWCOMER)
    person = await otklik.a.usecases.queries.person_for_chat("vk", NEWCOMER)
    assert person is not None and person.name == "Новиков Илья"
    assert person.departments == {"roads"}
    # /start TOKEN typed in VK works as well; a used token does not.
    await otklik.say(COORDINATOR, "/invite curator Смирнова Ольга")
    second = vk_ref(otklik.last_text(COORDINATOR))
    await otklik.vk_say(OTHER_NEWCOMER, f"/start {second}")
    assert "куратор" in otklik.vk_last(OTHER_NEWCOMER)
    await otklik.vk_say(STRANGER, f"/start {token}")
    assert "недействительна" in otklik.vk_last(STRANGER)
    assert await otklik.a.usecases.queries.person_for_chat("vk", STRANGER) is None


# ----------------------------------------------------------------------------- safety


async def test_stranger_is_refused_and_nothing_else_happens(otklik: VkHarness) -> None:
    n = await otklik.register("Яма у дома 3")
    audit_before = await otklik.audit()
    await otklik.vk_say(STRANGER, "Здравствуйте, у нас яма во дворе", [b"\xff\xd8 pit"])
    otklik.vk.push_message_event(STRANGER, {"a": "take", "n": n})
    await otklik.step()
    assert otklik.vk_texts(STRANGER) == [
        "Здравствуйте! Вы не зарегистрированы в «Отклике». Попросите администратора МЦУ "
        "прислать вам приглашение."] * 2
    assert (await otklik.incident(n)).state == "assigned"
    new = (await otklik.audit())[len(audit_before):]
    assert [(e.action, e.ok) for e in new] == [("stranger", False), ("stranger", False)]
    async with otklik.a.store.read() as uow:
        assert len(await uow.incidents.select()) == 1
    assert len(otklik.vk.event_answers) == 1  # the press was answered (silently)


async def test_same_event_delivered_twice_changes_nothing(otklik: VkHarness) -> None:
    n = await otklik.register("Яма на Садовой")
    press = await otklik.vk_press(VASILIEV, "take", n)
    photo = await otklik.vk_say(VASILIEV, "", [b"\xff\xd8 one"])
    sent_before = len(otklik.vk.calls_to("messages.send"))
    audit_before = len(await otklik.audit())
    otklik.vk.push_event("message_event", press["object"])  # VK repeats the events
    otklik.vk.push_event("message_new", photo["object"])
    await otklik.step()
    assert await otklik.actions(n) == ["register", "assign", "take"]
    assert len(await otklik.audit()) == audit_before
    assert len(otklik.vk.calls_to("messages.send")) == sent_before
    assert len(otklik.vk.event_answers) == 1
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and len(draft.attachments) == 1


async def test_button_on_an_outdated_card_gets_a_clear_answer(otklik: VkHarness) -> None:
    n = await otklik.register("Яма на Лесной")
    decline = otklik.vk_button(VASILIEV, "decline", n)  # on the card, version of assignment
    await otklik.vk_press(VASILIEV, "take", n)
    otklik.vk.push_message_event(VASILIEV, decline)
    await otklik.step()
    assert "устарела" in otklik.snackbars(VASILIEV)[-1]
    assert f"/incident {n}" in otklik.snackbars(VASILIEV)[-1]
    assert (await otklik.incident(n)).state == "in_progress"
    otklik.vk.push_message_event(VASILIEV, {"a": "no-such-action", "n": n})
    otklik.vk.push_message_event(VASILIEV, {"something": "else"})
    await otklik.step()
    assert otklik.snackbars(VASILIEV)[-2:] == ["Неизвестное действие."] * 2


async def test_user_who_forbade_messages_is_reported_to_the_coordinator_once(
        otklik: VkHarness) -> None:
    otklik.vk.forbid_messages(VASILIEV)
    for text in ("Яма 1", "Яма 2"):
        await otklik.say(COORDINATOR, text)
        await otklik.press(COORDINATOR, "intake_yes")
        await otklik.press(COORDINATOR, "cat", label="Дороги")
    warnings = [t for t in otklik.texts(COORDINATOR) if "Не удалось доставить" in t]
    assert len(warnings) == 1
    assert "Васильеву Виктору" in warnings[0]
    assert "не разрешил сообщения от сообщества" in warnings[0]
    assert len([t for t in otklik.vk_texts(ORLOVA) if "Не удалось доставить" in t]) == 1
    assert [c.error_code for c in otklik.vk.calls_to("messages.send")
            if c.params.get("peer_id") == VASILIEV] == [901]  # the second is not routed to him
    async with otklik.a.store.read() as uow:
        assert await uow.outbox.next_due_at("vk") is None  # nothing left pending


async def test_error_6_is_retried_and_the_message_delivered_once(otklik: VkHarness) -> None:
    otklik.vk.fail_next("messages.send", 6)
    otklik.vk.push_message_new(VASILIEV, "/help")
    await otklik.a.poll_vk_once()
    assert otklik.a.vk_outbox is not None
    delay = await otklik.a.vk_outbox.send_due()
    assert delay is not None and 0.5 <= delay <= 1.0  # the outbox's first backoff
    assert otklik.vk.messages_to(VASILIEV) == []
    otklik.clock.advance(seconds=1)
    assert await otklik.a.vk_outbox.send_due() is None
    [help_message] = otklik.vk.messages_to(VASILIEV)
    assert "/my" in help_message["text"]
    calls = otklik.vk.calls_to("messages.send")
    assert [c.error_code for c in calls] == [6, None]
    # The retry carried the same random_id: had VK taken the first, it would not show twice.
    assert int(calls[0].params["random_id"]) == calls[1].params["random_id"]  # (raw, decoded)


async def test_a_message_sent_before_a_crash_is_not_sent_twice(otklik: VkHarness) -> None:
    otklik.vk.push_message_new(VASILIEV, "/help")
    await otklik.a.poll_vk_once()
    async with otklik.a.store.read() as uow:
        [row] = await uow.outbox.due("vk", otklik.clock(), 10)
    # VK accepts the message, and Otklik dies before it marks the row sent.
    transport = otklik.a.vk_outbox.transport  # type: ignore[union-attr]
    await transport.send(row.method, row.payload)
    await otklik.restart()
    await otklik.step()
    assert len(otklik.vk.messages_to(VASILIEV)) == 1
    assert len(otklik.vk.calls_to("messages.send")) == 2


async def test_long_poll_keeps_its_place_across_a_restart_and_failures(
        otklik: VkHarness) -> None:
    n = await otklik.register("Яма на Заречной")
    await otklik.vk_press(VASILIEV, "take", n)
    otklik.vk.fail_longpoll(2)  # the key expired: a new key, the same ts
    otklik.vk.push_message_new(VASILIEV, "Первая часть ответа.")
    await otklik.step()
    assert (await otklik.a.usecases.queries.draft(n)).text == "Первая часть ответа."  # type: ignore
    await otklik.a.close()
    otklik.vk.push_message_new(VASILIEV, "Ответ, написанный, пока бот стоял.")
    await otklik.start()  # the stored ts: what came meanwhile is fetched, nothing twice
    await otklik.step()
    # A second text adds to the draft (once: nothing fetched twice).
    assert (await otklik.a.usecases.queries.draft(n)).text == (  # type: ignore[union-attr]
        "Первая часть ответа.\n\nОтвет, написанный, пока бот стоял.")
    previews = [t for t in otklik.vk_texts(VASILIEV) if t.startswith("📝 Проект ответа")]
    assert len(previews) == 2
    otklik.vk.fail_longpoll(1)  # history lost: go on from the ts VK gives
    otklik.vk.fail_longpoll(3)  # key and ts lost: a new key and ts
    assert await otklik.a.poll_vk_once() == 0
    assert await otklik.a.poll_vk_once() == 0
    otklik.vk.push_message_new(VASILIEV, "/my")
    await otklik.step()
    assert f"№{n}" in otklik.vk_last(VASILIEV)
    assert len(otklik.vk.calls_to("groups.getLongPollServer")) == 4


async def test_long_texts_and_many_buttons_stay_within_vk_limits(otklik: VkHarness) -> None:
    long_text = ("Очень длинная жалоба & <жалоба> " * 300).strip()
    n = await otklik.register(long_text)
    parts = [m for m in otklik.vk.messages_to(VASILIEV) if m["text"]]
    assert len(parts) >= 3 and all(len(m["text"]) <= 4096 for m in parts)
    assert "keyboard" in parts[-1] and all("keyboard" not in m for m in parts[:-1])
    assert f"Инцидент №{n}" in parts[0]["text"]
    assert "& <жалоба>" in parts[1]["text"]
    assert all(c.ok for c in otklik.vk.calls_to("messages.send"))


# ----------------------------------------------------------------------------- rendering


def test_plain_text_keeps_what_residents_typed() -> None:
    html = ('<b>Обращение №5</b> · <a href="https://vk.com/wall-1_2?a=1&amp;b=2">ссылка</a>\n'
            "<blockquote>Во дворе &lt;b&gt;грязь&lt;/b&gt; &amp; лужи</blockquote>\n"
            '<a href="https://x.ru/p.jpg">https://x.ru/p.jpg</a>')
    assert plain_text(html) == (
        "Обращение №5 · ссылка (https://vk.com/wall-1_2?a=1&b=2)\n"
        "«Во дворе <b>грязь</b> & лужи»\nhttps://x.ru/p.jpg")


def test_split_text_cuts_at_line_breaks_within_the_limit() -> None:
    lines = [f"строка {i} " + "я" * 50 for i in range(200)]
    parts = split_text("\n".join(lines), 4096)
    assert len(parts) == 4 and all(len(p) <= 4096 for p in parts)
    assert [line for p in parts for line in p.split("\n")] == lines  # whole lines only
    assert split_text("😀" * 3000, 4096) == ["😀" * 2048, "😀" * 952]  # UTF-16 units


def test_keyboards_respect_vk_inline_limits() -> None:
    templates = Templates(ZoneInfo("Asia/Novokuznetsk"))
    rows = [[Button("to", 1, str(i), label=f"Исполнитель номер {i} " + "ы" * 40)]
            for i in range(13)]
    rows.append([Button("show", i) for i in range(7)])
    boards = keyboards(templates, rows, version=3)
    for board in boards:
        assert board["inline"] is True
        assert len(board["buttons"]) <= ROWS_LIMIT
        assert sum(len(r) for r in board["buttons"]) <= BUTTONS_LIMIT
        for row in board["buttons"]:
            assert len(row) <= ROW_LIMIT
            for b in row:
                assert len(b["action"]["label"]) <= LABEL_LIMIT
                assert len(b["action"]["payload"].encode()) <= PAYLOAD_LIMIT
    pressed = [unpack_press(b["action"]["payload"]) for board in boards
               for row in board["buttons"] for b in row]
    assert len(pressed) == 20 and pressed[0] == Press("to", 1, 3, "0")
    assert unpack_press('{"a": "take", "n": true}') is None
    assert unpack_press({"a": "take", "n": 4}) == Press("take", 4)

