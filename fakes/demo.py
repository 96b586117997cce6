"""The offline demo: Otklik against a fake Bot API server, one incident from start to end.

A coordinator invites an executor, registers a resident's post, one executor declines it,
another answers with photos, the coordinator returns the draft, then edits and approves it,
publishes it and closes the incident; the curator looks at the overview. Then a resident's
comment in a watched VK community (a fake VK API) becomes an incident, the executor answers in
Telegram, and after approval the answer appears under the comment. The chat is printed as a
transcript. Nothing leaves the machine.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Config, load_config
from fakes.driver import Clock, Driver
from fakes.telegram import FakeTelegramServer, FakeUser
from fakes.vk import GROUP_ID, GROUP_NAME, FakeVkServer

COORDINATOR = FakeUser(1001, "Анна", "Иванова")
PETROV = FakeUser(2001, "Павел", "Петров")
SIDOROVA = FakeUser(2002, "Мария", "Сидорова")
NOVIKOV = FakeUser(2003, "Илья", "Новиков")
CURATOR = FakeUser(3001, "Олег", "Кузнецов")
# VK: the fake's tokens by type, the watched community and a resident who comments there.
VK_TOKENS = {"demo-community-token": "group", "demo-service-token": "service",
             "demo-user-token": "user"}
VK_COMMUNITY = -5550001
VK_COMMUNITY_NAME = "Подслушано Новокузнецк"
VK_RESIDENT = (7000001, "Галина", "Жительница")
VK_COMPLAINT = ("Во дворе дома 3 по ул. Народной вторую неделю не вывозят мусор, "
                "контейнеры переполнены!")
RESIDENT_POST = (
    "Третий день не вывозят мусор во дворе дома 12 по ул. Кирова, контейнеры переполнены, "
    "мусор разносит ветер. Когда уберут?? <жалоба> & фото прилагаю")

DEMO_CONFIG = """
timezone = "Asia/Novokuznetsk"
database = "otklik.sqlite3"
files_dir = "files"

[telegram]
token = "000000:DEMO"
api_base = "{api_base}"

[[departments]]
key = "waste"
name = "Региональный оператор ТКО"

[[departments]]
key = "improvement"
name = "Отдел благоустройства"

[[categories]]
key = "waste"
name = "ТКО: вывоз мусора"
block = "ЖКХ"
department = "waste"
keywords = ["мусор", "контейнер", "свалка"]

[[categories]]
key = "improvement"
name = "Благоустройство"
block = "Благоустройство"
department = "improvement"

[[people]]
name = "Иванова Анна (координатор)"
roles = ["coordinator", "admin"]
telegram_id = 1001

[[people]]
name = "Петров Павел"
roles = ["executor"]
departments = ["waste"]
telegram_id = 2001

[[people]]
name = "Сидорова Мария"
roles = ["executor"]
departments = ["improvement"]
telegram_id = 2002

[[people]]
name = "Кузнецов Олег (куратор)"
roles = ["curator"]
telegram_id = 3001

