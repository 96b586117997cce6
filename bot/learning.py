"""The learned half of detection: a text classifier trained on the coordinators' labels.

Every category a coordinator picks, confirms or corrects, and every *Не обращение*, is kept
in ``detection_labels`` (``otklik learn`` imports a district's history there too). From them
a scikit-learn model is trained — TF-IDF over the lemmas :mod:`workflows.detection` computes
(words and pairs of words, and the keywords' hits) and a linear classifier (SGD with the
modified Huber loss, which gives probabilities) — and handed to
:class:`workflows.triage.Triage`, which prefers its category when it is confident. The
scheduler retrains it when new labels have come (``[detection] retrain_every``).

scikit-learn is imported only when a model is trained, so a deployment without labels does
not pay its memory at start-up. The model lives in memory only; it is rebuilt from the
labels at start (50,000 labels take well under a minute), so nothing but the labels is
stored and no pickled object is ever loaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import dictionaries
from bot.storage import Storage, UnitOfWork
from workflows.detection import Detector, Lemmatize
from workflows.triage import NOT_A_COMPLAINT, Triage

if TYPE_CHECKING:
    from bot.config import Config

__all__ = ["Learner", "Model", "add_label", "build_triage", "train"]

log = logging.getLogger(__name__)

# Fewer labels than this, or a single class, train no model: the keywords decide alone.
MIN_LABELS = 10
# Words and pairs are hashed into this many features (no vocabulary is kept: its memory
# would grow with the labels); the model's weights are a float32 array of this many rows.
FEATURES = 2**17
# Examples vectorized at a time while training: their features are never all in memory.
CHUNK = 2_000
# Up to this many examples the classifier is fitted on all their TF-IDF rows at once; more
# are fitted this many at a time, so that only their counts are all in memory.
FIT_ROWS = 5_000
# Passes over the examples while fitting.
EPOCHS = 30


class Model:
    """A trained classifier: model input (``Triage.features``) → labels with
    probabilities, the best first.

    Only what prediction needs is kept — the idf weights and the linear coefficients per
    hashed feature — and one text is scored in plain Python over its own words
    (scikit-learn's pipeline costs milliseconds per call; this, tens of microseconds). The
    arithmetic is scikit-learn's: ``HashingVectorizer`` over words and pairs of words,
    TF-IDF with sublinear tf and l2 norm, then ``SGDClassifier.predict_proba`` of the
    modified Huber loss.
    """

    def __init__(self, keys: Any, idf: Any, coef: Any, intercept: Any, classes: Sequence[str],
                 examples: int, size: int = FEATURES) -> None:
        import numpy  # here only once a model was trained (scikit-learn brings it)
        from sklearn.utils import murmurhash3_32

        self._np = numpy
        self._hash = murmurhash3_32
        self.size = size
        # Only the hashed features that carry a weight are kept: their indexes (sorted),
        # their idf, and per feature its weight for each class (the coefficients transposed).
        self.keys = numpy.asarray(keys, dtype=numpy.int64)
        self.idf = numpy.asarray(idf, dtype=numpy.float32)
        self.weights = numpy.ascontiguousarray(numpy.asarray(coef).T, dtype=numpy.float32)
        self.intercept = numpy.asarray(intercept, dtype=numpy.float64)
        self.classes = tuple(classes)
        self.examples = examples
        self.features = len(self.keys)

    @property
    def nbytes(self) -> int:
        """The memory of the model's arrays."""
        return self.keys.nbytes + self.idf.nbytes + self.weights.nbytes

    def predict(self, text: str) -> list[tuple[str, float]]:
        np = self._np
        words = text.lower().split()
        counts: dict[int, int] = {}
        size = self.size
        for gram in (*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))):
            # HashingVectorizer's index: the signed 32-bit murmurhash's absolute value.
            index = abs(self._hash(gram, seed=0)) % size
            counts[index] = counts.get(index, 0) + 1
        decision = self.intercept.copy()
        if counts:
            indexes = np.fromiter(counts, dtype=np.int64, count=len(counts))
            rows = np.searchsorted(self.keys, indexes)  # a feature without weight: dropped
            kept = rows < len(self.keys)
            kept[kept] = self.keys[rows[kept]] == indexes[kept]
            rows = rows[kept]
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))[kept]
            values = (1.0 + np.log(tf)) * self.idf[rows]
            values /= np.sqrt(values @ values) or 1.0
            decision += values @ self.weights[rows]
        clipped = (np.clip(decision, -1.0, 1.0) + 1.0) / 2.0
        if len(self.classes) == 2:  # one binary decision, for the second class
            probabilities = [1.0 - float(clipped[0]), float(clipped[0])]
        else:
            total = float(clipped.sum())
            probabilities = ((clipped / total).tolist() if total
                             else [1.0 / len(self.classes)] * len(self.classes))
        ranked = sorted(zip(self.classes, probabilities, strict=True), key=lambda x: -x[1])
        return ranked[:5]


