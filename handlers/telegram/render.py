"""Turn Otklik's messages into Telegram Bot API calls that Telegram accepts.

Texts over 4096 characters are split on line or word boundaries without breaking HTML tags;
buttons go on the last part. Albums hold 2–10 items and take no buttons, so attachments are
sent first, in groups of at most ten, and the text with its buttons follows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from aiogram.filters.callback_data import CallbackData

from bot.templates import Templates, fit_units, utf16_units
from workflows.model import Attachment, Button

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
SINGLE = {"photo": "sendPhoto", "video": "sendVideo", "document": "sendDocument"}

Call = tuple[str, dict[str, Any]]


class Act(CallbackData, prefix="i"):
    """A button press: action, incident (or intake) id, version of the card, argument."""

    a: str
    n: int
    v: int = -1
    x: str = ""


def keyboard(templates: Templates, rows: Sequence[Sequence[Button]],
             version: int | None) -> dict[str, Any] | None:
    if not rows:
        return None
    return {"inline_keyboard": [
        [{"text": b.label or templates.label(b.action, b.arg),
          "callback_data": Act(a=b.action, n=b.incident_id,
                               v=-1 if version is None else version, x=b.arg).pack()}
         for b in row]
        for row in rows if row
    ]}


def messages(templates: Templates, chat_id: int, text: str,
             buttons: Sequence[Sequence[Button]] = (), *, version: int | None = None,
             attachments: Iterable[Attachment] = ()) -> list[Call]:
    calls: list[Call] = []
    atts = list(attachments)
    # Photos and videos share albums; documents go in albums of their own.
    for kinds in (("photo", "video"), ("document",)):
        files = [a for a in atts if a.kind in kinds]
        for i in range(0, len(files), ALBUM_LIMIT):
            group = files[i:i + ALBUM_LIMIT]
            if len(group) == 1:
                kind = group[0].kind
                calls.append((SINGLE[kind], {"chat_id": chat_id, kind: _media(group[0])}))
            else:
                calls.append(("sendMediaGroup", {"chat_id": chat_id, "media": [
                    {"type": a.kind, "media": _media(a)} for a in group]}))
    parts = split_html(text, TEXT_LIMIT)
    markup = keyboard(templates, buttons, version)
    for i, part in enumerate(parts):
        payload: dict[str, Any] = {"chat_id": chat_id, "text": part, "parse_mode": "HTML",
                                   "link_preview_options": {"is_disabled": True}}
        if markup and i == len(parts) - 1:
            payload["reply_markup"] = markup
        calls.append(("sendMessage", payload))
    return calls


def _media(a: Attachment) -> str | dict[str, str | None]:
    """A Telegram file id, or, for a file Otklik made itself (a report), the file to upload."""
    return a.file_id or {"path": a.local_path, "name": a.file_name}


_TOKEN = re.compile(r"<[^>]+>|&[#\w]+;|[^<&]+|[<&]")


def visible_length(text: str) -> int:
    """Length as Telegram counts it: tags removed, entities decoded, in UTF-16 code units."""
    plain = re.sub(r"<[^>]+>", "", text)
    return len(html.unescape(plain).encode("utf-16-le")) // 2


def split_html(text: str, limit: int) -> list[str]:
    """Split HTML into parts of at most ``limit`` visible characters each.

    Prefers to cut at a line break, then at a space; tags open at a cut are closed at the end
    of one part and reopened at the start of the next, so every part parses on its own.
    """
    if visible_length(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    stack: list[tuple[str, str]] = []  # (name, opening tag)

    def cut() -> None:
        nonlocal current, used
        closing = "".join(f"</{name}>" for name, _ in reversed(stack))
        parts.append("".join(current).rstrip() + closing)
        current = [tag for _, tag in stack]
        used = 0

    for token in _TOKEN.findall(text):
        if token.startswith("<") and token.endswith(">") and len(token) > 2:
            name = token.strip("</>").split()[0].lower()
            if token.startswith("</"):
                if stack and stack[-1][0] == name:
                    stack.pop()
            elif not token.endswith("/>"):
                stack.append((name, token))
            current.append(token)
            continue
        if token.startswith("&") and token.endswith(";"):
            if used + 1 > limit:
                cut()
            current.append(token)
            used += 1
            continue
        rest = token
        while rest:
            room = limit - used
            if utf16_units(rest) <= room:
                current.append(rest)
                used += utf16_units(rest)
                break
            piece = fit_units(rest, room)
            window = piece
            brk = max(window.rfind("\n"), window.rfind(" "))
            if brk > len(window) // 2:
                piece = window[:brk + 1]
            if piece:
                current.append(piece)
            rest = rest[len(piece):]
            cut()
    cut()
    return [p for p in parts if visible_length(p) > 0]


class TelegramChannel:
    """The notifier's view of Telegram: how a message becomes Bot API calls."""

    platform = "telegram"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def build(self, chat_id: int, text: str, buttons: Sequence[Sequence[Button]] = (), *,
              version: int | None = None, attachments: Sequence[Attachment] = ()) -> list[Call]:
        return messages(self.templates, chat_id, text, buttons, version=version,
                        attachments=attachments)
