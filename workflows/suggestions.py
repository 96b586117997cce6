"""Suggestions from what was approved before: for a new complaint, the past
complaints most like it whose answers were published, offered as *Как в №123* buttons.

Similarity is the cosine of lemma TF-IDF vectors (sublinear tf, smoothed idf, l2 norm — the
arithmetic of scikit-learn's ``TfidfTransformer``). The words are the most probable lemmas
the detection already computes (``Detector.lemmas``); :func:`terms` turns them into the
index's terms.

:class:`SuggestionIndex` keeps everything in memory, in flat arrays: a past complaint is
*added* at once (``add``: its term counts appended), and the inverted index the queries read
is *compacted* from those arrays now and then (``compact``, on the scheduler, a second or so
for 100,000 complaints): between two compactions the few complaints added since are scored
one by one with the idf of the last compaction. A query reads the postings of its own terms
only, so it costs milliseconds with 100,000 past complaints.

Who may see what is decided by :func:`workflows.visibility.answer_scope`: the index is
asked with that scope and never returns a complaint outside it.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workflows.visibility import Scope

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MAX_SUGGESTIONS", "MIN_SIMILARITY", "Past", "SuggestionIndex", "preview", "terms"]

MAX_SUGGESTIONS = 3
# Below this cosine a past complaint is not offered: it shares only a word or two.
MIN_SIMILARITY = 0.1
PREVIEW = 70


@dataclass(frozen=True, slots=True)
class Past:
    """A past complaint whose answer was published: what visibility and ranking need."""

    incident_id: int
    category: str | None
    department: str | None
    executor_id: int | None


# Words of three letters or more that say nothing of the problem (with few past answers
# their idf is not low enough).
_STOP = """
    без был быть вам вас весь вот все для его если есть еще или как какой когда кто либо над
    надо нет около она они оно очень под при про свой себя так такой там тот тоже уже хотя
    что чтобы это этот который мой наш ваш где здравствовать добрый день просить пожалуйста
    спасибо
