"""Ratings (рейтингование) of departments and executors by volume, timeliness and completeness.

The regulation (seed 001, IV.11.2) asks to rate the responsible executors "by the number, the
terms of consideration and the completeness of the response on the merits". From the figures of
one period (``workflows.metrics.compute``):

    score        = 0.4 · timeliness + 0.4 · completeness + 0.2 · volume
    timeliness   = answers on time / answers due in the period          (1 when none was due)
    completeness = 1 − returns for rework / drafts submitted            (1 when none was
                                                                          submitted; never < 0)
    volume       = answers published / the most answers published by one of the peers
                                                                        (0 when nobody answered)

- *Answers due* and *on time* are those of ``metrics`` (deadline in the period, owed then; the
  first answer of the current round at or before the deadline), attributed to the incident's
  department and to its executor (the one it is assigned to now: the audit log names
  assigned executors by name only).
- *Drafts submitted*, *returns* and *answers published* are counted in the period; a return
  and a published answer belong to the author of the last draft submitted before them, the
  department is the incident's.
- Peers are rated among their own kind (departments with departments, executors with
  executors). A peer takes part when it had an involved incident or a piece of work in the
  period. Higher score first; equal scores (computed exactly, with fractions) go by name.

A returned draft is the coordinator saying the answer was not complete on the merits (no photo
of the work done, no substance), which is why returns measure completeness; checking which
categories need photos is left to the coordinator who returns the draft.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from workflows.metrics import Metrics

__all__ = ["FORMULA", "WEIGHTS", "RatingRow", "Ratings", "rate"]

# Weights of timeliness, completeness and volume.
WEIGHTS = (Fraction(2, 5), Fraction(2, 5), Fraction(1, 5))

# The same formula in the words of the report (shown in the note and in the workbook).
FORMULA = (
    "Балл = 0,4 × своевременность + 0,4 × полнота + 0,2 × объём. "
    "Своевременность — доля ответов, опубликованных в срок, среди ответов, срок которых "
    "наступил в периоде (нет сроков — 1). "
    "Полнота — 1 − возвраты на доработку / проекты ответов, отправленные на согласование "
    "(нет проектов — 1). "
    "Объём — опубликованные ответы / наибольшее число опубликованных ответов среди "
    "сравниваемых (подразделений или исполнителей). "
    "При равных баллах — по алфавиту."
)


@dataclass(frozen=True, slots=True)
class RatingRow:
    rank: int
    key: str  # department key, or executor id as text
    name: str
    due: int
    on_time: int
    submissions: int
    returns: int
    answered: int
    timeliness: float
    completeness: float
    volume: float
    score: float


@dataclass(frozen=True, slots=True)
class Ratings:
    departments: tuple[RatingRow, ...]
    executors: tuple[RatingRow, ...]


@dataclass(slots=True)
class _Tally:
    due: int = 0
    on_time: int = 0
    submissions: int = 0
    returns: int = 0
    answered: int = 0


def rate(metrics: Metrics, *, departments: Mapping[str, str],
         people: Mapping[int, str]) -> Ratings:
    """Rate the departments (named by ``departments``) and executors (``people``: id → name)
    that took part in the period of ``metrics``; see the module docstring for the formula."""
    return Ratings(
        departments=_rank(_tally(metrics, lambda r: r.department,
                                 lambda e: e.department),
                          lambda k: departments.get(str(k), str(k))),
        executors=_rank(_tally(metrics, lambda r: r.executor_id,
                               lambda e: e.executor_id),
                        lambda k: people.get(int(str(k)), f"#{k}")),
    )


def _tally(metrics: Metrics, of_row: Callable[..., Hashable | None],
           of_event: Callable[..., Hashable | None]) -> dict[Hashable, _Tally]:
    tallies: dict[Hashable, _Tally] = defaultdict(_Tally)
    for row in metrics.rows:
        key = of_row(row)
        if key is None:
            continue
        t = tallies[key]
        if row.due_in_period:
            t.due += 1
            t.on_time += bool(row.on_time)
    for event in metrics.events:
        key = of_event(event)
        if key is None:
            continue
        t = tallies[key]
        if event.kind == "submit":
            t.submissions += 1
        elif event.kind == "return":
            t.returns += 1
        elif event.kind == "answer":
            t.answered += 1
    return tallies


def _rank(tallies: Mapping[Hashable, _Tally],
          name_of: Callable[[Hashable], str]) -> tuple[RatingRow, ...]:
    most = max((t.answered for t in tallies.values()), default=0)
    scored = []
    for key, t in tallies.items():
        timeliness = Fraction(t.on_time, t.due) if t.due else Fraction(1)
        completeness = (max(Fraction(0), 1 - Fraction(t.returns, t.submissions))
                        if t.submissions else Fraction(1))
        volume = Fraction(t.answered, most) if most else Fraction(0)
        w_t, w_c, w_v = WEIGHTS
        score = w_t * timeliness + w_c * completeness + w_v * volume
        scored.append((score, name_of(key), key, t, timeliness, completeness, volume))
    scored.sort(key=lambda s: (-s[0], s[1].casefold(), str(s[2])))
    return tuple(
        RatingRow(rank=i, key=str(key), name=name, due=t.due, on_time=t.on_time,
                  submissions=t.submissions, returns=t.returns, answered=t.answered,
                  timeliness=float(tl), completeness=float(cp), volume=float(vl),
                  score=float(score))
        for i, (score, name, key, t, tl, cp, vl) in enumerate(scored, start=1)
    )
