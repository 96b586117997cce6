"""The deployment's configuration: a TOML file, validated, with secrets from the environment.

Every error names the file, the key and what was expected, so that an administrator can fix a
config without reading code: ``otklik.toml: categories[2].department: unknown department
'roads' (known: housing, transport)``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
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

from workflows.calendar import EVERY_DAY, MON_FRI, WorkingCalendar
from workflows.model import Category, Person, Role
from workflows.sla import (
    Policy,
    default_policies,
    parse_duration,
    parse_reminder,
    parse_rule,
)

PUBLIC_TELEGRAM_API = "https://api.telegram.org"
TOKEN_ENV = "OTKLIK_TELEGRAM_TOKEN"
HTTP_TOKEN_ENV = "OTKLIK_HTTP_TOKEN"
PROXY_SCHEMES = ("http", "socks5", "socks4")
VK_TOKEN_ENVS = {"token": "OTKLIK_VK_TOKEN", "service_token": "OTKLIK_VK_SERVICE_TOKEN",
                 "user_token": "OTKLIK_VK_USER_TOKEN"}

Key = Annotated[str, Field(pattern=r"^[a-z0-9_]+$", min_length=1, max_length=32)]


class ConfigError(Exception):
    """A config that cannot be used; the message is meant for the administrator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _proxy_url(v: str) -> str:
    """``scheme://[user:password@]host:port`` with a scheme both aiohttp-socks and requests
    understand; nothing for no proxy."""
    if not v:
        return v
    parts = urlsplit(v)
    if parts.scheme not in PROXY_SCHEMES:
        known = ", ".join(f"{scheme}://" for scheme in PROXY_SCHEMES)
        given = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"expected a proxy URL starting with {known}, got {given}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ValueError("expected host and port, e.g. 'socks5://127.0.0.1:1080'")
    return v


class TelegramSettings(_Section):
    token: SecretStr = SecretStr("")
    api_base: str = PUBLIC_TELEGRAM_API
    # Group chats watched for residents' complaints; the bot leaves any other group.
    groups: list[int] = []

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: list[int]) -> list[int]:
        for chat_id in v:
            if chat_id >= 0:
                raise ValueError(f"{chat_id} is not a group's chat id (expected a negative "
                                 "number such as -1001234567890)")
        return v

    # How long `run` keeps retrying an unreachable Telegram at start before giving up (s).
    start_timeout: float = Field(default=60.0, gt=0, le=3600)
    proxy: str = ""

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str) -> str:
        return _proxy_url(v)

    @field_validator("api_base")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return v.rstrip("/")


class VkSettings(_Section):
    """VK: the community bot and publisher (``token``), reading other communities' walls
    (``service_token``), wall photo uploads (``user_token`` of a community admin)."""

    token: SecretStr = SecretStr("")
    service_token: SecretStr = SecretStr("")
    user_token: SecretStr = SecretStr("")
    group_id: int = Field(default=0, ge=0)
    communities: list[int] = []
    api_base: str = ""
    poll_every: str = "5m"
    proxy: str = ""

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str) -> str:
        return _proxy_url(v)

    @field_validator("api_base")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, or nothing for VK itself")
        return v.rstrip("/")

    @field_validator("communities")
    @classmethod
    def _owners(cls, v: list[int]) -> list[int]:
        for owner in v:
            if owner == 0:
                raise ValueError("expected owner ids: negative for communities (-123), "
                                 "positive for users")
        return v

    @field_validator("poll_every")
    @classmethod
    def _every(cls, v: str) -> str:
        _parsed(parse_duration, v)
        return v


class HttpSettings(_Section):
    """The HTTP intake for other systems; off while ``listen`` is empty."""

    listen: str = ""
    token: SecretStr = SecretStr("")

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        if v:
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port such as '127.0.0.1:8080', got {v!r}")
        return v


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v


class BackupSettings(_Section):
    """Nightly copies of the database: into ``dir`` (off while empty), the newest ``keep``."""

    dir: str = ""
    keep: int = Field(default=7, ge=1, le=1000)
    # Local time after which the day's copy is made.
    at: str = "03:00"

    @field_validator("at")
    @classmethod
    def _at(cls, v: str) -> str:
        try:
            time.fromisoformat(v)
        except ValueError:
            raise ValueError(f"expected a local time such as '03:00', got {v!r}") from None
        return v


