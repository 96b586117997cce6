"""One problem, many complaints: complaints about the same thing at the same place within a
window are grouped into one *problem* (issue 14.4).

A problem is an incident, its lead: it carries the executor, the deadline and the answer.
Its complaints are the other incidents merged into it, state ``merged``: they leave the
queues and the timers, and the lead's answers are published under each of them. A complaint
keeps the state and the executor it had, to go back to them when it is unmerged.

This module is pure: which open incident a new complaint looks like (:func:`match`), and the
two transitions (:func:`merge`, :func:`unmerge`) through the regulation's guards. Nothing is
merged without the coordinator's press.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from workflows import transitions as core
from workflows.model import AuditEntry, Incident, Notification, Person, State
from workflows.regulation import Action

# The defaults of ``[problems]``: how far back a complaint looks, how close a text must be.
WINDOW = timedelta(days=7)
THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """What matching needs of an open incident: the storage reads no more of each candidate
    (there is one for every open incident of the category in the window)."""

    id: int
    state: State
    category: str | None
    department: str | None
    registered_at: datetime
    address: str | None
    municipality: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open incident a new complaint may join: a problem's lead, or a lone incident."""

    incident: Incident | OpenIncident
    # Its index terms (lemmas), for the text similarity.
    terms: tuple[str, ...]
    # The complaints already merged into it.
    complaints: int = 0


@dataclass(frozen=True, slots=True)
class Match:
    lead: Incident | OpenIncident
    complaints: int
    # "address" (the same normalised address) or "text" (close text).
    by: str
    score: float


def _weighted(terms: Counter[str], idf: dict[str, float]) -> tuple[dict[str, float], float]:
    """A text's TF-IDF vector and its length."""
    vector = {t: v * idf[t] for t, v in terms.items()}
    return vector, math.sqrt(sum(w * w for w in vector.values()))


def _cosine(a: tuple[dict[str, float], float], b: tuple[dict[str, float], float]) -> float:
    (va, na), (vb, nb) = a, b
    dot = sum(va[t] * vb[t] for t in va.keys() & vb.keys())
    return dot / (na * nb) if dot and na and nb else 0.0


def match(new: Incident, terms: Sequence[str], candidates: Iterable[Candidate], *,
          window: timedelta = WINDOW, threshold: float = THRESHOLD) -> Match | None:
    """The open incident ``new`` most likely repeats, or None.

    Only the same category, department and municipality, registered within ``window``
    before it, still open and not ``new`` itself. The same normalised address wins over close
    text, and close text never joins two different known addresses; among
    equals, the one with more complaints, then the oldest (the first of a run of lone ones).
    Text similarity is the cosine of lemma TF-IDF vectors, the IDF taken over the candidates
    and ``new``."""
    pool = [c for c in candidates
            if c.incident.id != new.id and c.incident.state.is_open
            and c.incident.state is not State.MERGED
            and c.incident.category == new.category
            and c.incident.department == new.department
            and c.incident.municipality == new.municipality  # a problem is of one place
            and new.registered_at - window <= c.incident.registered_at <= new.registered_at]
    if not pool:
        return None
    if new.address:
        same = [c for c in pool if c.incident.address == new.address]
        if same:
            best = max(same, key=lambda c: (c.complaints, -c.incident.id))
            return Match(best.incident, best.complaints, "address", 1.0)
    # Close text alone never joins two different known places (a pothole on another street).
    pool = [c for c in pool if not (new.address and c.incident.address
                                    and c.incident.address != new.address)]
    query = Counter(terms)
    if not query or not pool:
        return None
    docs = [Counter(c.terms) for c in pool]
    n = len(docs) + 1
    df: Counter[str] = Counter()
    for d in (query, *docs):
        df.update(d.keys())
    idf = {t: math.log((1 + n) / (1 + k)) + 1 for t, k in df.items()}
    asked = _weighted(query, idf)  # once, not once per candidate
    scored = [(_cosine(asked, _weighted(d, idf)), c) for d, c in zip(docs, pool, strict=True)]
    score, best = max(scored, key=lambda sc: (sc[0], sc[1].complaints, -sc[1].incident.id))
    if score < threshold:
        return None
    return Match(best.incident, best.complaints, "text", score)


def merge(complaint: Incident, lead: Incident, actor: Person, now: datetime) -> core.Outcome:
    """The coordinator merges ``complaint`` into the problem ``lead``: the complaint leaves
    the executor's queue and follows the lead. Refused across departments, into a lead that
    is itself a complaint or closed, or into itself."""
    core.guard(complaint, actor, Action.MERGE, now)
    code = ""
    if lead.id == complaint.id:
        code = "same_incident"
    elif lead.state is State.MERGED or not lead.state.is_open:
        code = "wrong_state"
    elif lead.department != complaint.department or lead.category != complaint.category:
        code = "not_same_problem"
    if code:
        raise core.Refused(code, AuditEntry(complaint.id, actor.id, Action.MERGE,
                                            complaint.state, None, now, code, ok=False))
    new = replace(complaint, state=State.MERGED, executor_id=None)
    notes: list[Notification] = []
    if complaint.executor_id is not None and complaint.executor_id != lead.executor_id:
        notes.append(Notification(complaint.executor_id, "merged_away", {"lead": lead.id}))
    return core.transit(complaint, actor, Action.MERGE, now, new, notes,
                        reason=f"problem {lead.id}")


def unmerge(complaint: Incident, actor: Person, now: datetime, *, state: State,
            executor_id: int | None) -> core.Outcome:
    """The complaint is its own incident again, in the ``state`` with the ``executor_id`` it
    had when merged (new, for the coordinator to route, when that executor is gone)."""
    core.guard(complaint, actor, Action.UNMERGE, now)
    if state is State.MERGED or not state.is_open or (state is not State.NEW
                                                      and executor_id is None):
        state, executor_id = State.NEW, None
    new = replace(complaint, state=state, executor_id=executor_id)
    notes = [Notification(core.COORDINATORS, "unmerged", {})]
    if executor_id is not None:
        notes.append(Notification(executor_id, "unmerged", {}))
    return core.transit(complaint, actor, Action.UNMERGE, now, new, notes)
