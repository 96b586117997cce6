"""A coordinator whose chat is behind gets new incidents in one summary (issue 16, cause 7):
nothing is lost, nothing is sent twice."""

from __future__ import annotations

import re
from datetime import timedelta

from bot import batching
from tests.harness import COORDINATOR, Harness
from workflows.model import Sighting


async def register(otklik: Harness, i: int) -> int:
    assert otklik.app is not None
    result = await otklik.app.usecases.intake.register(None, Sighting(
        "vk", f"wall-1_{i}", f"Яма на дороге у дома {i}", "roads",
        url=f"https://vk.com/wall-1_{i}", author=f"Житель {i}"))
    assert result.ok and result.incident is not None, result
    return result.incident.id


def told(otklik: Harness) -> list[tuple[str, list[int], list[str]]]:
    """The coordinator's messages about new incidents: (text, incidents named, buttons)."""
    out = []
    for call in otklik.server.sent_to(COORDINATOR.id):
        text = call.text or ""
        if "Новые инциденты" in text or "инцидент №" in text:
            buttons = [b["callback_data"] for row in call.buttons for b in row]
            out.append((text, [int(n) for n in re.findall(r"№(\d+)", text)], buttons))
    return out


async def test_a_burst_of_registrations_reaches_the_coordinator_as_summaries(
        otklik: Harness) -> None:
    assert otklik.app is not None
    before = len(told(otklik))
    # The coordinator's chat is behind: nothing is delivered while 14 incidents come in.
    numbers = [await register(otklik, i) for i in range(14)]
    await otklik.app.settle()
    messages = told(otklik)[before:]
    # 3 waiting messages make the chat behind: the 4th merges them into a summary, which
    # takes the next ones up to 10; then 3 more singles and a 4th make the second one.
    assert [len(named) for _, named, _ in messages] == [10, 4]
    assert sorted(n for _, named, _ in messages for n in named) == sorted(numbers)  # each once
    text, named, buttons = messages[0]
    assert text.startswith("🗂 Новые инциденты: 10")
    assert named == numbers[:10]
    assert [b.split(":")[:3] for b in buttons] == [["i", "show", str(n)] for n in named]
    # A button opens its incident.
    await otklik.press(COORDINATOR, "show", numbers[3])
    assert f"№{numbers[3]}" in otklik.last_text(COORDINATOR)


async def test_few_registrations_are_told_one_by_one(otklik: Harness) -> None:
    assert otklik.app is not None
    before = len(told(otklik))
    numbers = [await register(otklik, i) for i in range(batching.BEHIND)]
    await otklik.app.settle()
    assert [named for _, named, _ in told(otklik)[before:]] == [[n] for n in numbers]
    # Delivered messages are never merged: the chat is not behind any more.
    more = await register(otklik, 99)
    await otklik.app.settle()
    assert [named for _, named, _ in told(otklik)[before:]][-1] == [more]


async def test_a_message_tried_once_or_taken_for_sending_is_not_merged(
        otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    before = len(told(otklik))
    numbers = [await register(otklik, i) for i in range(batching.BEHIND)]
    async with app.store.write() as uow:
        waiting = await uow.outbox.waiting_batch("telegram", COORDINATOR.id, batching.REGISTERED)
        assert len(waiting) == batching.BEHIND
        # The first one failed once (it may have arrived): it must never be merged.
        await uow.outbox.mark_retry(waiting[0][0], app.clock() - timedelta(seconds=1), "timeout")
    numbers.append(await register(otklik, 3))  # only 2 mergeable waiting: told on its own
    async with app.store.read() as uow:
        merged = [msg_id for msg_id, _ in await uow.outbox.waiting_batch(
            "telegram", COORDINATOR.id, batching.REGISTERED)]
    numbers.append(await register(otklik, 4))  # 3 mergeable: merged with them
    async with app.store.write() as uow:
        waiting = await uow.outbox.waiting_batch("telegram", COORDINATOR.id, batching.REGISTERED)
        assert [[i["n"] for i in items] for _, items in waiting] == [numbers[1:]]
        # The sender read a message before it was merged: it finds it gone, sends nothing.
        assert await uow.outbox.claim(merged[0]) is None
    await app.settle()
    messages = told(otklik)[before:]
    assert sorted(n for _, named, _ in messages for n in named) == sorted(numbers)
    assert [len(named) for _, named, _ in messages] == [1, 4]
