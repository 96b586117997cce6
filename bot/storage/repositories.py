"""The repositories of a unit of work: what each engine implements (the SQLite one is
:mod:`bot.storage.sqlite`). Values in and out are the core's objects, plain dataclasses and
dicts; never an engine's rows or connections.

``tests/test_layers.py`` checks that the SQLite implementation has exactly these methods
with these signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bot.storage.base import ChatState, OutboxRow
from workflows.answer_templates import AnswerTemplate
from workflows.metrics import Answer
from workflows.model import (
    Attachment,
    AuditEntry,
    Draft,
    DraftKind,
    Incident,
    Person,
    Sighting,
    State,
)
from workflows.problems import OpenIncident

T = TypeVar("T")
# What a query read, made into objects when called (in a worker thread, outside the unit).
Later = Callable[[], T]


class People(Protocol):
    async def add(
        self, person: Person, *, from_config: bool = False, key: str | None = None
    ) -> Person: ...

    async def get(self, person_id: int) -> Person | None: ...

    async def all(self) -> list[Person]: ...

    async def by_name(self, name: str) -> Person | None: ...

    async def by_chat(self, platform: str, chat_id: int) -> Person | None: ...

    async def in_chat(self, platform: str, chat_id: int
                      ) -> tuple[Person | None, ChatState | None]: ...

    async def bind(self, person_id: int, platform: str, chat_id: int) -> None: ...

    async def by_key(self, key: str) -> Person | None: ...

    async def from_config(self) -> list[tuple[Person, str | None]]:
        """People declared by the config (now or before), with their keys."""

    async def set_key(self, person_id: int, key: str) -> None: ...

    async def update(self, person: Person) -> None: ...

    async def named(self, name: str) -> list[Person]: ...

    async def chat_of(self, person_id: int, platform: str) -> int | None: ...

    async def reachable(self, person_ids: Iterable[int], platforms: Iterable[str]) -> set[int]:
        """Those of the people who have a bound chat on one of ``platforms`` that the outbox
        has not found unreachable."""

    async def chats_of(self, person_id: int) -> list[tuple[str, int]]: ...


class Chats(Protocol):
    async def leave_group(self, chat_id: int, now: datetime) -> bool:
        """Record a group the bot leaves; True the first time."""

    async def mark_unreachable(
        self, platform: str, chat_id: int, reason: str, now: datetime
    ) -> bool:
        """Record an unreachable chat; True the first time (so the coordinator is told once).
        Its command menu is forgotten: it is given again at the next start."""

    async def clear_unreachable(self, platform: str, chat_id: int) -> None: ...

    async def menu(self, chat_id: int) -> str | None:
        """The command menu last given to a Telegram chat (as :meth:`set_menu` kept it)."""

    async def set_menu(self, chat_id: int, menu: str) -> None: ...


class Invites(Protocol):
    async def add(
        self, token: str, person_id: int, created_by: int | None, now: datetime
    ) -> None: ...

    async def invited(self, token: str) -> int | None:
        """Whom an unused invitation is for."""

    async def use(self, token: str, now: datetime) -> int | None:
        """The invited person's id, once: a used or unknown token gives None."""


class Incidents(Protocol):
    async def reserve_id(self) -> int:
        """A fresh id for a new incident (the core needs it before the incident is stored);
        the caller adds the incident with it in the same unit of work. Here the single
        writer makes MAX + 1 safe; an engine with several writers uses a sequence."""

    async def add(self, inc: Incident, now: datetime, seen: Sighting) -> None: ...

    async def by_external(self, source: str, external_id: str) -> Incident | None:
        """The incident a source message became, directly or as a linked repeat."""

    async def open_in_thread(self, thread: str, author_id: str) -> Incident | None: ...

    async def add_repeat(self, seen: Sighting, incident_id: int, now: datetime) -> None: ...

    async def origin(self, incident_id: int) -> dict[str, str | None]:
        """Where the resident wrote: external id, author id, thread, the message to answer."""

    async def update(self, inc: Incident, now: datetime, expected_version: int,
                     timer: tuple[int, datetime | None] | None = None) -> None:
        """Write a transition's result; the version check makes a lost race fail loudly.
        ``timer``: the SLA step and when the sweep next looks, written with it."""

    async def get(self, incident_id: int) -> Incident | None: ...

    async def select(
        self, *, states: Iterable[State] | None = None, executor_id: int | None = None
    ) -> list[Incident]: ...

    async def due_by(self, states: Iterable[State], moment: datetime) -> list[Incident]:
        """Incidents in these states whose answer is due at or before ``moment``."""

    async def open_load(self) -> dict[int, int]: ...

    async def add_attachments(
        self, incident_id: int, attachments: Iterable[Attachment]
    ) -> None: ...

    async def attachments(self, incident_id: int) -> list[Attachment]: ...


