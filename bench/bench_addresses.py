"""Address extraction on hand-labelled real complaints: the share of street + house pairs found.

``bench/addresses_labels.tsv`` holds, for TRAIN rows of the Kursk 2022 complaints set, the row
id and the street and house a person read in the text; the texts themselves are read from the
shared file when it is present (they are never copied into the repository).

    python bench/bench_addresses.py [--csv PATH] [--show-misses]

A pair is found when the extracted house equals the labelled one and the street names agree
(case, «ё» and ordinal endings aside; one may contain the other: «ул. 2-я Новоселовка» and
«Новоселовка»).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.addresses import make_extractor  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CSV = (HERE.parent.parent / "shared" / "external" / "appeals" / "kursk_pos_2022"
               / "kursk_appeals_clean.csv")


def _key(street: str) -> str:
    s = street.lower().replace("ё", "е")
    s = re.sub(r"(\d+)-?[а-я]{0,3}\b", r"\1", s)
    return " ".join(re.findall(r"[а-я0-9]+", s))


def _same_street(found: str, label: str) -> bool:
    a, b = _key(found), _key(label)
    return bool(a and b) and (a in b or b in a)


def _same_house(found: str | None, label: str) -> bool:
    return found is not None and found.upper().replace("-", "") == label.upper()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    if not args.csv.exists():
        print(f"the complaints file is not here: {args.csv}")
        return 0
    labels = [line.split("\t") for line in (HERE / "addresses_labels.tsv").read_text(
        encoding="utf-8").splitlines() if line and not line.startswith("#")]
    with args.csv.open(encoding="utf-8") as f:
        texts = {r["id"]: r["text"] for r in csv.DictReader(f) if r["split"] == "train"}
    extract = make_extractor()
    found = streets = 0
    t0 = time.perf_counter()
    for row_id, street, house in labels:
        a = extract(texts[row_id])
        ok_street = a is not None and a.street is not None and _same_street(a.street, street)
        streets += ok_street
        if ok_street and _same_house(a.house, house):
            found += 1
        elif args.show_misses:
            print(f"miss {row_id}: want {street} {house}, got {a}")
    took = time.perf_counter() - t0
    n = len(labels)
    print(f"labelled texts: {n}")
    print(f"street found: {streets}/{n} = {streets / n:.1%}")
    print(f"street + house found: {found}/{n} = {found / n:.1%}")
    print(f"time per text: {took / n * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