class StorageSettings(_Section):
    """What the database keeps: sent messages of the outbox for ``keep_sent`` (then purged
    nightly; messages still to send are never purged)."""

    keep_sent: str = "30d"

    @field_validator("keep_sent")
    @classmethod
    def _keep(cls, v: str) -> str:
        duration = _parsed(parse_duration, v)
        if duration.kind.is_working:
            raise ValueError(f"{v!r}: expected clock time or days such as '30d', not working"
                             " time")
        return v

    @property
    def keep_sent_delta(self) -> timedelta:
        amount = parse_duration(self.keep_sent).amount
        return timedelta(days=amount) if isinstance(amount, int) else amount


class CalendarSettings(_Section):
    extra_days_off: list[date] = []
    extra_working_days: list[date] = []

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarSettings:
        both = sorted(set(self.extra_days_off) & set(self.extra_working_days))
        if both:
            raise _KeyError("extra_working_days",
                            "dates also listed in extra_days_off: "
                            + ", ".join(d.isoformat() for d in both)
                            + " (expected each date in one list only)")
        return self


_DAYS = {"mon-fri": MON_FRI, "mon-sat": MON_FRI | {5}, "every day": EVERY_DAY}


class PolicySettings(_Section):
    """A deadline policy; the built-in ones (the regulation's) may be overridden by name."""

    title: str = Field(min_length=1)
    days: Literal["mon-fri", "mon-sat", "every day"] = "mon-fri"
    hours: str = "08:00-17:00"
    lunch: str | None = None
    production_calendar: bool = True
    first_response: str | None = None
    answer: str
    answer_fast_track: str | None = None
    reminders: list[str] = []
    escalate_after: str | None = None

    @field_validator("hours", "lunch")
    @classmethod
    def _span(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_span(v)
        return v

    @field_validator("first_response", "answer", "answer_fast_track")
    @classmethod
    def _rule(cls, v: str | None) -> str | None:
        if v is not None:
            rule = _parsed(parse_rule, v)
            if getattr(rule, "amount", None) in (0, timedelta(0)):
                raise ValueError(f"{v!r} is no time at all (expected a positive duration such "
                                 "as '8wh' or '1d', or 'until HH:MM')")
        return v

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, v: list[str]) -> list[str]:
        for item in v:
            _parsed(parse_reminder, item)
        return v

    @field_validator("escalate_after")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            _parsed(parse_duration, v)
        return v

    @model_validator(mode="after")
    def _lunch_inside_day(self) -> PolicySettings:
        start, end = _parse_span(self.hours)
        try:
            WorkingCalendar(tz=ZoneInfo("UTC"), weekdays=_DAYS[self.days], start=start, end=end,
                            lunch=_parse_span(self.lunch) if self.lunch else None)
        except ValueError as e:
            raise _KeyError("lunch" if self.lunch else "hours", str(e)) from None
        return self

    def build(self, name: str, tz: ZoneInfo, off: Iterable[date], on: Iterable[date]) -> Policy:
        start, end = _parse_span(self.hours)
        calendar = WorkingCalendar(
            tz=tz, weekdays=_DAYS[self.days], start=start, end=end,
            lunch=_parse_span(self.lunch) if self.lunch else None,
            production_calendar=self.production_calendar,
            extra_days_off=frozenset(off) if self.production_calendar else frozenset(),
            extra_working_days=frozenset(on) if self.production_calendar else frozenset())
        return Policy(
            name=name, title=self.title, calendar=calendar,
            first_response=parse_rule(self.first_response) if self.first_response else None,
            answer=parse_rule(self.answer),
            answer_fast_track=(parse_rule(self.answer_fast_track)
                               if self.answer_fast_track else None),
            reminders=tuple(parse_reminder(r) for r in self.reminders),
            escalate_after=parse_duration(self.escalate_after) if self.escalate_after else None)


