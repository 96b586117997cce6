"""aiogram's Telegram types built when first used, not all at import (half of the start-up memory).

``aiogram.types`` ends by calling ``model_rebuild`` on every one of its ~350 pydantic models,
although they are declared ``defer_build=True``: each gets its own validator with copies of the
models nested in it, ~85 MiB and seconds of start-up, while the bot only ever validates a handful
(``Update``, ``Message``, the replies of the methods it calls). :func:`install` (called by
``bot/__init__.py``, so before anything of the bot imports aiogram) lets those rebuilds keep the
models deferred, and puts the names the loop would have resolved their annotations with (the
types each module imports only for type checking) into the types' modules, where pydantic finds
them when a model is first used. The validators built then are the same; only when they are
built changes. Any other ``model_rebuild`` call goes through unchanged.

Its ~160 methods (``aiogram.methods``: ``SendMessage`` and the like) are not declared deferred
and built their validators as each class was created (a second of CPU at every start of
``otklik``): they get ``defer_build`` too, set on their base ``TelegramMethod`` as soon as its
module has run, before any method is declared. pydantic then builds a method's validator when
it is first used, from the names its module imports, as it would have at import.

Nothing is deferred when aiogram was imported first: it then builds everything at import, as it
always did.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
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
    if "aiogram.methods.base" not in sys.modules:
        sys.meta_path.insert(0, _DeferMethods())


class _DeferMethods(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``aiogram.methods.base`` is imported, it lets the normal
    finder load it and marks its ``TelegramMethod`` deferred right after the module has run
    (the methods, subclasses declared in the modules imported after it, inherit that)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "aiogram.methods.base":
            return None
        sys.meta_path.remove(self)  # once
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            module.TelegramMethod.model_config["defer_build"] = True

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


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
