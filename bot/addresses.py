"""pymorphy3 behind ``workflows.addresses``: street and settlement names back in the nominative.

``make_nominative()`` returns a cached ``nominative(word, gender)``: an adjective
(«Школьной», «Сосновой») is put into the nominative of the street kind's gender («Школьная»);
a place name in another case («Курска») into its nominative («Курск») when ``gender`` is
"geo"; every other word (surnames in the genitive: «Ленина», «Маркса») is kept as written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from bot.morphology import analyzer
from workflows.addresses import Address, extract_address

__all__ = ["address_of", "make_extractor", "make_nominative"]


def make_nominative(maxsize: int = 50_000) -> Callable[[str, str], str]:
    parse = analyzer().parse  # the lemmatizer's: one set of dictionaries in memory

    @lru_cache(maxsize=maxsize)
    def nominative(word: str, gender: str) -> str:
        lower = word.lower()
        for p in parse(lower):
            if p.tag.POS == "ADJF" and p.score >= 0.05 and gender in ("masc", "femn", "neut") \
                    and p.tag.gender == gender and not (gender == "masc" and p.tag.case == "gent"):
                form = p.inflect({"nomn", "sing", gender})
                return form.word if form else word
            if gender == "geo" and "Geox" in p.tag and p.tag.case != "nomn":
                form = p.inflect({"nomn"})
                return form.word if form else word
        return word

    return nominative


def make_extractor() -> Callable[[str], Address | None]:
    """A text → its normalised address (``workflows.addresses.extract_address``)."""
    nominative = make_nominative()

    def extract(text: str) -> Address | None:
        return extract_address(text, nominative)

    return extract


_extract: Callable[[str], Address | None] | None = None


def address_of(text: str | None) -> str | None:
    """The normalised address of a text («г. Курск, ул. Школьная, д. 12») or None; the
    analyzer is loaded on the first call and kept for the process."""
    global _extract
    if not text:
        return None
    if _extract is None:
        _extract = make_extractor()
    found = _extract(text)
    if found is None or (found.street is None
                         and not (found.settlement or "").startswith(("г.", "с.", "пос."))):
        return None
    return str(found)