class Sla(Protocol):
    async def due(self, now: datetime, limit: int) -> list[tuple[Incident, int]]:
        """Incidents whose SLA timer is due, with their ladder step; uses the partial index."""

    async def state(self, incident_id: int) -> tuple[int, datetime | None]: ...

    async def set(self, incident_id: int, step: int, next_action_at: datetime | None) -> None: ...


class Jobs(Protocol):
    async def last_day(self, name: str) -> str | None: ...

    async def set_last_day(self, name: str, day: str) -> None: ...


class Drafts(Protocol):
    async def set_kind(
        self,
        incident_id: int,
        author_id: int,
        kind: DraftKind,
        promised: datetime | None,
        now: datetime,
    ) -> None: ...

    async def get(self, incident_id: int) -> Draft | None: ...

    async def save_text(
        self, incident_id: int, author_id: int, text: str, now: datetime
    ) -> None: ...

    async def add_attachment(
        self,
        incident_id: int,
        author_id: int,
        a: Attachment,
        file_unique_id: str,
        media_group_id: str | None,
        now: datetime,
    ) -> bool:
        """Add a photo or document; False when this very file is already in the draft."""

    async def clear_attachments(self, incident_id: int) -> None: ...

    async def delete(self, incident_id: int) -> None: ...


class Answers(Protocol):
    async def add(
        self,
        incident_id: int,
        kind: DraftKind,
        text: str,
        attachments: Iterable[Attachment],
        now: datetime,
        by: int | None,
    ) -> None: ...

    async def finals_after(self, after: int, limit: int) -> list[dict[str, Any]]: ...

    async def final_texts(self, incident_ids: Sequence[int]) -> dict[int, str]: ...


class Problems(Protocol):
    """Complaints merged into problems (workflows/problems.py)."""

    async def link(self, incident_id: int, problem_id: int, prev_state: State,
                   prev_executor_id: int | None, by: int | None, now: datetime) -> None: ...

    async def unlink(self, incident_id: int) -> dict[str, Any] | None: ...

    async def problem_of(self, incident_id: int) -> dict[str, Any] | None: ...

    async def complaints(self, problem_id: int) -> list[int]: ...

    async def sizes(self, problem_ids: Sequence[int]) -> dict[int, int]: ...

    async def candidates(self, category: str, since: datetime
                         ) -> list[tuple[OpenIncident, int]]: ...

    async def merged(self, start: datetime, end: datetime) -> list[tuple[int, int]]: ...


class Cursors(Protocol):
    async def get(self, source: str, key: str) -> int: ...

    async def set(self, source: str, key: str, value: int) -> None: ...


class Publications(Protocol):
    async def add(self, incident_id: int, round_: int, now: datetime) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[tuple[int, int, int]]:
        """(incident id, round, attempts) of publications due now."""

    async def finish(
        self,
        incident_id: int,
        round_: int,
        status: str,
        *,
        error: str | None = None,
        result: str | None = None,
        retry_at: datetime | None = None,
    ) -> None: ...

    async def parts(self, incident_id: int, round_: int) -> dict[int, str]:
        """The parts of a publication that went out already: part number → result."""

    async def add_part(
        self, incident_id: int, round_: int, part: int, result: str, now: datetime
    ) -> None: ...


class Audit(Protocol):
    async def add(self, e: AuditEntry) -> None: ...

    async def entries(self, incident_id: int | None = None) -> list[AuditEntry]: ...


