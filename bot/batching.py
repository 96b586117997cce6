"""New incidents told to a coordinator whose chat is behind: one summary, not a message each.

Every registration tells the coordinators. At a region's volume (a burst of intakes) one
coordinator chat can have hundreds of such messages queued, delivered at one a second. So a
registration message is queued as mergeable (``batch`` = :data:`REGISTERED`), and when the
chat already has :data:`BEHIND` of them waiting for their first attempt, they and the new one
become one summary «Новые инциденты: N» with a line and a button to open each (at most
:data:`MAX_ITEMS`; a full summary is left as it is and the next ones start again). Later
registrations join the summary while it still waits.

Nothing is lost and nothing is sent twice: only messages still waiting for their first
attempt are merged or rewritten, in the registering transaction, and the sender takes a
message for sending only if it is still waiting (``outbox.claim``), with its text as it
is then. A message whose send was tried once (it may have arrived) is never merged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.storage import UnitOfWork
from bot.templates import Templates
from workflows.model import Button

REGISTERED = "registered"
BEHIND = 3  # waiting registration messages that make a chat "behind"
MAX_ITEMS = 10  # incidents in one summary (VK allows 10 buttons in a keyboard)
ROW = 5  # buttons in a row


class Channel(Protocol):
    def build(self, chat_id: int, text: str, buttons: Any, *, version: int | None = None,
              attachments: Any = ()) -> list[tuple[str, dict[str, Any]]]: ...


def summary(templates: Templates, items: Sequence[dict[str, Any]]
            ) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """The text and buttons of a summary of ``items`` (one object per incident)."""
    text = templates.phrase("registered_summary", items=items)
    buttons = [Button("show", int(item["n"]), label=f"№{item['n']}") for item in items]
    return text, tuple(tuple(buttons[i:i + ROW]) for i in range(0, len(buttons), ROW))


async def merge(uow: UnitOfWork, channel: Channel, templates: Templates, platform: str,
                chat_id: int,
                item: dict[str, Any], now: datetime) -> bool:
    """Tell of a new incident through a summary when the chat is behind: True when done so
    (added to the waiting summary, or the waiting messages merged into a new one); False:
    queue the message as usual (mergeable, ``batch=REGISTERED``)."""
    waiting = await uow.outbox.waiting_batch(platform, chat_id, REGISTERED)
    if waiting and 1 < len(waiting[-1][1]) < MAX_ITEMS:
        msg_id, items = waiting[-1]
        items = [*items, item]
        built = _build(channel, templates, chat_id, items)
        if built is not None and await uow.outbox.rewrite_waiting(msg_id, built[1], items):
            return True
    singles = [(msg_id, items) for msg_id, items in waiting if len(items) == 1]
    if len(singles) < BEHIND:
        return False
    singles = singles[-(MAX_ITEMS - 1):]
    items = [*(i for _, merged in singles for i in merged), item]
    built = _build(channel, templates, chat_id, items)
    if built is None:
        return False
    await uow.outbox.drop_waiting([msg_id for msg_id, _ in singles])
    method, payload = built
    await uow.outbox.enqueue(platform, chat_id, method, payload, now, batch=REGISTERED, items=items)
    return True


def _build(channel: Channel, templates: Templates, chat_id: int,
           items: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    text, buttons = summary(templates, items)
    messages = channel.build(chat_id, text, buttons)
    return messages[0] if len(messages) == 1 else None
