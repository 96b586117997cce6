"""The open load per executor (routing reads it at each intake) is kept by triggers: it
always equals a count of the open incidents, whatever changes them."""

from __future__ import annotations

from bot.storage import Storage
from tests import test_metrics as hand
from tests.test_reports import fill, store  # noqa: F401 - fixture

RECOUNT = ("SELECT executor_id, COUNT(*) FROM incidents WHERE executor_id IS NOT NULL"
           " AND state NOT IN ('closed', 'redirected', 'rejected') GROUP BY executor_id")


async def check(store: Storage) -> dict[int, int]:  # noqa: F811
    async with store.read() as uow:
        kept = await uow.incidents.open_load()
        async with uow.conn.execute(RECOUNT) as cur:
            counted = {r[0]: r[1] for r in await cur.fetchall()}
    assert kept == counted
    return kept


async def test_open_load_follows_every_change(store: Storage) -> None:  # noqa: F811
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    before = await check(store)
    assert before  # the hand-checked week has open incidents with executors
    executor, n = next(iter(before.items()))
    other = max(hand.PEOPLE) + 1  # a person with no incidents yet
    async with store.write() as uow:
        await uow.conn.execute("INSERT INTO people (id, name, roles, departments)"
                               " VALUES (?, 'Новый', 'executor', '')", (other,))
        async with uow.conn.execute(
                "SELECT id FROM incidents WHERE executor_id = ? AND state NOT IN"
                " ('closed', 'redirected', 'rejected') ORDER BY id", (executor,)) as cur:
            ids = [r[0] for r in await cur.fetchall()]
        await uow.conn.execute("UPDATE incidents SET state = 'closed' WHERE id = ?", (ids[0],))
    assert (await check(store)).get(executor, 0) == n - 1
    async with store.write() as uow:
        await uow.conn.execute("UPDATE incidents SET state = 'reopened' WHERE id = ?",
                               (ids[0],))
        await uow.conn.execute("UPDATE incidents SET executor_id = ? WHERE id = ?",
                               (other, ids[0]))
    after = await check(store)
    assert after.get(executor, 0) == n - 1 and after[other] == 1
    async with store.write() as uow:
        await uow.conn.execute("UPDATE incidents SET executor_id = NULL WHERE id = ?",
                               (ids[0],))
    assert other not in await check(store)