def _parsed(parse: Any, text: str) -> Any:
    """``parse(text)``, with a number too large for a date refused as a ValueError."""
    try:
        parsed = parse(text)
    except (OverflowError, TypeError):
        parsed = None
    amount = getattr(getattr(parsed, "before", None) or parsed, "amount", None)
    days = amount.days if isinstance(amount, timedelta) else amount
    if parsed is None or (isinstance(days, int) and days > 3660):
        raise ValueError(f"{text!r}: the number is too large (expected at most 10 years)")
    return parsed


def _parse_span(text: str) -> tuple[time, time]:
    """«08:00-17:00» as two times; «00:00-24:00» is around the clock."""
    try:
        a, b = (part.strip() for part in text.split("-"))
        start = time.fromisoformat(a)
        end = time(0, 0) if b == "24:00" else time.fromisoformat(b)
    except ValueError:
        raise ValueError(f"expected a span of time like '08:00-17:00', got {text!r}") from None
    if end != time(0, 0) and end <= start:
        raise ValueError(f"the span {text!r} ends before it starts")
    return start, end


class SlaSettings(_Section):
    default_policy: str = "incident_management"
    # Which policy applies to incidents of a source ("vk", "telegram", "manual", "pos", ...).
    sources: dict[str, str] = {}
    policies: dict[str, PolicySettings] = {}
    # How long a published final answer waits for the resident's reply before closing.
    feedback_window: str = "2d"

    @field_validator("feedback_window")
    @classmethod
    def _window(cls, v: str) -> str:
        if _parsed(parse_duration, v).kind.is_working:
            raise ValueError("expected calendar time such as '2d' or '48h', not working time")
        return v


class DepartmentSettings(_Section):
    key: Key
    name: str = Field(min_length=1)


class DetectionSettings(_Section):
    """How messages in watched threads are matched to categories (keywords on lemmas)."""

    min_length: int = Field(default=15, ge=0)
    # Words that veto every category (ads, job offers, sales).
    stop_words: list[str] = ["реклама", "продам", "куплю", "вакансия", "розыгрыш"]
    # The deployment's own dictionary (same layout as bot/dictionaries/ru.toml): its blocks
    # replace the bundled ones of the same key. Categories without `keywords` take them.
    dictionary: str = ""
    # The learned model's category wins from this probability on; the keywords otherwise.
    threshold: float = Field(default=0.4, gt=0, le=1)
    # «Возможное обращение» cards per hour; beyond that, one digest per hour.
    possible_per_hour: int = Field(default=10, ge=0)
    # How often the model is retrained from the coordinators' new labels.
    retrain_every: str = "10m"


class CategorySettings(_Section):
    key: Key
    name: str = Field(min_length=1)
    block: str = Field(min_length=1)
    department: str
    # Detection in watched threads: words or phrases, in dictionary form («яма», «вывоз
    # мусора»); every inflection matches. A stop word vetoes the category.
    keywords: list[str] = []
    stop_words: list[str] = []

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, v: list[str]) -> list[str]:
        for word in v:
            if not re.search(r"[^\W\d_]", word):
                raise ValueError(f"keyword {word!r} has no letters")
        return v

    @field_validator("stop_words")
    @classmethod
    def _stop_words(cls, v: list[str]) -> list[str]:
        for word in v:
            if len(word.split()) != 1:
                raise ValueError(f"stop word {word!r}: expected a single word")
        return v


