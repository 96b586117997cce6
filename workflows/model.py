"""The vocabulary of the core: states, roles, priorities and the records they describe.

Everything here is plain, immutable data. Transitions (``workflows.transitions``) take these
records and return new ones; storage and the chat front ends translate them to and from rows
and messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_REVIEW = "on_review"
    # Approved but not yet out: the coordinator (or a publisher) still has to publish it.
    APPROVED = "approved"
    WAITING = "waiting"
    AWAITING_FEEDBACK = "awaiting_feedback"
    REOPENED = "reopened"
    CLOSED = "closed"
    REDIRECTED = "redirected"
    REJECTED = "rejected"
    # A complaint merged into a problem (workflows/problems.py): it follows the problem's lead.
    MERGED = "merged"

    # The groups of states the regulation speaks of (workflows.regulation), one place each.

    @property
    def is_final(self) -> bool:
        """Closed, redirected, rejected, or merged into a problem (its lead carries on):
        nothing more happens to it on its own."""
        return self in FINAL_STATES

    @property
    def is_open(self) -> bool:
        return self not in FINAL_STATES

    @property
    def awaits_take(self) -> bool:
        """The executor has the card and has not taken it yet (take or decline)."""
        return self in (State.ASSIGNED, State.REOPENED)

    @property
    def executor_owes(self) -> bool:
        """The executor holds the pen: taking it, or writing the answer."""
        return self.awaits_take or self is State.IN_PROGRESS

    @property
    def is_held(self) -> bool:
        """An executor holds the incident, the draft on review included."""
        return self.executor_owes or self is State.ON_REVIEW

    @property
    def awaits_approval(self) -> bool:
        return self is State.ON_REVIEW

    @property
    def is_active(self) -> bool:
        """Work in hand with no answer on its way out: new, held, or waiting for the
        promised date of an interim answer."""
        return self is State.NEW or self.is_held or self is State.WAITING

    @property
    def answer_owed(self) -> bool:
        """Somebody still owes the answer: the executor (assigned … reopened), the coordinator
        (new: triage; on_review: the review; approved: the publication)."""
        return self is State.NEW or self.is_held or self is State.APPROVED


FINAL_STATES = frozenset({State.CLOSED, State.REDIRECTED, State.REJECTED, State.MERGED})


class Role(StrEnum):
    EXECUTOR = "executor"
    COORDINATOR = "coordinator"
    BLOCK_OWNER = "block_owner"
    CURATOR = "curator"
    ADMIN = "admin"
    # Руководитель МЦУ: the weekly and monthly notes, escalations, oversees everything.
    HEAD = "head"
    # The head of a department (руководитель структурного подразделения, 002 3.12.3).
    DEPARTMENT_HEAD = "department_head"


class Priority(StrEnum):
    NORMAL = "normal"
    FAST_TRACK = "fast_track"
    URGENT = "urgent"


class DraftKind(StrEnum):
    FINAL = "final"
    INTERIM = "interim"


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    roles: frozenset[Role]
    departments: frozenset[str] = frozenset()
    active: bool = True
    # The municipality the person works in; None: the region's staff (or one district).
    municipality: str | None = None

    def has(self, role: Role) -> bool:
        return self.active and role in self.roles


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    name: str
    block: str
    department: str


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    state: State
    source: str
    text: str
    category: str | None
    department: str | None
    executor_id: int | None
    priority: Priority
    registered_at: datetime
    url: str | None = None
    author: str | None = None
    first_response_due: datetime | None = None
    answer_due: datetime | None = None
    approved_text: str | None = None
    approved_kind: DraftKind | None = None
    redirected_to: str | None = None
    # When the resident got the primary answer that names the deadline (stops that clock).
    first_response_at: datetime | None = None
    # The date an interim answer promised the final one by.
    promised_at: datetime | None = None
    # When the current answer clock started: registration, or the end of an interim wait.
    clock_start: datetime | None = None
    # After a final answer: until when a reply of the resident reopens the incident.
    feedback_until: datetime | None = None
    # Bumped by every transition; buttons carry it so a press on an outdated card is caught.
    version: int = 0
    # The deadline policy chosen on the card (None: the one ``[sla.sources]`` gives the source).
    policy: str | None = None
    # Кузбасс-онлайн: the subcategory chosen with the category, and the result status of the
    # final answer chosen on approval ("resolved" | "explained").
    subcategory: str | None = None
    result_status: str | None = None
    # The address named in the text, normalised (workflows/addresses.py): «ул. Школьная, д. 12».
    address: str | None = None
    # The municipality it belongs to (a region's deployment); None: the region's own, or
    # the single district's.
    municipality: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A resident's message found by a source (or forwarded by a coordinator): what it says,
    where it is, and its natural key on the source, so that seeing it twice changes nothing."""

    source: str
    external_id: str
    text: str
    category: str | None
    url: str | None = None
    author: str | None = None
    author_id: str | None = None
    thread: str | None = None
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = ()
    priority: Priority = Priority.NORMAL
    # The platform's own answer deadline (ПОС, «Инцидент Менеджмент»), when it sets one.
    due: datetime | None = None
    subcategory: str | None = None
    # The municipality named by the source (the HTTP intake's field); else the place says.
    municipality: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # "photo" | "video" | "document" | "link"
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    local_path: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    incident_id: int
    author_id: int
    text: str
    kind: DraftKind = DraftKind.FINAL
    attachments: tuple[Attachment, ...] = ()
    promised_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A platform-neutral button: what it does and to which incident. Front ends draw it."""

    action: str
    incident_id: int
    arg: str = ""
    # Shown instead of the action's standard label (a category name, a person's name).
    label: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """A message the core wants somebody to receive; rendered from ``template`` by a front end.

    ``to`` is either a person id or an audience resolved by the application: "coordinators",
    "curators", "heads", "block_owners_of:<department key>",
    "department_heads:<department key>".
    """

    to: int | str
    template: str
    context: dict[str, object] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    # Files to send along: "draft" (the executor's photos and documents) or "incident"
    # (the resident's own photos).
    attach: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    incident_id: int | None
    actor_id: int | None
    action: str
    from_state: State | None
    to_state: State | None
    at: datetime
    reason: str | None = None
    ok: bool = True
