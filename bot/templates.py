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
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2


def _default_dir() -> Path:
    """The ``templates`` package: installed beside ``bot`` by a wheel, mapped to the checkout's
    folder by an editable install. An editable install made before templates/ became a package
    does not map it, so the folder beside bot/ is the fallback."""
    try:
        found = resources.files("templates")
    except ModuleNotFoundError:
        found = None
    if isinstance(found, Path) and (found / "texts.toml").is_file():
        return found
    return Path(__file__).resolve().parent.parent / "templates"


DEFAULT_DIR = _default_dir()


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
