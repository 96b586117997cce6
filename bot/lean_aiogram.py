"""aiogram's Telegram types built when first used, not all at import (half of the start-up memory).

``aiogram.types`` ends by calling ``model_rebuild`` on every one of its ~350 pydantic models,
although they are declared ``defer_build=True``: each gets its own validator with copies of the
models nested in it, ~85 MiB and seconds of start-up, while the bot only ever validates a handful
(``Update``, ``Message``, the replies of the methods it calls). :func:`install` (called by
``bot/__init__.py``, so before anything of the bot imports aiogram) lets those rebuilds keep the
models deferred, and puts the names the loop would have resolved their annotations with (the
types each module imports only for type checking) into the types' modules, where pydantic finds
them when a model is first used. The validators built then are the same; only when they are
built changes. Any other ``model_rebuild`` call goes through unchanged. Nothing is deferred when
aiogram was imported first: it then builds everything at import, as it always did.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

_filled = False


def install() -> None:
    """Keep aiogram's types deferred when aiogram is imported later in this process (idempotent)."""
    eager = BaseModel.__dict__.get("model_rebuild")
    if "aiogram.types" in sys.modules or not isinstance(eager, classmethod) \
            or getattr(eager.__func__, "_lean_aiogram", False):
        return
    rebuild = eager.__func__

    def model_rebuild(cls: Any, *, force: bool = False, raise_errors: bool = True,
                      _parent_namespace_depth: int = 2, _types_namespace: Any = None) -> Any:
        if (_types_namespace is not None and not force and _aiogram_type(cls)
                and not cls.__pydantic_complete__ and cls.model_config.get("defer_build")):
            _fill_modules(_types_namespace)
            return None
        return rebuild(cls, force=force, raise_errors=raise_errors,
                       _parent_namespace_depth=_parent_namespace_depth + 1,
                       _types_namespace=_types_namespace)

    model_rebuild._lean_aiogram = True  # type: ignore[attr-defined]
    model_rebuild.__doc__ = rebuild.__doc__
    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[method-assign,assignment]


def _aiogram_type(cls: Any) -> bool:
    return str(getattr(cls, "__module__", "")).startswith("aiogram.types.")


def _fill_modules(namespace: Any) -> None:
    """Give every ``aiogram.types.*`` module the names its forward references use (once)."""
    global _filled
    if _filled:
        return
    _filled = True
    names = dict(namespace)
    for name, module in list(sys.modules.items()):
        if name.startswith("aiogram.types.") and module is not None:
            for key, value in names.items():
                module.__dict__.setdefault(key, value)
