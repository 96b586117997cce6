"""Who is looking at the board: one-time login links and signed session cookies.

``/board`` in the chat issues a link with a random token; only the token's SHA-256 is
stored (``board_links``), with its expiry (:data:`LINK_TTL`). Opening the link spends it —
once, in one transaction — and sets a session cookie ``person.issued.signature`` signed with
HMAC-SHA256 by a key kept in the database (``board_keys``, made at the first use). The
cookie is good for :data:`SESSION_TTL`; every request checks the person again, so a person
deactivated (or no longer an overseer) loses the board at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage import Storage
from workflows.model import Person, Role

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
COOKIE = "otklik_board"


def board_roles() -> tuple[Role, ...]:
    """Who may open the board: those who oversee the work (and the head of the МЦУ, where
    that role exists)."""
    roles = [Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER, Role.ADMIN]
    head = getattr(Role, "HEAD", None)
    if head is not None:
        roles.append(head)
    return tuple(roles)


def may_use_board(person: Person | None) -> bool:
    return (person is not None and person.active
            and any(person.has(r) for r in board_roles()))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Redeemed:
    """The outcome of opening a link: the person, or why not (``unknown``, ``used``,
    ``expired``, ``not_allowed``)."""

    person: Person | None
    why: str = ""


class Sessions:
    def __init__(self, store: Storage) -> None:
        self.store = store
        self._key: bytes | None = None

    async def issue_link(self, person: Person, now: datetime) -> str:
        """A new one-time token for ``person`` (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        async with self.store.write() as uow:
            # Spent and expired links are of no use to anyone: keep the table small.
            await uow.board.add_link(_hash(token), person.id, now, now + LINK_TTL,
                                     purge_before=now - timedelta(days=1))
        return token

    async def redeem(self, token: str, now: datetime) -> Redeemed:
        """Spend a link: the person it was issued to, once, within :data:`LINK_TTL`."""
        if not token or len(token) > 200:
            return Redeemed(None, "unknown")
        async with self.store.write() as uow:
            link = await uow.board.link(_hash(token))
            if link is None:
                return Redeemed(None, "unknown")
            person_id, expires, used = link
            if used:
                return Redeemed(None, "used")
            if now >= expires:
                return Redeemed(None, "expired")
            await uow.board.use_link(_hash(token), now)
            person = await uow.people.get(person_id)
        if not may_use_board(person):
            return Redeemed(None, "not_allowed")
        return Redeemed(person)

    async def _signing_key(self) -> bytes:
        if self._key is None:
            async with self.store.write() as uow:
                key = await uow.board.signing_key(secrets.token_hex(32))
            self._key = bytes.fromhex(key)
        return self._key

    async def cookie_for(self, person: Person, now: datetime) -> str:
        body = f"{person.id}.{int(now.timestamp())}"
        sig = hmac.new(await self._signing_key(), body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{sig}"

    async def person_of(self, cookie: str | None, now: datetime) -> Person | None:
        """The person of a valid, unexpired session cookie who may still use the board."""
        if not cookie or len(cookie) > 200:
            return None
        parts = cookie.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        body = f"{parts[0]}.{parts[1]}"
        expected = hmac.new(await self._signing_key(), body.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts[2]):
            return None
        issued = int(parts[1])
        age = now.timestamp() - issued
        if age < -60 or age >= SESSION_TTL.total_seconds():
            return None
        async with self.store.read() as uow:
            person = await uow.people.get(int(parts[0]))
        return person if may_use_board(person) else None
