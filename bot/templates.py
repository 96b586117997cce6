"""All user-facing wording: jinja2 message templates and one-line phrases, autoescaped.

Messages live in ``templates/<name>.html`` (HTML parse mode); short phrases, button labels,
state names and refusals in ``templates/texts.toml``. Both are rendered by the same jinja2
environment with autoescaping, so a resident's ``<b>`` or ``&`` shows as typed.
"""

from __future__ import annotations

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
