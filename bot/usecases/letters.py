"""Answer letters of the Governor's networks: the DOCX made after the final approval, the
signed PDF the executor uploads, and the e-mail that sends both, retried until it goes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot import letters
from bot.config import Config
from bot.logs import mask
from bot.mailer import Mailer, MailFailed, build_message
from bot.storage import Storage, UnitOfWork
from bot.templates import Templates
from bot.usecases.common import Clock, Policies, Result
from bot.usecases.notifier import Notifier
from workflows.model import Attachment, AuditEntry, Button, Incident, Person, Role

log = logging.getLogger(__name__)


class Letters:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 policies: Policies, notifier: Notifier, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.policies = policies
        self.notifier = notifier
        self.clock = clock
        self.mailer = Mailer(config)


    async def make_letter(self, uow: UnitOfWork, incident: Incident, now: datetime) -> None:
        """After the final approval: the answer letter as DOCX for the executor to sign, and
        the request to upload the signed PDF."""
        names = {p.id: p.name for p in await uow.people.all()}
        executor = names.get(incident.executor_id or 0, "")
        path = Path(self.config.files_dir) / "letters" / \
            f"incident-{incident.id}-{incident.version}.docx"
        letters.make_letter(path, incident=incident, text=incident.approved_text or "",
                            executor=executor,
                            department=self.config.departments.get(incident.department or "",
                                                                   ""),
                            at=now.astimezone(self.config.tz))
        emails = self.policies.procedure_for(incident).email_to
        await uow.letters.add(incident.id, incident.version, str(path), list(emails), now)
        await uow.audit.add(AuditEntry(incident.id, None, "letter_made", incident.state,
                                      incident.state, now, path.name))
        docx = Attachment("document", "", f"Ответ по инциденту {incident.id}.docx",
                          letters.DOCX_MIME, str(path))
        if incident.executor_id is None:
            return
        executor_person = await uow.people.get(incident.executor_id)
        if executor_person is not None:
            text = self.templates.phrase("letter_sign", n=incident.id,
                                         emails=", ".join(emails))
            await self.notifier.send_to(uow, executor_person, text,
                                ((Button("signed_pdf", incident.id),),),
                                version=incident.version, attachments=(docx,))

    async def waiting(self, incident_id: int) -> dict[str, Any] | None:
        """The newest letter of the incident, or None."""
        async with self.store.read() as uow:
            return await uow.letters.newest(incident_id)

    async def to_sign(self, person: Person) -> list[int]:
        """The incidents whose letter waits for ``person``'s signed PDF."""
        async with self.store.read() as uow:
            return await uow.letters.to_sign(person.id)

    async def may_sign(self, actor: Person, incident_id: int) -> Result:
        """Whether ``actor`` may upload the signed letter of the incident now (the front end
        asks before it waits for the file)."""
        async with self.store.read() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None:
                return Result(False, "not_found")
            code = _why_not(actor, incident, await uow.letters.newest(incident_id))
        return Result(not code, code, incident)

    async def receive_signed(self, actor: Person, incident_id: int,
                             attachment: Attachment) -> Result:
        """The signed letter as PDF from the executor: kept and audited; the letter is then
        due for :meth:`send_due` (the caller sends it at once)."""
        now = self.clock()
        async with self.store.write() as uow:
            incident = await uow.incidents.get(incident_id)
            if incident is None:
                return Result(False, "not_found")
            row = await uow.letters.newest(incident_id)
            code = _why_not(actor, incident, row)
            if not code and not letters.is_pdf(attachment.local_path, attachment.file_name,
                                               attachment.mime_type):
                code = "not_a_pdf"
            if code:
                await uow.audit.add(AuditEntry(incident_id, actor.id, "letter_signed",
                                              incident.state, None, now, code, ok=False))
                return Result(False, code, incident)
            assert row is not None
            await uow.letters.mark_signed(incident_id, row["round"], attachment.local_path,
                                          attachment.file_name or "signed.pdf", now)
            await uow.audit.add(AuditEntry(incident_id, actor.id, "letter_signed",
                                          incident.state, incident.state, now,
                                          attachment.file_name))
        return Result(True, incident=incident)

    async def send_due(self, batch: int = 20) -> int:
        """E-mail the signed letters whose time has come; the number sent. The SMTP call is
        made outside any transaction; a failure is recorded and retried with backoff (up to
        an hour apart), and the coordinators are told once per letter; nothing is lost."""
        now = self.clock()
        async with self.store.read() as uow:
            rows = await uow.letters.due(now, batch)
        sent = 0
        for row in rows:
            async with self.store.read() as uow:
                incident = await uow.incidents.get(row["incident_id"])
                people = {p.id: p for p in await uow.people.all()}
            if incident is None:
                continue
            to = row["email_to"]
            executor = people.get(incident.executor_id or 0)
            parts = letters.render_parts(letters.letter_context(
                incident=incident, text=incident.approved_text or "",
                executor=executor.name if executor else "",
                department=self.config.departments.get(incident.department or "", ""),
                at=(row["created_at"] or now).astimezone(self.config.tz)))
            error = ""
            try:
                msg = build_message(
                    sender=self.mailer.sender, to=to, subject=parts["email_subject"],
                    body=parts["email_body"],
                    files=[(Path(row["pdf_path"]), row["pdf_name"] or "signed.pdf",
                            letters.PDF_MIME),
                           (Path(row["docx_path"]), f"Ответ по инциденту {incident.id}.docx",
                            letters.DOCX_MIME)])
                await self.mailer.send(msg)
            except MailFailed as e:
                error = mask(str(e))
            except OSError as e:  # a file gone from files_dir
                error = f"{type(e).__name__}: {e}"
            await self._letter_outcome(incident, row, to, error)
            sent += not error
        return sent

    async def _letter_outcome(self, incident: Incident, row: dict[str, Any], to: list[str],
                              error: str) -> None:
        now = self.clock()
        key = (incident.id, row["round"])
        async with self.store.write() as uow:
            if not error:
                await uow.letters.mark_sent(*key, now)
                await uow.audit.add(AuditEntry(incident.id, None, "email_sent", incident.state,
                                              incident.state, now, ", ".join(to)))
                text = self.templates.phrase("letter_sent", n=incident.id, emails=", ".join(to))
                if incident.executor_id is not None:
                    executor = await uow.people.get(incident.executor_id)
                    if executor is not None:
                        await self.notifier.send_to(uow, executor, text)
                await self.notifier.send_to_role(uow, Role.COORDINATOR, text, about=incident)
                log.info("incident #%s: letter e-mailed to %s", incident.id, ", ".join(to))
                return
            attempts = row["attempts"] + 1
            retry_at = now + timedelta(seconds=min(300 * 2 ** (attempts - 1), 3600))
            await uow.letters.mark_retry(*key, attempts, error, retry_at)
            await uow.audit.add(AuditEntry(incident.id, None, "email_failed", incident.state,
                                          incident.state, now, error[:500]))
            log.warning("incident #%s: letter not e-mailed (attempt %s): %s", incident.id,
                        attempts, error)
            if attempts == 1:  # told once; the sweep keeps trying
                await self.notifier.send_to_role(uow, Role.COORDINATOR, self.templates.phrase(
                    "letter_failed", n=incident.id, reason=error,
                    at=retry_at.astimezone(self.config.tz).strftime("%H:%M")), about=incident)


def _why_not(actor: Person, incident: Incident, letter: dict[str, Any] | None) -> str:
    """Why ``actor`` may not sign the incident's letter now ("" when they may)."""
    if incident.executor_id != actor.id:
        return "not_assigned"
    if letter is None:
        return "no_letter"
    if letter["status"] != "unsigned":
        return "letter_done"
    return ""
