"""What every flow works with: the :class:`Turn` being handled, the :class:`Press` of a
button, and the registry of what each button does (:func:`on`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.updates import ChatState
from bot.usecases import Invitation, Result, UseCases
from workflows.model import Button, Person, Role

WRITING = "writing"  # the chat mode of an executor writing a draft
OVERSEERS = (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER, Role.ADMIN, Role.HEAD)


# Incident, intake and card numbers Otklik makes stay far below this; a bigger one is forged.
MAX_NUMBER = 2**53
ARG_LIMIT = 64  # the longest argument a button carries


class BadButton(Exception):
    """A press whose data no button of Otklik carries (forged, mangled or outdated)."""


def number(x: str, low: int, high: int) -> int:
    """The argument of a press as a number within ``[low, high]``, or :class:`BadButton`."""
    if not (x.isascii() and x.isdigit()) or not low <= int(x) <= high:
        raise BadButton(x)
    return int(x)


@dataclass
class Turn:
    """One update being handled: where to answer, and the answer to a button press."""

    app: UseCases
    platform: str
    chat_id: int
    person: Person | None
    chat_state: ChatState | None = None
    invite_link: Callable[[str], str] = lambda token: token
    # The answer to a button press; blank: answer silently (a message follows instead).
    toast: str = ""
    alert: bool = False

    @property
    def templates(self) -> Any:
        return self.app.templates

    @property
    def me(self) -> Person:
        assert self.person is not None
        return self.person

    async def say(self, text: str, buttons: Sequence[Sequence[Button]] = (), **kw: Any) -> None:
        await self.app.notifier.say(self.platform, self.chat_id, text, buttons, **kw)

    def answer(self, result: Result | Invitation, n: int, ok: str = "") -> bool:
        """Leave the answer to a press: ``ok`` (or «Готово»), or the refusal as an alert."""
        if result.ok:
            self.toast = ok or self.templates.phrase("done")
        else:
            self.toast, self.alert = self.templates.refusal(result.code, n=n), True
        return result.ok

    async def refuse(self, result: Result, n: int) -> None:
        await self.say(self.templates.refusal(result.code, n=n))

    async def set_mode(self, mode: str, n: int | None, data: dict[str, Any] | None = None
                       ) -> None:
        await self.app.chats.set_mode(self.me, self.platform, mode, n, data)

    async def clear_mode(self) -> None:
        await self.app.chats.clear_mode(self.me, self.platform)


@dataclass(frozen=True, slots=True)
class Press:
    """A button press, the same on every platform: ``action`` on incident (or intake, or
    possible complaint) number ``incident``, from a card of ``version`` (None: a message
    without one), with ``value``, the button's argument (a status, a person's id, a
    category key...). Each front end reads it from its own wire format."""

    action: str
    incident: int
    version: int | None = None
    value: str = ""


def in_rows(buttons: Sequence[Button], width: int = 3) -> list[list[Button]]:
    """Buttons wrapped into rows of ``width``: a phone's screen holds three short labels."""
    return [list(buttons[i:i + width]) for i in range(0, len(buttons), width)]


def local(turn: Turn, at: datetime | None) -> str:
    return at.astimezone(turn.app.config.tz).strftime("%d.%m.%Y %H:%M") if at else "—"


def escape(body: str) -> str:
    return body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")



Handler = Callable[[Turn, Press], Awaitable[None]]
# What each button does, by its action: filled by :func:`on` as the flows' modules load.
PRESSES: dict[str, Handler] = {}


def on(*actions: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as what the buttons of ``actions`` do."""
    def register(handler: Handler) -> Handler:
        for action in actions:
            if action in PRESSES:
                raise ValueError(f"the button {action!r} is registered twice")
            PRESSES[action] = handler
        return handler
    return register