class Outbox(Protocol):
    async def enqueue(
        self, platform: str, chat_id: int, method: str, payload: dict[str, Any], now: datetime,
        *, batch: str | None = None, items: list[dict[str, Any]] | None = None,
    ) -> int:
        """``batch``: the kind of a message that may be merged with others of its kind while
        it waits (``items``: what it tells of), see :mod:`bot.batching`."""

    async def waiting_batch(self, platform: str, chat_id: int,
                            batch: str) -> list[tuple[int, list[dict[str, Any]]]]:
        """The messages of kind ``batch`` still waiting for their first attempt in a chat,
        oldest first: (row id, items)."""

    async def rewrite_waiting(self, msg_id: int, payload: dict[str, Any],
                              items: list[dict[str, Any]]) -> bool:
        """A waiting message's new text and items; False when it is no longer waiting."""

    async def drop_waiting(self, ids: list[int]) -> int:
        """Delete messages that never left (merged into another); the number deleted."""

    async def due(self, platform: str, now: datetime, limit: int) -> list[OutboxRow]:
        """Pending messages that are due, at most the oldest one per chat, so that each chat
        receives its messages in order; a chat whose oldest message is being sent waits."""

    async def next_due_at(self, platform: str) -> datetime | None: ...

    async def claim(self, msg_id: int) -> dict[str, Any] | None:
        """Take a pending message for sending: its payload as it is now; None when it is no
        longer pending (another sender took it, or it was merged into a summary)."""

    async def recover_sending(self, platform: str) -> int:
        """At start: messages whose sending a crash interrupted are pending again."""

    async def mark_sent(self, msg_id: int, now: datetime, result: Any) -> None:
        """``result``: what is kept of the platform's answer — the sent message's id (ids of
        an album), not the whole reply."""

    async def purge(self, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` finished rows older than ``before``: sent before it, or
        failed and created before it. Pending and sending rows are never deleted."""

    async def mark_retry(self, msg_id: int, at: datetime, error: str) -> None: ...

    async def mark_failed(self, msg_id: int, error: str) -> None: ...

    async def fail_chat(self, platform: str, chat_id: int, error: str) -> int:
        """Give up on everything still pending for an unreachable chat."""

    async def backlog(self, now: datetime) -> tuple[int, datetime | None, datetime | None]:
        """Pending messages that are due or were tried (not ones planned for later; one in
        the platform call counts too), when the oldest of them was queued, and when anything
        was last sent."""

    async def counts(self) -> dict[str, int]: ...


class Updates(Protocol):
    async def seen(self, platform: str, update_id: int) -> bool: ...

    async def claim(self, platform: str, update_id: int, now: datetime) -> bool:
        """True the first time an update is seen; False for a redelivery."""

    async def purge(self, before: datetime, limit: int) -> int:
        """Forget at most ``limit`` updates claimed before ``before``; the number forgotten."""


class ChatModes(Protocol):
    async def get(self, person_id: int, platform: str) -> ChatState | None: ...

    async def set(
        self,
        person_id: int,
        platform: str,
        mode: str,
        incident_id: int | None,
        data: dict[str, Any] | None = None,
    ) -> None: ...

    async def clear(self, person_id: int, platform: str) -> None: ...


class Intake(Protocol):
    async def add(
        self,
        person_id: int,
        source: str,
        text: str,
        url: str | None,
        author: str | None,
        attachments: list[dict[str, Any]],
        media_group_id: str | None,
        now: datetime,
    ) -> int: ...

    async def get(self, intake_id: int) -> dict[str, Any] | None:
        """The post as a dict of its fields (``attachments``: JSON text)."""

    async def drop(self, intake_id: int) -> None:
        """A post the coordinator decided not to register (never one that became an incident)."""

    async def by_group(self, person_id: int, media_group_id: str) -> dict[str, Any] | None: ...

    async def set_source(self, intake_id: int, source: str) -> None: ...

    async def update(
        self,
        intake_id: int,
        *,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        incident_id: int | None = None,
    ) -> None: ...


class Templates(Protocol):
    async def in_use(self, category: str | None = None) -> list[AnswerTemplate]:
        """The templates in use (of one category, or all), config ones first, then by id."""

    async def get(self, template_id: int) -> AnswerTemplate | None: ...

    async def add(
        self,
        category: str,
        title: str,
        text: str,
        origin: str,
        created_by: int | None,
        now: datetime,
    ) -> int: ...

    async def delete(self, template_id: int, now: datetime) -> bool: ...

    async def sync_config(self, wanted: Iterable[tuple[str, str, str]], now: datetime) -> None:
        """Make the config's templates what the config says: each (category, title, text) is
        kept (restored if deleted in the chat, its text updated); ones gone from the config
        are deleted. Templates added in the chat are left alone."""


class Letters(Protocol):
    """The official letters of incidents (002 3.12.6): made, signed, e-mailed."""

    async def add(
        self, incident_id: int, round_: int, docx_path: str, email_to: list[str], now: datetime
    ) -> None: ...

    async def newest(self, incident_id: int) -> dict[str, Any] | None:
        """The newest letter of the incident, or None."""

    async def to_sign(self, executor_id: int) -> list[int]:
        """The incidents whose letter waits for this executor's signed PDF."""

    async def mark_signed(
        self, incident_id: int, round_: int, pdf_path: str | None, pdf_name: str, now: datetime
    ) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Signed letters whose (next) e-mail attempt is due."""

    async def mark_sent(self, incident_id: int, round_: int, now: datetime) -> None: ...

    async def mark_retry(
        self, incident_id: int, round_: int, attempts: int, error: str, retry_at: datetime
    ) -> None: ...


class Possible(Protocol):
    """Possible complaints: messages the detector was not sure of, for a coordinator."""

    async def by_key(self, source: str, external_id: str) -> int | None: ...

    async def count_sent_since(self, since: datetime) -> int: ...

    async def add(
        self,
        source: str,
        external_id: str,
        sighting: dict[str, Any],
        suggestions: list[str],
        now: datetime,
        status: str,
    ) -> int:
        """The new possible complaint's id."""

    async def get(self, pc_id: int) -> dict[str, Any] | None:
        """``status``, ``sighting`` (a dict), ``suggestions`` (category keys) and the rest."""

    async def queued(self) -> list[tuple[int, str]]:
        """(id, text) of the possible complaints waiting for the digest, oldest first."""

    async def mark_digested(self) -> None: ...

    async def decide(
        self, pc_id: int, status: str, by: int, incident_id: int | None = None
    ) -> None: ...


class Labels(Protocol):
    """Labelled examples for the detector."""

    async def add(
        self, text: str, category: str, origin: str, person_id: int | None, at: datetime
    ) -> None: ...

    async def last_id(self) -> int: ...

    async def after(self, after: int) -> list[tuple[int, str, str]]:
        """``(id, text, category)`` of the labels newer than id ``after``, oldest first."""


class Board(Protocol):
    """The web board: one-time links, the cookie signing key, and what a page shows."""

    async def add_link(
        self,
        token_hash: str,
        person_id: int,
        now: datetime,
        expires: datetime,
        *,
        purge_before: datetime,
    ) -> None: ...

    async def link(self, token_hash: str) -> tuple[int, datetime, bool] | None:
        """(person id, expiry, used) of a link."""

    async def use_link(self, token_hash: str, now: datetime) -> None: ...

    async def signing_key(self, new: str) -> str:
        """The key that signs cookies; ``new`` becomes it when there is none yet."""

    async def photos(self, incident_id: int) -> list[tuple[int, Attachment]]:
        """(attachment id, attachment) of the incident's files."""

    async def attachment(self, incident_id: int, attachment_id: int) -> Attachment | None: ...

    async def answers(self, incident_id: int) -> list[dict[str, Any]]: ...

    async def repeats(self, incident_id: int) -> list[dict[str, Any]]: ...


class Heartbeat(Protocol):
    """What each part of the bot last said of its health."""

    async def save(self, parts: Iterable[tuple[str, bool, datetime, dict[str, Any]]]) -> None: ...

    async def parts(self) -> dict[str, dict[str, Any]]:
        """The parts as last written (``written_at``: when, ISO 8601 in UTC)."""


class Reports(Protocol):
    """The queries of reports. A reading unit holds the connection while it reads; the rows
    become objects later, outside it: each query returns a ``Later``, a function the caller
    runs in a worker thread after the unit of work has ended, so that neither the event loop
    nor the storage is held by a large history."""

    async def incidents(
        self, end: datetime, since: datetime | None, repeats_from: datetime | None = None
    ) -> Later[list[Incident]]:
        """The incidents registered before ``end``; with ``since``: only those a report of
        ``[since, end)`` can involve (read through indexes), ``repeats_from`` being the
        start of the repeat window before ``since``."""

    async def history(
        self, end: datetime, incident_ids: Iterable[int], *, by_index: bool,
        since: datetime | None = None,
    ) -> Later[tuple[list[AuditEntry], list[Answer]]]:
        """The successful audit entries and the published answers before ``end`` of the
        incidents ``incident_ids``, in time order. ``by_index``: read only their rows
        (through indexes: for a few); otherwise read everything and keep theirs.
        ``since``: of the audit rows before it, only those
        :func:`workflows.metrics.compute` uses for a period starting at or after it."""
