"""The storage seam: the only way to the data (see :mod:`bot.storage.base`).

``await open_storage(path)`` gives a :class:`Storage`; units of work come from its
``read()``, ``write()`` and ``handling(...)``; their attributes are the repositories of
:mod:`bot.storage.repositories`. The SQLite implementation is :mod:`bot.storage.sqlite`;
the PostgreSQL one, :mod:`bot.storage.postgresql`, shares its repositories' SQL.
Handlers never import this package: they go through the use cases (bot/usecases).
"""

from __future__ import annotations

from pathlib import Path

from bot.storage.base import (
    AlreadyHandled,
    ChatState,
    OutboxRow,
    Storage,
    StorageError,
    StorageFault,
    UnitOfWork,
    after_commit,
)

__all__ = ["AlreadyHandled", "ChatState", "OutboxRow", "Storage", "StorageError",
           "StorageFault", "UnitOfWork", "after_commit", "open_storage"]


async def open_storage(path: str | Path, *, busy_timeout: float | None = None) -> Storage:
    """Open (and migrate) the database ``path``: a ``postgresql://`` URL (PostgreSQL,
    :mod:`bot.storage.postgresql`) or an SQLite file; :class:`StorageError` when it cannot
    be opened."""
    from bot.storage.sqlite import BUSY_TIMEOUT, SqliteStorage

    if str(path).startswith(("postgresql://", "postgres://")):
        from bot.storage.postgresql import PostgresStorage

        return await PostgresStorage.open(str(path),
                                          busy_timeout=busy_timeout or BUSY_TIMEOUT)

    return await SqliteStorage.open(path, busy_timeout=busy_timeout or BUSY_TIMEOUT)