"""
STOP_WORDS = frozenset(_STOP.split())


def terms(lemmas: Sequence[Sequence[str]]) -> list[str]:
    """The index terms of a text from its words' candidate lemmas: the most probable lemma
    of each word of three letters or more that is not a stop word."""
    return [c[0] for c in lemmas if c and len(c[0]) > 2 and c[0] not in STOP_WORDS]


def preview(text: str, width: int = PREVIEW) -> str:
    """One line of at most ``width`` characters: the answer's start, spaces collapsed."""
    line = re.sub(r"\s+", " ", text).strip()
    if len(line) <= width:
        return line
    return line[:width - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class _Frozen:
    """The compacted index of the first ``docs`` complaints."""

    docs: int
    idf: np.ndarray  # per term known at compaction
    indptr: np.ndarray  # term → its postings' slice
    postings: np.ndarray  # document numbers, by term
    weights: np.ndarray  # their normalised tf-idf weights


# Nothing compacted yet. numpy (15 MiB) is imported at the first compaction or query, not
# when the bot starts.
_EMPTY = _Frozen(0, (), (0,), (), ())  # type: ignore[arg-type]


class SuggestionIndex:
    """Past complaints and their terms; see the module's docstring."""

    def __init__(self) -> None:
        self._vocabulary: dict[str, int] = {}
        self._terms = array("i")  # every document's distinct term numbers, one after another
        self._counts = array("f")  # and their counts
        self._starts = array("q", [0])  # document d's entries: _starts[d] .. _starts[d + 1]
        # Per document, in arrays (no object per document for the garbage collector to walk):
        self._incident = array("q")  # its incident (the document list: counted last)
        self._alive = bytearray()  # 0 once the incident was added again (a newer answer)
        self._doc_of: dict[int, int] = {}  # incident id → its newest document
        self._categories: dict[str | None, int] = {}
        self._category_names: list[str | None] = []
        self._departments: dict[str | None, int] = {}
        self._department_names: list[str | None] = []
        self._category = array("i")
        self._department = array("i")
        self._executor = array("q")
        self._frozen = _EMPTY

    def __len__(self) -> int:
        return len(self._doc_of)

    @property
    def pending(self) -> int:
        """Documents added since the last compaction."""
        return len(self._incident) - self._frozen.docs

    def get(self, incident_id: int) -> Past | None:
        d = self._doc_of.get(incident_id)
        if d is None:
            return None
        return Past(incident_id, self._category_names[self._category[d]],
                    self._department_names[self._department[d]], self._executor[d] or None)

    def add(self, past: Past, words: Iterable[str]) -> None:
        """A complaint with a published answer (again: the older one is forgotten)."""
        counts = Counter(words)
        # Every array first, the document list (``_incident``) last: a compaction running
        # in a thread counts the documents by that list, and each one it counts is complete.
        for word, count in counts.items():
            self._terms.append(self._vocabulary.setdefault(word, len(self._vocabulary)))
            self._counts.append(float(count))
        self._starts.append(len(self._terms))
        for value, codes, names, column in (
                (past.category, self._categories, self._category_names, self._category),
                (past.department, self._departments, self._department_names,
                 self._department)):
            if value not in codes:
                codes[value] = len(names)
                names.append(value)
            column.append(codes[value])
        self._executor.append(past.executor_id or 0)
        self._alive.append(1)
        self._incident.append(past.incident_id)
        old = self._doc_of.get(past.incident_id)
        if old is not None:
            self._alive[old] = 0
        self._doc_of[past.incident_id] = len(self._incident) - 1

    def compact(self) -> None:
        """Rebuild the inverted index over every document added so far (safe to run in a
        thread while queries go on: the new index replaces the old one in one assignment)."""
        import numpy as np

        docs = len(self._incident)
        nnz = self._starts[docs]
        # Copies (slices) only: ``add`` may append to the arrays meanwhile.
        term = np.frombuffer(self._terms[:nnz], np.int32)
        count = np.frombuffer(self._counts[:nnz], np.float32)
        starts = np.frombuffer(self._starts[:docs + 1], np.int64)
        doc = np.repeat(np.arange(docs, dtype=np.int32), np.diff(starts))
        alive = np.frombuffer(bytes(self._alive[:docs]), np.uint8).astype(bool)
        live = alive[doc]
        vocabulary = int(term.max()) + 1 if nnz else 0
        df = np.bincount(term[live], minlength=vocabulary)
        n = int(alive.sum())
        idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        weight = (1.0 + np.log(count)) * idf[term]
        weight[~live] = 0.0
        norm = np.sqrt(np.bincount(doc, weight * weight, minlength=docs)).astype(np.float32)
        norm[norm == 0] = 1.0
        weight /= norm[doc]
        order = np.argsort(term, kind="stable")
        indptr = np.zeros(vocabulary + 1, np.int64)
        np.cumsum(np.bincount(term, minlength=vocabulary), out=indptr[1:])
        self._frozen = _Frozen(docs, idf, indptr, doc[order], weight[order].astype(np.float32))

    def query(self, words: Iterable[str], *, category: str | None, scope: Scope | None,
              exclude: int | None = None, limit: int = MAX_SUGGESTIONS,
              threshold: float = MIN_SIMILARITY) -> list[tuple[int, float]]:
        """The incident ids of the past complaints most like ``words`` with their cosine,
        best first: of ``category`` only (when given), inside ``scope`` only (None: all),
        ``exclude`` (the incident itself) left out."""
        frozen = self._frozen
        counts = Counter(words)
        if not counts or not self._incident:
            return []
        import numpy as np

        top_idf = float(math.log(1.0 + frozen.docs) + 1.0)
        q: dict[int, float] = {}
        for word, c in counts.items():
            t = self._vocabulary.get(word, -1)
            idf = float(frozen.idf[t]) if 0 <= t < len(frozen.idf) else top_idf
            q[t] = (1.0 + math.log(c)) * idf
        qnorm = math.sqrt(sum(w * w for w in q.values()))
        q = {t: w / qnorm for t, w in q.items() if t >= 0}
        # The compacted documents: the postings of the query's terms only.
        scores = np.zeros(frozen.docs, np.float32)
        for t, w in q.items():
            if t < len(frozen.idf):
                lo, hi = frozen.indptr[t], frozen.indptr[t + 1]
                scores[frozen.postings[lo:hi]] += w * frozen.weights[lo:hi]
        found = np.flatnonzero(scores >= threshold)
        found = found[self._allowed(found, category, scope)]
        # Those added since: one by one, with the idf of the compaction.
        recent_docs: list[int] = []
        recent_scores: list[float] = []
        recent = np.arange(frozen.docs, len(self._incident))
        for d in recent[self._allowed(recent, category, scope)].tolist():
            if self._alive[d]:
                score = self._score_one(d, q, frozen, top_idf)
                if score >= threshold:
                    recent_docs.append(d)
                    recent_scores.append(score)
        # Best first, the newer document first on a tie; ordered in numpy (many similar
        # complaints can be above the threshold) and read only as far as needed.
        docs = np.concatenate([found.astype(np.int64), np.array(recent_docs, np.int64)])
        values = np.concatenate([scores[found].astype(np.float64),
                                 np.array(recent_scores, np.float64)])
        out: list[tuple[int, float]] = []
        for k in np.lexsort((-docs, -values)).tolist():
            d = int(docs[k])
            incident_id = self._incident[d]
            if incident_id != exclude and self._alive[d]:
                out.append((incident_id, float(values[k])))
                if len(out) == limit:
                    break
        return out

    def _score_one(self, d: int, q: dict[int, float], frozen: _Frozen, top_idf: float) -> float:
        lo, hi = self._starts[d], self._starts[d + 1]
        weights = {}
        for t, c in zip(self._terms[lo:hi], self._counts[lo:hi], strict=True):
            idf = float(frozen.idf[t]) if t < len(frozen.idf) else top_idf
            weights[t] = (1.0 + math.log(c)) * idf
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return sum(w * weights.get(t, 0.0) for t, w in q.items()) / norm

    def _allowed(self, docs: np.ndarray, category: str | None, scope: Scope | None
                 ) -> np.ndarray:
        """Which of ``docs`` are of the category and inside the scope."""
        import numpy as np

        ok = np.ones(len(docs), bool)
        if category is not None:
            code = self._categories.get(category)
            if code is None:
                return np.zeros(len(docs), bool)
            ok &= np.frombuffer(self._category, np.int32)[docs] == code
        if scope is not None:
            codes = [self._departments[x] for x in scope.departments if x in self._departments]
            mine = np.isin(np.frombuffer(self._department, np.int32)[docs], codes)
            mine |= np.frombuffer(self._executor, np.int64)[docs] == scope.person_id
            ok &= mine
        return ok
