"""``otklik learn`` and ``otklik detection-eval``: detection on a district's own labelled data.

Both read a CSV file (comma or semicolon, UTF-8 with or without BOM) with a text column and a
category column. A category is given by its key (``roads``) or its name as in the config
(«Дороги: ямы, очистка от снега»), case-insensitively; where a data set's category is broader
than one of ours, a cell may list several separated by ``|`` (``housing|energy``): any of them
counts as right, and the first is learned unless the prediction is one of them. A cell ``-``
(or «Не обращение») marks a text that is no complaint.

- ``learn`` keeps every row as a labelled example in the deployment's database (origin
  ``import``); the bot trains its model from them at the next start, and retrains as the
  coordinators add theirs.
- ``detection-eval`` classifies every row in file order with the config's keywords (and
  nothing learned), and prints precision and recall per category, the top confusions, and as
  its last line ``recall=0.NN accuracy=0.NN n=N``: recall — some category was found;
  accuracy — the right one. With ``--learn`` it is prequential: each row is classified first
  and then learned, the model retrained every ``--retrain-every`` rows (as the scheduler
  would), and the accuracy over the rows after the first 1,000 is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Config, load_config
from bot.dictionaries import DictionaryError
from workflows.triage import NOT_A_COMPLAINT

NONE_NAMES = {"-", "не обращение", "none"}
WARM_UP = 1_000


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, what in (("learn", "import labelled past messages (CSV) to train detection"),
                       ("detection-eval", "measure detection on a labelled CSV")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--config", required=True)
        p.add_argument("--data", required=True, help="CSV file with a text and a category")
        p.add_argument("--text-column", default="text")
        p.add_argument("--category-column", default="category")
        if name == "detection-eval":
            p.add_argument("--learn", action="store_true",
                           help="prequential: classify each row, then learn it")
            p.add_argument("--retrain-every", type=int, default=100,
                           help="with --learn: retrain after so many rows (default 100)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        rows = read_rows(Path(args.data), args.text_column, args.category_column, config)
    except DataError as e:
        print(f"{args.data}: {e}", file=sys.stderr)
        return 2
    try:
        if args.command == "learn":
            return asyncio.run(learn(config, rows))
        return evaluate(config, rows, learn=args.learn, retrain_every=max(args.retrain_every, 1))
    except DictionaryError as e:
        print(f"dictionary: {e}", file=sys.stderr)
        return 2


class DataError(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    truth: tuple[str, ...]  # acceptable labels, the first the one to learn


def read_rows(path: Path, text_column: str, category_column: str,
              config: Config) -> list[Row]:
    """The labelled rows of a CSV; a clear ``DataError`` for a missing file or column, or a
    category that is neither a key nor a name of the config."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read: {e}") from None
    first = raw.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(raw.splitlines(keepends=True), delimiter=delimiter)
    columns = reader.fieldnames or []
    for column in (text_column, category_column):
        if column not in columns:
            raise DataError(f"no column {column!r} (columns: {', '.join(columns) or 'none'})")
    lookup = {NONE: NOT_A_COMPLAINT for NONE in NONE_NAMES}
    for key, c in config.categories.items():
        lookup[key.lower()] = key
        lookup[c.name.lower()] = key
    rows, unknown = [], Counter[str]()
    for line, record in enumerate(reader, start=2):
        text = (record.get(text_column) or "").strip()
        cell = (record.get(category_column) or "").strip()
        if not text:
            continue
        truth = []
        for part in cell.split("|"):
            key = lookup.get(part.strip().lower())
            if key is None:
                unknown[part.strip() or "(empty)"] += 1
            else:
                truth.append(key)
        if truth:
            rows.append(Row(line, text, tuple(dict.fromkeys(truth))))
    if unknown:
        listed = ", ".join(f"{name!r} ×{n}" for name, n in unknown.most_common(10))
        raise DataError(f"categories that are neither a key nor a name of the config: "
                        f"{listed} (known keys: {', '.join(config.categories)})")
    if not rows:
        raise DataError("no rows with a text and a category")
    return rows


