"""The storage seam's promises, on the SQLite implementation: units commit or roll back as a
whole, an update's claim belongs to the unit of its effects, a due message is claimed by one
sender only, and SQLite's errors leave the package as the storage's own."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.storage import AlreadyHandled, Storage, StorageError, StorageFault, open_storage
from workflows.model import Person, Role

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await open_storage(tmp_path / "s.sqlite3", busy_timeout=0.05)
    yield s
    await s.close()


async def test_a_writing_unit_commits_all_or_nothing(store: Storage) -> None:
    async with store.write() as uow:
        ann = await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    assert ann.id > 0  # the id is the storage's
    with pytest.raises(RuntimeError):
        async with store.write() as uow:
            await uow.people.add(Person(0, "Борис", frozenset({Role.EXECUTOR})))
            raise RuntimeError("a bug half way")
    async with store.read() as uow:
        assert [p.name for p in await uow.people.all()] == ["Анна"]


async def test_the_claim_of_an_update_commits_with_its_effects(store: Storage) -> None:
    with pytest.raises(RuntimeError):
        async with store.handling("telegram", 7, NOW):
            async with store.write() as uow:
                await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
            raise RuntimeError("the handler failed")
    async with store.read() as uow:  # neither the effect nor the claim is stored
        assert not await uow.updates.seen("telegram", 7)
        assert await uow.people.all() == []
    async with store.handling("telegram", 7, NOW), store.write() as uow:
        await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    with pytest.raises(AlreadyHandled):
        async with store.handling("telegram", 7, NOW), store.write() as uow:
            await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    async with store.read() as uow:
        assert await uow.updates.seen("telegram", 7)
        assert len(await uow.people.all()) == 1


async def test_a_due_message_is_claimed_once(store: Storage) -> None:
    async with store.write() as uow:
        first = await uow.outbox.enqueue("telegram", 5, "sendMessage", {"text": "a"}, NOW)
    async with store.read() as uow:
        [due] = await uow.outbox.due("telegram", NOW, 10)
    assert due.id == first
    async with store.write() as uow:
        assert await uow.outbox.claim(first)
    async with store.write() as uow:  # a second sender that read the same row
        assert not await uow.outbox.claim(first)
    async with store.read() as uow:
        assert await uow.outbox.due("telegram", NOW, 10) == []


async def test_a_locked_database_is_a_storage_fault(store: Storage, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageFault, match="locked"):
            async with store.write() as uow:
                await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
        other.execute("ROLLBACK")
    finally:
        other.close()
    async with store.write() as uow:  # nothing is left half open
        await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))


async def test_a_reading_unit_refuses_changes(store: Storage) -> None:
    with pytest.raises(StorageError, match="reading unit"):
        async with store.read() as uow:
            await uow.people.add(Person(0, "Анна", frozenset({Role.ADMIN})))
    async with store.read() as uow:
        assert await uow.people.all() == []
