"""The bundled detection dictionary (``ru.toml``) and the rules a config gets from it.

A category that lists ``keywords`` in the config uses them; one that lists none takes the
dictionary's block of its key — the bundled one, or the deployment's own from
``[detection] dictionary``, whose blocks replace the bundled ones. The same holds for
``stop_words``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError

if TYPE_CHECKING:
    from bot.config import Config

__all__ = ["DictionaryError", "bundled", "load", "rules"]

Block = tuple[list[str], list[str]]  # keywords, stop words


class DictionaryError(ConfigError):
    """A dictionary file that cannot be read; the message names the file and the key (a
    config error: ``otklik check-config`` and ``run`` report it as one)."""


def _parse(text: str, where: str) -> dict[str, Block]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DictionaryError(f"{where}: not valid TOML: {e}") from None
    blocks: dict[str, Block] = {}
    for key, block in data.items():
        if not isinstance(block, dict):
            raise DictionaryError(f"{where}: {key}: expected a table with keywords and "
                                  "stop_words")
        lists = []
        for field in ("keywords", "stop_words"):
            value = block.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DictionaryError(f"{where}: {key}.{field}: expected a list of strings")
            lists.append(value)
        unknown = set(block) - {"keywords", "stop_words"}
        if unknown:
            raise DictionaryError(f"{where}: {key}: unknown key {sorted(unknown)[0]!r} "
                                  "(expected keywords, stop_words)")
        blocks[key] = (lists[0], lists[1])
    return blocks


def bundled() -> dict[str, Block]:
    """The dictionary shipped with Otklik: category key → (keywords, stop words)."""
    return {key: (list(words), list(stops)) for key, (words, stops) in _bundled().items()}


@cache
def _bundled() -> dict[str, Block]:
    """The shipped file, read and checked once per process (callers get copies)."""
    text = resources.files("bot.dictionaries").joinpath("ru.toml").read_text(encoding="utf-8")
    return _parse(text, "bot/dictionaries/ru.toml")


def load(path: Path | None = None) -> dict[str, Block]:
    """The bundled dictionary with the blocks of the file at ``path`` over it."""
    blocks = bundled()
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DictionaryError(f"{path}: cannot read the dictionary: {e}") from None
        blocks.update(_parse(text, str(path)))
    return blocks


def dictionary_path(config: Config) -> Path | None:
    value = config.settings.detection.dictionary
    if not value:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else config.path.parent / p


def rules(config: Config) -> list[tuple[str, list[str], list[str]]]:
    """``(key, keywords, stop_words)`` of every category, in the config's order, for
    :meth:`workflows.detection.Detector.from_config`."""
    blocks = load(dictionary_path(config))
    out = []
    for c in config.settings.categories:
        keywords, stops = blocks.get(c.key, ([], []))
        out.append((c.key, c.keywords or keywords, c.stop_words or stops))
    return out
