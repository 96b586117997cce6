"""The outbox keeps sent messages for ``[storage] keep_sent`` and purges them nightly: a
message still to send (pending, or in the platform call) is never deleted, however old; a
message sent or failed recently is kept. A sent row keeps the message's id, not the reply."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.outbox import purge_sent
from bot.updates import KEEP_UPDATES
from fakes.telegram import FakeTelegramServer
from tests.harness import COORDINATOR, PETROV, Harness, incident_number, load, write_config


async def register(otklik: Harness) -> int:
    await otklik.say(COORDINATOR, "Яма на Ленина")
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    return incident_number(otklik.last_text(COORDINATOR))


async def rows(otklik: Harness) -> dict[str, str]:
    """Text of each test message → its status."""
    assert otklik.app is not None
    async with otklik.app.store.read() as uow:
        found = await uow.people._all(
            "SELECT payload, status FROM outbox WHERE method = 'sendMessage'")
    return {json.loads(r[0])["text"]: r[1] for r in found}


async def fill(otklik: Harness) -> None:
    """Messages of every status, 40 days old and 1 day old."""
    assert otklik.app is not None
    now = otklik.clock()
    async with otklik.app.store.write() as uow:
        await uow.conn.execute("DELETE FROM outbox")
        for age in (40, 1):
            at = now - timedelta(days=age)
            for status in ("pending", "sending", "sent", "failed"):
                msg = await uow.outbox.enqueue("telegram", 500 + age, "sendMessage",
                                       {"chat_id": 500 + age, "text": f"{status} {age}"}, at)
                if status == "sending":
                    await uow.outbox.claim(msg)
                elif status == "sent":
                    await uow.outbox.mark_sent(msg, at, 1)
                elif status == "failed":
                    await uow.outbox.mark_failed(msg, "chat not found")


async def test_purge_keeps_pending_sending_and_recent(otklik: Harness) -> None:
    assert otklik.app is not None
    await fill(otklik)
    deleted = await otklik.app.purge_outbox()
    assert deleted == 2
    assert await rows(otklik) == {
        "pending 40": "pending", "sending 40": "sending",
        "pending 1": "pending", "sending 1": "sending", "sent 1": "sent", "failed 1": "failed"}


async def test_purge_in_small_batches_never_touches_what_is_to_send(otklik: Harness) -> None:
    assert otklik.app is not None
    await fill(otklik)
    # Everything is older than "now + 1 day": only finished rows go, two per transaction.
    deleted = await purge_sent(otklik.app.store, otklik.clock() + timedelta(days=1), batch=1)
    assert deleted == 4
    assert set((await rows(otklik)).values()) == {"pending", "sending"}
    assert len(await rows(otklik)) == 4


async def test_purge_runs_once_a_night_after_backup_time(otklik: Harness) -> None:
    assert otklik.app is not None
    await fill(otklik)
    assert await otklik.app.purge_outbox() == 2
    await fill(otklik)
    assert await otklik.app.purge_outbox() == 0  # done today already
    otklik.clock.advance(hours=17)  # 02:00 local the next day: before [backup] at
    assert await otklik.app.purge_outbox() == 0
    otklik.clock.advance(hours=2)
    assert await otklik.app.purge_outbox() == 2


async def test_sent_row_keeps_only_the_message_id(otklik: Harness) -> None:
    assert otklik.app is not None
    await otklik.say(COORDINATOR, "/help")
    async with otklik.app.store.read() as uow:
        results = [r[0] for r in await uow.people._all(
            "SELECT result FROM outbox WHERE status = 'sent' AND method = 'sendMessage'")]
    assert results
    assert all(isinstance(json.loads(r), int) for r in results), results


@pytest.mark.parametrize("value", ["8wh", "forever", "2wd"])
def test_keep_sent_must_be_a_clock_duration(tmp_path: Path, server: FakeTelegramServer,
                                             value: str) -> None:
    path = write_config(tmp_path, server, f'\n[storage]\nkeep_sent = "{value}"\n')
    with pytest.raises(ConfigError, match="keep_sent"):
        load(path)


async def test_nightly_purge_forgets_old_update_ids_and_still_refuses_recent_redeliveries(
        otklik: Harness) -> None:
    """``processed_updates`` does not grow forever: the nightly job forgets ids claimed more
    than a week ago, while a redelivery of a recent update is still refused after it."""
    assert otklik.app is not None
    n = await register(otklik)
    update = await otklik.press(PETROV, "take", n)
    otklik.clock.advance(days=1, hours=19)  # the next nights, after [backup] at
    assert await otklik.app.purge_outbox() == 0
    async with otklik.app.store.read() as uow:
        assert await uow.updates.seen("telegram", update["update_id"])
    audit_before = len(await otklik.audit())
    otklik.server.redeliver(update["update_id"])
    await otklik.step()
    assert len(await otklik.audit()) == audit_before  # refused: not taken twice
    otklik.clock.advance(days=KEEP_UPDATES.days)
    await otklik.app.purge_outbox()
    async with otklik.app.store.read() as uow:
        assert not await uow.updates.seen("telegram", update["update_id"])
        left = await uow.people._all("SELECT count(*) FROM processed_updates")
    assert left[0][0] == 0
