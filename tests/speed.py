"""What makes the suite fast without changing what it checks (used by ``tests/conftest.py``).

Every end-to-end test starts a whole Otklik: a fresh database, a real aiogram ``Bot`` and a
dispatcher. These costs of that are the same in every test and prove nothing there:

- the migrations of a new database: they run once per session into a template file, which
  every new database then starts from (the file a test opens is still created, migrated to
  the same version and written through the same code; only the 80 scripts are not re-run);
- aiogram's ``AiohttpSession.close`` waits 250 ms "for the underlying SSL connections to
  close"; the fake servers speak plain HTTP on loopback, so there is nothing to wait for;
- every ``AiohttpSession`` builds its own SSL context from certifi's bundle (~70 ms), never
  used against the fakes: one context is built and shared;
- pydantic keeps the generic models it builds (aiogram's ``Response[Message]`` and the like,
  ~30 ms each) only weakly, so each garbage collection lets them go and the next request
  builds them again: here they are kept;
- each ``App`` asks ``make_lemmatizer()`` for a lemmatizer with a cache of its own and then
  lemmatizes the whole keyword dictionary again (~30 ms): here every ``App`` of the session
  shares one (a word's lemmas are the same for all; tests/test_detection.py still checks
  that each call of the real ``make_lemmatizer`` makes its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import ssl
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from aiogram.client.session import aiohttp as aiogram_aiohttp
from pydantic._internal import _generics

import bot.app
import bot.morphology


async def _migrated(path: Path) -> None:
    from bot.storage import open_storage  # its own open and migrations make the template

    store = await open_storage(path)
    await store.close()


def _template_connect(template: Path, connect: Any) -> Any:
    """``aiosqlite.connect`` that starts a database that does not exist yet as a copy of the
    migrated template (nothing else differs: the store still opens and checks it)."""

    @functools.wraps(connect)
    def patched(database: Any, *args: Any, **kwargs: Any) -> Any:
        path = Path(database) if isinstance(database, str | Path) else None
        if (path is not None and str(database) != ":memory:" and not str(database).startswith(
                "file:") and not path.exists() and path.parent.is_dir()):
            # A read-only folder, say: the real open then says what is wrong.
            with contextlib.suppress(OSError):
                shutil.copyfile(template, path)
        return connect(database, *args, **kwargs)

    return patched


class _SharedSsl(types.ModuleType):
    """The ``ssl`` module as aiogram's session module sees it: one default context."""

    def __init__(self) -> None:
        super().__init__("ssl")

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    @functools.cache  # noqa: B019 (one instance, for the whole session)
    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        return ssl.create_default_context(*args, **kwargs)


async def _close_at_once(self: aiogram_aiohttp.AiohttpSession) -> None:
    if self._session is not None and not self._session.closed:
        await self._session.close()


def _kept(remember: Any) -> Any:
    kept: set[type] = set()

    @functools.wraps(remember)
    def patched(parent: Any, typevar_values: Any, type_: type, *args: Any, **kw: Any) -> None:
        kept.add(type_)
        remember(parent, typevar_values, type_, *args, **kw)

    return patched


def _shared(make: Any) -> Any:
    """``make_lemmatizer`` that gives the same lemmatizer for the same arguments."""
    made: dict[tuple[tuple[str, Any], ...], Any] = {}

    @functools.wraps(make)
    def patched(**kwargs: Any) -> Any:
        key = tuple(sorted(kwargs.items()))
        if key not in made:
            made[key] = make(**kwargs)
        return made[key]

    return patched


@contextlib.contextmanager
def fast_setup(directory: Path) -> Iterator[None]:
    template = directory / "migrated.sqlite3"
    asyncio.run(_migrated(template))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aiosqlite, "connect", _template_connect(template, aiosqlite.connect))
        mp.setattr(aiogram_aiohttp, "ssl", _SharedSsl())
        mp.setattr(aiogram_aiohttp.AiohttpSession, "close", _close_at_once)
        mp.setattr(_generics, "set_cached_generic_type",
                   _kept(_generics.set_cached_generic_type))
        shared = _shared(bot.morphology.make_lemmatizer)
        mp.setattr(bot.morphology, "make_lemmatizer", shared)  # bot.learning imports it late
        mp.setattr(bot.app, "make_lemmatizer", shared, raising=False)
        yield
