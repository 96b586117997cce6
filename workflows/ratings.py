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
  executors, block owners with block owners). A peer takes part when it had an involved
  incident or a piece of work in the period. Higher score first; equal scores (computed
  exactly, with fractions) go by name.
- Only work done is ranked: a peer with no answer due and none published in the period
  would score 0,8 for nothing (timeliness and completeness count as 1 when there is nothing
  to count) and rank above those who answered. Such peers are listed apart, unranked
  (``Ratings.unranked_*``), and the note says how many and why.
- A block owner (руководитель отраслевого блока, regulation 004 4.2) is rated over the
  departments of their block together: the sums of those departments' figures.
- A region's note rates its municipalities the same way, each over all of its incidents.

A returned draft is the coordinator saying the answer was not complete on the merits (no photo
of the work done, no substance), which is why returns measure completeness; checking which
categories need photos is left to the coordinator who returns the draft.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from workflows.metrics import Metrics

__all__ = ["FORMULA", "UNRANKED_REASON", "WEIGHTS", "RatingRow", "Ratings", "rate"]

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
    "При равных баллах — по алфавиту. "
    "Не ранжируются те, у кого в периоде не было ни ответов со сроком, ни опубликованных "
    "ответов. Руководители отраслевых блоков оцениваются по сумме показателей "
    "подразделений своего блока."
)
# Why a peer is listed apart (shown in the note and in the workbook).
UNRANKED_REASON = "в периоде не было ни ответов со сроком, ни опубликованных ответов"


@dataclass(frozen=True, slots=True)
class RatingRow:
    rank: int  # 0: not ranked (no work in the period)
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
    block_owners: tuple[RatingRow, ...] = ()
    # Took part in the period without work to rate: listed apart, by name, rank 0.
    unranked_departments: tuple[RatingRow, ...] = ()
    unranked_executors: tuple[RatingRow, ...] = ()
    unranked_block_owners: tuple[RatingRow, ...] = ()
    # A region's note: its municipalities, rated as departments are.
    municipalities: tuple[RatingRow, ...] = ()
    unranked_municipalities: tuple[RatingRow, ...] = ()

    @property
    def unranked(self) -> int:
        return (len(self.unranked_departments) + len(self.unranked_executors)
                + len(self.unranked_block_owners) + len(self.unranked_municipalities))


@dataclass(slots=True)
class _Tally:
    due: int = 0
    on_time: int = 0
    submissions: int = 0
    returns: int = 0
    answered: int = 0

    FIELDS: ClassVar[tuple[str, ...]] = ("due", "on_time", "submissions", "returns",
                                         "answered")

    @property
    def has_work(self) -> bool:
        """Something to rate: an answer due in the period, or one published in it."""
        return bool(self.due or self.answered)


def rate(metrics: Metrics, *, departments: Mapping[str, str],
         people: Mapping[int, str],
         block_owners: Mapping[int, Iterable[str]] | None = None,
         municipality_of: Mapping[int, str] | None = None,
         municipalities: Mapping[str, str] | None = None) -> Ratings:
    """Rate the departments (named by ``departments``), executors (``people``: id → name)
    and block owners (``block_owners``: id → the departments of their block) that took part
    in the period of ``metrics``; see the module docstring for the formula. A region's note
    (``municipality_of``: incident id → municipality key, named by ``municipalities``) rates
    its municipalities too, with the same formula."""
    by_department = _tally(metrics, lambda r: r.department, lambda e: e.department)
    owners: dict[Hashable, _Tally] = {}
    for owner, keys in (block_owners or {}).items():
        mine = [by_department[k] for k in dict.fromkeys(keys) if k in by_department]
        if mine:
            owners[owner] = _Tally(*(sum(getattr(t, f) for t in mine) for f in _Tally.FIELDS))
    deps, deps_apart = _rank(by_department, lambda k: departments.get(str(k), str(k)))
    execs, execs_apart = _rank(_tally(metrics, lambda r: r.executor_id,
                                      lambda e: e.executor_id),
                               lambda k: people.get(int(str(k)), f"#{k}"))
    heads, heads_apart = _rank(owners, lambda k: people.get(int(str(k)), f"#{k}"))
    munis: tuple[RatingRow, ...] = ()
    munis_apart: tuple[RatingRow, ...] = ()
    if municipality_of is not None:
        names = municipalities or {}
        munis, munis_apart = _rank(
            _tally(metrics, lambda r: municipality_of.get(r.incident_id),
                   lambda e: municipality_of.get(e.incident_id)),
            lambda k: names.get(str(k), str(k)))
    return Ratings(departments=deps, executors=execs, block_owners=heads,
                   unranked_departments=deps_apart, unranked_executors=execs_apart,
                   unranked_block_owners=heads_apart, municipalities=munis,
                   unranked_municipalities=munis_apart)


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


def _rank(tallies: Mapping[Hashable, _Tally], name_of: Callable[[Hashable], str]
          ) -> tuple[tuple[RatingRow, ...], tuple[RatingRow, ...]]:
    """The ranked rows, and the rows of those without work to rate (rank 0, by name)."""
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
    ranked = sorted((s for s in scored if s[3].has_work),
                    key=lambda s: (-s[0], s[1].casefold(), str(s[2])))
    apart = sorted((s for s in scored if not s[3].has_work),
                   key=lambda s: (s[1].casefold(), str(s[2])))

    def row(rank: int, s: tuple[Any, ...]) -> RatingRow:
        score, name, key, t, tl, cp, vl = s
        return RatingRow(rank=rank, key=str(key), name=name, due=t.due, on_time=t.on_time,
                         submissions=t.submissions, returns=t.returns, answered=t.answered,
                         timeliness=float(tl), completeness=float(cp), volume=float(vl),
                         score=float(score))

    return (tuple(row(i, s) for i, s in enumerate(ranked, start=1)),
            tuple(row(0, s) for s in apart))