[vk]
token = "demo-community-token"
service_token = "demo-service-token"
user_token = "demo-user-token"
group_id = {group_id}
communities = [{community}]
api_base = "{vk_api_base}"
"""

NAMES = {COORDINATOR.id: "Координатор Иванова", PETROV.id: "Исполнитель Петров",
         SIDOROVA.id: "Исполнитель Сидорова", NOVIKOV.id: "Исполнитель Новиков",
         CURATOR.id: "Куратор Кузнецов"}


async def run_demo(config_path: str | None = None, *, out: Callable[[str], None] = print) -> int:
    """Play the script; 0 when the incident went all the way to closed."""
    with tempfile.TemporaryDirectory(prefix="otklik-demo-") as tmp:
        async with FakeTelegramServer() as server, FakeVkServer(tokens=VK_TOKENS) as vk:
            config = _config(Path(tmp), server, vk, config_path)
            # Monday 23 November 2026, 09:00 in Novokuznetsk.
            clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
            driver = Driver(server, config, clock)
            try:
                await driver.start()  # inside: a failed start still closes what it opened
                tell = _Narrator(driver, clock, out)
                code = await _script(tell)
                if config_path:  # the VK part needs the demo's own config (the fake VK)
                    return code
                return await _vk_script(tell, vk) or code
            finally:
                await driver.close()


def _config(directory: Path, server: FakeTelegramServer, vk: FakeVkServer,
            config_path: str | None) -> Config:
    if config_path:
        return load_config(config_path)
    path = directory / "demo.toml"
    path.write_text(DEMO_CONFIG.format(api_base=server.api_base, vk_api_base=vk.api_base,
                                       group_id=GROUP_ID, community=VK_COMMUNITY),
                    encoding="utf-8")
    return load_config(path)


@dataclass
class _Narrator:
    """Prints the scenes and what the chat gained since the last look; each scene takes
    seven minutes of the demo's clock."""

    d: Driver
    clock: Clock
    out: Callable[[str], None]
    shown: int = 0

    def scene(self, title: str) -> None:
        self.out(f"\n▶ {title}")
        self.clock.advance(minutes=7)

    def show_chat(self) -> None:
        lines = self.d.server.transcript(NAMES)
        for line in lines[self.shown:]:
            self.out(f"  {line}")
        self.shown = len(lines)

    async def then(self, title: str, action: Callable[[], Awaitable[object]]) -> None:
        self.scene(title)
        await action()
        self.show_chat()

    async def state_of(self, n: int) -> tuple[str | None, str]:
        """The state of incident ``n`` and its Russian name."""
        assert self.d.app is not None
        incident = await self.d.app.usecases.queries.incident(n)
        state = incident.state if incident else None
        return state, self.d.app.templates.phrase_raw("states", state) if state else "не найдено"


async def _script(tell: _Narrator) -> int:
    d, out = tell.d, tell.out
    then, scene, show_chat = tell.then, tell.scene, tell.show_chat

    await then("Незнакомец пишет боту — ему вежливо отказывают",
               lambda: d.say(FakeUser(9999, "Незнакомец"), "Здравствуйте, у меня вопрос"))
    await then("Администратор приглашает нового исполнителя",
               lambda: d.say(COORDINATOR, "/invite executor waste Новиков Илья"))
    link = re.search(r"start=(\S+)", d.last_text(COORDINATOR))
    assert link, "no invitation link"
    await then("Новиков открывает ссылку-приглашение",
               lambda: d.say(NOVIKOV, f"/start {link.group(1)}"))
    await then("Координатор пересылает боту пост жителя с фото",
               lambda: d.say(COORDINATOR, photo=b"\xff\xd8demo-photo", caption=RESIDENT_POST,
                             forward_from_chat={"id": -100777, "type": "channel",
                                                "title": "Подслушано Новокузнецк",
                                                "username": "podslushano_nk"}))
    await then("…и выбирает категорию", lambda: d.press(COORDINATOR, "cat", label="ТКО"))
    n = int(re.findall(r"№(\d+)", d.last_text(COORDINATOR))[0])
    await then("Петров отвечает «Не наша компетенция»", lambda: d.press(PETROV, "decline", n))
    await then("…и пишет причину",
               lambda: d.say(PETROV, "Площадка у дома 12 — зона благоустройства, не ТКО"))
    await then("Координатор переназначает", lambda: d.press(COORDINATOR, "reassign", n))
    await then("…на Сидорову", lambda: d.press(COORDINATOR, "to", n, label="Сидорова"))
    await then("Сидорова берёт в работу", lambda: d.press(SIDOROVA, "take", n))
    await then("Сидорова пишет ответ", lambda: d.say(
        SIDOROVA, "Мусор вывезен, площадка убрана."))
    scene("Сидорова присылает альбом из двух фото и акт в PDF")
    d.server.message(SIDOROVA, photo=b"\xff\xd8after-1", media_group_id="demo-album")
    d.server.message(SIDOROVA, photo=b"\xff\xd8after-2", media_group_id="demo-album")
    d.server.message(SIDOROVA, document=("акт.pdf", b"%PDF-1.4 demo", "application/pdf"))
    await d.step()
    show_chat()
    await then("…и отправляет на согласование", lambda: d.press(SIDOROVA, "submit", n))
    await then("Координатор возвращает на доработку", lambda: d.press(COORDINATOR, "return", n))
    await then("…с комментарием", lambda: d.say(
        COORDINATOR, "Добавьте, когда начнут вывозить по графику."))
    await then("Сидорова исправляет текст", lambda: d.press(SIDOROVA, "answer", n))
    await then("…новым сообщением", lambda: d.say(
        SIDOROVA, "Мусор вывезен, площадка убрана. С 25 ноября вывоз ежедневно в 7:00."))
    await then("…и отправляет снова", lambda: d.press(SIDOROVA, "submit", n))
    await then("Координатор правит и согласует", lambda: d.press(COORDINATOR, "edit_approve", n))
    await then("…присылает свой вариант", lambda: d.say(
        COORDINATOR, "Здравствуйте! Мусор вывезен, площадка убрана. С 25 ноября контейнеры "
                     "вывозят ежедневно в 7:00. Спасибо, что сообщили!"))
    await then("Координатор публикует ответ и нажимает «Опубликовано»",
               lambda: d.press(COORDINATOR, "published", n))
    await then("Куратор смотрит открытые инциденты", lambda: d.say(CURATOR, "/open"))
    await then("Координатор открывает карточку с историей",
               lambda: d.say(COORDINATOR, f"/incident {n}"))
    await then("…и закрывает инцидент", lambda: d.press(COORDINATOR, "close", n))
    state, shown_state = await tell.state_of(n)
    out(f"\nИтог: инцидент №{n} — {shown_state}.")
    return 0 if state == "closed" else 1


