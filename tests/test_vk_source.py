"""VK communities as a source and VK as the place answers go: the real vk_api against the
fake VK API, the real aiogram Bot against the fake Bot API, both over HTTP on loopback.

Residents write on the wall of a watched community; the coordinator and the executors work
in Telegram; the approved answer appears under the resident's comment, and the resident's
reply in the feedback window reopens the incident.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.scheduler import start_scheduler
from bot.sources.vk_wall import poll_seconds
from fakes.driver import FAST_VK_RETRY, Clock
from fakes.telegram import FakeTelegramServer
from fakes.vk import GROUP_ID, FakeVkServer
from tests.harness import COORDINATOR, PETROV, SIDOROVA, Harness, load, write_config

GROUP_TOKEN = "vk-community-token-0001"
SERVICE_TOKEN = "vk-service-token-0002"
USER_TOKEN = "vk-user-token-0003"
DISTRICT = -5550001  # a watched community: «Подслушано Новокузнецк»
MISSING = -5550099  # a watched id that VK does not know
RESIDENT = 7000001
NEIGHBOUR = 7000002
ANSWER = "Яму засыпали щебнем, асфальт положим весной."
PHOTOS = (b"\xff\xd8after-repair-1", b"\xff\xd8after-repair-2")

VK_CONFIG = """
[vk]
token = "{token}"
service_token = "{service_token}"
user_token = "{user_token}"
group_id = {group_id}
communities = {communities}
api_base = "{api_base}"
"""


@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    tokens = {GROUP_TOKEN: "group", SERVICE_TOKEN: "service", USER_TOKEN: "user"}
    async with FakeVkServer(tokens=tokens) as server:
        server.add_group(-DISTRICT, "Подслушано Новокузнецк")
        server.add_user(RESIDENT, "Галина", "Жительница")
        server.add_user(NEIGHBOUR, "Сосед", "Соседов")
        yield server


@asynccontextmanager
async def started(server: FakeTelegramServer, vk: FakeVkServer, directory: Path,
                  clock: Clock, *, user_token: str = USER_TOKEN,
                  service_token: str = SERVICE_TOKEN,
                  communities: tuple[int, ...] = (DISTRICT,)) -> AsyncIterator[Harness]:
    extra = VK_CONFIG.format(token=GROUP_TOKEN, service_token=service_token,
                             user_token=user_token, group_id=GROUP_ID,
                             communities=list(communities), api_base=vk.api_base)
    h = Harness(server, load(write_config(directory, server, extra)), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def otklik(server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path,
                 clock: Clock) -> AsyncIterator[Harness]:
    async with started(server, vk, tmp_path, clock) as h:
        yield h


async def poll(otklik: Harness) -> int:
    """One poll of the watched walls, then everything it queued delivered."""
    assert otklik.app is not None and otklik.app.vk_wall is not None
    seen = await otklik.app.vk_wall.poll_once()
    await otklik.step()
    return seen


async def publish(otklik: Harness) -> None:
    assert otklik.app is not None
    await otklik.app.usecases.sweep.sweep()
    await otklik.step()


def wall_post(vk: FakeVkServer) -> int:
    """A post of the community itself that residents comment on."""
    return int(vk.add_post(DISTRICT, "Жители, пишите, что нужно починить в районе")["id"])


async def answer_and_approve(otklik: Harness, n: int, photos: tuple[bytes, ...] = ()) -> None:
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, ANSWER)
    for content in photos:
        otklik.server.message(PETROV, photo=content, media_group_id="after-repair")
    await otklik.step()
    await otklik.press(PETROV, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)


def answers(vk: FakeVkServer, post_id: int) -> list[dict[str, Any]]:
    return [c for c in vk.comments(DISTRICT, post_id) if c["from_id"] == -GROUP_ID]


def found(otklik: Harness) -> list[str]:
    return [t for t in otklik.texts(COORDINATOR) if "Найден и зарегистрирован" in t]


def source_faults(otklik: Harness) -> list[str]:
    return [t for t in otklik.texts(COORDINATOR) if "Не удаётся читать сообщество" in t]


# --- detection -------------------------------------------------------------------------------


async def test_complaint_comments_become_incidents_in_the_right_department(
        otklik: Harness, vk: FakeVkServer) -> None:
    post = wall_post(vk)
    roads = vk.add_comment(DISTRICT, post, "Вся улица Кирова в ямах, подвеску разбил", RESIDENT)
    vk.add_comment(DISTRICT, post, "Вторую неделю холодные батареи в доме 7 по Ленина",
                   NEIGHBOUR)
    vk.add_comment(DISTRICT, post, "Спасибо админу за хороший пост!", NEIGHBOUR)

    assert await poll(otklik) == 3

    first = await otklik.incident(1)
    assert first.source == "vk" and first.category == "roads"  # «ямах» is «яма»
    assert first.department == "roads"
    assert first.url == f"https://vk.com/wall{DISTRICT}_{post}?reply={roads['id']}"
    assert first.author == "Галина Жительница"
    second = await otklik.incident(2)
    assert second.category == "housing" and second.department == "housing"
    assert await otklik.incident(3) is None  # the thanks matched nothing
    assert len(found(otklik)) == 2
    # Each executor of the department gets the card, with the resident's words, in Telegram.
    assert any("№1" in t and "Вся улица Кирова в ямах" in t for t in otklik.texts(PETROV))
    assert any("№2" in t and "холодные батареи" in t for t in otklik.texts(SIDOROVA))
    otklik.button(PETROV, "take", 1)
    # The walls are read with the service token; nothing is written to them.
    reads = vk.calls_to("wall.get") + vk.calls_to("wall.getComments")
    assert reads and {c.token_type for c in reads} == {"service"}
    assert vk.calls_to("wall.createComment") == [] and answers(vk, post) == []


async def test_a_residents_post_is_read_and_the_communitys_own_words_are_not(
        otklik: Harness, vk: FakeVkServer) -> None:
    own = vk.add_post(DISTRICT, "Ремонт дорог: ямы на улице Кирова засыплют до пятницы")
    vk.add_comment(DISTRICT, own["id"], "Администрация: ямы на Кирова уже в плане работ",
                   DISTRICT)
    vk.add_comment(DISTRICT, own["id"], "МЦУ: по ямам на Кирова работает дорожная служба",
                   -GROUP_ID)
    suggested = vk.add_post(DISTRICT, "Огромная яма во дворе дома 5, машины бьются",
                            from_id=RESIDENT)

    await poll(otklik)

    incident = await otklik.incident(1)
    assert incident is not None and incident.category == "roads"
    assert incident.url == f"https://vk.com/wall{DISTRICT}_{suggested['id']}"
    assert await otklik.incident(2) is None
    assert len(found(otklik)) == 1


async def test_the_same_comment_polled_twice_is_one_incident(
        otklik: Harness, vk: FakeVkServer) -> None:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Вся улица Кирова в ямах, подвеску разбил", RESIDENT)
    await poll(otklik)
    await poll(otklik)
    # As after a crash between handling the comment and saving how far the wall was read:
    # the comment is read again, and its natural key keeps it one incident.
    assert otklik.app is not None
    async with otklik.app.store.write() as uow:
        await uow.conn.execute("DELETE FROM source_cursors")
    await poll(otklik)

    assert await otklik.incident(1) is not None
    assert await otklik.incident(2) is None
    assert len(found(otklik)) == 1
    assert len([t for t in otklik.texts(PETROV) if "Вся улица Кирова в ямах" in t]) == 1
    assert len(vk.calls_to("wall.getComments")) == 3


async def test_a_second_complaint_of_the_same_author_in_the_thread_is_a_repeat(
        otklik: Harness, vk: FakeVkServer) -> None:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Во дворе дома 5 яма, машины бьются", RESIDENT)
    await poll(otklik)
    vk.add_comment(DISTRICT, post, "Напоминаю про яму во дворе дома 5, никто не приехал",
                   RESIDENT)
    await poll(otklik)

    assert await otklik.incident(2) is None
    assert "Повторное сообщение жителя по инциденту №1" in otklik.last_text(PETROV)
    assert "никто не приехал" in otklik.last_text(PETROV)
    assert any(e.action == "repeat" and e.incident_id == 1 for e in await otklik.audit())
    # Under another post it is another thread: a new incident.
    other = wall_post(vk)
    vk.add_comment(DISTRICT, other, "А на улице Кирова тоже яма на яме", RESIDENT)
    await poll(otklik)
    assert await otklik.incident(2) is not None


# --- publishing ------------------------------------------------------------------------------


async def test_the_approved_answer_is_published_under_the_comment_with_its_photos(
        otklik: Harness, vk: FakeVkServer) -> None:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Добрый день, когда откроют парк?", NEIGHBOUR)
    complaint = vk.add_comment(DISTRICT, post, "Во дворе дома 5 огромная яма, машины бьются",
                               RESIDENT)
    await poll(otklik)
    await answer_and_approve(otklik, 1, PHOTOS)
    assert "будет опубликован автоматически" in otklik.last_text(COORDINATOR)

    await publish(otklik)

    (answer,) = answers(vk, post)
    assert answer["reply_to_comment"] == complaint["id"]
    assert answer["text"] == ANSWER
    photos = [a["photo"] for a in answer.get("attachments", []) if a["type"] == "photo"]
    assert [vk.photo_content(f"photo{p['owner_id']}_{p['id']}") for p in photos] == \
        list(PHOTOS)
    (create,) = vk.calls_to("wall.createComment")
    assert create.token_type == "group" and create.params["from_group"] == GROUP_ID
    assert {c.token_type for c in vk.calls_to("photos.saveWallPhoto")} == {"user"}
    assert (await otklik.incident(1)).state == "awaiting_feedback"
    # Our own answer read back from the wall is no complaint; a second sweep posts nothing.
    await poll(otklik)
    await publish(otklik)
    assert await otklik.incident(2) is None
    assert len(answers(vk, post)) == 1


async def test_without_a_user_token_the_answer_goes_out_without_photos(
        server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path, clock: Clock) -> None:
    async with started(server, vk, tmp_path, clock, user_token="") as otklik:
        post = wall_post(vk)
        vk.add_comment(DISTRICT, post, "Во дворе дома 5 огромная яма, машины бьются", RESIDENT)
        await poll(otklik)
        await answer_and_approve(otklik, 1, PHOTOS)
        await publish(otklik)

        (answer,) = answers(vk, post)
        assert answer["text"] == ANSWER and not answer.get("attachments")
        assert vk.calls_to("photos.getWallUploadServer") == []
        (note,) = [t for t in otklik.texts(COORDINATOR) if "не приложены" in t]
        assert "Ответ по инциденту №1 опубликован" in note
        assert "фото (2) не приложены: не задан vk.user_token" in note
        assert (await otklik.incident(1)).state == "awaiting_feedback"


async def test_publishing_to_a_deleted_post_falls_back_to_the_manual_package(
        otklik: Harness, vk: FakeVkServer) -> None:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Во дворе дома 5 огромная яма, машины бьются", RESIDENT)
    await poll(otklik)
    vk.delete_post(DISTRICT, post)
    await answer_and_approve(otklik, 1, PHOTOS[:1])

    await publish(otklik)

    (package,) = [t for t in otklik.texts(COORDINATOR) if "Не удалось опубликовать" in t]
    assert "запись удалена" in package and ANSWER in package
    sent = otklik.server.sent_to(COORDINATOR.id)
    at = next(i for i, c in enumerate(sent) if "Не удалось опубликовать" in (c.text or ""))
    assert sent[at - 1].method == "sendPhoto", "the draft's photo comes with the package"
    assert not [c for c in vk.calls_to("wall.createComment") if c.ok]
    assert (await otklik.incident(1)).state == "approved"
    await otklik.press(COORDINATOR, "published", 1)
    assert (await otklik.incident(1)).state == "awaiting_feedback"


async def test_flood_control_while_publishing_is_retried_later_not_handed_over(
        otklik: Harness, vk: FakeVkServer, clock: Clock) -> None:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Во дворе дома 5 огромная яма, машины бьются", RESIDENT)
    await poll(otklik)
    await answer_and_approve(otklik, 1)
    vk.fail_next("wall.createComment", 9, "Flood control", times=FAST_VK_RETRY.attempts)

    await publish(otklik)
    assert (await otklik.incident(1)).state == "approved"
    assert not [t for t in otklik.texts(COORDINATOR) if "Не удалось опубликовать" in t]
    clock.advance(minutes=1)
    await publish(otklik)

    assert [c["text"] for c in answers(vk, post)] == [ANSWER]
    assert (await otklik.incident(1)).state == "awaiting_feedback"


# --- the resident's reaction -----------------------------------------------------------------


async def published_answer(otklik: Harness, vk: FakeVkServer) -> tuple[int, int]:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Во дворе дома 5 огромная яма, машины бьются", RESIDENT)
    await poll(otklik)
    await answer_and_approve(otklik, 1)
    await publish(otklik)
    (answer,) = answers(vk, post)
    return post, int(answer["id"])


async def test_a_reply_of_the_resident_in_the_window_reopens_the_incident(
        otklik: Harness, vk: FakeVkServer, clock: Clock) -> None:
    post, answer = await published_answer(otklik, vk)
    clock.advance(days=1)
    vk.add_comment(DISTRICT, post, "У нас во дворе тоже плохо", NEIGHBOUR,
                   reply_to_comment=answer)
    await poll(otklik)
    assert (await otklik.incident(1)).state == "awaiting_feedback"

    vk.add_comment(DISTRICT, post, "Ничего не засыпали, яма на месте!", RESIDENT,
                   reply_to_comment=answer)
    await poll(otklik)

    incident = await otklik.incident(1)
    assert incident.state == "reopened" and incident.executor_id is not None
    assert "Ничего не засыпали" in otklik.last_text(PETROV)
    assert "Ничего не засыпали" in otklik.last_text(COORDINATOR)
    assert await otklik.incident(2) is None
    await poll(otklik)  # read again: still reopened once
    reopens = [e for e in await otklik.audit() if e.action == "reopen"]
    assert len(reopens) == 1


async def test_a_reply_after_the_window_does_not_reopen(
        otklik: Harness, vk: FakeVkServer, clock: Clock) -> None:
    post, answer = await published_answer(otklik, vk)
    clock.advance(days=2, seconds=1)  # no sweep has closed it yet
    vk.add_comment(DISTRICT, post, "Ничего не засыпали, яма на месте!", RESIDENT,
                   reply_to_comment=answer)
    await poll(otklik)

    assert (await otklik.incident(1)).state == "closed"
    assert not [e for e in await otklik.audit() if e.action in ("reopen", "repeat")]
    second = await otklik.incident(2)  # a complaint after the window is a new incident
    assert second is not None and second.category == "roads"


async def test_a_quiet_window_closes_the_incident(
        otklik: Harness, vk: FakeVkServer, clock: Clock) -> None:
    await published_answer(otklik, vk)
    clock.advance(days=1)
    await publish(otklik)
    assert (await otklik.incident(1)).state == "awaiting_feedback"
    clock.advance(days=1, seconds=1)
    await publish(otklik)
    assert (await otklik.incident(1)).state == "closed"


# --- faults ----------------------------------------------------------------------------------


async def test_error_6_is_backed_off_and_retried(otklik: Harness, vk: FakeVkServer) -> None:
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Вся улица Кирова в ямах, подвеску разбил", RESIDENT)
    vk.fail_next("wall.getComments", 6, times=2)

    loop = asyncio.get_running_loop()
    started_at = loop.time()
    await poll(otklik)
    elapsed = loop.time() - started_at

    assert [c.error_code for c in vk.calls_to("wall.getComments")] == [6, 6, None]
    assert elapsed >= FAST_VK_RETRY.delay(1) + FAST_VK_RETRY.delay(2)
    assert (await otklik.incident(1)).category == "roads"
    assert source_faults(otklik) == []  # a passing fault is nobody's business


async def test_an_unknown_community_is_reported_once_and_its_return_too(
        server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path, clock: Clock) -> None:
    async with started(server, vk, tmp_path, clock,
                       communities=(MISSING, DISTRICT)) as otklik:
        post = wall_post(vk)
        vk.add_comment(DISTRICT, post, "Вся улица Кирова в ямах, подвеску разбил", RESIDENT)
        await poll(otklik)
        await poll(otklik)

        (fault,) = source_faults(otklik)
        assert f"https://vk.com/club{-MISSING}" in fault
        assert "сообщество не найдено" in fault and "100" in fault
        assert [c.error_code for c in vk.calls_to("wall.get")][::2] == [100, 100]
        # The other community is read all the same.
        assert (await otklik.incident(1)).category == "roads"

        vk.add_group(-MISSING, "Новости района")
        await poll(otklik)
        await poll(otklik)
        back = [t for t in otklik.texts(COORDINATOR) if "снова читается" in t]
        assert len(back) == 1 and f"club{-MISSING}" in back[0]
        assert len(source_faults(otklik)) == 1


@pytest.mark.parametrize(("code", "reason"), [
    (5, "сервисный ключ (vk.service_token) недействителен"),
    (15, "нет доступа к стене"),
])
async def test_a_refusal_is_reported_to_the_coordinator_once_over_two_polls(
        otklik: Harness, vk: FakeVkServer, code: int, reason: str) -> None:
    wall_post(vk)
    vk.fail_next("wall.get", code, times=2)
    await poll(otklik)
    await poll(otklik)

    assert [c.error_code for c in vk.calls_to("wall.get")] == [code, code]
    (fault,) = source_faults(otklik)
    assert reason in fault and f"ошибка VK {code}" in fault
    assert SERVICE_TOKEN not in fault


async def test_a_community_token_in_place_of_the_service_token_is_reported(
        server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path, clock: Clock) -> None:
    async with started(server, vk, tmp_path, clock, service_token=GROUP_TOKEN) as otklik:
        wall_post(vk)
        await poll(otklik)
        await poll(otklik)
        (fault,) = source_faults(otklik)
        assert "ошибка VK 27" in fault and "сервисный ключ" in fault


# --- scheduling --------------------------------------------------------------------------------


async def test_the_scheduler_polls_the_walls_and_a_failing_poll_is_only_logged(
        otklik: Harness, vk: FakeVkServer, caplog: pytest.LogCaptureFixture) -> None:
    assert otklik.app is not None
    assert [(job, every) for job, every, _ in otklik.app._pollers()] == [("vk_wall", 300.0)]
    assert (poll_seconds("1h"), poll_seconds("1d")) == (3600.0, 86400.0)
    post = wall_post(vk)
    vk.add_comment(DISTRICT, post, "Вся улица Кирова в ямах, подвеску разбил", RESIDENT)

    async def broken() -> None:
        raise RuntimeError("VK is down")

    scheduler = start_scheduler(otklik.app.usecases, otklik.app.store, every_seconds=3600,
                                pollers=[*otklik.app._pollers(), ("broken", 3600, broken)])
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await otklik.incident(1) is not None and "broken failed" in caplog.text:
                break
    finally:
        scheduler.shutdown(wait=False)
    assert (await otklik.incident(1)).category == "roads"  # polled at once, not in 5 minutes
    assert "broken failed; the next run retries" in caplog.text
