"""Updates of different chats are handled concurrently, each chat's strictly in order; nothing
is handled twice, and a fault in one chat's update holds up no other chat (issue 16, cause 3)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from bot.app import chat_of
from bot.updates import NotSaved, by_chat
from tests.harness import PETROV, SIDOROVA, Harness
from tests.test_reliability_updates import register


async def test_by_chat_keeps_each_chats_order_and_runs_chats_together() -> None:
    rng = random.Random(16)
    items = [(chat, i) for i in range(20) for chat in "abc"]
    done: list[tuple[str, int]] = []
    running, most = 0, 0

    async def handle(item: tuple[str, int]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(rng.random() / 200)
        running -= 1
        done.append(item)

    assert await by_chat(items, lambda item: item[0], handle) == []
    assert sorted(done) == sorted(items)  # each once
    for chat in "abc":
        assert [i for c, i in done if c == chat] == list(range(20))
    assert most == 3  # the three chats at once, never two items of one chat


async def test_by_chat_stops_only_the_chat_that_was_not_saved() -> None:
    items = [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]
    done = []

    async def handle(item: tuple[str, int]) -> None:
        if item == ("a", 1):
            raise NotSaved("storage keeps failing")
        done.append(item)

    left = await by_chat(items, lambda item: item[0], handle)
    assert left == [("a", 1), ("a", 2)]  # the failed one and the chat's later ones
    assert done == [("a", 0), ("b", 0), ("b", 1)]


def record(app: Any, monkeypatch: pytest.MonkeyPatch, *, slow: set[int] = frozenset(),
           fail: dict[int, BaseException] | None = None) -> list[tuple[str, int, int]]:
    """Record when each update's handling starts and ends; ``slow`` updates take 0.3 s,
    ``fail`` ones raise (once)."""
    seen: list[tuple[str, int, int]] = []
    feed = app.dispatcher.feed_update
    fail = dict(fail or {})

    async def recorded(bot: Any, update: Any, **kw: Any) -> Any:
        seen.append(("start", chat_of(update), update.update_id))
        if update.update_id in slow:
            await asyncio.sleep(0.3)
        if (error := fail.pop(update.update_id, None)) is not None:
            seen.append(("failed", chat_of(update), update.update_id))
            raise error
        result = await feed(bot, update, **kw)
        seen.append(("end", chat_of(update), update.update_id))
        return result

    monkeypatch.setattr(app.dispatcher, "feed_update", recorded)
    return seen


def ends(seen: list[tuple[str, int, int]], chat: int) -> list[int]:
    return [u for what, c, u in seen if what == "end" and c == chat]


async def test_two_chats_interleaved_each_in_order_neither_waits_for_the_other(
        otklik: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = otklik.app
    assert app is not None
    server = otklik.server
    a1 = server.message(PETROV, "/help")["update_id"]
    b1 = server.message(SIDOROVA, "/help")["update_id"]
    a2 = server.message(PETROV, "/my")["update_id"]
    b2 = server.message(SIDOROVA, "/my")["update_id"]
    seen = record(app, monkeypatch, slow={a1})
    assert await app.poll_once() == 4
    assert ends(seen, PETROV.id) == [a1, a2]
    assert ends(seen, SIDOROVA.id) == [b1, b2]
    # Petrov's slow first update held up his second one, not Sidorova's.
    assert seen.index(("start", PETROV.id, a2)) > seen.index(("end", PETROV.id, a1))
    assert seen.index(("end", SIDOROVA.id, b2)) < seen.index(("end", PETROV.id, a1))
    async with app.store.read() as uow:
        for update_id in (a1, a2, b1, b2):
            assert await uow.updates.seen("telegram", update_id)


async def test_a_fault_in_one_chat_holds_up_no_other_and_nothing_is_handled_twice(
        otklik: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = otklik.app
    assert app is not None
    first, second = await register(otklik), await register(otklik, "Яма на Садовой")
    ours = {n: (await otklik.incident(n)).executor_id for n in (first, second)}
    assert len(set(ours.values())) == 2, "the two incidents go to the two executors"
    server = otklik.server
    presses = {}
    for user in (PETROV, SIDOROVA):
        call, data = otklik.button(user, "take")
        presses[user.id] = server.callback(user, call, data)["update_id"]
    other = server.message(SIDOROVA, "/help")["update_id"]
    broken = server.message(PETROV, "/help")["update_id"]
    # Petrov's press cannot be stored (and he cannot be told): it stays unconfirmed; his later
    # message waits for it; Sidorova's press and message are handled meanwhile.
    seen = record(app, monkeypatch, fail={presses[PETROV.id]: NotSaved("disk full")})
    assert await app.poll_once() == 0  # Petrov's press came first: nothing confirmed yet
    assert ends(seen, SIDOROVA.id) == [presses[SIDOROVA.id], other]
    assert ends(seen, PETROV.id) == []
    # Telegram delivers everything from Petrov's press on again; Sidorova's are skipped.
    await otklik.step()
    assert ends(seen, PETROV.id) == [presses[PETROV.id], broken]
    takes = [e for e in await otklik.audit() if e.action == "take" and e.ok]
    assert sorted(e.incident_id for e in takes) == sorted(ours)  # each once
    assert [e.actor_id for e in takes].count(ours[first]) == 1
    async with app.store.read() as uow:
        assert await uow.updates.seen("telegram", other)


async def test_a_failing_update_is_skipped_without_stopping_its_chat(
        otklik: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = otklik.app
    assert app is not None
    server = otklik.server
    a1 = server.message(PETROV, "/help")["update_id"]
    a2 = server.message(PETROV, "/my")["update_id"]
    b1 = server.message(SIDOROVA, "/help")["update_id"]
    seen = record(app, monkeypatch, fail={a1: RuntimeError("a bug")})
    assert await app.poll_once() == 3  # logged and confirmed, as before
    assert ends(seen, PETROV.id) == [a2]
    assert ends(seen, SIDOROVA.id) == [b1]
