"""Suggestions from approved answers: the in-memory index of ``workflows.suggestions``
kept up to date with the published final answers in the database.

The index is loaded once in the background at start (``refresh``: a batch of answers at a
time, the event loop free between them) and then follows the ``answers`` table by its id:
a publication marks it stale, and the next card or draft prompt reads just the answers added
since (a few rows, by primary key). The scheduler compacts it (``refresh(compact=True)``,
in a worker thread). No request reads the history from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage import Storage, UnitOfWork
from workflows.model import Incident, Person
from workflows.suggestions import MAX_SUGGESTIONS, Past, SuggestionIndex, preview
from workflows.visibility import answer_scope, in_municipality, may_reuse

log = logging.getLogger(__name__)

# Answers read and indexed at a time (the event loop is free between two batches).
BATCH = 500
# Added documents that make a query-time catch-up compact the index at once.
COMPACT_AT = 2_000


@dataclass(frozen=True, slots=True)
class Suggestion:
    incident_id: int  # the past incident whose answer is offered
    preview: str  # its answer's first line


class Suggester:
    def __init__(self, store: Storage, words: Callable[[str], list[str]]) -> None:
        self.store = store
        self.words = words  # a complaint's text → its index terms
        self.index = SuggestionIndex()
        self.stale = True
        self._after = 0  # the last answer id indexed
        self._lock = asyncio.Lock()
        self._compacting: asyncio.Task[None] | None = None

    def _add(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self.index.add(Past(row["incident_id"], row["category"], row["department"],
                                row["executor_id"]), self.words(row["text"]))
            self._after = row["id"]

    async def refresh(self, *, compact: bool = False) -> int:
        """Index the answers published since the last call; compact when asked (the
        scheduler) or when many were added. Returns how many were added."""
        added = 0
        async with self._lock:
            while True:
                async with self.store.read() as uow:
                    rows = await uow.answers.finals_after(self._after, BATCH)
                # Lemmatized in a worker thread: the catch-up after a start reads every
                # answer ever published, and the event loop goes on with updates meanwhile
                # (queries stay safe: a document counts once its incident is appended, last).
                await asyncio.to_thread(self._add, rows)
                added += len(rows)
                if self.index.pending >= COMPACT_AT:
                    # Meanwhile every query scores the documents not compacted one by one:
                    # a long catch-up compacts as it goes, not only at its end.
                    await asyncio.to_thread(self.index.compact)
                if len(rows) < BATCH:
                    break
                await asyncio.sleep(0)
            self.stale = False
            if self.index.pending and (compact or self.index.pending >= COMPACT_AT):
                await asyncio.to_thread(self.index.compact)
        if added:
            log.info("suggestions: %d answer(s) indexed, %d in all", added, len(self.index))
        return added

    async def _compact(self) -> None:
        try:
            async with self._lock:
                await asyncio.to_thread(self.index.compact)
        finally:
            self._compacting = None

    async def offer(self, uow: UnitOfWork, person: Person, incident: Incident
                    ) -> list[Suggestion]:
        """Up to three past answers for ``person`` working on ``incident``: of its category,
        inside the person's scope, the same answer text offered once."""
        if not incident.category:
            return []
        if self.stale and not self._lock.locked():  # after a publication: the new rows only
            async with self._lock:
                rows = await uow.answers.finals_after(self._after, BATCH)
                self._add(rows)
                self.stale = len(rows) == BATCH
            if self.index.pending >= COMPACT_AT and self._compacting is None:
                # Documents not compacted are scored one by one at each query: compact them
                # in a worker thread, outside this unit of work (a catch-up after start
                # reaches thousands before the scheduler's refresh).
                self._compacting = asyncio.create_task(self._compact())
        found = self.index.query(self.words(incident.text), category=incident.category,
                                 scope=answer_scope(person), exclude=incident.id,
                                 limit=3 * MAX_SUGGESTIONS)
        if person.municipality is not None:  # a municipality's people: its own answers only
            found = [(n, score) for n, score in found
                     if (past := await uow.incidents.get(n)) is not None
                     and past.municipality == person.municipality]
        texts = await uow.answers.final_texts([n for n, _ in found])
        offered: list[Suggestion] = []
        seen: set[str] = set()
        for n, _ in found:
            text = texts.get(n, "").strip()
            if text and text not in seen:
                seen.add(text)
                offered.append(Suggestion(n, preview(text)))
        return offered[:MAX_SUGGESTIONS]

    async def answer(self, uow: UnitOfWork, person: Person, incident: Incident, past_id: int
                     ) -> str | None:
        """The answer of past incident ``past_id`` for a press on its button; None when it
        is not one that could be offered here (another category, outside the person's
        scope, without a published answer: a stale or forged button). Read from the
        database, so a card sent before a restart works while the index is loading."""
        past = await uow.incidents.get(past_id) if past_id != incident.id else None
        if (past is None or past.category != incident.category
                or not may_reuse(person, past.department, past.executor_id)
                or not in_municipality(person, past.municipality)):
            return None
        return (await uow.answers.final_texts([past_id])).get(past_id)
