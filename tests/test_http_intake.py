"""HTTP intake over loopback: other systems post incidents with a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.sources.http_intake import make_app
from tests.harness import PETROV, Harness

TOKEN = "intake-secret"
GOOD = {"source": "incident_management", "external_id": "IM-2026-0042",
        "text": "Яма на дороге у остановки «Школа»", "category": "roads",
        "url": "https://im.example/42", "author": "Иван П.",
        "photo_urls": ["https://im.example/42/1.jpg"]}


@pytest.fixture
async def client(otklik: Harness) -> AsyncIterator[TestClient]:
    assert otklik.app is not None
    async with TestClient(TestServer(make_app(otklik.app.service, TOKEN))) as c:
        yield c


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_new_incident_is_registered_and_routed(otklik: Harness, client: TestClient) -> None:
    response = await client.post("/api/incidents", json=GOOD, headers=auth())
    assert response.status == 201
    body = await response.json()
    assert body["result"] == "registered" and body["state"] == "assigned"
    await otklik.step()
    card = otklik.last_text(PETROV)
    assert f"Обращение №{body['id']}" in card and "https://im.example/42/1.jpg" in card


async def test_repeated_external_id_answers_with_the_existing_incident(
        otklik: Harness, client: TestClient) -> None:
    first = await (await client.post("/api/incidents", json=GOOD, headers=auth())).json()
    again = await client.post("/api/incidents", json=GOOD, headers=auth())
    assert again.status == 200
    body = await again.json()
    assert body["id"] == first["id"] and body["result"] == "existing"
    assert otklik.app is not None
    assert len(await otklik.app.service.visible_incidents(
        (await otklik.app.service.people())[0])) == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"category": "weather"}, "category"),
    ({"text": ""}, "text"),
    ({"external_id": None}, "external_id"),
    ({"priority": "asap"}, "priority"),
    ({"photo_urls": "not a list"}, "photo_urls"),
    ({"url": "ftp://x"}, "url"),
    ({"author": 42}, "author"),
])
async def test_bad_field_is_named_in_a_400(client: TestClient, change: dict, field: str) -> None:
    response = await client.post("/api/incidents", json=GOOD | change, headers=auth())
    assert response.status == 400
    body = await response.json()
    assert body["field"] == field and body["error"].startswith(f"{field}:")


async def test_bad_json_and_bad_token(client: TestClient) -> None:
    response = await client.post("/api/incidents", data="{not json", headers=auth())
    assert response.status == 400 and (await response.json())["field"] == "(body)"
    response = await client.post("/api/incidents", json=GOOD, headers=auth("wrong"))
    assert response.status == 401
    response = await client.post("/api/incidents", json=GOOD)
    assert response.status == 401
