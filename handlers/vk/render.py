"""Turn Otklik's messages into VK ``messages.send`` calls that VK accepts.

Templates are HTML (Telegram's parse mode); community messages in VK are plain text, so tags
are dropped (links keep their address, quotes get «»), entities decoded and line breaks kept.
Texts over 4096 characters are split on line or word boundaries. Buttons become inline
keyboards of callback buttons within VK's limits (5 buttons a row, 6 rows and 10 buttons a
keyboard, labels up to 40 characters, payload up to 255): a longer list of buttons goes on in
follow-up messages. Files are uploaded by the transport (``bot.vk_transport``) when the row
is delivered: a row carries their paths on disk under ``files``, in messages of up to ten
attachments sent before the text (which says the files are above), as in Telegram.

Each row carries its own ``random_id``, chosen once when the message is queued and stored
with it in the outbox: a retry — after an error or a crash — sends the same ``random_id``,
and VK does not deliver a message twice.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from bot.templates import Templates, fit_units, plain_text, utf16_units
from handlers.flows import Press
from workflows.model import Attachment, Button

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
LABEL_LIMIT = 40
PAYLOAD_LIMIT = 255
ROW_LIMIT = 5  # buttons in a row
ROWS_LIMIT = 6  # rows of an inline keyboard
BUTTONS_LIMIT = 10  # buttons of an inline keyboard
ATTACHMENTS_LIMIT = 10  # attachments of one message
FILE_KINDS = ("photo", "video", "document")  # a video reaches VK chats as a document file
# Colours of the buttons that move an incident on (the rest are VK's default white).
POSITIVE = frozenset({"take", "approve", "submit", "published", "fr_published", "close"})
NEGATIVE = frozenset({"decline", "return", "reject"})

Call = tuple[str, dict[str, Any]]


def random_id() -> int:
    """A ``random_id`` for one message: positive, within VK's int32."""
    return secrets.randbelow(2**31 - 2) + 1


# --- text ----------------------------------------------------------------------------------

def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most ``limit`` characters, cut at a line break, else at a space."""
    parts: list[str] = []
    rest = text.strip()
    while utf16_units(rest) > limit:
        window = fit_units(rest, limit)
        cut = window.rfind("\n")
        if cut <= len(window) // 2:
            cut = window.rfind(" ")
        if cut <= len(window) // 2:
            cut = len(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def snackbar_text(text: str, limit: int) -> str:
    """A one-line answer to a button press, shortened to ``limit`` characters."""
    flat = " ".join(plain_text(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


# --- buttons -------------------------------------------------------------------------------

def pack_press(press: Press) -> str:
    """A press as a callback button's payload: ``{"a": action, "n": number, "v": version,
    "x": value}`` (short keys: VK allows 255 bytes)."""
    data: dict[str, Any] = {"a": press.action, "n": press.incident}
    if press.version is not None:
        data["v"] = press.version
    if press.value:
        data["x"] = press.value
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def unpack_press(payload: Any) -> Press | None:
    """The press from a ``message_event`` payload (an object, or its JSON); None when it is
    not one of ours."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if not isinstance(payload, dict):
        return None
    a, n, v, x = (payload.get(k) for k in ("a", "n", "v", "x"))
    if not isinstance(a, str) or type(n) is not int:
        return None
    if v is not None and type(v) is not int:
        return None
    return Press(a, n, v, x if isinstance(x, str) else "")


def _label(text: str) -> str:
    return text if len(text) <= LABEL_LIMIT else text[:LABEL_LIMIT - 1].rstrip() + "…"


def button(templates: Templates, b: Button, version: int | None) -> dict[str, Any] | None:
    payload = pack_press(Press(b.action, b.incident_id, version, b.arg))
    if len(payload.encode("utf-8")) > PAYLOAD_LIMIT:
        log.error("button %s of %s: payload over %d bytes, not drawn", b.action,
                  b.incident_id, PAYLOAD_LIMIT)
        return None
    drawn: dict[str, Any] = {"action": {
        "type": "callback", "label": _label(b.label or templates.label(b.action, b.arg)),
        "payload": payload}}
    if b.action in POSITIVE:
        drawn["color"] = "positive"
    elif b.action in NEGATIVE:
        drawn["color"] = "negative"
    return drawn


def keyboards(templates: Templates, rows: Sequence[Sequence[Button]],
              version: int | None) -> list[dict[str, Any]]:
    """Inline keyboards for the buttons, in order, each within VK's limits."""
    lines: list[list[dict[str, Any]]] = []
    for row in rows:
        cells = [c for c in (button(templates, b, version) for b in row) if c is not None]
        lines += [cells[i:i + ROW_LIMIT] for i in range(0, len(cells), ROW_LIMIT)]
    boards: list[list[list[dict[str, Any]]]] = []
    current: list[list[dict[str, Any]]] = []
    count = 0
    for line in lines:
        if current and (len(current) == ROWS_LIMIT or count + len(line) > BUTTONS_LIMIT):
            boards.append(current)
            current, count = [], 0
        current.append(line)
        count += len(line)
    if current:
        boards.append(current)
    return [{"inline": True, "buttons": board} for board in boards]


# --- messages ------------------------------------------------------------------------------

def messages(templates: Templates, peer_id: int, text: str,
             buttons: Sequence[Sequence[Button]] = (), *, version: int | None = None,
             attachments: Sequence[Attachment] = (),
             new_random_id: Callable[[], int] = random_id) -> list[Call]:
    calls: list[Call] = []

    def send(**params: Any) -> None:
        calls.append(("messages.send", {"peer_id": peer_id, "random_id": new_random_id(),
                                        **params}))

    files = [{"kind": a.kind, "path": a.local_path, "name": a.file_name}
             for a in attachments if a.kind in FILE_KINDS]
    for i in range(0, len(files), ATTACHMENTS_LIMIT):
        send(files=files[i:i + ATTACHMENTS_LIMIT])
    parts = split_text(plain_text(text))
    boards = keyboards(templates, buttons, version)
    for i, part in enumerate(parts):
        extra: dict[str, Any] = {"keyboard": boards[0]} if boards and i == len(parts) - 1 else {}
        send(message=part, dont_parse_links=1, **extra)
    for board in boards[1 if parts else 0:]:
        send(message=plain_text(templates.phrase("more_buttons")), keyboard=board)
    return calls


class VkChannel:
    """The notifier's view of VK: how a message becomes ``messages.send`` calls."""

    platform = "vk"

    def __init__(self, templates: Templates,
                 new_random_id: Callable[[], int] = random_id) -> None:
        self.templates = templates
        self.new_random_id = new_random_id

    def build(self, chat_id: int, text: str, buttons: Sequence[Sequence[Button]] = (), *,
              version: int | None = None, attachments: Sequence[Attachment] = ()) -> list[Call]:
        return messages(self.templates, chat_id, text, buttons, version=version,
                        attachments=attachments, new_random_id=self.new_random_id)