async def _vk_script(tell: _Narrator, vk: FakeVkServer) -> int:
    """A complaint in a VK community's comments, answered in Telegram, published under it."""
    d, out, scene, show_chat = tell.d, tell.out, tell.scene, tell.show_chat
    assert d.app is not None and d.app.vk_wall is not None
    app, wall = d.app, d.app.vk_wall

    out("\n——— ВКонтакте ———")
    resident_id, first, last = VK_RESIDENT
    vk.add_group(-VK_COMMUNITY, VK_COMMUNITY_NAME)
    vk.add_user(resident_id, first, last)
    post = vk.add_post(VK_COMMUNITY, "Как у вас во дворах после снегопада? Пишите в комментариях")
    scene(f"Жительница комментирует пост в сообществе «{VK_COMMUNITY_NAME}»")
    complaint = vk.add_comment(VK_COMMUNITY, post["id"], VK_COMPLAINT, resident_id)
    out(f"  ВКонтакте · {first} {last}: {VK_COMPLAINT}")
    scene("«Отклик» читает стену сообщества и находит жалобу")
    await wall.poll_once()
    await d.step()
    show_chat()
    n = int(re.findall(r"№(\d+)", d.last_text(COORDINATOR))[0])
    executor = next(u for u in (PETROV, NOVIKOV, SIDOROVA) if _has_button(d, u, "take", n))
    scene(f"{NAMES[executor.id]} берёт в работу")
    await d.press(executor, "take", n)
    show_chat()
    scene("…пишет ответ и прикладывает фото")
    await d.say(executor, "Здравствуйте! Мусор у дома 3 по ул. Народной вывезен, контейнеры "
                          "вывозят ежедневно. Спасибо, что сообщили!")
    d.server.message(executor, photo=b"\xff\xd8demo-vk-after")
    await d.step()
    show_chat()
    scene("…и отправляет на согласование")
    await d.press(executor, "submit", n)
    show_chat()
    scene("Координатор согласует")
    await d.press(COORDINATOR, "approve", n)
    show_chat()
    scene("«Отклик» публикует ответ под комментарием жительницы")
    await app.usecases.sweep.sweep()
    await d.step()
    show_chat()
    replies = [c for c in vk.comments(VK_COMMUNITY, post["id"])
               if c["from_id"] == -GROUP_ID and c.get("reply_to_comment") == complaint["id"]]
    for reply in replies:
        photos = [a for a in reply.get("attachments", []) if a["type"] == "photo"]
        out(f"  ВКонтакте · {GROUP_NAME} → {first}: {reply['text']}"
            + (f" [фото: {len(photos)}]" if photos else ""))
    state, shown_state = await tell.state_of(n)
    where = "ответ опубликован под комментарием жительницы" if replies else "ответ не опубликован"
    out(f"\nИтог ВКонтакте: инцидент №{n} — {where}; статус: {shown_state}.")
    return 0 if replies and state == "awaiting_feedback" else 1


def _has_button(d: Driver, user: FakeUser, action: str, n: int) -> bool:
    try:
        d.button(user, action, n)
    except AssertionError:
        return False
    return True
