"""The Russian lemmatizer for ``workflows.detection``: pymorphy3 behind a plain function.

``make_lemmatizer()`` returns a cached function of a lower-case word. The ``MorphAnalyzer``
behind it (:func:`analyzer`, shared with ``bot.addresses``: one set of dictionaries, not two,
~20 MiB less) is loaded once per process, on the first word (the dictionaries are read from
disk: about 65 ms and 24 MiB, plus about 30 ms for the first import of pymorphy3) and only
read afterwards; each function gets its own cache of words.

By default the function returns the normal forms of *all* parses, the most probable first,
because the most probable parse alone is often wrong for the words complaints are made of:
pymorphy3 ranks «ямы», «ямами», «ямах» and «ям» as forms of the masculine «ям» (a postal
station) before the feminine «яма», so matching on ``parse(word)[0].normal_form`` would miss
the commonest complaint there is. ``all_parses=False`` gives that single normal form.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Literal, overload

if TYPE_CHECKING:
    import pymorphy3

__all__ = ["analyzer", "make_lemmatizer"]


@overload
def make_lemmatizer(*, all_parses: Literal[True] = True,
                    maxsize: int = ...) -> Callable[[str], tuple[str, ...]]: ...
@overload
def make_lemmatizer(*, all_parses: Literal[False], maxsize: int = ...) -> Callable[[str], str]: ...


def make_lemmatizer(*, all_parses: bool = True, maxsize: int = 100_000
                    ) -> Callable[[str], tuple[str, ...]] | Callable[[str], str]:
    """A word → its lemmas (``all_parses``, most probable first) or its most probable lemma."""
    if all_parses:
        @lru_cache(maxsize=maxsize)
        def lemmas(word: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(p.normal_form for p in analyzer().parse(word)))

        return lemmas

    @lru_cache(maxsize=maxsize)
    def lemma(word: str) -> str:
        return analyzer().parse(word)[0].normal_form

    return lemma


@cache
def analyzer() -> pymorphy3.MorphAnalyzer:
    """The process's one analyzer (read-only once loaded)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()
