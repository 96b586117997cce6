"""The offline demo: Otklik against a fake Bot API server, one incident from start to end.

A coordinator invites an executor, registers a resident's post, one executor declines it,
another answers with photos, the coordinator returns the draft, then edits and approves it,
publishes it and closes the incident; the curator looks at the overview. The chat is printed
as a transcript. Nothing leaves the machine.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Config, load_config
from bot.fakes.driver import Clock, Driver
from bot.fakes.telegram import FakeTelegramServer, FakeUser

COORDINATOR = FakeUser(1001, "Анна", "Иванова")
PETROV = FakeUser(2001, "Павел", "Петров")
SIDOROVA = FakeUser(2002, "Мария", "Сидорова")
NOVIKOV = FakeUser(2003, "Илья", "Новиков")
CURATOR = FakeUser(3001, "Олег", "Кузнецов")
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
"""

NAMES = {COORDINATOR.id: "Координатор Иванова", PETROV.id: "Исполнитель Петров",
         SIDOROVA.id: "Исполнитель Сидорова", NOVIKOV.id: "Исполнитель Новиков",
         CURATOR.id: "Куратор Кузнецов"}


async def run_demo(config_path: str | None = None, *, out: Callable[[str], None] = print) -> int:
    """Play the script; 0 when the incident went all the way to closed."""
    with tempfile.TemporaryDirectory(prefix="otklik-demo-") as tmp:
        async with FakeTelegramServer() as server:
            config = _config(Path(tmp), server, config_path)
            # Monday 23 November 2026, 09:00 in Novokuznetsk.
            clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
            driver = Driver(server, config, clock)
            await driver.start()
            try:
                return await _script(driver, clock, out)
            finally:
                await driver.close()


def _config(directory: Path, server: FakeTelegramServer, config_path: str | None) -> Config:
    if config_path:
        return load_config(config_path)
    path = directory / "demo.toml"
    path.write_text(DEMO_CONFIG.format(api_base=server.api_base), encoding="utf-8")
    return load_config(path)


async def _script(d: Driver, clock: Clock, out: Callable[[str], None]) -> int:
    shown = 0

    def scene(title: str) -> None:
        out(f"\n▶ {title}")
        clock.advance(minutes=7)

    def show_chat() -> None:
        nonlocal shown
        lines = d.server.transcript(NAMES)
        for line in lines[shown:]:
            out(f"  {line}")
        shown = len(lines)

    async def then(title: str, action: Callable[[], Awaitable[object]]) -> None:
        scene(title)
        await action()
        show_chat()

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
    await then("Куратор смотрит открытые обращения", lambda: d.say(CURATOR, "/open"))
    await then("Координатор открывает карточку с историей",
               lambda: d.say(COORDINATOR, f"/incident {n}"))
    await then("…и закрывает обращение", lambda: d.press(COORDINATOR, "close", n))
    assert d.app is not None
    incident = await d.app.service.incident(n)
    state = incident.state if incident else None
    shown_state = d.app.templates.phrase_raw("states", state) if state else "не найдено"
    out(f"\nИтог: обращение №{n} — {shown_state}.")
    return 0 if state == "closed" else 1
