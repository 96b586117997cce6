"""HTTP intake: other systems (exports from «Инцидент Менеджмент», ПОС, …) post incidents.

``POST /api/incidents`` with ``Authorization: Bearer <token>`` and a JSON body::

    {"source": "incident_management", "external_id": "IM-2026-0042",
     "text": "…", "category": "roads", "url": "https://…", "author": "…",
     "photo_urls": ["https://…"], "priority": "normal",
     "due": "2026-12-05T17:30:00+07:00", "subcategory": "…", "municipality": "…"}

``due`` is the platform's own answer deadline (ПОС sets it itself; ЦУР may change the one of
«Инцидент Менеджмент»), ISO 8601 with a UTC offset; without it the source's policy counts
the deadline. ``subcategory`` is one of the category's ``subcategories`` in the config.
``municipality`` is the key of one of the config's ``[[municipalities]]`` (a region's
deployment); without it the incident is the region's own.

201 with the new incident, 200 with the existing one for an external id seen before, 400
naming the field (or ``(body)``) for a bad body, 401 without the right token, 503 with
``Retry-After`` when the storage cannot take the incident right now.
"""

from __future__ import annotations

import codecs
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.storage import StorageError
from bot.usecases.intake import Intake
from workflows.model import Attachment, Priority, Sighting

log = logging.getLogger(__name__)

REQUIRED = ("source", "external_id", "text", "category")
LIMITS = {"source": 64, "external_id": 200, "text": 20_000, "category": 32, "url": 2_000,
          "author": 300, "due": 64, "subcategory": 64, "municipality": 32}


class BadField(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def parse(body: Any, categories: set[str],
          subcategories: Mapping[str, Sequence[str]] | None = None,
          municipalities: Sequence[str] = ()) -> Sighting:
    """The sighting described by a request body; :class:`BadField` names what is wrong."""
    if not isinstance(body, dict):
        raise BadField("(body)", "expected a JSON object")
    for field in REQUIRED:
        if field not in body or body[field] in (None, ""):
            raise BadField(field, "required")
    for field, limit in LIMITS.items():
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadField(field, "expected a string")
        if len(value) > limit:
            raise BadField(field, f"longer than {limit} characters")
        _check_text(field, value)
        if field in REQUIRED and not value.strip():
            raise BadField(field, "blank (only whitespace)")
    if not isinstance(body.get("priority") or "normal", str):
        raise BadField("priority", "expected normal or fast_track")
    if body["category"] not in categories:
        raise BadField("category", f"unknown category (known: {', '.join(sorted(categories))})")
    try:
        priority = Priority(body.get("priority") or "normal")
    except ValueError:
        raise BadField("priority", "expected normal or fast_track") from None
    if priority is Priority.URGENT:
        raise BadField("priority", "urgent needs a deadline: set it in the chat")
    urls = body.get("photo_urls") or []
    if not isinstance(urls, list) or not all(
            isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise BadField("photo_urls", "expected a list of http(s) URLs")
    for u in urls:
        _check_text("photo_urls", u)
    url = body.get("url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise BadField("url", "expected an http(s) URL")
    due = _due(body.get("due"))
    subcategory = body.get("subcategory") or None
    known = (subcategories or {}).get(body["category"], ())
    if subcategory is not None and subcategory not in known:
        raise BadField("subcategory", f"unknown subcategory of {body['category']!r} (known: "
                       f"{', '.join(known) if known else 'none'})")
    municipality = body.get("municipality") or None
    if municipality is not None and municipality not in municipalities:
        raise BadField("municipality", "unknown municipality (known: "
                       f"{', '.join(municipalities) if municipalities else 'none'})")
    return Sighting(
        source=body["source"], external_id=body["external_id"], text=body["text"],
        category=body["category"], url=url, author=body.get("author"),
        attachments=tuple(Attachment("link", u) for u in urls[:10]), priority=priority,
        due=due, subcategory=subcategory, municipality=municipality)


def _due(value: str | None) -> datetime | None:
    """The platform's deadline: ISO 8601 with a UTC offset («2026-12-05T17:30:00+07:00»)."""
    if value is None or value == "":
        return None
    try:
        due = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadField("due", "expected a date and time in ISO 8601 with a UTC offset, "
                       "such as 2026-12-05T17:30:00+07:00") from None
    if due.tzinfo is None or due.utcoffset() is None:
        raise BadField("due", "the UTC offset is missing (expected, for example, "
                       "2026-12-05T17:30:00+07:00)")
    return due


def _check_text(field: str, value: str) -> None:
    """Refuse what JSON can carry but UTF-8 (the store, Telegram) cannot: lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadField(field, "contains an invalid character (a lone surrogate)") from None


def decode(raw: bytes, charset: str | None) -> Any:
    """The JSON value of a request body; :class:`BadField` on ``(body)`` says what is wrong."""
    name = charset or "utf-8"
    try:
        codec = codecs.lookup(name)
        text = raw.decode(codec.name)  # LookupError as well for rot13 and other non-text codecs
    except LookupError:
        raise BadField("(body)", f"unknown charset {name!r}") from None
    except (UnicodeDecodeError, ValueError):
        raise BadField("(body)", f"not valid {codec.name} text") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadField("(body)", "JSON nested too deep") from None
    except json.JSONDecodeError as e:
        raise BadField("(body)", f"not valid JSON ({e.msg} at line {e.lineno} "
                                 f"column {e.colno})") from None
    except ValueError as e:  # e.g. an integer too long to convert
        raise BadField("(body)", f"not valid JSON ({e})") from None


def authorized(header: str, token: str) -> bool:
    """Only ``Authorization: Bearer <token>``, compared in constant time."""
    scheme, _, given = header.strip().partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


RETRY_AFTER = 30


def make_app(intake: Intake, token: str) -> web.Application:
    async def create(request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization", ""), token):
            return web.json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        try:
            try:
                raw = await request.read()
            except (HttpProcessingError, web.RequestPayloadError) as e:  # e.g. not gzip
                raise BadField("(body)", f"cannot be read: {' '.join(str(e).split())}"
                               ) from None
            seen = parse(decode(raw, request.charset), set(intake.config.categories),
                         intake.config.subcategories, list(intake.config.municipalities))
        except BadField as e:
            return web.json_response({"error": str(e), "field": e.field}, status=400)
        try:
            result = await intake.register(None, seen)
        except StorageError as e:
            log.warning("HTTP intake: storage refused the incident (%s); asked to retry", e)
            return web.json_response(
                {"error": "storage unavailable, retry later"}, status=503,
                headers={"Retry-After": str(RETRY_AFTER)})
        if not result.ok or result.incident is None:
            return web.json_response({"error": result.code}, status=400)
        incident = result.incident
        return web.json_response(
            {"id": incident.id, "state": incident.state.value, "result": result.code},
            status=201 if result.code == "registered" else 200)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/api/incidents", create)
    return app
