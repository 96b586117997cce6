"""What a resident's text is: a category (keywords and a learned model), or a possible complaint.

``Triage`` puts together the keyword :class:`~workflows.detection.Detector` and, when the
deployment has labelled examples, a text classifier trained on them (``bot.learning`` builds
it; here it is only a function of the text's lemmas):

- the **model's** category wins when it is confident (its probability reaches
  ``threshold``); a confident «not a complaint» (the label :data:`NOT_A_COMPLAINT`) drops the
  text even when a keyword matched, because the coordinator said so about texts like it;
- otherwise the **keywords** decide (most hits, then the config's order);
- a text that matches no category but **reads like a complaint** (see
  :func:`looks_like_complaint`) is a possible complaint: the coordinator decides, with the
  likely categories (``Verdict.suggestions``) as buttons.

Pure: no I/O, no scikit-learn; the lemmatizer is the detector's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workflows.detection import Detector, Match

__all__ = ["NOT_A_COMPLAINT", "Predict", "Triage", "Verdict", "looks_like_complaint"]

# The label of a text the coordinator marked «Не обращение».
NOT_A_COMPLAINT = "-"

# Model input (see Triage.features) → (label, probability), the most probable first.
Predict = Callable[[str], Sequence[tuple[str, float]]]

# Cues of a complaint, as lemmas. A request or a demand to do something:
_REQUEST = frozenset("""
просить требовать помочь помогать пожалуйста обязать разобраться устранить починить
отремонтировать убрать навести исправить проверить принять решить восстановить вывезти
очистить наказать спилить заменить установить прислать срочно необходимо нужно
""".split())  # noqa: SIM905
# Words of a complaint itself:
_COMPLAINT = frozenset("""
жалоба жаловаться невозможно безобразие ужас ужасный проблема нарушение опасно опасный
аварийный сломать сломаться разбить затопить течь отсутствовать отсутствие игнорировать
бездействие возмутительно позор кошмар беспредел невыносимый мешать страдать грязь
развалиться обрушиться авария неисправный провалиться халатность
""".split())  # noqa: SIM905
# Verbs that, after «не», say that something does not work or is not done:
_NOT_DONE = frozenset("""
работать гореть вывозить вывезти убирать убрать чистить почистить ходить приезжать
приехать отвечать ответить реагировать делать сделать ремонтировать идти давать дать
""".split())  # noqa: SIM905
# Whom a resident's question is addressed to:
_AUTHORITY = frozenset("""
администрация глава мэр мэрия власть чиновник управа депутат губернатор ук управляющий
прокуратура ответственный служба комитет департамент
""".split())  # noqa: SIM905
_QUESTION = frozenset("""
когда почему сколько зачем доколе кто
""".split())  # noqa: SIM905
# Thanks and greetings are not complaints:
_THANKS = frozenset("""
спасибо благодарить благодарность поздравлять поздравление
""".split())  # noqa: SIM905
_ADDRESS = re.compile(
    r"\b(?:ул\.|улиц|пр-т|просп|переул|пер\.|мкр|микрорайон|шоссе|бульвар)"
    r"|\b(?:д\.|дом[а-я]*)\s*№?\s*\d", re.IGNORECASE)


def looks_like_complaint(text: str, lemmas: Sequence[Sequence[str]]) -> bool:
    """Whether a text reads like a complaint: two or more cues among a request or demand
    («просим», «примите меры»), words of a complaint («безобразие», «опасно»), something not
    done («не вывозят», «не горит»), an address («ул. Мирная, д. 5») and a question to the
    authorities («когда администрация…?» counts twice). Thanks and greetings count against.

    ``lemmas``: the candidate lemmas of each word, as :meth:`Detector.lemmas` gives them.
    """
    def has(i: int, words: frozenset[str]) -> bool:
        return any(lemma in words for lemma in lemmas[i])

    request = sum(has(i, _REQUEST) for i in range(len(lemmas)))
    complaint = sum(has(i, _COMPLAINT) for i in range(len(lemmas)))
    not_done = sum(1 for i in range(len(lemmas) - 1)
                   if "не" in lemmas[i] and has(i + 1, _NOT_DONE))
    question = any(has(i, _QUESTION) for i in range(len(lemmas))) or "?" in text
    authority = any(has(i, _AUTHORITY) for i in range(len(lemmas)))
    thanks = sum(has(i, _THANKS) for i in range(len(lemmas)))
    score = (min(request, 2) + min(complaint, 2) + min(not_done, 2)
             + bool(_ADDRESS.search(text)) + 2 * (question and authority) - 2 * thanks)
    return score >= 2


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a text is.

    ``category``: the category to register it under, or None. ``by``: what decided it
    (``"model"``, ``"keywords"`` or ``""``). ``suggestions``: the likely categories, the best
    first (the buttons a coordinator sees). ``complaint``: the text is, or reads like, a
    complaint. ``confidence``: the model's probability of its best label (0 without one).
    """

    category: str | None
    by: str = ""
    suggestions: tuple[str, ...] = ()
    complaint: bool = False
    confidence: float = 0.0


