"""Benchmark: grouping one new complaint into a problem (issue 14.4). Prints figures; not a
test.

100,000 synthetic past incidents (15 categories, registered over two years, the last week's
still open) are stored in a fresh SQLite database; for a new complaint the grouping reads the
open incidents of its category within the window (``uow.problems.candidates``), takes their
lemmas as the bot does (detection's lemmatizer, warm cache) and picks the match
(``workflows.problems.match``): the work ``bot.usecases.problems.Problems.suggest`` does at
registration. Target: under 50 ms per complaint.

    .venv/bin/python bench/bench_problems.py [--past 100000] [--queries 200]

The last line holds the ratio target / figure (above 1 is better).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.morphology import make_lemmatizer  # noqa: E402
from bot.storage import open_storage  # noqa: E402
from workflows import problems  # noqa: E402
from workflows.detection import Detector  # noqa: E402
from workflows.model import Incident, Priority, Sighting, State  # noqa: E402
from workflows.suggestions import terms  # noqa: E402

TARGET_MS = 50.0
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STREETS = ["Ленина", "Кирова", "Мира", "Школьная", "Гагарина", "Советская", "Садовая",
           "Победы", "Молодёжная", "Лесная"]
WORDS = ["яма", "асфальт", "дорога", "батарея", "отопление", "мусор", "свет", "фонарь",
         "двор", "подъезд", "крыша", "течёт", "вода", "холодно", "не", "убирают", "снег",
         "лёд", "машины", "бьются", "площадка", "детская", "сломана", "трубы", "запах"]


def text(rng: random.Random) -> tuple[str, str]:
    street, house = rng.choice(STREETS), rng.randint(1, 120)
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
    return f"{body}, ул. {street} {house}", f"ул. {street}, д. {house}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--past", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lemmas = Detector((), make_lemmatizer()).lemmas

    def words(t: str) -> list[str]:
        return terms(lemmas(t))

    categories = [f"c{i}" for i in range(15)]
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_storage(Path(tmp) / "bench.sqlite3")
        t0 = time.perf_counter()
        async with store.write() as uow:
            for n in range(1, args.past + 1):
                at = NOW - timedelta(minutes=rng.randint(1, 2 * 365 * 24 * 60))
                state = State.ASSIGNED if NOW - at < timedelta(days=7) else State.CLOSED
                body, address = text(rng)
                category = rng.choice(categories)
                inc = Incident(n, state, "vk", body, category, category, None, Priority.NORMAL,
                               at, address=address)
                await uow.incidents.add(inc, at, Sighting("vk", f"b{n}", body, category))
        print(f"stored {args.past:,} incidents in {time.perf_counter() - t0:.1f} s")
        times = []
        window = problems.WINDOW
        for q in range(args.queries):
            body, address = text(rng)
            category = rng.choice(categories)
            new = Incident(args.past + q + 1, State.NEW, "vk", body, category, category, None,
                           Priority.NORMAL, NOW, address=address)
            t = time.perf_counter()
            async with store.read() as uow:
                rows = await uow.problems.candidates(category, NOW - window)
            problems.match(new, words(new.text),
                           (problems.Candidate(i, tuple(words(i.text)), c) for i, c in rows))
            times.append((time.perf_counter() - t) * 1000)
        await store.close()
    open_per_category = len(rows)
    times.sort()
    median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
    print(f"open candidates of a category in the window: ~{open_per_category}")
    print(f"grouping of one complaint: median {median:.1f} ms, p95 {p95:.1f} ms, "
          f"max {times[-1]:.1f} ms (target < {TARGET_MS:.0f} ms)")
    print(f"ratio (target/figure): {TARGET_MS / p95:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
