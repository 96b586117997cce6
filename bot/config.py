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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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

from workflows.answer_templates import MAX_TEXT, MAX_TITLE, PLACEHOLDERS, unknown_placeholders
from workflows.approval import APPROVERS, BUILT_IN, DEFAULT, Procedure
from workflows.calendar import EVERY_DAY, MON_FRI, WorkingCalendar
from workflows.model import Category, Person, Role
from workflows.sla import (
    DurationKind,
    Policy,
    Rule,
    Until,
    default_policies,
    parse_duration,
    parse_reminder,
    parse_rule,
)

PUBLIC_TELEGRAM_API = "https://api.telegram.org"
TOKEN_ENV = "OTKLIK_TELEGRAM_TOKEN"
HTTP_TOKEN_ENV = "OTKLIK_HTTP_TOKEN"
SECRET_TOKEN_ENV = "OTKLIK_TELEGRAM_SECRET_TOKEN"
# setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SMTP_PASSWORD_ENV = "OTKLIK_SMTP_PASSWORD"
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


def _group_ids(v: list[int]) -> list[int]:
    for chat_id in v:
        if chat_id >= 0:
            raise ValueError(f"{chat_id} is not a group's chat id (expected a negative "
                             "number such as -1001234567890)")
    return v


def _owner_ids(v: list[int]) -> list[int]:
    for owner in v:
        if owner == 0:
            raise ValueError("expected owner ids: negative for communities (-123), "
                             "positive for users")
    return v


def _host_port(v: str) -> str:
    """``host:port`` to listen on; nothing for off."""
    if v:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port such as '127.0.0.1:8080', got {v!r}")
    return v


def secret_token_problem(v: str) -> str | None:
    """Why ``v`` cannot be setWebhook's secret_token (None: it can); never shows ``v``."""
    if SECRET_TOKEN.match(v):
        return None
    found = f"{len(v)} characters" if len(v) > 256 else "other characters"
    return f"expected 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule), got {found}"


class TelegramSettings(_Section):
    token: SecretStr = SecretStr("")
    api_base: str = PUBLIC_TELEGRAM_API
    # Group chats watched for residents' complaints; the bot leaves any other group.
    groups: list[int] = []

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: list[int]) -> list[int]:
        return _group_ids(v)

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

    # How updates come: "polling" (getUpdates) or "webhook" (Telegram POSTs each update to
    # webhook_url, served on `listen` behind the reverse proxy; bot.webhook).
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    listen: str = ""
    secret_token: SecretStr = SecretStr("")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, v: str) -> str:
        if not v:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected the public https:// URL Telegram posts updates to, "
                             "such as 'https://otklik.example.ru/telegram'")
        if parts.query or parts.fragment:
            raise ValueError("expected a URL without ?query and #fragment")
        return v

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return _host_port(v)

    @field_validator("secret_token")
    @classmethod
    def _secret(cls, v: SecretStr) -> SecretStr:
        text = v.get_secret_value()
        if text and (problem := secret_token_problem(text)):
            raise ValueError(problem)
        return v


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
        return _owner_ids(v)

    @field_validator("poll_every")
    @classmethod
    def _every(cls, v: str) -> str:
        _parsed(parse_duration, v)
        return v


class HttpSettings(_Section):
    """The HTTP intake for other systems; off while ``listen`` is empty."""

    listen: str = ""
    token: SecretStr = SecretStr("")
    # Where browsers reach this server (behind the reverse proxy with TLS): the web board's
    # links from /board start with it.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL such as "
                             "'https://otklik.example.ru'")
        return v

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return _host_port(v)


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
        return _calendar_duration(v, "'30d'")

    @property
    def keep_sent_delta(self) -> timedelta:
        return _calendar_time(self.keep_sent)


