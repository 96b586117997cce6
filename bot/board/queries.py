"""What the board shows, read from the store: the open incidents a person may see, filtered;
the SLA panel; one incident with its photos, drafts, returns, answers and history.

Every list goes through :func:`workflows.visibility.may_see`, the same rule as the chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.storage import Storage
from workflows.ladder import OWED
from workflows.model import Attachment, AuditEntry, Draft, Incident, Person, State
from workflows.visibility import may_see

PAGE_SIZE = 100
QUERY_LIMIT = 200  # the longest search text taken
# The filters of the list, in the order of the form, with their Russian labels.
FILTERS = {
    "state": "Состояние",
    "department": "Подразделение",
    "category": "Категория",
    "source": "Источник",
    "due": "Срок",
    "executor": "Исполнитель",
    "q": "Поиск",
}
DUE_CHOICES = {"overdue": "просрочен", "today": "срок сегодня"}
OTHER_PARAMS = frozenset({"page"})


@dataclass
class Filters:
    """The filters of a request that were understood, and notes on what was not."""

    values: dict[str, str] = field(default_factory=dict)
    page: int = 1
    notes: list[str] = field(default_factory=list)


def parse_filters(query: Mapping[str, str], choices: Mapping[str, Mapping[str, str]]
                  ) -> Filters:
    """Take the known filters with known values; anything else is left out with a note
    (never an error). ``choices``: the allowed values of each choice filter."""
    out = Filters()
    for key in query:
        value = query[key].strip()
        if key not in FILTERS and key not in OTHER_PARAMS:
            out.notes.append(f"Неизвестный фильтр «{key[:40]}» не учтён.")
            continue
        if not value:
            continue
        if key == "page":
            if value.isascii() and value.isdigit() and 0 < int(value) < 10**6:
                out.page = int(value)
            else:
                out.notes.append(f"Номер страницы «{value[:40]}» не распознан: показана первая.")
            continue
        if key == "q":
            out.values["q"] = value[:QUERY_LIMIT]
            continue
        allowed = choices.get(key, {})
        if value not in allowed:
            out.notes.append(f"Значение «{value[:40]}» фильтра «{FILTERS[key]}» не распознано "
                             "и не учтено.")
            continue
        out.values[key] = value
    return out


def _due_today_end(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def is_overdue(i: Incident, now: datetime) -> bool:
    return i.state in OWED and i.answer_due is not None and i.answer_due < now


def is_due_today(i: Incident, now: datetime, tz: ZoneInfo) -> bool:
    return (i.state in OWED and i.answer_due is not None
            and now <= i.answer_due < _due_today_end(now, tz))


async def open_visible(store: Storage, person: Person) -> list[Incident]:
    states = [s for s in State if s.is_open]
    async with store.read() as uow:
        incidents = await uow.incidents.select(states=states)
    return [i for i in incidents if may_see(person, i)]


def apply_filters(incidents: list[Incident], f: Filters, config: Config, now: datetime,
                  executor_names: Mapping[int, str]) -> list[Incident]:
    v = f.values
    out = incidents
    if "state" in v:
        out = [i for i in out if i.state == v["state"]]
    if "department" in v:
        out = [i for i in out if (i.department or "") == v["department"]]
    if "category" in v:
        out = [i for i in out if (i.category or "") == v["category"]]
    if "source" in v:
        out = [i for i in out if i.source == v["source"]]
    if "executor" in v:
        wanted = int(v["executor"]) if v["executor"].isdigit() else None
        out = [i for i in out if i.executor_id == wanted]
    if v.get("due") == "overdue":
        out = [i for i in out if is_overdue(i, now)]
    elif v.get("due") == "today":
        out = [i for i in out if is_due_today(i, now, config.tz)]
    if "q" in v:
        needle = v["q"].casefold()
        out = [i for i in out if needle in i.text.casefold()
               or needle in (i.author or "").casefold() or needle == str(i.id)]
    return out


def sla_panel(incidents: list[Incident], config: Config, now: datetime) -> dict[str, Any]:
    """The figures of the coordinators' morning digest, live: overdue, due today, on
    review, waiting for an interim date, and the overdue and due today per department."""
    overdue = [i for i in incidents if is_overdue(i, now)]
    today = [i for i in incidents if is_due_today(i, now, config.tz)]
    per_department: dict[str, dict[str, int]] = {}
    for i in incidents:
        name = config.departments.get(i.department or "", "Без подразделения")
        row = per_department.setdefault(name, {"open": 0, "overdue": 0, "today": 0})
        row["open"] += 1
        if is_overdue(i, now):
            row["overdue"] += 1
        elif is_due_today(i, now, config.tz):
            row["today"] += 1
    return {
        "overdue": sorted(overdue, key=lambda i: i.answer_due or now),
        "due_today": sorted(today, key=lambda i: i.answer_due or now),
        "on_review": [i for i in incidents if i.state == State.ON_REVIEW],
        "waiting": sorted((i for i in incidents if i.state == State.WAITING),
                          key=lambda i: i.promised_at or now),
        "per_department": sorted(per_department.items()),
    }


@dataclass
class IncidentPage:
    incident: Incident
    photos: list[tuple[int, Attachment]]   # (attachment id, attachment)
    draft: Draft | None
    returns: list[AuditEntry]
    answers: list[dict[str, Any]]
    history: list[AuditEntry]
    repeats: list[dict[str, Any]]


async def incident_page(store: Storage, incident_id: int) -> IncidentPage | None:
    async with store.read() as uow:
        incident = await uow.incidents.get(incident_id)
        if incident is None:
            return None
        photos = await uow.board.photos(incident_id)
        draft = await uow.drafts.get(incident_id)
        history = [e for e in await uow.audit.entries(incident_id) if e.ok]
        answers = await uow.board.answers(incident_id)
        repeats = await uow.board.repeats(incident_id)
    returns = [e for e in history if e.action == "return"]
    return IncidentPage(incident, photos, draft, returns, answers, history, repeats)


async def attachment(store: Storage, incident_id: int, attachment_id: int
                     ) -> Attachment | None:
    async with store.read() as uow:
        return await uow.board.attachment(incident_id, attachment_id)
