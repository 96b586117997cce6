"""One problem, many complaints (workflows/problems.py): the suggestion to merge a newly
registered complaint, what a card shows of its problem, and the lead's answers published
under every complaint of the problem."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bot.config import Config
from bot.publishers import Publisher, PublishFailed, PublishLater
from bot.storage import Storage, UnitOfWork
from bot.templates import Templates
from bot.usecases.common import Clock
from bot.usecases.notifier import Notifier
from workflows import problems
from workflows.model import Attachment, AuditEntry, Button, Incident, Notification, Role
from workflows.transitions import COORDINATORS

_WORD = re.compile(r"\w{3,}")
ROUNDS = 1_000_000
# The terms of this many texts are kept: every new complaint is compared with the open ones of
# its category in the window, whose terms would otherwise be found again each time.
TERMS_KEPT = 8192


def plain_words(text: str) -> list[str]:
    """Terms without a lemmatizer: the lowercased words of three letters or more."""
    return _WORD.findall(text.lower())


class Problems:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 notifier: Notifier, publishers: dict[str, Publisher], clock: Clock,
                 words: Callable[[str], list[str]] = plain_words) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.notifier = notifier
        self.publishers = publishers
        self.clock = clock
        # A complaint's text → its terms (lemmas where detection has them), kept per text.
        self.terms = functools.lru_cache(maxsize=TERMS_KEPT)(
            lambda text: tuple(words(text)))
        settings = config.settings.problems
        self.window = timedelta(days=settings.window_days)
        self.threshold = settings.similarity

    async def suggest(self, uow: UnitOfWork, incident: Incident) -> problems.Match | None:
        """A newly registered complaint that looks like an open problem (or another open
        incident) is offered to the coordinators to merge: «Объединить» / «Отдельно».
        Nothing is merged without the press."""
        if not incident.category:
            return None
        rows = await uow.problems.candidates(incident.category,
                                             incident.registered_at - self.window)
        found = problems.match(
            incident, self.terms(incident.text),
            (problems.Candidate(i, self.terms(i.text), n) for i, n in rows),
            window=self.window, threshold=self.threshold)
        if found is None:
            return None
        text = self.templates.phrase("problem_suggest", n=incident.id, lead=found.lead.id,
                                     complaints=found.complaints + 1, by=found.by,
                                     address=incident.address or "")
        await self.notifier.send_to_role(uow, Role.COORDINATOR, text, buttons=((
            Button("merge", incident.id, str(found.lead.id)),
            Button("separate", incident.id)),), version=incident.version,
            about=incident)
        await uow.audit.add(AuditEntry(incident.id, None, "problem_suggested", incident.state,
                                       incident.state, self.clock(), f"problem {found.lead.id}"))
        return found

    async def separate(self, incident_id: int, actor_id: int) -> None:
        """«Отдельно»: the coordinator keeps the complaint its own incident (audited)."""
        async with self.store.write() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is not None:
                await uow.audit.add(AuditEntry(incident.id, actor_id, "problem_separate",
                                               incident.state, incident.state, self.clock()))

    async def of(self, incident_id: int) -> tuple[int, int] | None:
        """The problem an incident belongs to, as (lead, its complaints: the lead's own and
        those merged into it), or None: a lone one."""
        async with self.store.read() as uow:
            link = await uow.problems.problem_of(incident_id)
            lead = link["problem_id"] if link else incident_id
            complaints = await uow.problems.complaints(lead)
        return (lead, len(complaints) + 1) if complaints else None

    async def sizes(self, incident_ids: Sequence[int]) -> dict[int, int]:
        """Of these incidents, the problems among them: lead → its complaints (a list's
        «Проблема №7: N жалоб»)."""
        async with self.store.read() as uow:
            return await uow.problems.sizes(incident_ids)

    async def publish_to_complaints(self, lead: Incident, text: str,
                                    attachments: tuple[Attachment, ...] | list[Attachment]
                                    ) -> list[str]:
        """The lead's published answer under every complaint of its problem, through the
        complaint's own publisher (each VK comment its reply, each Telegram group its
        message); a complaint of a source without a publisher, or whose publication fails,
        is handed to the coordinators in the audit. What was posted, one line each."""
        async with self.store.read() as uow:
            ids = await uow.problems.complaints(lead.id)
            complaints = [(await uow.incidents.get(i), await uow.incidents.origin(i))
                          for i in ids]
        posted: list[str] = []
        for complaint, origin in complaints:
            if complaint is None:
                continue
            publisher = self.publishers.get(complaint.source)
            result, note = "", "no_publisher"
            if publisher is not None:
                # The publishers key a publication (VK's guid, the parts sent to a group) by
                # the incident and its version: a complaint's stays while its lead's answers
                # go out round after round, so each round is keyed by the lead's version,
                # offset past any the complaint had on its own.
                round_ = replace(complaint, version=ROUNDS + lead.version)
                try:
                    result, note = await publisher.publish(round_, origin, text,
                                                           tuple(attachments))
                except (PublishLater, PublishFailed) as e:
                    result, note = "", str(e)
            async with self.store.write() as uow:
                await uow.audit.add(AuditEntry(
                    complaint.id, None, "problem_published" if result else "publish_failed",
                    complaint.state, complaint.state, self.now(),
                    f"problem {lead.id}: {result or note}"[:500], ok=bool(result)))
                if not result:  # the coordinators publish it by hand: never lost
                    await self.notifier.deliver(uow, complaint, [Notification(
                        COORDINATORS, "publish_package", {"text": text, "failure": note})],
                        None)
            if result:
                posted.append(f"{complaint.id}: {result}")
        return posted

    def now(self) -> datetime:
        return self.clock()