def vectorize(texts: Iterable[str], expected: int = 0) -> Any:
    """The term counts of the texts (CSR, uint8 — a count above 255 is kept as 255 —,
    ``FEATURES`` columns), built ``CHUNK`` texts at a time.

    Each chunk is copied into the result as soon as it is hashed and then dropped. The
    result's arrays are allocated once for about ``expected`` texts (estimated from the
    first chunk; grown if short) and only the part written becomes resident, so the peak is
    the matrix itself, not the matrix twice as with a list of chunks and ``sparse.vstack``.
    Counts take a byte each (floats would take four): 5 bytes per word of an example.
    """
    import numpy
    from scipy import sparse
    from sklearn.feature_extraction.text import HashingVectorizer

    hasher = HashingVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), n_features=FEATURES,
                               alternate_sign=False, norm=None, dtype=numpy.float32)
    data = numpy.empty(0, dtype=numpy.uint8)
    indices = numpy.empty(0, dtype=numpy.int32)
    indptr = [numpy.zeros(1, dtype=numpy.int64)]
    at = 0

    def add(chunk: list[str]) -> None:
        nonlocal data, indices, at
        counts = hasher.transform(chunk)
        if at + counts.nnz > len(data):
            rows = sum(len(p) for p in indptr)
            per_text = (at + counts.nnz) / (rows - 1 + counts.shape[0])
            size = max(int(per_text * max(expected, 1) * 1.1), 2 * (at + counts.nnz))
            grown_data = numpy.empty(size, dtype=numpy.uint8)
            grown_indices = numpy.empty(size, dtype=numpy.int32)
            grown_data[:at], grown_indices[:at] = data[:at], indices[:at]
            data, indices = grown_data, grown_indices
        data[at:at + counts.nnz] = numpy.minimum(counts.data, 255)
        indices[at:at + counts.nnz] = counts.indices
        indptr.append(counts.indptr[1:].astype(numpy.int64) + at)
        at += counts.nnz

    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == CHUNK:
            add(chunk)
            chunk = []
    if chunk:
        add(chunk)
    offsets = numpy.concatenate(indptr)
    return sparse.csr_matrix((data[:at], indices[:at], offsets),
                             shape=(len(offsets) - 1, FEATURES))


def train(texts: Iterable[str], labels: Sequence[str]) -> Model | None:
    """A model of ``labels`` (category keys, or ``NOT_A_COMPLAINT``) from the texts as
    ``Triage.features`` gives them, one per label; None with fewer than ``MIN_LABELS``
    examples or a single class.

    ``texts`` is read once, in order: a generator computing the features one by one keeps
    them out of memory (they are hashed ``CHUNK`` at a time). Words and pairs seen in a
    single example, or in more than 90 % of them, get no weight (``min_df=2``,
    ``max_df=0.9``).

    Only the term counts are kept for all examples (a byte per count); their TF-IDF rows,
    the floats the classifier reads, exist ``FIT_ROWS`` examples at a time: up to that many
    examples the classifier is fitted at once (``SGDClassifier.fit``), more a part at a
    time (``partial_fit`` over the examples in a new random order each of the ``EPOCHS``
    passes, which is what ``fit`` does over the whole matrix)."""
    if len(labels) < MIN_LABELS or len(set(labels)) < 2:
        return None
    import numpy
    from scipy import sparse
    from sklearn.linear_model import SGDClassifier

    counts = vectorize(texts, len(labels))
    n = counts.shape[0]
    if n != len(labels):
        raise ValueError(f"{n} texts for {len(labels)} labels")
    # TfidfTransformer(sublinear_tf=True)'s arithmetic (see _tfidf): smooth idf.
    # (bincount casts its input to int64: a slice at a time, not the indices whole)
    df = numpy.zeros(FEATURES, dtype=numpy.int64)
    for at in range(0, counts.nnz, 2**18):
        df += numpy.bincount(counts.indices[at:at + 2**18], minlength=FEATURES)
    idf = (numpy.log((1.0 + n) / (1.0 + df)) + 1.0).astype(numpy.float32)
    idf[(df < 2) | (df > 0.9 * n)] = 0.0
    del df
    # Only the columns of features with a weight are fitted (the classifier's coefficients
    # are dense: a row of ``FEATURES`` per class otherwise), renumbered in place; the
    # counts of the others are dropped.
    keys = numpy.flatnonzero(idf) if idf.any() else numpy.zeros(1, dtype=numpy.int64)
    column = numpy.full(FEATURES, -1, dtype=numpy.int32)
    column[keys] = numpy.arange(len(keys), dtype=numpy.int32)
    for at in range(0, counts.nnz, 2**18):
        part = counts.indices[at:at + 2**18]
        part[:] = column[part]
        counts.data[at:at + 2**18][part < 0] = 0
    del column
    counts.eliminate_zeros()
    counts = sparse.csr_matrix((counts.data, counts.indices, counts.indptr),
                               shape=(n, len(keys)), copy=False)
    weights = idf[keys]
    y = numpy.asarray(labels)
    classifier = SGDClassifier(loss="modified_huber", alpha=1e-4, max_iter=EPOCHS, tol=None,
                               random_state=0)
    if n <= FIT_ROWS:
        classifier.fit(_tfidf(counts, weights), y)
    else:
        classes = numpy.unique(y)
        order = numpy.random.RandomState(0)
        for _ in range(EPOCHS):
            shuffled = order.permutation(n)
            for at in range(0, n, FIT_ROWS):
                rows = shuffled[at:at + FIT_ROWS]
                classifier.partial_fit(_tfidf(counts[rows], weights), y[rows], classes=classes)
    del counts
    return Model(keys, weights, classifier.coef_, classifier.intercept_,
                 [str(c) for c in classifier.classes_], len(labels))