class CalendarSettings(_Section):
    extra_days_off: list[date] = []
    extra_working_days: list[date] = []
    # Shortened pre-holiday days (an hour shorter) beyond the rule, and days the rule gives
    # that are worked in full.
    extra_short_days: list[date] = []
    not_short_days: list[date] = []

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarSettings:
        for key, a, b, other in (
                ("extra_working_days", self.extra_working_days, self.extra_days_off,
                 "extra_days_off"),
                ("not_short_days", self.not_short_days, self.extra_short_days,
                 "extra_short_days")):
            both = sorted(set(a) & set(b))
            if both:
                raise _KeyError(key, f"dates also listed in {other}: "
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
    # The first-response clock is the acceptance «в работу» (Кузбасс-онлайн); a final answer
    # carries a result status («решено» / «разъяснено») chosen on approval. Not given: as the
    # built-in policy of the same name (on for kuzbass_online), else off.
    acceptance: bool | None = None
    result_statuses: bool | None = None
    # The working day before a holiday ends an hour earlier (Labour Code, art. 95); by
    # default on for policies that follow the production calendar.
    shortened_pre_holiday: bool | None = None
    # "until HH:MM" rules: the first such time at least this far ahead (elapsed time).
    min_time: str = "4h"

    @field_validator("min_time")
    @classmethod
    def _min_time(cls, v: str) -> str:
        duration = _parsed(parse_duration, v)
        if duration.kind is not DurationKind.CALENDAR_TIME or duration.amount > timedelta(days=7):
            raise ValueError(f"expected elapsed time of at most a week such as '4h' or '90m', "
                             f"got {v!r}")
        return v

    @property
    def shortens(self) -> bool:
        return (self.production_calendar if self.shortened_pre_holiday is None
                else self.shortened_pre_holiday)

    # The procedure (002 3.12): unset keys keep the built-in ones of the policy's name.
    approval: list[Role] | None = None
    head_assigns: bool | None = None
    contact_required: bool | None = None
    email_to: list[str] | None = None

    @field_validator("approval")
    @classmethod
    def _approval(cls, v: list[Role] | None) -> list[Role] | None:
        if v is not None:
            if not v:
                raise ValueError("expected at least one approver, e.g. [\"coordinator\"]")
            for role in v:
                if role not in APPROVERS:
                    raise ValueError(f"{role.value!r} cannot approve (expected "
                                     + " or ".join(repr(r.value) for r in APPROVERS) + ")")
            if len(set(v)) != len(v):
                raise ValueError("each approver once")
        return v

    @field_validator("email_to")
    @classmethod
    def _emails(cls, v: list[str] | None) -> list[str] | None:
        for address in v or ():
            if not EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address (expected "
                                 "name@example.ru)")
        return v

    def procedure(self, name: str) -> Procedure:
        base = BUILT_IN.get(name, DEFAULT)
        return Procedure(
            approval=tuple(self.approval) if self.approval is not None else base.approval,
            head_assigns=base.head_assigns if self.head_assigns is None else self.head_assigns,
            contact_required=(base.contact_required if self.contact_required is None
                              else self.contact_required),
            email_to=tuple(self.email_to) if self.email_to is not None else base.email_to)

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
        if self.shortened_pre_holiday and not self.production_calendar:
            raise _KeyError("shortened_pre_holiday", "shortened pre-holiday days need the "
                            "production calendar (expected production_calendar = true, or "
                            "shortened_pre_holiday = false)")
        start, end = _parse_span(self.hours)
        try:
            WorkingCalendar(tz=ZoneInfo("UTC"), weekdays=_DAYS[self.days], start=start, end=end,
                            lunch=_parse_span(self.lunch) if self.lunch else None)
        except ValueError as e:
            raise _KeyError("lunch" if self.lunch else "hours", str(e)) from None
        try:
            WorkingCalendar(tz=ZoneInfo("UTC"), start=start, end=end,
                            shortened_pre_holiday=self.shortens)
        except ValueError as e:
            raise _KeyError("shortened_pre_holiday", str(e)) from None
        return self

    def build(self, name: str, tz: ZoneInfo, off: Iterable[date], on: Iterable[date],
              short: Iterable[date] = (), not_short: Iterable[date] = ()) -> Policy:
        start, end = _parse_span(self.hours)
        production = self.production_calendar
        calendar = WorkingCalendar(
            tz=tz, weekdays=_DAYS[self.days], start=start, end=end,
            lunch=_parse_span(self.lunch) if self.lunch else None,
            production_calendar=production,
            extra_days_off=frozenset(off) if production else frozenset(),
            extra_working_days=frozenset(on) if production else frozenset(),
            shortened_pre_holiday=self.shortens,
            extra_short_days=frozenset(short) if self.shortens else frozenset(),
            not_short_days=frozenset(not_short) if self.shortens else frozenset())
        min_time = parse_duration(self.min_time).amount
        assert isinstance(min_time, timedelta)

        def rule(text: str) -> Rule:
            parsed = parse_rule(text)
            return Until(parsed.at, min_time) if isinstance(parsed, Until) else parsed

        return Policy(
            name=name, title=self.title, calendar=calendar,
            first_response=rule(self.first_response) if self.first_response else None,
            answer=rule(self.answer),
            answer_fast_track=(rule(self.answer_fast_track)
                               if self.answer_fast_track else None),
            reminders=tuple(parse_reminder(r) for r in self.reminders),
            escalate_after=parse_duration(self.escalate_after) if self.escalate_after else None,
            acceptance=bool(self.acceptance), result_statuses=bool(self.result_statuses))


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
        return _calendar_duration(v, "'2d' or '48h'")


class ProblemsSettings(_Section):
    """One problem, many complaints (workflows/problems.py): how far back a new complaint
    looks for the problem it repeats, and how close its text must be (lemma TF-IDF cosine)
    when the address does not say."""

    window_days: int = Field(default=7, ge=1, le=90)
    similarity: float = Field(default=0.5, gt=0, le=1)


EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class EmailSettings(_Section):
    """The SMTP server the answer letters of the Governor's networks leave through."""

    host: str = ""
    port: int = Field(default=587, gt=0, lt=65536)
    # "starttls" (port 587), "ssl" (SMTPS, port 465) or "none" (a local relay only).
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    user: str = ""
    password: SecretStr = SecretStr("")
    from_address: str = ""
    timeout: float = Field(default=30.0, gt=0, le=600)

    @field_validator("from_address")
    @classmethod
    def _from(cls, v: str) -> str:
        if v and not EMAIL.match(v):
            raise ValueError(f"{v!r} is not an e-mail address (expected otklik@example.ru)")
        return v

    @model_validator(mode="after")
    def _complete(self) -> EmailSettings:
        if self.host and not self.from_address:
            raise _KeyError("from_address", "required with host (the sender's address)")
        return self


class MunicipalitySettings(_Section):
    """One municipality of a region (``[[municipalities]]``): its own people, incidents,
    VK communities and Telegram groups; the region's staff (no ``municipality``) sees all."""

    key: Key
    name: str = Field(min_length=1, max_length=100)
    # Its own time zone (its deadlines are counted in it, its incidents' cards show it);
    # not given: the top-level one.
    timezone: str | None = None
    # Its own days off and working days beyond the region's [calendar].
    extra_days_off: list[date] = []
    extra_working_days: list[date] = []
    # Where its residents write: VK walls watched for it, Telegram groups of it.
    vk_communities: list[int] = []
    telegram_groups: list[int] = []

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            _zone(v)
        return v

    @field_validator("vk_communities")
    @classmethod
    def _owners(cls, v: list[int]) -> list[int]:
        return _owner_ids(v)

    @field_validator("telegram_groups")
    @classmethod
    def _groups(cls, v: list[int]) -> list[int]:
        return _group_ids(v)


class DepartmentSettings(_Section):
    key: Key
    name: str = Field(min_length=1)
    # The municipality it belongs to; not given: every municipality has it (or the region's).
    municipality: str | None = None


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
    # Chosen with the category, as a second row of buttons (Кузбасс-онлайн 3.11.3).
    subcategories: list[str] = []
    # Only this municipality's incidents take the category; not given: every one's.
    municipality: str | None = None

    @field_validator("subcategories")
    @classmethod
    def _subcategories(cls, v: list[str]) -> list[str]:
        for i, name in enumerate(v):
            if not name.strip():
                raise ValueError(f"subcategory {i + 1} is blank")
            if len(name) > 64:
                raise ValueError(f"subcategory {name!r} is longer than 64 characters")
        if len({n.strip().casefold() for n in v}) != len(v):
            raise ValueError("the same subcategory is listed twice")
        if len(v) > 20:
            raise ValueError("at most 20 subcategories per category")
        return v

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


class OrganisationSettings(_Section):
    """A body incidents are redirected to (not a municipal matter, 000 4.3)."""

    key: Key
    name: str = Field(min_length=1, max_length=200)
    # The name as it reads after «Ваше сообщение направлено в …» (default: ``name``).
    to: str | None = None
    # The answer term the resident is told, from the redirection (calendar time).
    answer_within: str = "30d"

    @field_validator("answer_within")
    @classmethod
    def _within(cls, v: str) -> str:
        return _calendar_duration(v, "'30d'")


class AnswerTemplateSettings(_Section):
    """A typical answer of a category (``[[answer_templates]]``)."""

    category: str
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    @field_validator("text")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        unknown = unknown_placeholders(v)
        if unknown:
            raise ValueError(f"unknown placeholder {', '.join(unknown)} (known: "
                             + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                             + "; write {{ and }} for literal braces)")
        return v


class PersonSettings(_Section):
    name: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    departments: list[str] = []
    telegram_id: int | None = Field(default=None, gt=0)
    vk_id: int | None = Field(default=None, gt=0)
    # What identifies the person across restarts; without it, their telegram_id or vk_id.
    key: Key | None = None
    # The municipality they work in (they see only its incidents); not given: the region's
    # staff, who see every municipality's.
    municipality: str | None = None

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


DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(value: object) -> bool:
    """Whether ``database`` names a PostgreSQL database (else it is an SQLite file)."""
    return str(value).startswith(DATABASE_SCHEMES)


class Settings(_Section):
    timezone: str
    # An SQLite file (relative to the config), or a "postgresql://user@host:port/name" URL.
    database: str = "otklik.sqlite3"
    files_dir: str = "otklik-files"
    language: Literal["ru"] = "ru"
    telegram: TelegramSettings = TelegramSettings()
    http: HttpSettings = HttpSettings()
    vk: VkSettings = VkSettings()

    @field_validator("database")
    @classmethod
    def _database(cls, v: str) -> str:
        if "://" in v and not is_database_url(v):
            raise ValueError(f"{v.split('://')[0]}:// is not a database this bot knows: use "
                             "an SQLite file path or a postgresql:// URL")
        return v

    @model_validator(mode="after")
    def _no_file_backups_of_postgresql(self) -> Settings:
        if is_database_url(self.database) and self.backup.dir:
            raise ValueError("backup: dir: the nightly copy is of an SQLite file; back up a "
                             "PostgreSQL database with pg_dump (leave [backup] dir empty)")
        return self
    detection: DetectionSettings = DetectionSettings()
    calendar: CalendarSettings = CalendarSettings()
    sla: SlaSettings = SlaSettings()
    logging: LoggingSettings = LoggingSettings()
    backup: BackupSettings = BackupSettings()
    email: EmailSettings = EmailSettings()
    storage: StorageSettings = StorageSettings()
    problems: ProblemsSettings = ProblemsSettings()
    departments: list[DepartmentSettings] = Field(min_length=1)
    categories: list[CategorySettings] = Field(min_length=1)
    people: list[PersonSettings] = []
    organisations: list[OrganisationSettings] = []
    answer_templates: list[AnswerTemplateSettings] = []
    # A region: several municipalities in one deployment (none: one district, as before).
    municipalities: list[MunicipalitySettings] = []

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _zone(v)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        _municipalities(self)
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
            if Role.DEPARTMENT_HEAD in p.roles and not p.departments:
                raise _KeyError(f"people[{i}].departments",
                                "a department head needs the departments they head")
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
        _unique("organisations", "key", [o.key for o in self.organisations])
        categories = [c.key for c in self.categories]
        for i, t in enumerate(self.answer_templates):
            if t.category not in categories:
                raise _KeyError(f"answer_templates[{i}].category",
                                f"unknown category {t.category!r} "
                                f"(known: {', '.join(categories)})")
        _unique("answer_templates", "title",
                [(t.category, t.title.strip().casefold()) for t in self.answer_templates])
        _webhook(self.telegram, self.http)
        if self.vk.token.get_secret_value() and not self.vk.group_id:
            raise _KeyError("vk.group_id", "the community's id is needed with vk.token "
                                           "(expected a positive number such as 123456)")
        defaults = default_policies(self.timezone)
        policies = [*defaults, *(p for p in self.sla.policies if p not in defaults)]
        for key, policy in [("sla.default_policy", self.sla.default_policy),
                            *((f"sla.sources.{src}", p) for src, p in self.sla.sources.items())]:
            if policy not in policies:
                raise _KeyError(key, f"unknown policy {policy!r} (known: {', '.join(policies)})")
        for name, spec in self.sla.policies.items():
            if spec.email_to and not self.email.host:
                raise _KeyError(f"sla.policies.{name}.email_to",
                                "letters are e-mailed through [email]: set email.host, port, "
                                "tls and from_address")
        return self


def _zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (expected an IANA name such as "
                         "'Asia/Novokuznetsk')") from None
    return v


def _municipalities(settings: Settings) -> None:
    """Keys unique, every ``municipality = "…"`` one of them, each VK community and Telegram
    group of one municipality only."""
    munis = settings.municipalities
    _unique("municipalities", "key", [m.key for m in munis])
    _unique("municipalities", "name", [m.name.strip().casefold() for m in munis])
    keys = [m.key for m in munis]
    tables: list[tuple[str, Sequence[Any]]] = [
        ("departments", settings.departments), ("categories", settings.categories),
        ("people", settings.people)]
    for table, items in tables:
        for i, item in enumerate(items):
            if item.municipality is not None and item.municipality not in keys:
                known = (f"known: {', '.join(keys)}" if keys else
                         "no [[municipalities]] are declared")
                raise _KeyError(f"{table}[{i}].municipality",
                                f"unknown municipality {item.municipality!r} ({known})")
    for field, top in (("vk_communities", ("vk.communities", settings.vk.communities)),
                       ("telegram_groups", ("telegram.groups", settings.telegram.groups))):
        owner: dict[int, str] = {n: top[0] for n in top[1]}
        for i, m in enumerate(munis):
            for n in getattr(m, field):
                if n in owner:
                    raise _KeyError(f"municipalities[{i}].{field}",
                                    f"{n} is listed in {owner[n]} already (expected each "
                                    "in one place only)")
                owner[n] = f"municipalities[{i}].{field}"
    department_of = {d.key: d.municipality for d in settings.departments}
    for i, c in enumerate(settings.categories):
        home = department_of.get(c.department)
        if home is not None and c.municipality != home:
            raise _KeyError(f"categories[{i}].municipality",
                            f"the department {c.department!r} is of the municipality "
                            f"{home!r} (expected municipality = \"{home}\")")
    for i, p in enumerate(settings.people):
        for d in p.departments:
            home = department_of.get(d)
            if home is not None and p.municipality != home:
                raise _KeyError(f"people[{i}].departments",
                                f"the department {d!r} is of the municipality {home!r}, "
                                f"not of {p.municipality or 'the region'!r}")


def _webhook(telegram: TelegramSettings, http: HttpSettings) -> None:
    """``mode = "webhook"`` needs the URL and the address to listen on (the secret may come
    from the environment: checked by :class:`Config`)."""
    if telegram.mode != "webhook":
        return
    for key in ("webhook_url", "listen"):
        if not getattr(telegram, key):
            raise _KeyError(f"telegram.{key}", 'required with mode = "webhook" (see '
                                               "config.example.toml)")
    if telegram.webhook_url.startswith("http://") and telegram.api_base == PUBLIC_TELEGRAM_API:
        raise _KeyError("telegram.webhook_url", "Telegram posts only to https:// URLs "
                                                "(http:// only with a self-hosted api_base)")
    if telegram.listen == http.listen:
        raise _KeyError("telegram.listen", f"{telegram.listen!r} is http.listen already "
                                           "(expected a port of its own)")


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
        # The SQLite file, or the URL of a PostgreSQL database (a str).
        self.database: Path | str = (settings.database if is_database_url(settings.database)
                                     else _resolve(base, settings.database))
        self.files_dir = _resolve(base, settings.files_dir)
        token = os.environ.get(TOKEN_ENV) or settings.telegram.token.get_secret_value()
        self.telegram_token = token.strip()
        self.telegram_api_base = settings.telegram.api_base
        munis = settings.municipalities
        self.telegram_groups = frozenset(settings.telegram.groups).union(
            *(m.telegram_groups for m in munis))
        # The walls watched: the top-level ones (the region's) and every municipality's.
        self.vk_communities = [*settings.vk.communities,
                               *(n for m in munis for n in m.vk_communities)]
        # Several municipalities (empty: one district, as before).
        self.municipalities = {m.key: Municipality(m.key, m.name.strip(),
                                                   ZoneInfo(m.timezone or settings.timezone))
                               for m in munis}
        # Where a resident wrote → the municipality: "vk:<owner id>", "tg:<chat id>".
        self.municipality_of_place = {
            **{f"vk:{n}": m.key for m in munis for n in m.vk_communities},
            **{f"tg:{n}": m.key for m in munis for n in m.telegram_groups}}
        # A category or department of one municipality only.
        self.category_municipality = {c.key: c.municipality for c in settings.categories
                                      if c.municipality}
        self.department_municipality = {d.key: d.municipality for d in settings.departments
                                        if d.municipality}
        self.telegram_secret = (os.environ.get(SECRET_TOKEN_ENV)
                                or settings.telegram.secret_token.get_secret_value()).strip()
        if settings.telegram.mode == "webhook":
            problem = (secret_token_problem(self.telegram_secret) if self.telegram_secret
                       else 'required with mode = "webhook": Telegram sends it with every '
                            f"update (or set {SECRET_TOKEN_ENV})")
            if problem:
                source = (f" ({SECRET_TOKEN_ENV})" if os.environ.get(SECRET_TOKEN_ENV)
                          else "")
                raise _KeyError(f"telegram.secret_token{source}", problem)
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
        # The procedure of each policy (002 3.12): approval chain, head, contact, letters.
        self.procedures = {name: BUILT_IN.get(name, DEFAULT)
                           for name in default_policies(self.tz)}
        for name, spec in settings.sla.policies.items():
            self.procedures[name] = spec.procedure(name)
        self.smtp_password = (os.environ.get(SMTP_PASSWORD_ENV)
                              or settings.email.password.get_secret_value())
        cal = settings.calendar
        self.policies = default_policies(self.tz, cal.extra_days_off, cal.extra_working_days,
                                         cal.extra_short_days, cal.not_short_days)
        for name, spec in settings.sla.policies.items():
            built = spec.build(name, self.tz, cal.extra_days_off, cal.extra_working_days,
                               cal.extra_short_days, cal.not_short_days)
            if name in self.policies:  # flags not given follow the built-in policy
                base = self.policies[name]
                built = replace(built, acceptance=base.acceptance if spec.acceptance is None
                                else built.acceptance,
                                result_statuses=base.result_statuses
                                if spec.result_statuses is None else built.result_statuses)
            self.policies[name] = built
        # A municipality with its own time zone or days off has its own copies of the
        # policies (deadlines in its calendar); the others use the ones above.
        self.municipal_policies: dict[str, dict[str, Policy]] = {}
        for m in munis:
            if m.timezone is None and not m.extra_days_off and not m.extra_working_days:
                continue
            tz = ZoneInfo(m.timezone or settings.timezone)
            off = [*cal.extra_days_off, *m.extra_days_off]
            on = [*cal.extra_working_days, *m.extra_working_days]
            own = default_policies(tz, off, on, cal.extra_short_days, cal.not_short_days)
            for name, spec in settings.sla.policies.items():
                built = spec.build(name, tz, off, on, cal.extra_short_days, cal.not_short_days)
                base = self.policies[name]
                own[name] = replace(built, acceptance=base.acceptance,
                                    result_statuses=base.result_statuses)
            self.municipal_policies[m.key] = own

        self.subcategories = {c.key: tuple(s.strip() for s in c.subcategories)
                              for c in settings.categories if c.subcategories}
        self.organisations = {o.key: Organisation(o.key, o.name, o.to or o.name,
                                                  _calendar_time(o.answer_within))
                              for o in settings.organisations}
        self.redirect_within = timedelta(days=30)  # a typed organisation's answer term

    def seed_people(self) -> list[tuple[PersonSettings, Person]]:
        """People declared in the config, as core records without ids yet (id 0)."""
        return [
            (p, Person(0, p.name, frozenset(p.roles), frozenset(p.departments),
                       municipality=p.municipality))
            for p in self.settings.people
        ]

    def municipality_of(self, place: str | None, given: str | None = None,
                        actor: Person | None = None) -> str | None:
        """The municipality of a new incident: the one named (the HTTP intake's field), else
        the one of the place the resident wrote (``vk:<owner>_<post>``, ``tg:<chat>``), else
        the registering person's; None: the region's own (or one district)."""
        if not self.municipalities:
            return None
        if given in self.municipalities:
            return given
        if place:
            head = place.split("_", 1)[0]
            if head in self.municipality_of_place:
                return self.municipality_of_place[head]
        return actor.municipality if actor is not None else None

    def category_serves(self, key: str, municipality: str | None) -> bool:
        """Whether the category is offered for an incident of ``municipality``: a category
        of every municipality, or of that one."""
        return self.category_municipality.get(key) in (None, municipality)

    def municipality_name(self, key: str | None, region: str = "") -> str:
        """The name shown on cards and lists: "" in a single district, ``region`` (the
        templates' word) for an incident of no municipality."""
        if not self.municipalities:
            return ""
        if key is None:
            return region
        m = self.municipalities.get(key)
        return m.name if m else key


@dataclass(frozen=True, slots=True)
class Municipality:
    key: str
    name: str
    tz: ZoneInfo


@dataclass(frozen=True, slots=True)
class Organisation:
    key: str
    name: str
    to: str
    answer_within: timedelta


def _calendar_duration(text: str, example: str) -> str:
    """A config value that must be a duration in calendar time (not working time)."""
    if _parsed(parse_duration, text).kind.is_working:
        raise ValueError(f"expected calendar time such as {example}, not working time")
    return text


def _calendar_time(text: str) -> timedelta:
    d = parse_duration(text)
    return timedelta(days=d.amount) if isinstance(d.amount, int) else d.amount


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
        if isinstance(target, str):  # a PostgreSQL URL: the server says when it opens
            continue
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
