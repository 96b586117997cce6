"""Benchmark: suggestions from approved answers (issue 14). Prints figures; not a test.

1. Quality, on real complaint → official answer pairs (``spb_official_answers_sample.csv``
   of ``--data``: third-party data, read when present, never copied into the repository):
   the pairs with a final answer are split (seeded) into past ones and held-out ones; for
   each held-out complaint, is the approved answer of a past complaint of the same
   ``reason`` (the portal's fine-grained cause) among the three suggestions? Target ≥ 70 %.
   The complaint's ``category`` is the incident's category, as in the bot.
2. Speed: one incident's suggestions (lemmas of its text, then the query) with 100,000
   synthetic past incidents (texts mixed from the real complaints' words, 15 categories,
   10 departments, an executor's scope of two departments), and the time to compact the
   index on the scheduler.

    .venv/bin/python bench/bench_suggestions.py [--data /work/shared/external/answers]

The last line holds the ratios figure / target (above 1 is better).
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.morphology import make_lemmatizer  # noqa: E402
from workflows.detection import Detector  # noqa: E402
from workflows.suggestions import Past, SuggestionIndex, terms  # noqa: E402
from workflows.visibility import Scope  # noqa: E402

DATA = Path("/work/shared/external/answers")
FILE = "spb_official_answers_sample.csv"
HELD_OUT = 0.25
TARGET_HITS = 0.70
TARGET_MS = 50.0
PAST = 100_000
QUERIES = 300


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA,
                        help=f"directory holding {FILE} (default {DATA})")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    path = args.data / FILE
    if not path.is_file():
        print(f"SKIP: {path} is absent (third-party answers; give --data DIR)")
        return
    with path.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["text"].strip() and r["final_answer_text"].strip()]
    words = Detector((), make_lemmatizer()).lemmas

    def of(text: str) -> list[str]:
        return terms(words(text))

    # 1. quality, held-out split
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    cut = int(len(rows) * HELD_OUT)
    held, past = rows[:cut], rows[cut:]
    index = SuggestionIndex()
    reason = {}
    for i, r in enumerate(past, 1):
        index.add(Past(i, r["category"], None, None), of(r["text"]))
        reason[i] = r["reason"]
    index.compact()
    hits = offered = blind = 0
    for r in held:
        found = index.query(of(r["text"]), category=r["category"], scope=None)
        offered += bool(found)
        hits += any(reason[n] == r["reason"] for n, _ in found)
        found = index.query(of(r["text"]), category=None, scope=None)
        blind += any(reason[n] == r["reason"] for n, _ in found)
    possible = sum(any(p["reason"] == r["reason"] for p in past) for r in held)
    rate = hits / len(held)
    print(f"pairs with a final answer: {len(rows)}; past {len(past)}, held out {len(held)} "
          f"(seed {args.seed}); {len(set(r['reason'] for r in rows))} reasons")
    print(f"top-3 with an answer of the same reason: {hits}/{len(held)} = {rate:.1%} "
          f"(target {TARGET_HITS:.0%}); held-out complaints whose reason has a past answer at "
          f"all: {possible}; with any suggestion: {offered}")
    print(f"the same without the category filter: {blind}/{len(held)} = {blind / len(held):.1%}")

    # 2. speed with 100,000 synthetic past incidents
    vocab = [w for r in rows for w in r["text"].split()]
    categories = sorted({r["category"] for r in rows})
    big = SuggestionIndex()
    rss_before = rss_mb()
    started = time.perf_counter()
    for n in range(1, PAST + 1):
        text = " ".join(rng.choices(vocab, k=rng.randint(8, 40)))
        big.add(Past(n, categories[n % len(categories)], f"d{n % 10}", 1000 + n % 50), of(text))
    added = time.perf_counter() - started
    started = time.perf_counter()
    big.compact()
    compact = time.perf_counter() - started
    rss = rss_mb() - rss_before
    for n in range(PAST + 1, PAST + 201):  # added since the compaction
        big.add(Past(n, categories[n % len(categories)], f"d{n % 10}", None),
                of(rows[n % len(rows)]["text"]))
    scope = Scope(1001, frozenset({"d1", "d2"}))
    times = []
    for i in range(QUERIES):
        r = rows[i % len(rows)]
        text = r["text"] + f" {i}"
        t0 = time.perf_counter()
        big.query(of(text), category=r["category"], scope=scope if i % 2 else None)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p50, p95 = statistics.median(times), times[int(len(times) * 0.95)]
    print(f"{PAST:,} past incidents (+200 since compaction): added in {added:.1f} s "
          f"(lemmas included), compacted in {compact:.2f} s; RSS +{rss:.0f} MB "
          f"(the index and the lemma cache)")
    print(f"one incident's suggestions (lemmas + query), {QUERIES} queries: "
          f"median {p50:.2f} ms, p95 {p95:.2f} ms, max {times[-1]:.2f} ms "
          f"(target {TARGET_MS:.0f} ms)")
    print(f"ratio (figure/target): top-3 {rate / TARGET_HITS:.2f}, "
          f"speed {TARGET_MS / p95:.1f}x under the p95 target")


if __name__ == "__main__":
    main()
