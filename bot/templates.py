"""All user-facing wording: jinja2 message templates and one-line phrases, autoescaped.

Messages live in ``templates/<name>.html`` (HTML parse mode); short phrases, button labels,
state names and refusals in ``templates/texts.toml``. Both are rendered by the same jinja2
environment with autoescaping, so a resident's ``<b>`` or ``&`` shows as typed.
"""

from __future__ import annotations

import html
import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "templates"


class Templates:
    def __init__(self, tz: ZoneInfo, directory: Path = DEFAULT_DIR) -> None:
        self.tz = tz
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["local"] = self.local
        self.env.filters["state"] = lambda s: self.phrase_raw("states", str(s))
        self.env.filters["source"] = lambda s: self.phrase_raw("sources", str(s), default=str(s))
        self.env.filters["priority"] = lambda s: self.phrase_raw("priorities", str(s))
        self.env.filters["action"] = lambda s: self.phrase_raw("actions", str(s), default=str(s))
        self.env.filters["hours"] = hours
        self.texts: dict[str, Any] = tomllib.loads(
            (directory / "texts.toml").read_text(encoding="utf-8"))
        self._phrases: dict[str, jinja2.Template] = {}

    def local(self, t: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
        if t is None:
            return "—"
        return t.astimezone(self.tz).strftime(fmt)

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"{name}.html").render(**context).strip()

    def phrase_raw(self, section: str, key: str, default: str | None = None) -> str:
        value = self.texts.get(section, {}).get(key)
        if value is None:
            if default is not None:
                return default
            raise KeyError(f"templates/texts.toml: [{section}] has no {key!r}")
        return str(value)

    def phrase(self, key: str, **context: Any) -> str:
        """A phrase from the ``[phrases]`` table, rendered with escaping (HTML)."""
        template = self._phrases.get(key)
        if template is None:
            template = self.env.from_string(self.phrase_raw("phrases", key))
            self._phrases[key] = template
        return template.render(**context)

    def label(self, action: str, arg: str = "") -> str:
        """A button's label: ``<action>_<arg>`` when the argument changes the meaning."""
        buttons = self.texts.get("buttons", {})
        return str(buttons.get(f"{action}_{arg}") or self.phrase_raw("buttons", action))

    def refusal(self, code: str, **context: Any) -> str:
        """Plain text (button answers are not HTML), so it is rendered without escaping."""
        raw = self.phrase_raw("refusals", code, default=self.phrase_raw("refusals", "default"))
        return jinja2.Template(raw).render(**context)


def hours(span: timedelta) -> str:
    """A working-time span the way a person says it: «2 ч 15 мин», «40 мин»."""
    minutes = int(span.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    if h and m:
        return f"{h} ч {m} мин"
    return f"{h} ч" if h else f"{m} мин"


# --- text measures shared by the front ends ----------------------------------------------------

_LINK = re.compile(r"<a\s[^>]*?href=\"([^\"]*)\"[^>]*>(.*?)</a>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def plain_text(markup: str) -> str:
    """Template HTML as plain text (VK, the shell): no tags, entities decoded, line breaks
    kept, links as ``label (url)``.

    Only real tags are removed: what residents typed reaches the templates escaped
    (``&lt;b&gt;``), so it comes out as typed."""

    def link(m: re.Match[str]) -> str:
        href = html.unescape(m.group(1))
        label = html.unescape(_TAG.sub("", m.group(2))).strip()
        return href if not label or label == href else f"{label} ({href})"

    text = _LINK.sub(lambda m: link(m).replace("&", "&amp;").replace("<", "&lt;"), markup)
    text = re.sub(r"<blockquote[^>]*>", "«", text, flags=re.IGNORECASE)
    text = re.sub(r"</blockquote>", "»", text, flags=re.IGNORECASE)
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    return html.unescape(_TAG.sub("", text))


def utf16_units(s: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (never less than VK's count)."""
    return len(s.encode("utf-16-le")) // 2


def fit_units(s: str, room: int) -> str:
    """The longest prefix of ``s`` of at most ``room`` UTF-16 code units."""
    taken = units = 0
    for ch in s:
        u = 2 if ord(ch) > 0xFFFF else 1
        if units + u > room:
            break
        units += u
        taken += 1
    return s[:taken]


# Where a long plain text may be cut, best first: between paragraphs, between lines, after a
# sentence, between words.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?…]+[»\"')\]]*\s+"),
           re.compile(r"\s+"))


def split_plain(text: str, limit: int, *, first_limit: int | None = None) -> list[str]:
    """A plain text in parts of at most ``limit`` UTF-16 code units (``first_limit`` for the
    first part: a caption holds 1,024, a message 4,096), cut between paragraphs, else between
    lines, else after a sentence, else between words; a single word longer than a part is
    cut where it must. Nothing is lost but the whitespace at the cuts; never refused."""
    parts: list[str] = []
    rest = text.strip()
    room = first_limit or limit
    while rest and utf16_units(rest) > room:
        head = fit_units(rest, room)
        cut = 0
        for pattern in _BREAKS:
            # the last boundary in the part, unless it would leave the part nearly empty
            ends = [m.end() for m in pattern.finditer(head) if m.start() >= len(head) // 4]
            if ends:
                cut = ends[-1]
                break
        if cut == 0:
            cut = len(head) or 1
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip()
        room = limit
    if rest:
        parts.append(rest)
    return parts
