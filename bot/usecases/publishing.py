"""Publishing: approved answers posted by their publishers (a VK comment, a Telegram group
reply), outside any transaction; a permanent failure hands the package to the coordinators."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Config
from bot.publishers import Publisher, PublishFailed, PublishLater
from bot.storage import Storage
from bot.usecases.common import Clock, published_text
from bot.usecases.ledger import Ledger
from bot.usecases.notifier import Notifier
from bot.usecases.problems import Problems
from workflows import transitions as core
from workflows.model import AuditEntry, Button, Incident, Notification, State
from workflows.regulation import Action


class Publishing:
    def __init__(self, store: Storage, config: Config, publishers: dict[str, Publisher],
                 notifier: Notifier, ledger: Ledger, clock: Clock,
                 problems: Problems | None = None) -> None:
        self.store = store
        self.config = config
        # source → the publisher that posts approved answers there by itself
        self.publishers = publishers
        self.notifier = notifier
        self.ledger = ledger
        self.clock = clock
        self.problems = problems  # the answer goes under every complaint of a problem too


    async def publish_due(self, batch: int = 20) -> int:
        """Post approved answers through their publishers; the number published.

        The network call happens outside any transaction; its outcome is committed with the
        state change. A permanent failure hands the coordinators the package to publish by
        hand, with the reason; the answer is never lost.
        """
        now = self.clock()
        async with self.store.read() as uow:
            due_rows = await uow.publications.due(now, batch)
        done = 0
        for incident_id, round_, attempts in due_rows:
            async with self.store.read() as uow:
                incident = await uow.incidents.get(incident_id)
                draft = await uow.drafts.get(incident_id)
                origin = await uow.incidents.origin(incident_id)
            if incident is None or incident.state is not State.APPROVED \
                    or incident.version != round_:
                async with self.store.write() as uow:  # overtaken (published by hand, reassigned)
                    await uow.publications.finish(incident_id, round_, "done", result="skipped")
                continue
            publisher = self.publishers[incident.source]
            text = published_text(incident, draft)
            try:
                posted, note = await publisher.publish(incident, origin, text,
                                                       draft.attachments if draft else ())
            except PublishLater as e:
                delay = timedelta(seconds=min(30 * 2 ** attempts, 3600))
                async with self.store.write() as uow:
                    await uow.publications.finish(incident_id, round_, "pending", error=str(e),
                                                retry_at=self.clock() + delay)
                continue
            except PublishFailed as e:
                await self._publish_by_hand(incident, round_, str(e))
                continue
            async with self.store.write() as uow:
                now = self.clock()
                out = core.mark_published(incident, None, now, promised_at=(
                    draft.promised_date if draft else None),
                    feedback_window=self.config.feedback_window)
                incident = await self.ledger.commit(uow, incident, out)
                await self.ledger.after(uow, incident, Action.PUBLISH, None, now)
                await uow.publications.finish(incident_id, round_, "done", result=posted)
                if note:
                    await self.notifier.deliver(uow, incident, [Notification(
                        core.COORDINATORS, "published_note", {"note": note})], None)
            if self.problems is not None:
                await self.problems.publish_to_complaints(
                    incident, text, draft.attachments if draft else ())
            done += 1
        return done

    async def _publish_by_hand(self, incident: Incident, round_: int, reason: str) -> None:
        async with self.store.write() as uow:
            await uow.publications.finish(incident.id, round_, "failed", error=reason)
            await uow.audit.add(AuditEntry(incident.id, None, "publish_failed", incident.state,
                                          incident.state, self.clock(), reason))
            draft = await uow.drafts.get(incident.id)
            await self.notifier.deliver(uow, incident, [Notification(
                core.COORDINATORS, "publish_package",
                {"text": published_text(incident, draft), "failure": reason},
                ((Button("published", incident.id),),), attach="draft")], None)
