"""HTTP intake over loopback: other systems post incidents with a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.sources.http_intake import make_app
from tests import pg
from tests.harness import PETROV, Harness

TOKEN = "intake-secret"
GOOD = {"source": "incident_management", "external_id": "IM-2026-0042",
        "text": "Яма на дороге у остановки «Школа»", "category": "roads",
        "url": "https://im.example/42", "author": "Иван П.",
        "photo_urls": ["https://im.example/42/1.jpg"]}


@pytest.fixture
async def client(otklik: Harness) -> AsyncIterator[TestClient]:
    assert otklik.app is not None
    async with TestClient(TestServer(make_app(otklik.app.usecases.intake, TOKEN))) as c:
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
    assert f"Инцидент №{body['id']}" in card and "https://im.example/42/1.jpg" in card


async def test_repeated_external_id_answers_with_the_existing_incident(
        otklik: Harness, client: TestClient) -> None:
    first = await (await client.post("/api/incidents", json=GOOD, headers=auth())).json()
    again = await client.post("/api/incidents", json=GOOD, headers=auth())
    assert again.status == 200
    body = await again.json()
    assert body["id"] == first["id"] and body["result"] == "existing"
    assert otklik.app is not None
    assert len(await otklik.app.usecases.queries.visible_incidents(
        (await otklik.app.usecases.queries.people())[0])) == 1


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


async def test_whitespace_only_text_is_refused(client: TestClient) -> None:
    for blank in (" ", "\n\t  \u00a0"):
        response = await client.post("/api/incidents", json=GOOD | {"text": blank},
                                     headers=auth())
        assert response.status == 400
        body = await response.json()
        assert body["field"] == "text" and "blank" in body["error"]


@pytest.mark.parametrize(("data", "content_type", "problem"), [
    (b'{"text": "x"}', "application/json; charset=bogus-8", "unknown charset 'bogus-8'"),
    (b'{"text": "\xff\xfe"}', "application/json; charset=utf-8", "not valid utf-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested too deep"),
    (b'{"text": 1' + b"0" * 5000 + b"}", "application/json", "not valid JSON"),
    (b"{not json", "application/json", "not valid JSON"),
    (b"", "application/json", "not valid JSON"),
    (b"[1, 2]", "application/json", "expected a JSON object"),
    (b'{"text": "x"}', "text/plain; charset=rot13", "unknown charset 'rot13'"),
    (b'{"text": "x"', "application/json; charset=", "not valid JSON"),
])
async def test_undecodable_body_is_a_400_naming_the_problem(
        client: TestClient, data: bytes, content_type: str, problem: str) -> None:
    response = await client.post("/api/incidents", data=data,
                                 headers=auth() | {"Content-Type": content_type})
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["field"] == "(body)" and problem in body["error"]


@pytest.mark.parametrize(("change", "field"), [
    ({"category": {"a": 1}}, "category"),
    ({"category": ["roads"]}, "category"),
    ({"source": 7}, "source"),
    ({"text": ["a"]}, "text"),
    ({"priority": ["normal"]}, "priority"),
    ({"priority": {"x": 1}}, "priority"),
    ({"photo_urls": [1, 2]}, "photo_urls"),
    ({"photo_urls": {"a": "https://x"}}, "photo_urls"),
    ({"url": 5}, "url"),
    ({"source": "   "}, "source"),
    ({"external_id": "\t"}, "external_id"),
])
async def test_wrong_types_are_a_400_naming_the_field(
        client: TestClient, change: dict, field: str) -> None:
    response = await client.post("/api/incidents", json=GOOD | change, headers=auth())
    assert response.status == 400, await response.text()
    assert (await response.json())["field"] == field


async def test_lone_surrogate_is_refused_not_stored(otklik: Harness, client: TestClient) -> None:
    raw = ('{"source": "im", "external_id": "S-1", "category": "roads", '
           '"text": "Яма \\ud800 у дома"}').encode()
    response = await client.post("/api/incidents", data=raw,
                                 headers=auth() | {"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["field"] == "text"


async def test_only_bearer_authorization_is_accepted(client: TestClient) -> None:
    for header in (TOKEN, f"Basic {TOKEN}", f"Token {TOKEN}", f"Bearer{TOKEN}", "Bearer ",
                   f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"):
        response = await client.post("/api/incidents", json=GOOD,
                                     headers={"Authorization": header})
        assert response.status == 401, header
        assert response.headers["WWW-Authenticate"] == "Bearer"
    response = await client.post("/api/incidents", json=GOOD,
                                 headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status == 201


@pytest.mark.skipif(pg.on_postgresql(), reason="locks the SQLite file from another "
                    "connection (PostgreSQL's locks: tests/test_reliability_*.py)")
async def test_storage_fault_is_a_503_with_retry_after_and_the_retry_registers(
        otklik: Harness, client: TestClient, tmp_path) -> None:
    import sqlite3

    assert otklik.app is not None
    # The bot's own connection waits only briefly for the lock the other process holds.
    await otklik.app.store._conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(tmp_path / "otklik.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        response = await client.post("/api/incidents", json=GOOD, headers=auth())
        assert response.status == 503
        assert int(response.headers["Retry-After"]) > 0
        assert "retry" in (await response.json())["error"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    response = await client.post("/api/incidents", json=GOOD, headers=auth())
    assert response.status == 201


async def test_a_body_not_matching_its_content_encoding_is_a_400(client: TestClient) -> None:
    response = await client.post("/api/incidents", data=b"not gzip at all",
                                 headers=auth() | {"Content-Type": "application/json",
                                                   "Content-Encoding": "gzip"})
    assert response.status == 400
    body = await response.json()
    assert body["field"] == "(body)" and "gzip" in body["error"]
