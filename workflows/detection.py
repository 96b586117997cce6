"""Finding complaints in free text: keyword rules per category, matched on lemmas.

Each category of the config may carry ``keywords`` and ``stop_words``. A text (a VK comment, a
message in a Telegram group) is cut into words, each word is reduced to its lemma — the
dictionary form, so that «ямы», «ямами», «ямой» and «яме» all become «яма» — and the lemmas are
compared with the keywords' lemmas:

- a **keyword** may be one word («яма») or a phrase («вывоз мусора» → ``("вывоз", "мусор")``);
  a phrase matches only where its lemmas stand next to each other, in that order: «вывоз
  мусора» and «вывоза мусора» match it, «мусор не вывозят» does not (the verb «вывозят» has
  the lemma «вывозить», and the words are not adjacent). List the single words too («мусор»)
  when any mention of them should count;
- a **stop word** anywhere in the text vetoes its category: «Продам гараж, рядом яма» is an
  advertisement, not a complaint about roads. Stop words are single words, matched on lemmas
  as well («продам» also vetoes «продать», «продаст»; not «продаю», whose lemma is the other
  verb «продавать»). Words that veto every category — «реклама», «продам», «вакансия» — are
  either listed in each category or passed once as ``stop_words`` to ``Detector.from_config``;
- texts shorter than ``min_length`` characters (15 by default) are ignored: «яма!» alone is not
  worth an incident;
- the category with the most keyword hits wins (every occurrence of every keyword counts
  once); a tie goes to the category that comes first in the config. ``None`` when nothing
  matches.

Tokenizing: Cyrillic and Latin letters only, lower-cased, «ё» read as «е». URLs, e-mail
addresses, @mentions and VK's mention markup («[id1|Света], …») are dropped before; hashtags
count as words (#ямы → ямы, #ЯмыНовокузнецка → ямы новокузнецка); digits, emoji and
punctuation separate words and are otherwise ignored.

The lemmatizer is injected, so this module does no I/O and does not import pymorphy3
(``bot.morphology.make_lemmatizer`` builds the real one; tests may pass a dict's ``get``). It
maps a lower-case word to its lemma, or to several candidate lemmas, the most probable first,
when the word is ambiguous: «ямы» is the plural of «яма» and equally of the rare «ям» (a postal
station), and pymorphy3 ranks «ям» first. A word matches a keyword or a stop word when any of its
candidate lemmas does. A keyword or stop word itself takes its own spelling when that is one of
its candidate lemmas (write them in the dictionary form: «яма», «мусор»), otherwise its most
probable lemma.

A ``Detector`` keeps an LRU cache of lemmas (comments repeat the same words a lot); it is safe
to share between threads (``functools.lru_cache`` is).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Detector", "Lemmatize", "Match", "Rule", "tokenize"]

# A word (lower case, «ё» as «е») → its lemma, or its candidate lemmas, most probable first.
Lemmatize: TypeAlias = Callable[[str], str | Sequence[str]]

# Dropped before tokenizing: they are not the resident's words and would only add noise
# (a domain or a user name may well contain a keyword).
_NOISE = re.compile(
    r"""
      \[(?:id|club|public|event)\d+\|[^\]]*\]      # VK mention markup: [id123|Света]
    | (?:https?|ftp)://\S+                          # URLs with a scheme
    | www\.\S+
    | \b(?:[a-z0-9-]+\.)+(?:ru|su|com|org|net|me|info|io|рф)\b(?:/\S*)?   # bare domains
    | [\w.+-]*@[\w.-]+                              # e-mail addresses and @mentions
    """,
    re.IGNORECASE | re.VERBOSE,
)
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-zа-яё])(?=[A-ZА-ЯЁ])")
_WORD = re.compile(r"[a-zа-я]+")


def tokenize(text: str) -> list[str]:
    """The words of ``text``: Cyrillic or Latin letters, lower-cased, «ё» as «е», noise out."""
    text = _NOISE.sub(" ", text)
    text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)) + " ", text)
    return _WORD.findall(text.lower().replace("ё", "е"))


def _norm(lemma: str) -> str:
    return lemma.lower().replace("ё", "е")


def _candidates(lemmatize: Lemmatize, word: str) -> tuple[str, ...]:
    """The candidate lemmas of one tokenized word, normalized, without repeats, never empty."""
    found = lemmatize(word)
    if isinstance(found, str):
        found = (found,)
    lemmas = tuple(dict.fromkeys(_norm(lemma) for lemma in found if lemma))
    return lemmas or (word,)


def _dictionary_form(lemmatize: Lemmatize, word: str) -> str:
    """A keyword's word: itself when it is already a lemma, else its most probable lemma."""
    lemmas = _candidates(lemmatize, word)
    return word if word in lemmas else lemmas[0]