class PersonSettings(_Section):
    name: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    departments: list[str] = []
    telegram_id: int | None = Field(default=None, gt=0)
    vk_id: int | None = Field(default=None, gt=0)
    # What identifies the person across restarts; without it, their telegram_id or vk_id.
    key: Key | None = None

    @property
    def identities(self) -> list[str]:
        """What may identify the person, the strongest first: ``key``, the Telegram id, the VK
        id, and only when nothing else is given the name (then unique in the config)."""
        found = [f"key:{self.key}" if self.key else "",
                 f"telegram:{self.telegram_id}" if self.telegram_id is not None else "",
                 f"vk:{self.vk_id}" if self.vk_id is not None else "",
                 f"name:{self.name.strip()}"]
        return [i for i in found if i]

    @property
    def identity(self) -> str:
        """The stable key of the person (see :attr:`identities`)."""
        return self.identities[0]

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _numeric_telegram_id(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().startswith("@"):
            raise ValueError("telegram_id must be the numeric id (a user sees it with "
                             "@userinfobot), not a @username")
        return v


class Settings(_Section):
    timezone: str
    database: str = "otklik.sqlite3"
    files_dir: str = "otklik-files"
    language: Literal["ru"] = "ru"
    telegram: TelegramSettings = TelegramSettings()
    http: HttpSettings = HttpSettings()
    vk: VkSettings = VkSettings()
    detection: DetectionSettings = DetectionSettings()
    calendar: CalendarSettings = CalendarSettings()
    sla: SlaSettings = SlaSettings()
    logging: LoggingSettings = LoggingSettings()
    backup: BackupSettings = BackupSettings()
    storage: StorageSettings = StorageSettings()
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
        _unique("people", "key", [p.key for p in self.people])
        named: dict[str, int] = {}
        for i, p in enumerate(self.people):
            first = named.setdefault(p.name.strip().casefold(), i)
            if first != i and not (p.key and self.people[first].key):
                raise _KeyError(f"people[{i}].name",
                                f"duplicate {p.name!r}, already used by people[{first}]: "
                                "namesakes need a distinct key each (key = \"ivanova_2\")")
        _unique("people", "vk_id", [p.vk_id for p in self.people])
        if self.vk.token.get_secret_value() and not self.vk.group_id:
            raise _KeyError("vk.group_id", "the community's id is needed with vk.token "
                                           "(expected a positive number such as 123456)")
        policies = [*default_policies(self.timezone),
                    *(p for p in self.sla.policies if p not in default_policies(self.timezone))]
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
        self.telegram_groups = frozenset(settings.telegram.groups)
        self.http_token = (os.environ.get(HTTP_TOKEN_ENV)
                           or settings.http.token.get_secret_value()).strip()
        vk = settings.vk
        self.vk_tokens = {
            key: (os.environ.get(env) or getattr(vk, key).get_secret_value()).strip()
            for key, env in VK_TOKEN_ENVS.items()
        }
        self.vk_api_base = vk.api_base or None
        self.telegram_proxy = settings.telegram.proxy or None
        self.vk_proxy = vk.proxy or None
        self.backup_dir = _resolve(base, settings.backup.dir) if settings.backup.dir else None
        self.categories = {
            c.key: Category(c.key, c.name, c.block, c.department) for c in settings.categories
        }
        self.departments = {d.key: d.name for d in settings.departments}
        window = parse_duration(settings.sla.feedback_window)
        self.feedback_window = (timedelta(days=window.amount) if isinstance(window.amount, int)
                                else window.amount)
        cal = settings.calendar
        self.policies = default_policies(self.tz, cal.extra_days_off, cal.extra_working_days)
        for name, spec in settings.sla.policies.items():
            self.policies[name] = spec.build(name, self.tz, cal.extra_days_off,
                                             cal.extra_working_days)

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
        # utf-8-sig: a byte order mark, as Windows editors save it, is not part of the TOML.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); "
                          "expected the file saved in UTF-8 encoding") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return config_from_data(data, path)


def config_from_data(data: dict[str, Any], path: Path) -> Config:
    """The config of a parsed TOML document; :class:`ConfigError` says what is wrong."""
    settings = parse_settings(data, path)
    try:
        config = Config(settings, path)
    except (ValueError, TypeError, OverflowError) as e:  # a rule the validators missed
        raise ConfigError(f"{path}: {e}") from None
    for key, target, is_dir in (("database", config.database, False),
                                ("files_dir", config.files_dir, True)):
        problem = _unusable(target, is_dir)
        if problem:
            raise ConfigError(f"{path}: {key}: {target} {problem}")
    return config


def _unusable(target: Path, is_dir: bool) -> str | None:
    """Why the bot could not create or write ``target`` (None: it can), without creating it."""
    if str(target) == ":memory:":
        return None
    try:
        return _why_unusable(target, is_dir)
    except (OSError, ValueError) as e:  # a name too long, a NUL byte in it
        return f"is not a usable path: {e}"


def _why_unusable(target: Path, is_dir: bool) -> str | None:
    if target.exists():
        if is_dir != target.is_dir():
            return "is a folder, expected a file" if target.is_dir() else \
                "is a file, expected a folder"
        return None if os.access(target, os.W_OK) else "is not writable"
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: the folder {parent} is not writable"
    return None


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
