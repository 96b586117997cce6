"""«Возможный инцидент»: a message that matched no category but reads like a complaint.

It goes to the coordinators with the likely categories as buttons and *Не инцидент*. A
category registers it as an incident (routed as usual); either answer is kept as a labelled
example for the detection model. At most ``[detection] possible_per_hour`` cards go out per
hour; the rest wait for one digest an hour (sent by the scheduler's detection job), whose
buttons open each card.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.learning import add_label
from bot.storage import UnitOfWork
from workflows.model import Attachment, Button, Person, Role, Sighting
from workflows.triage import NOT_A_COMPLAINT
from workflows.visibility import in_municipality

if TYPE_CHECKING:
    from bot.usecases.common import Result
    from bot.usecases.intake import Intake

DIGEST_EVERY = timedelta(hours=1)
DIGEST_ITEMS = 10


def _text(intake: Intake, key: str, **context: Any) -> str:
    raw = intake.templates.phrase_raw("detection", key)
    return intake.templates.env.from_string(raw).render(**context)


async def observe(intake: Intake, seen: Sighting) -> Result:
    """Judge a message that matched no category; keep and show it when it reads like a
    complaint (``code`` "possible"), else ``no_match``."""
    from bot.usecases.common import Result

    triage = intake.triage
    if triage is None:
        return Result(False, "no_match")
    verdict = triage.classify(seen.text)
    if not verdict.complaint:
        return Result(False, "no_match")
    now = intake.clock()
    limit = intake.config.settings.detection.possible_per_hour
    async with intake.store.write() as uow:
        if await uow.possible.by_key(seen.source, seen.external_id) is not None:
            return Result(True, "existing")
        sent = await uow.possible.count_sent_since(now - DIGEST_EVERY)
        status = "sent" if sent < limit else "queued"
        suggestions = list(verdict.suggestions) or list(intake.config.categories)[:3]
        sighting = asdict(seen) | {"priority": seen.priority.value}
        pc_id = await uow.possible.add(seen.source, seen.external_id, sighting, suggestions,
                                       now, status)
        if status == "sent":
            await _send_card(intake, uow, pc_id, seen, suggestions)
    return Result(True, "possible")


async def _send_card(intake: Intake, uow: UnitOfWork, pc_id: int, seen: Sighting,
                     suggestions: list[str], person: Person | None = None) -> None:
    categories = intake.config.categories
    text = _text(intake, "possible_card", n=pc_id, text=seen.text, url=seen.url,
                 author=seen.author, source=intake.templates.phrase_raw(
                     "sources", seen.source, default=seen.source),
                 likely=[categories[k].name for k in suggestions if k in categories])
    rows = [[Button("pc", pc_id, key, label=categories[key].name)]
            for key in suggestions if key in categories]
    rows.append([Button("pc_more", pc_id, label=_text(intake, "other_category")),
                 Button("pc", pc_id, NOT_A_COMPLAINT, label=_text(intake, "not_a_complaint"))])
    if person is not None:
        await intake.notifier.send_to(uow, person, text, rows)
    else:
        # The coordinators of the municipality the message came from (and the region's).
        where = _municipality(intake, seen)
        for who in await uow.people.all():
            if who.has(Role.COORDINATOR) and who.active and in_municipality(who, where):
                await intake.notifier.send_to(uow, who, text, rows)


async def digest(intake: Intake) -> bool:
    """The queued possible complaints as one message to the coordinators, at most once an
    hour; True when one went out."""
    now = intake.clock()
    async with intake.store.write() as uow:
        last = await uow.cursors.get("possible", "digest_at")
        if last and now.timestamp() - last < DIGEST_EVERY.total_seconds():
            return False
        items = await uow.possible.queued()
        if not items:
            return False
        # In a region each coordinator gets the possible complaints of their municipality.
        where = {n: await _where(intake, uow, n) for n, _ in items} \
            if intake.config.municipalities else {}
        for who in await uow.people.all():
            if not (who.has(Role.COORDINATOR) and who.active):
                continue
            mine = [(n, t) for n, t in items if in_municipality(who, where.get(n))]
            if not mine:
                continue
            text = _text(intake, "possible_digest", count=len(mine),
                         items=mine[:DIGEST_ITEMS], more=max(len(mine) - DIGEST_ITEMS, 0))
            rows = [[Button("pc_show", n, label=_text(intake, "open_possible", n=n))]
                    for n, _ in mine[:DIGEST_ITEMS]]
            await intake.notifier.send_to(uow, who, text)
            await intake.notifier.send_to(uow, who, _text(intake, "possible_digest_pick"), rows)
        await uow.possible.mark_digested()
        await uow.cursors.set("possible", "digest_at", int(now.timestamp()))
    return True


async def _where(intake: Intake, uow: UnitOfWork, pc_id: int) -> str | None:
    """The municipality a possible complaint came from (None: the region's own)."""
    row = await uow.possible.get(pc_id)
    seen = _sighting(row["sighting"]) if row else None
    return _municipality(intake, seen) if seen else None


def _municipality(intake: Intake, seen: Sighting) -> str | None:
    """The municipality of the place the message came from (None: the region's own)."""
    return intake.config.municipality_of(seen.thread, seen.municipality)


async def show(intake: Intake, actor: Person, pc_id: int, *, every: bool = False) -> str:
    """Send one possible complaint's card to ``actor`` (``every``: with all categories);
    the refusal code, or ''."""
    if not actor.has(Role.COORDINATOR):
        return "wrong_role"
    async with intake.store.write() as uow:
        row = await uow.possible.get(pc_id)
        if row is None:
            return "not_found"
        if row["status"] in ("registered", "dismissed"):
            return "possible_done"
        seen = _sighting(row["sighting"])
        if not in_municipality(actor, _municipality(intake, seen)):
            return "not_visible"  # another municipality's
        keys = list(intake.config.categories) if every else row["suggestions"]
        await _send_card(intake, uow, pc_id, seen, keys, actor)
    return ""


async def decide(intake: Intake, actor: Person, pc_id: int, category: str) -> Result:
    """The coordinator's answer: a category registers the message as an incident; ``-`` (Не
    инцидент) dismisses it. Either is learned."""
    from bot.usecases.common import Result

    if not actor.has(Role.COORDINATOR):
        return Result(False, "wrong_role")
    if category != NOT_A_COMPLAINT and category not in intake.config.categories:
        return Result(False, "unknown_category")
    now = intake.clock()
    async with intake.store.write() as uow:
        row = await uow.possible.get(pc_id)
        if row is None:
            return Result(False, "not_found")
        if row["status"] in ("registered", "dismissed"):
            return Result(False, "possible_done")
        seen = _sighting(row["sighting"])
        if not in_municipality(actor, _municipality(intake, seen)):
            return Result(False, "not_visible")  # another municipality's
        await add_label(uow, seen.text, category, person_id=actor.id, at=now)
        if category == NOT_A_COMPLAINT:
            await uow.possible.decide(pc_id, "dismissed", actor.id)
            return Result(True, "dismissed")
    seen = replace(seen, category=category)
    result = await intake.register(actor, seen)
    if result.ok and result.incident is not None:
        async with intake.store.write() as uow:
            await uow.possible.decide(pc_id, "registered", actor.id, result.incident.id)
    return result


async def learn_pick(intake: Intake, actor: Person, text: str, category: str) -> None:
    """A category the coordinator picked for a post they sent: a labelled example."""
    async with intake.store.write() as uow:
        await add_label(uow, text, category, person_id=actor.id, at=intake.clock())


def suggested_first(intake: Intake, text: str, municipality: str | None = None) -> list[str]:
    """The config's category keys with the likely ones for ``text`` first; those of an
    incident of ``municipality`` (a category of another municipality is left out)."""
    keys = [k for k in intake.config.categories
            if intake.config.category_serves(k, municipality)]
    if intake.triage is None or not text.strip():
        return keys
    likely = [k for k in intake.triage.classify(text).suggestions if k in keys]
    return likely + [k for k in keys if k not in likely]


def _sighting(stored: dict[str, Any]) -> Sighting:
    from workflows.model import Priority

    data = dict(stored)
    data["attachments"] = tuple(Attachment(**a) for a in data.get("attachments") or ())
    data["priority"] = Priority(data.get("priority") or "normal")
    return Sighting(**data)


__all__ = ["decide", "digest", "learn_pick", "observe", "show", "suggested_first"]