@dataclass(frozen=True)
class Rule:
    """One category's detection rule; lemmas are lower case with «е» for «ё».

    ``labels`` are the keywords as configured (parallel to ``keywords``), reported in
    ``Match.keyword``; without them a keyword is reported as its lemmas joined by spaces.
    """

    category: str
    keywords: tuple[tuple[str, ...], ...]
    stop_words: frozenset[str] = frozenset()
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(not keyword for keyword in self.keywords):
            raise ValueError(f"category {self.category!r}: an empty keyword")
        if self.labels and len(self.labels) != len(self.keywords):
            raise ValueError(f"category {self.category!r}: {len(self.labels)} labels for "
                             f"{len(self.keywords)} keywords")

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels else " ".join(self.keywords[index])


@dataclass(frozen=True)
class Match:
    """A category found in a text: the keyword that hit first and the number of hits."""

    category: str
    keyword: str
    score: int


class Detector:
    """Matches texts against the rules; see the module's docstring for the semantics."""

    def __init__(self, rules: Iterable[Rule], lemmatize: Lemmatize, *, min_length: int = 15,
                 cache_size: int = 100_000) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.min_length = min_length
        self._lemmatize = lemmatize
        # Per instance, so that two detectors (two lemmatizers) never share lemmas.
        self._lemmas: Callable[[str], tuple[str, ...]] = functools.lru_cache(cache_size)(
            functools.partial(_candidates, lemmatize))
        # First lemma of a keyword → (rule index, keyword index, the keyword's other lemmas).
        self._index: dict[str, list[tuple[int, int, tuple[str, ...]]]] = {}
        # Stop word lemma → the indexes of the rules it vetoes.
        self._stops: dict[str, list[int]] = {}
        for r, rule in enumerate(self.rules):
            for k, keyword in enumerate(rule.keywords):
                lemmas = tuple(_norm(lemma) for lemma in keyword)
                self._index.setdefault(lemmas[0], []).append((r, k, lemmas[1:]))
            for stop in rule.stop_words:
                self._stops.setdefault(_norm(stop), []).append(r)

    @classmethod
    def from_config(
        cls,
        categories: Iterable[tuple[str, Iterable[str], Iterable[str]]],
        lemmatize: Lemmatize,
        *,
        min_length: int = 15,
        stop_words: Iterable[str] = (),
        cache_size: int = 100_000,
    ) -> Detector:
        """Rules from ``(key, keywords, stop_words)`` per category, in the config's order.

        ``stop_words`` here veto every category. Keywords are lemmatized word by word (a
        repeated keyword is kept once); a stop word must be a single word. Raises
        ``ValueError`` naming the category for a keyword or stop word without letters.
        """
        common = list(stop_words)
        rules = []
        for key, keywords, stops in categories:
            lemmatized: dict[tuple[str, ...], str] = {}
            for keyword in keywords:
                words = tokenize(keyword)
                if not words:
                    raise ValueError(f"category {key!r}: keyword {keyword!r} has no words")
                lemmas = tuple(_dictionary_form(lemmatize, word) for word in words)
                lemmatized.setdefault(lemmas, keyword.strip())
            stop_lemmas = set()
            for stop in [*stops, *common]:
                words = tokenize(stop)
                if len(words) != 1:
                    raise ValueError(f"category {key!r}: stop word {stop!r} must be one word")
                stop_lemmas.add(_dictionary_form(lemmatize, words[0]))
            rules.append(Rule(key, tuple(lemmatized), frozenset(stop_lemmas),
                              tuple(lemmatized.values())))
        return cls(rules, lemmatize, min_length=min_length, cache_size=cache_size)

    def matches(self, text: str) -> list[Match]:
        """Every category the text matches, the best first (most hits, then config order)."""
        if len(text.strip()) < self.min_length:
            return []
        lemmas = [self._lemmas(word) for word in tokenize(text)]
        end = len(lemmas)
        vetoed: set[int] = set()
        hits: dict[int, int] = {}
        first: dict[int, int] = {}  # rule index → index of its keyword that hit first
        for i, here in enumerate(lemmas):
            for lemma in here:
                stopped = self._stops.get(lemma)
                if stopped:
                    vetoed.update(stopped)
                for r, k, rest in self._index.get(lemma, ()):
                    if rest and (i + len(rest) >= end or any(
                            want not in lemmas[i + 1 + j] for j, want in enumerate(rest))):
                        continue
                    hits[r] = hits.get(r, 0) + 1
                    first.setdefault(r, k)
        found = sorted((r for r in hits if r not in vetoed), key=lambda r: (-hits[r], r))
        return [Match(self.rules[r].category, self.rules[r].label(first[r]), hits[r])
                for r in found]

    def lemmas(self, text: str) -> list[tuple[str, ...]]:
        """The candidate lemmas of each word of ``text`` (cached), in order."""
        return [self._lemmas(word) for word in tokenize(text)]

    def match(self, text: str) -> Match | None:
        """The best category for the text, or ``None`` when none matches."""
        found = self.matches(text)
        return found[0] if found else None

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the lemma cache."""
        return self._lemmas.cache_info()  # type: ignore[attr-defined]
