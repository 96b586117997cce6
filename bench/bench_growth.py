"""Benchmark: how much the database grows per incident over a full lifecycle.

Otklik runs in this process against the fake Bot API (the test harness: real aiogram Bot,
real outbox). ``--incidents`` incidents each live a whole life in Telegram: registered by the
coordinator, taken by the executor, answered, submitted, approved, published and closed.
Then the sent messages older than ``[storage] keep_sent`` are purged and the processed update
ids older than a week forgotten (the clock is moved past both and what the nightly job runs,
``purge_sent`` and ``forget_updates``, runs) and the database is vacuumed. Prints the
bytes per incident before and after the purge, per table; the last line is the ratio of the
figure after retention to the 5 KB target (≤ 1.0 meets it). Not a test.

    .venv/bin/python bench/bench_growth.py [--incidents 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.outbox import purge_sent  # noqa: E402
from bot.updates import KEEP_UPDATES, forget_updates  # noqa: E402
from fakes.telegram import FakeTelegramServer  # noqa: E402
from tests.harness import (  # noqa: E402
    COORDINATOR,
    PETROV,
    TOKEN,
    Harness,
    incident_number,
    load,
    make_clock,
    write_config,
)

TARGET = 5 * 1024


def sizes(path: Path) -> dict[str, int]:
    """Bytes per table (its indexes included) after a VACUUM, from SQLite's dbstat."""
    db = sqlite3.connect(path)
    try:
        db.execute("VACUUM")
        names = dict(db.execute("SELECT name, tbl_name FROM sqlite_master"
                                " WHERE type IN ('table', 'index')"))
        out: dict[str, int] = {}
        for name, size in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = names.get(name, name)
            out[table] = out.get(table, 0) + size
        return out
    finally:
        db.close()


async def lifecycle(otklik: Harness, i: int) -> None:
    await otklik.say(COORDINATOR, f"Яма на дороге у дома {i} по улице Ленина, нужен ремонт")
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    n = incident_number(otklik.last_text(COORDINATOR))
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, f"Яму у дома {i} засыплем до пятницы.")
    await otklik.press(PETROV, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "close", n)
    if (await otklik.incident(n)).state != "closed":
        raise SystemExit(f"incident {n} did not close")


async def main(count: int) -> float:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegramServer(token=TOKEN) as tg:
            clock = make_clock()
            config = load(write_config(Path(tmp), tg))
            otklik = Harness(tg, config, clock)
            await otklik.start()
            try:
                await otklik.app.store.checkpoint()  # type: ignore[union-attr]
                empty = sizes(config.database)
                began = time.perf_counter()
                for i in range(count):
                    await lifecycle(otklik, i)
                print(f"{count} lifecycles in {time.perf_counter() - began:.0f} s")
                await otklik.app.store.checkpoint()  # type: ignore[union-attr]
                lived = sizes(config.database)
                keep = config.settings.storage.keep_sent_delta
                clock.now += keep + timedelta(days=1)
                purged = await purge_sent(otklik.app.store,  # type: ignore[union-attr]
                                          clock.now - keep)  # what the nightly job runs
                forgotten = await forget_updates(otklik.app.store,  # type: ignore[union-attr]
                                                 clock.now - KEEP_UPDATES)
                await otklik.app.store.checkpoint()  # type: ignore[union-attr]
                kept = sizes(config.database)
            finally:
                await otklik.close()
    print(f"outbox rows purged after {config.settings.storage.keep_sent}: {purged}")
    print(f"processed update ids forgotten after {KEEP_UPDATES.days} days: {forgotten}")
    per = {}
    for label, after in (("before retention", lived), ("after retention", kept)):
        growth = {t: (after.get(t, 0) - empty.get(t, 0)) / count for t in after}
        per[label] = sum(growth.values())
        top = sorted(growth.items(), key=lambda kv: -kv[1])[:8]
        print(f"{label}: {per[label] / 1024:.2f} KB per incident ("
              + ", ".join(f"{t} {b / 1024:.2f}" for t, b in top) + ")")
    ratio = per["after retention"] / TARGET
    print(f"ratio of the growth after retention to 5 KB: {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200)
    asyncio.run(main(parser.parse_args().incidents))
