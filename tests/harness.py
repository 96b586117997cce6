"""An Otklik instance wired to the fake Bot API server, and people who press its buttons.

The real aiogram ``Bot`` talks HTTP to :class:`FakeTelegramServer` on loopback; the harness
plays users by pushing updates and reads what the bot sent from the server's record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import Config, load_config
from bot.fakes.telegram import Call, FakeTelegramServer, FakeUser
from bot.outbox import RateLimits

TOKEN = "123456:TEST-token"
FAST = RateLimits(per_second=10_000, per_chat_interval=0.0, group_per_minute=10_000)

# Monday 2026-11-23 09:00 in Novokuznetsk (UTC+7).
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

COORDINATOR = FakeUser(1001, "Анна", "Иванова")
PETROV = FakeUser(2001, "Павел", "Петров")
SIDOROVA = FakeUser(2002, "Мария", "Сидорова")
CURATOR = FakeUser(3001, "Олег", "Кузнецов")
STRANGER = FakeUser(9999, "Незнакомец")

NAMES = {COORDINATOR.id: "Координатор", PETROV.id: "Петров (дороги)",
         SIDOROVA.id: "Сидорова (ЖКХ)", CURATOR.id: "Куратор", STRANGER.id: "Незнакомец"}

CONFIG = """
timezone = "Asia/Novokuznetsk"
database = "otklik.sqlite3"
files_dir = "files"

[telegram]
token = "{token}"
api_base = "{api_base}"

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
name = "Петров Павел"
roles = ["executor"]
departments = ["roads"]
telegram_id = 2001

[[people]]
name = "Сидорова Мария"
roles = ["executor"]
departments = ["housing", "roads"]
telegram_id = 2002

[[people]]
name = "Кузнецов Олег"
roles = ["curator"]
telegram_id = 3001
"""


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def write_config(directory: Path, server: FakeTelegramServer, extra: str = "") -> Path:
    path = directory / "otklik.toml"
    path.write_text(CONFIG.format(token=TOKEN, api_base=server.api_base) + extra,
                    encoding="utf-8")
    return path


class Harness:
    def __init__(self, server: FakeTelegramServer, config: Config, clock: Clock) -> None:
        self.server = server
        self.config = config
        self.clock = clock
        self.app: App | None = None

    async def start(self) -> App:
        self.app = App(self.config, clock=self.clock, limits=FAST, album_delay=0.01)
        await self.app.start()
        return self.app

    async def restart(self) -> App:
        """Stop Otklik as a crash would (nothing flushed beyond what is committed)."""
        assert self.app is not None
        await self.app.close()
        return await self.start()

    async def close(self) -> None:
        if self.app is not None:
            await self.app.close()

    async def step(self) -> None:
        """Let Otklik handle everything pushed so far and deliver what it queued."""
        assert self.app is not None
        while await self.app.poll_once():
            pass
        await self.app.settle()

    async def say(self, user: FakeUser, text: str | None = None, **kw: Any) -> dict[str, Any]:
        update = self.server.message(user, text, **kw)
        await self.step()
        return update

    def button(self, user: FakeUser, action: str, n: int | None = None,
               label: str | None = None) -> tuple[Call, str]:
        """The newest message sent to ``user`` with a button for ``action`` (on incident n)."""
        for call in reversed(self.server.sent_to(user.id)):
            for row in call.buttons:
                for b in row:
                    data = b.get("callback_data", "")
                    parts = data.split(":")
                    if parts[0] != "i" or parts[1] != action:
                        continue
                    if n is not None and parts[2] != str(n):
                        continue
                    if label is not None and label not in b["text"]:
                        continue
                    return call, data
        raise AssertionError(f"no {action!r} button for {user.first_name}: "
                             f"{[c.text for c in self.server.sent_to(user.id)][-3:]}")

    async def press(self, user: FakeUser, action: str, n: int | None = None,
                    label: str | None = None) -> dict[str, Any]:
        call, data = self.button(user, action, n, label)
        update = self.server.callback(user, call, data)
        await self.step()
        return update

    def texts(self, user: FakeUser) -> list[str]:
        return [c.text or "" for c in self.server.sent_to(user.id)]

    def last_text(self, user: FakeUser) -> str:
        texts = [t for t in self.texts(user) if t]
        return texts[-1] if texts else ""

    def alerts(self, user: FakeUser) -> list[str]:
        """Texts of the button answers given to ``user``'s presses."""
        ids = {u["callback_query"]["id"] for u in self._pushed()
               if "callback_query" in u and u["callback_query"]["from"]["id"] == user.id}
        return [c.params.get("text", "") for c in self.server.calls_to("answerCallbackQuery")
                if c.params.get("callback_query_id") in ids]

    def _pushed(self) -> list[dict[str, Any]]:
        return list(self.server._pushed.values())  # noqa: SLF001 - test helper

    async def audit(self) -> list[Any]:
        assert self.app is not None
        async with self.app.store.read() as tx:
            return await tx.audit()

    async def incident(self, n: int) -> Any:
        assert self.app is not None
        return await self.app.service.incident(n)


def incident_number(text: str) -> int:
    found = re.search(r"№(\d+)", text)
    assert found, text
    return int(found.group(1))


def load(path: Path) -> Config:
    return load_config(path)


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)
