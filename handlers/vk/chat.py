"""The VK community chat: every Bots Long Poll event handed to the shared flows
(``handlers.flows``).

VK's own parts stay here: callback buttons (``message_event``) answered with a snackbar
through ``messages.sendMessageEventAnswer``; photos and PDF/DOCX documents of a message
downloaded and kept on disk; invitations arriving as the ``ref`` of a ``vk.me`` link (or as
``/start TOKEN`` typed in the chat).

Each event is handled once: a message by its id, a button press by its ``event_id``, claimed
in the same transaction as its effects (the store's processed updates, in the ``vk:message``
and ``vk:event`` namespaces; :func:`bot.updates.apply_once`), the press answered after that
commit. A storage fault is retried with backoff, then the person is told «Не удалось
сохранить — повторите через минуту». An event delivered again is ignored; a stranger is told
politely that they are not registered, and nothing else happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bot.updates import NOT_SAVED, NotSaved, after_commit
from bot.usecases import UseCases
from bot.vk_client import VkClient, VkError
from handlers import flows
from handlers.vk.render import plain_text, snackbar_text, unpack_press
from workflows.model import Attachment, Person, Role

log = logging.getLogger(__name__)

PLATFORM = "vk"
CHAT_PEERS = 2_000_000_000  # peer ids of group conversations start here
SNACKBAR_LIMIT = 90
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60)
DOCUMENTS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
}
# Videos sent as files (VK's own video attachments cannot be downloaded by a community).
VIDEOS = {"mp4": "video/mp4", "mov": "video/quicktime", "3gp": "video/3gpp", "webm": "video/webm"}
# VK's photo copies from the biggest down, for photos that come without their dimensions.
SIZE_ORDER = "wzyrqpoxms"

SettleLater = Callable[[str, Callable[[], Awaitable[object]]], None]


def update_key(value: str | int) -> int:
    """A processed-update id for a VK event id (a string): 56 bits of its hash."""
    if isinstance(value, int):
        return value
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:7], "big")


class VkChat:
    def __init__(self, app: UseCases, client: VkClient, http: aiohttp.ClientSession, *,
                 settle_later: SettleLater, invite_link: Callable[[str], str]) -> None:
        self.app = app
        self.client = client
        self.http = http
        self.settle_later = settle_later
        self.invite_link = invite_link

    # --- events ------------------------------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        """One Bots Long Poll event; anything but a private message or press is ignored."""
        kind = event.get("type")
        obj = event.get("object") or {}
        handler: Callable[[dict[str, Any]], Awaitable[None]]
        if kind == "message_new":
            obj = obj.get("message", obj)  # API 5.103+: {"message": ..., "client_info": ...}
            namespace, key, handler = "vk:message", obj.get("id"), self._message
        elif kind == "message_event":
            namespace, key, handler = "vk:event", obj.get("event_id"), self._press
        else:
            return
        if not isinstance(key, int | str) or key in ("", 0):
            log.warning("VK %s without an id: ignored", kind)
            return
        applied = await self.app.gate.apply_once(namespace, update_key(key), lambda: handler(obj))
        if applied.status == NOT_SAVED:
            await self._tell_not_saved(kind, obj)

    async def _tell_not_saved(self, kind: str, obj: dict[str, Any]) -> None:
        """Storage keeps failing: say so directly, not through the outbox (it is in the same
        storage); when even that fails the event is left for VK to deliver again."""
        text = self.app.templates.phrase(NOT_SAVED)
        user_id = int(obj.get("user_id") or obj.get("from_id") or 0)
        peer_id = int(obj.get("peer_id") or 0)
        if user_id <= 0 or peer_id != user_id:
            return  # not a private chat: nothing of it is handled anyway
        try:
            if kind == "message_event":
                await self.client.call("messages.sendMessageEventAnswer",
                                       event_id=obj.get("event_id"), user_id=user_id,
                                       peer_id=peer_id, event_data={
                                           "type": "show_snackbar",
                                           "text": snackbar_text(text, SNACKBAR_LIMIT)})
            else:
                once = update_key(f"not_saved:{obj.get('id')}") % 2**31
                await self.client.call("messages.send", peer_id=peer_id,
                                       message=plain_text(text), random_id=once)
        except Exception as e:
            raise NotSaved(f"VK {kind}: {e}") from e

    def _turn(self, user_id: int, person: Person | None, state: Any) -> flows.Turn:
        return flows.Turn(self.app, PLATFORM, user_id, person, state,
                          invite_link=self.invite_link)

    # --- buttons -----------------------------------------------------------------------------

    async def _press(self, obj: dict[str, Any]) -> None:
        user_id, peer_id = int(obj.get("user_id") or 0), int(obj.get("peer_id") or 0)
        if user_id <= 0 or peer_id != user_id:
            return  # presses in group conversations: not a place to work
        admitted = await self.app.gate.admit(PLATFORM, user_id,
                                             f"button {json.dumps(obj.get('payload'))}")
        person, state = admitted.person, admitted.chat_state
        if admitted.refused:  # a stranger's press is answered silently
            closed = self.app.templates.phrase(admitted.refused) if person else ""
            await after_commit(lambda: self._answer(obj, closed))
            return
        press = unpack_press(obj.get("payload"))
        if press is None:
            refusal = self.app.templates.refusal("unknown_action")
            await after_commit(lambda: self._answer(obj, refusal))
            return
        turn = self._turn(user_id, person, state)
        await flows.press(turn, press)
        await after_commit(lambda: self._answer(obj, turn.toast))
        if turn.alert and len(plain_text(turn.toast).strip()) > SNACKBAR_LIMIT:
            await turn.say(turn.toast)  # a refusal too long for a snackbar: in full, too

    async def _answer(self, obj: dict[str, Any], toast: str) -> None:
        """Stop the button's spinner, with the toast as a snackbar when there is one."""
        text = snackbar_text(toast, SNACKBAR_LIMIT) if toast.strip() else ""
        data = {"type": "show_snackbar", "text": text} if text else None
        try:
            await self.client.call("messages.sendMessageEventAnswer",
                                   event_id=obj.get("event_id"), user_id=obj.get("user_id"),
                                   peer_id=obj.get("peer_id"), event_data=data)
        except VkError as e:  # the press is done; only its answer is lost (VK expires them)
            log.warning("could not answer the VK button press: %s", e)

    # --- messages ----------------------------------------------------------------------------

    async def _message(self, message: dict[str, Any]) -> None:
        user_id, peer_id = int(message.get("from_id") or 0), int(message.get("peer_id") or 0)
        if user_id <= 0 or peer_id != user_id or peer_id >= CHAT_PEERS:
            return  # group conversations and communities: not a place to work
        text = (message.get("text") or "").strip()
        ref = str(message.get("ref") or "").strip()
        payload = _object(message.get("payload"))
        starting = text.startswith("/start") or payload.get("command") == "start"
        admitted = await self.app.gate.admit(PLATFORM, user_id, _describe(message),
                                             starting=bool(ref) or starting)
        if admitted.refused:
            return
        person = admitted.person
        turn = self._turn(user_id, person, admitted.chat_state)
        if ref:  # opened through an invitation link vk.me/club…?ref=TOKEN
            await flows.start(turn, ref)
            return
        if person is None or not person.active:  # starting: flows.start judges them
            await flows.start(turn, text.partition(" ")[2].strip()
                              if text.startswith("/start") else "")
            return
        # Writing to the community allows its messages again: a later failure is news.
        await self.app.chats.chat_answered(PLATFORM, user_id)
        if payload.get("command") == "start":  # the «Начать» button of a new conversation
            await flows.start(turn, "")
            return
        items = message.get("attachments") or []
        files = [a for a in items if a.get("type") in ("photo", "doc")]
        wall = next((a.get("wall") for a in items if a.get("type") == "wall"), None)
        if wall and person.has(Role.COORDINATOR) and not files:
            await self._shared_post(turn, wall, text)
        elif files:
            await self._files(turn, message, files, text)
        elif text:
            await flows.text(turn, text)
        else:
            await turn.say(self.app.templates.phrase(
                "unsupported_file" if items else "unknown_input"))

    async def _shared_post(self, turn: flows.Turn, wall: dict[str, Any], text: str) -> None:
        """A wall post shared into the chat by a coordinator: registered after a category."""
        url = f"https://vk.com/wall{wall.get('owner_id')}_{wall.get('id')}"
        body = "\n".join(t for t in (text, wall.get("text") or "") if t)
        await flows.intake(turn, body, [], source="vk", url=url, author=None)

    async def _files(self, turn: flows.Turn, message: dict[str, Any],
                     files: list[dict[str, Any]], text: str) -> None:
        """Photos and documents of one message: one album (one preview, one intake)."""
        group = f"vk{message.get('id')}" if len(files) > 1 else None
        person = turn.me
        for i, item in enumerate(files):
            state = await self.app.chats.mode(person, PLATFORM)  # the first file may start writing
            n = state.incident_id if state and state.incident_id else 0
            attachment, unique_id = await self.save_file(item, n)
            if attachment is None and unique_id:
                await turn.say(self.app.templates.phrase("file_download_failed"))
                continue
            await flows.attach(self._turn(turn.chat_id, person, state), attachment, unique_id,
                               group, text if i == 0 and text else None, self.settle_later)

    async def save_file(self, item: dict[str, Any], n: int) -> tuple[Attachment | None, str]:
        """The photo or document of an attachment, downloaded to disk (VK's links expire).

        ``(None, "")``: a kind of file Otklik does not take; ``(None, unique_id)``: the
        download failed."""
        if item.get("type") == "photo":
            photo = item.get("photo") or {}
            unique_id = f"vkphoto{photo.get('owner_id')}_{photo.get('id')}"
            url, kind = _biggest(photo), "photo"
            name, mime = f"{unique_id}.jpg", "image/jpeg"
        else:
            doc = item.get("doc") or {}
            ext = str(doc.get("ext") or "").lower()
            if ext not in DOCUMENTS and ext not in VIDEOS:
                return None, ""
            unique_id = f"vkdoc{doc.get('owner_id')}_{doc.get('id')}"
            url = doc.get("url")
            kind, mime = ("video", VIDEOS[ext]) if ext in VIDEOS else ("document", DOCUMENTS[ext])
            name = Path(str(doc.get("title") or unique_id)).name
            if not name.lower().endswith(f".{ext}"):
                name = f"{name}.{ext}"
        if not url:
            log.warning("VK %s without a link: %s", kind, unique_id)
            return None, unique_id
        target = Path(self.app.config.files_dir) / str(n) / f"{unique_id}-{name}"
        try:
            async with self.http.get(url, timeout=DOWNLOAD_TIMEOUT) as response:
                response.raise_for_status()
                content = await response.read()
            await asyncio.to_thread(_write, target, content)
        except (aiohttp.ClientError, TimeoutError, OSError):
            log.warning("could not download %s for incident %s", unique_id, n, exc_info=True)
            return None, unique_id
        # No file id: Telegram uploads the file from disk, and so does VK.
        return Attachment(kind, "", name, mime, str(target)), unique_id


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


def _biggest(photo: dict[str, Any]) -> str | None:
    """The link to the biggest copy of a photo."""
    orig = photo.get("orig_photo") or {}
    if orig.get("url"):
        return str(orig["url"])
    sizes = [s for s in photo.get("sizes") or [] if s.get("url")]
    if not sizes:
        return None

    def rank(s: dict[str, Any]) -> tuple[int, int]:
        kind = str(s.get("type") or "")
        order = len(SIZE_ORDER) - SIZE_ORDER.index(kind) if kind and kind in SIZE_ORDER else 0
        return (int(s.get("width") or 0) * int(s.get("height") or 0), order)

    return str(max(sizes, key=rank)["url"])


def _object(payload: Any) -> dict[str, Any]:
    """A message's ``payload`` (JSON text) as an object; empty when there is none."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return {}
    return payload if isinstance(payload, dict) else {}


def _describe(message: dict[str, Any]) -> str:
    kinds = [str(a.get("type")) for a in message.get("attachments") or []]
    return "message" + (f" ({', '.join(kinds)})" if kinds else "")