def _tfidf(counts: Any, idf: Any) -> Any:
    """TF-IDF rows (float32 CSR) of term counts: 1 + log(tf) times the idf, each row scaled
    to unit length — ``TfidfTransformer(sublinear_tf=True)``'s arithmetic."""
    import numpy
    from scipy import sparse
    from sklearn.preprocessing import normalize

    data = numpy.log(counts.data, dtype=numpy.float32)
    data += 1.0
    data *= idf[counts.indices]
    matrix = sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
    return normalize(matrix, copy=False)


# --- labels in the database -------------------------------------------------------------------

async def add_label(uow: UnitOfWork, text: str, category: str, *, origin: str = "coordinator",
                    person_id: int | None = None, at: datetime) -> None:
    """Keep one labelled example (``category``: a key, or ``NOT_A_COMPLAINT``)."""
    if not text.strip():
        return
    await uow.labels.add(text, category, origin, person_id, at)


# --- wiring -----------------------------------------------------------------------------------

def build_detector(config: Config, lemmatize: Lemmatize | None = None) -> Detector:
    """The keyword detector of a config: its categories' keywords, or the dictionary's."""
    if lemmatize is None:
        from bot.morphology import make_lemmatizer

        lemmatize = make_lemmatizer()
    detection = config.settings.detection
    return Detector.from_config(dictionaries.rules(config), lemmatize,
                                min_length=detection.min_length,
                                stop_words=detection.stop_words)


def build_triage(config: Config, lemmatize: Lemmatize | None = None) -> Triage:
    detector = build_detector(config, lemmatize)
    return Triage(detector, list(config.categories),
                  threshold=config.settings.detection.threshold)


class Learner:
    """Keeps the triage's model up to date with the labels in the database.

    Nothing but the model stays in memory between trainings: each retraining reads the
    labels and computes their features again (the lemma cache makes that quick), which keeps
    the resident memory to the model itself.
    """

    def __init__(self, store: Storage, triage: Triage) -> None:
        self.store = store
        self.triage = triage
        self.model: Model | None = None
        self.last_seconds = 0.0
        self._last_id = 0
        self._lock = asyncio.Lock()

    async def retrain(self, *, force: bool = False) -> bool:
        """Train again when labels were added since the last training; True if it did."""
        async with self._lock:
            async with self.store.read() as uow:
                newest = await uow.labels.last_id()
                if newest == self._last_id and not force:
                    return False
                rows = await uow.labels.after(0)
            known = set(self.triage.categories) | {NOT_A_COMPLAINT}
            examples = [(text, label) for _, text, label in rows if label in known]
            featurize = self.triage.features
            started = time.perf_counter()

            def fit() -> Model | None:
                # The features one by one: they are never all in memory at once.
                return train((featurize(text) for text, _ in examples),
                             [label for _, label in examples])

            model = await asyncio.to_thread(fit)
            self._last_id = newest
            self.last_seconds = time.perf_counter() - started
            self.model = model
            self.triage.predict = model.predict if model is not None else None
            log.info("detection model: %s examples, %s classes, trained in %.1f s",
                     len(examples), len(model.classes) if model else 0, self.last_seconds)
            return True
