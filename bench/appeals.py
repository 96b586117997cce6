"""The Kursk appeals (train rows only) as a labelled CSV for ``otklik detection-eval``.

Reads ``../shared/external/appeals/kursk_pos_2022/kursk_appeals_clean.csv`` when it is there
(third-party data: never copied into the repository), keeps the rows with ``split=train``,
and writes ``text,category`` to a temporary file with the data set's categories mapped to
the example config's keys by the table below. Where the data set's category is broader than
ours, the cell lists every key it spans (``housing|energy|improvement``: the Kursk «ЖКХ»
holds heating and water, power cuts, rubbish collection, street lighting, trees and yards: our
# ЖКХ block (housing, energy, waste) and благоустройство; «Экология» holds the
illegal dumps of ТКО); any of them counts as right. «Госуслуги» (3 rows) and the test
category (1 row) have no block of the regulations and are left out.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/external/appeals/kursk_pos_2022/kursk_appeals_clean.csv"

MAPPING = {
    "Автомобильные дороги": "roads",
    "Безнадзорные животные": "animals",
    "ЖКХ": "housing|energy|waste|improvement",
    "Здравоохранение": "health",
    "Культура": "culture",
    "Меры поддержки (COVID-19)": "social",
    "Образование": "education",
    "Общественный транспорт": "transport",
    "Связь": "communications",
    "Социальное обслуживание и защита": "social",
    "Строительство": "construction",
    "Торговля": "trade",
    "Труд и занятость": "social",
    "Физическая культура и спорт": "sport",
    "Экология": "ecology|waste",
}


def train_rows() -> list[tuple[str, str]]:
    """(text, mapped category) of the train rows, in file order; exits when absent."""
    if not DATA.exists():
        print(f"{DATA} is not there: the Kursk benchmark needs the shared data set",
              file=sys.stderr)
        raise SystemExit(2)
    with DATA.open(encoding="utf-8") as f:
        return [(r["text"], MAPPING[r["category_name_inferred"]]) for r in csv.DictReader(f)
                if r["split"] == "train" and r["category_name_inferred"] in MAPPING]


def write_csv(rows: list[tuple[str, str]]) -> Path:
    out = Path(tempfile.mkdtemp(prefix="otklik-kursk-")) / "kursk_train.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "category"])
        writer.writerows(rows)
    return out


if __name__ == "__main__":
    print(write_csv(train_rows()))
