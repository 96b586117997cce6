"""Typical answers per category (regulation 2.3): placeholders checked and filled safely.

A template's text names what it needs in braces: ``{address}``, ``{deadline}``,
``{department}``, ``{category}``, ``{number}``, ``{registered}``, ``{today}``; ``{{`` and
``}}`` are literal braces. Filling replaces exactly those names with strings from a fixed
dict — no attribute or index access, no format specs (``{address.__class__}`` or
``{deadline:%d}`` are unknown placeholders and refused when the template is saved).

The template titled «Первичный ответ» of a category, when there is one, gives the primary
answer (the first one, naming the deadline) of that category's incidents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_BUTTONS",
    "MAX_TEXT",
    "MAX_TITLE",
    "PLACEHOLDERS",
    "PRIMARY_TITLE",
    "AnswerTemplate",
    "fill",
    "parse_typed",
    "unknown_placeholders",
]

PLACEHOLDERS = ("address", "deadline", "department", "category", "number", "registered",
                "today")
PRIMARY_TITLE = "Первичный ответ"
MAX_BUTTONS = 3
MAX_TITLE = 40
MAX_TEXT = 3500

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class AnswerTemplate:
    id: int
    category: str
    title: str
    text: str
    origin: str = "chat"  # "config" | "chat"

    @property
    def primary(self) -> bool:
        return self.title.strip().casefold() == PRIMARY_TITLE.casefold()


def unknown_placeholders(text: str) -> list[str]:
    """The placeholders of ``text`` that are not in :data:`PLACEHOLDERS`, in order, once each
    (a stray «{» or «}» counts as one: it would be left in the answer)."""
    unknown: list[str] = []
    for m in _FIELD.finditer(text):
        name = m.group(1)
        if name is not None and name.strip() not in PLACEHOLDERS and m.group(0) not in unknown:
            unknown.append(m.group(0))
    rest = _FIELD.sub("", text)
    for brace in "{}":
        if brace in rest and brace not in unknown:
            unknown.append(brace)
    return unknown


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each known placeholder replaced by its value (a missing one: «—»)."""
    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = (m.group(1) or "").strip()
        if name not in PLACEHOLDERS:
            return token
        return values.get(name) or "—"
    return _FIELD.sub(one, text)


def parse_typed(body: str) -> tuple[str, str] | None:
    """«Название\\nТекст» typed in the chat → (title, text); None when either is missing."""
    title, _, text = body.strip().partition("\n")
    title, text = title.strip(), text.strip()
    if not title or not text:
        return None
    return title, text