class Triage:
    """Keywords plus an optional learned model; see the module's docstring.

    ``categories``: the configured category keys (a label the model learned for a category
    since removed from the config is ignored). ``predict`` may be replaced at any time (a
    retrained model): the attribute is read on every call.
    """

    def __init__(self, detector: Detector, categories: Sequence[str], *,
                 predict: Predict | None = None, threshold: float = 0.4,
                 suggestions: int = 3) -> None:
        self.detector = detector
        self.categories = tuple(categories)
        self.predict = predict
        self.threshold = threshold
        self.max_suggestions = suggestions

    def features(self, text: str) -> str:
        """The text as the model sees it: the most probable lemma of each word, then a token
        per keyword hit (``__kw_roads``, up to three per category) and one for the keywords'
        best category (``__top_roads``), so that the model learns how far to trust them."""
        return features(self.detector.lemmas(text), self.detector.matches(text))

    def classify(self, text: str) -> Verdict:
        return self._classify(text)[0]

    def _classify(self, text: str) -> tuple[Verdict, list[Match]]:
        if len(text.strip()) < self.detector.min_length:
            return Verdict(None), []
        lemmas = self.detector.lemmas(text)
        found = self.detector.matches(text)
        ranked: list[tuple[str, float]] = []
        if self.predict is not None:
            known = set(self.categories) | {NOT_A_COMPLAINT}
            ranked = [(label, p) for label, p in self.predict(features(lemmas, found))
                      if label in known]
        category, by, confidence = None, "", 0.0
        if ranked:
            confidence = ranked[0][1]
        if ranked and ranked[0][1] >= self.threshold:
            label = ranked[0][0]
            if label == NOT_A_COMPLAINT:
                return Verdict(None, "model", self._suggest(None, ranked, found), False,
                               confidence), found
            category, by = label, "model"
        elif found:
            category, by = found[0].category, "keywords"
        complaint = category is not None or looks_like_complaint(text, lemmas)
        return Verdict(category, by, self._suggest(category, ranked, found), complaint,
                       confidence), found

    def _suggest(self, category: str | None, ranked: Sequence[tuple[str, float]],
                 found: Sequence[Match]) -> tuple[str, ...]:
        order = [category] if category else []
        order += [m.category for m in found]
        order += [label for label, p in ranked if label != NOT_A_COMPLAINT and p >= 0.05]
        return tuple(dict.fromkeys(order))[:self.max_suggestions]

    def match(self, text: str) -> Match | None:
        """Like :meth:`Detector.match`, with the model's say: what the sources call."""
        verdict, found = self._classify(text)
        if verdict.category is None:
            return None
        if verdict.by == "keywords":
            return found[0]
        return Match(verdict.category, "model", 1)


def features(lemmas: Sequence[Sequence[str]], found: Sequence[Match]) -> str:
    """Words' most probable lemmas joined by spaces, and the keyword tokens (see
    :meth:`Triage.features`)."""
    words = [candidates[0] for candidates in lemmas if candidates]
    for m in found:
        words += [f"__kw_{m.category}"] * min(m.score, 3)
    if found:
        words.append(f"__top_{found[0].category}")
    return " ".join(words)
