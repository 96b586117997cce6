"""The deployment's configuration: a TOML file, validated, with secrets from the environment.

Every error names the file, the key and what was expected, so that an administrator can fix a
config without reading code: ``otklik.toml: categories[2].department: unknown department
'roads' (known: housing, transport)``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from workflows.model import Category, Person, Role
from workflows.sla import default_policies

PUBLIC_TELEGRAM_API = "https://api.telegram.org"
TOKEN_ENV = "OTKLIK_TELEGRAM_TOKEN"

Key = Annotated[str, Field(pattern=r"^[a-z0-9_]+$", min_length=1, max_length=32)]


class ConfigError(Exception):
    """A config that cannot be used; the message is meant for the administrator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section):
    token: SecretStr = SecretStr("")
    api_base: str = PUBLIC_TELEGRAM_API

    @field_validator("api_base")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return v.rstrip("/")


class CalendarSettings(_Section):
    extra_days_off: list[date] = []
    extra_working_days: list[date] = []


class SlaSettings(_Section):
    default_policy: str = "incident_management"
    # Which policy applies to incidents of a source ("vk", "telegram", "manual", "pos", ...).
    sources: dict[str, str] = {}


class DepartmentSettings(_Section):
    key: Key
    name: str = Field(min_length=1)


class CategorySettings(_Section):
    key: Key
    name: str = Field(min_length=1)
    block: str = Field(min_length=1)
    department: str
    keywords: list[str] = []
    stop_words: list[str] = []


class PersonSettings(_Section):
    name: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    departments: list[str] = []
    telegram_id: int | None = None
    vk_id: int | None = None


class Settings(_Section):
    timezone: str
    database: str = "otklik.sqlite3"
    files_dir: str = "otklik-files"
    language: Literal["ru"] = "ru"
    telegram: TelegramSettings = TelegramSettings()
    calendar: CalendarSettings = CalendarSettings()
    sla: SlaSettings = SlaSettings()
    departments: list[DepartmentSettings] = Field(min_length=1)
    categories: list[CategorySettings] = Field(min_length=1)
    people: list[PersonSettings] = []

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (expected an IANA name such as "
                             "'Asia/Novokuznetsk')") from None
        return v

    @model_validator(mode="after")
    def _references(self) -> Settings:
        departments = [d.key for d in self.departments]
        _unique("departments", "key", departments)
        _unique("categories", "key", [c.key for c in self.categories])
        known = set(departments)
        for i, c in enumerate(self.categories):
            if c.department not in known:
                raise _KeyError(f"categories[{i}].department",
                                f"unknown department {c.department!r} "
                                f"(known: {', '.join(departments)})")
        for i, p in enumerate(self.people):
            for d in p.departments:
                if d not in known:
                    raise _KeyError(f"people[{i}].departments",
                                    f"unknown department {d!r} (known: {', '.join(departments)})")
            if Role.EXECUTOR in p.roles and not p.departments:
                raise _KeyError(f"people[{i}].departments",
                                "an executor needs at least one department")
        _unique("people", "telegram_id", [p.telegram_id for p in self.people])
        policies = list(default_policies(self.timezone))
        for key, policy in [("sla.default_policy", self.sla.default_policy),
                            *((f"sla.sources.{src}", p) for src, p in self.sla.sources.items())]:
            if policy not in policies:
                raise _KeyError(key, f"unknown policy {policy!r} (known: {', '.join(policies)})")
        return self


class _KeyError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")


def _unique(table: str, field: str, values: list[object]) -> None:
    """Each ``[[table]]`` entry needs its own ``field`` (None: not set, never a duplicate)."""
    first: dict[object, int] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        if v in first:
            raise _KeyError(f"{table}[{i}].{field}",
                            f"duplicate {v!r}, already used by {table}[{first[v]}] "
                            f"(expected a {field} of its own)")
        first[v] = i


class Config:
    """Validated settings plus what follows from them: paths resolved, the core's records."""

    def __init__(self, settings: Settings, path: Path) -> None:
        self.settings = settings
        self.path = path
        base = path.parent
        self.tz = ZoneInfo(settings.timezone)
        self.database = _resolve(base, settings.database)
        self.files_dir = _resolve(base, settings.files_dir)
        token = os.environ.get(TOKEN_ENV) or settings.telegram.token.get_secret_value()
        self.telegram_token = token.strip()
        self.telegram_api_base = settings.telegram.api_base
        self.categories = {
            c.key: Category(c.key, c.name, c.block, c.department) for c in settings.categories
        }
        self.departments = {d.key: d.name for d in settings.departments}

    def seed_people(self) -> list[tuple[PersonSettings, Person]]:
        """People declared in the config, as core records without ids yet (id 0)."""
        return [
            (p, Person(0, p.name, frozenset(p.roles), frozenset(p.departments)))
            for p in self.settings.people
        ]


def _resolve(base: Path, value: str) -> Path:
    if value == ":memory:":
        return Path(value)
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror or e}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); "
                          "expected the file saved in UTF-8 encoding") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return Config(parse_settings(data, path), path)


def parse_settings(data: dict[str, object], path: Path) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError("\n".join(_describe(path, err) for err in e.errors())) from None


def _describe(path: Path, err: dict[str, object]) -> str:
    loc = err.get("loc", ())
    key = ""
    for part in loc:  # type: ignore[union-attr]
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    kind = str(err.get("type", ""))
    if kind == "missing":
        msg = "required key is missing"
    elif kind == "extra_forbidden":
        msg = "unknown key " + _expected_keys(tuple(loc))  # type: ignore[arg-type]
    elif kind == "string_pattern_mismatch":  # only keys have a pattern
        msg = "expected lowercase latin letters, digits and '_' (e.g. 'roads')"
    elif kind.startswith("date_"):
        _, _, detail = msg.partition("Input should be a valid date or datetime, ")
        msg = "expected a date as YYYY-MM-DD" + (f" ({detail})" if detail else "")
    if not key and ":" in msg:  # our own cross-reference errors carry their key
        return f"{path}: {msg}"
    return f"{path}: {key or '(top level)'}: {msg}"


def _expected_keys(loc: tuple[str | int, ...]) -> str:
    """What an unknown key at ``loc`` should have been: a close match, or the known keys."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        model = next((a for a in (annotation, *get_args(annotation))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return "(check the spelling against config.example.toml)"
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"(did you mean {close[0]!r}?)"
    return f"(expected one of: {', '.join(known)})"