async def learn(config: Config, rows: Sequence[Row]) -> int:
    from bot.learning import Learner, add_label, build_triage
    from bot.storage import open_storage

    store = await open_storage(config.database)
    try:
        now = datetime.now(UTC)
        async with store.write() as uow:
            for row in rows:
                await add_label(uow, row.text, row.truth[0], origin="import", at=now)
        learner = Learner(store, build_triage(config))
        await learner.retrain()
    finally:
        await store.close()
    counts = Counter(row.truth[0] for row in rows)
    for key, n in counts.most_common():
        print(f"  {key:<16} {n:6}")
    model = learner.model
    print(f"{len(rows)} labelled examples added to {config.database}; model trained on "
          f"{model.examples if model else 0} in {learner.last_seconds:.1f} s "
          f"({len(model.classes) if model else 0} classes)")
    return 0


def evaluate(config: Config, rows: Sequence[Row], *, learn: bool, retrain_every: int) -> int:
    from bot.learning import build_triage, train

    triage = build_triage(config)
    examples: list[tuple[str, str]] = []
    predicted: list[str | None] = []
    started = time.perf_counter()
    for i, row in enumerate(rows):
        if learn and i and i % retrain_every == 0:
            model = train([t for t, _ in examples], [label for _, label in examples])
            triage.predict = model.predict if model else None
        verdict = triage.classify(row.text)
        predicted.append(verdict.category)
        if learn:
            # The coordinator's label: where the row allows several categories, the one of
            # them the buttons offered first (the suggestion, then the other matches).
            offered = [verdict.category or NOT_A_COMPLAINT, *verdict.suggestions]
            label = next((c for c in offered if c in row.truth), row.truth[0])
            examples.append((triage.features(row.text), label))
    seconds = time.perf_counter() - started
    report(config, rows, predicted)
    if learn and len(rows) > WARM_UP:
        right = sum(_right(r, p) for r, p in zip(rows[WARM_UP:], predicted[WARM_UP:],
                                                 strict=True))
        print(f"after the first {WARM_UP:,} rows: accuracy={right / (len(rows) - WARM_UP):.2f} "
              f"n={len(rows) - WARM_UP}")
    print(f"{len(rows)} rows in {seconds:.1f} s"
          + (f", retrained every {retrain_every} rows" if learn else ""))
    n = len(rows)
    found = sum(p is not None for p in predicted)
    right = sum(_right(r, p) for r, p in zip(rows, predicted, strict=True))
    print(f"recall={found / n:.2f} accuracy={right / n:.2f} n={n}")
    return 0


def _right(row: Row, predicted: str | None) -> bool:
    """The prediction is one of the row's categories; nothing found is right for a row
    marked as no complaint."""
    return (predicted or NOT_A_COMPLAINT) in row.truth


def report(config: Config, rows: Sequence[Row], predicted: Sequence[str | None]) -> None:
    """Precision and recall per category, and the commonest confusions."""
    names = {key: c.name for key, c in config.categories.items()}
    names[NOT_A_COMPLAINT] = "не обращение"
    truth_n, pred_n, hit_n = Counter[str](), Counter[str](), Counter[str]()
    confusions = Counter[tuple[str, str]]()
    for row, found in zip(rows, predicted, strict=True):
        p = found or (NOT_A_COMPLAINT if NOT_A_COMPLAINT in row.truth else None)
        true = p if p in row.truth else row.truth[0]
        truth_n[true] += 1
        if p is not None:
            pred_n[p] += 1
        if p == true:
            hit_n[true] += 1
        else:
            confusions[(true, p or "—")] += 1
    print(f"{'category':<16} {'n':>6} {'found':>6} {'precision':>9} {'recall':>7}")
    for key in sorted(set(truth_n) | set(pred_n), key=lambda k: -truth_n[k]):
        precision = hit_n[key] / pred_n[key] if pred_n[key] else 0.0
        recall = hit_n[key] / truth_n[key] if truth_n[key] else 0.0
        print(f"{key:<16} {truth_n[key]:>6} {pred_n[key]:>6} {precision:>9.2f} {recall:>7.2f}")
    print("top confusions (true → predicted):")
    for (true, p), n in confusions.most_common(10):
        print(f"  {true} → {p}: {n}")
