"""E-mail through the deployment's SMTP server (``[email]``): the signed answer letters.

smtplib runs off the event loop (``asyncio.to_thread``); a failure raises :class:`MailFailed`
with a reason fit for the coordinator, and the caller keeps the letter to try again later.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from bot.config import Config


class MailFailed(Exception):
    """The message did not leave; ``str(e)`` says why."""


def build_message(*, sender: str, to: Sequence[str], subject: str, body: str,
                  files: Sequence[tuple[Path, str, str]]) -> EmailMessage:
    """A message with ``files`` attached: (path, file name, MIME type)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(body)
    for path, name, mime in files:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=name)
    return msg


class Mailer:
    def __init__(self, config: Config) -> None:
        self.settings = config.settings.email
        self.password = config.smtp_password

    @property
    def configured(self) -> bool:
        return bool(self.settings.host)

    @property
    def sender(self) -> str:
        return self.settings.from_address

    async def send(self, msg: EmailMessage) -> None:
        if not self.configured:
            raise MailFailed("[email] host is not set")
        await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            if s.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with smtp:
                if s.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.user:
                    smtp.login(s.user, self.password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            raise MailFailed("SMTP refused every recipient: "
                             + ", ".join(sorted(e.recipients))) from None
        except smtplib.SMTPResponseException as e:
            detail = e.smtp_error.decode("utf-8", "replace") if isinstance(
                e.smtp_error, bytes) else str(e.smtp_error)
            raise MailFailed(f"SMTP {e.smtp_code}: {detail}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise MailFailed(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                             ) from None
        if refused:
            raise MailFailed("SMTP refused: " + ", ".join(sorted(refused)))
