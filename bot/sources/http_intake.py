"""HTTP intake: other systems (exports from «Инцидент Менеджмент», ПОС, …) post incidents.

``POST /api/incidents`` with ``Authorization: Bearer <token>`` and a JSON body::

    {"source": "incident_management", "external_id": "IM-2026-0042",
     "text": "…", "category": "roads", "url": "https://…", "author": "…",
     "photo_urls": ["https://…"], "priority": "normal"}

201 with the new incident, 200 with the existing one for an external id seen before, 400
naming the field for a bad body, 401 without the right token.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from bot.service import Service
from workflows.model import Attachment, Priority, Sighting

REQUIRED = ("source", "external_id", "text", "category")
LIMITS = {"source": 64, "external_id": 200, "text": 20_000, "category": 32, "url": 2_000,
          "author": 300}


class BadField(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def parse(body: Any, categories: set[str]) -> Sighting:
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
    url = body.get("url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise BadField("url", "expected an http(s) URL")
    return Sighting(
        source=body["source"], external_id=body["external_id"], text=body["text"],
        category=body["category"], url=url, author=body.get("author"),
        attachments=tuple(Attachment("link", u) for u in urls[:10]), priority=priority)


def make_app(service: Service, token: str) -> web.Application:
    async def create(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            body = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "(body): not valid JSON", "field": "(body)"},
                                     status=400)
        try:
            seen = parse(body, set(service.config.categories))
        except BadField as e:
            return web.json_response({"error": str(e), "field": e.field}, status=400)
        result = await service.register(None, seen)
        if not result.ok or result.incident is None:
            return web.json_response({"error": result.code}, status=400)
        incident = result.incident
        return web.json_response(
            {"id": incident.id, "state": incident.state.value, "result": result.code},
            status=201 if result.code == "registered" else 200)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/api/incidents", create)
    return app
