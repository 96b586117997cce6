"""Answers to VK incidents: a reply comment from the community under the resident's post or
comment, with the draft's photos uploaded to the community's wall.

Tokens: the comment is made with the community token (``wall.createComment`` with
``from_group``); photos are uploaded with a community admin's user token
(``photos.getWallUploadServer`` and ``photos.saveWallPhoto`` take user tokens only) — without
one, or when the upload is refused, the answer goes out without photos and the coordinator is
told. ``wall.getComments`` takes a user or service token, not the community's: the check for
an answer already posted before a crash reads with ``reader`` (the service token) and is
skipped without one; the ``guid`` of the comment guards the same case on VK's side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from bot.publishers import PublishFailed, PublishLater
from bot.vk_client import VkClient, VkPermanentError, VkTemporaryError
from workflows.model import Attachment, Incident

log = logging.getLogger(__name__)

# What VK's refusals mean for the coordinator.
REASONS = {
    5: "токен сообщества недействителен",
    15: "нет доступа: запись удалена или закрыта",
    18: "страница удалена или заблокирована",
    27: "метод недоступен с этим токеном",
    100: "запись или комментарий не найдены (удалены?)",
    212: "комментарии к записи закрыты",
    213: "комментарии к записи закрыты",
    222: "ссылки в комментариях запрещены",
    223: "слишком много ответов в ветке",
}
# Refusals of the reading token that mean the resident's post itself is gone.
POST_GONE_CODES = frozenset({15, 18, 100, 212})
# The same for the photo upload, made with the user token.
UPLOAD_REASONS = {
    5: "токен vk.user_token недействителен",
    7: "у владельца vk.user_token нет прав администратора сообщества",
    15: "у владельца vk.user_token нет прав администратора сообщества",
    27: "vk.user_token — не пользовательский токен",
    28: "vk.user_token — не пользовательский токен",
}


class VkPublisher:
    def __init__(self, community: VkClient, group_id: int,
                 user: VkClient | None = None, *, reader: VkClient | None = None) -> None:
        self.community = community  # community token: comments from the community
        self.user = user  # a community admin's user token: wall photo uploads
        self.reader = reader  # a service (or user) token: reading comments back
        self.group_id = abs(group_id)

    async def publish(self, incident: Incident, origin: dict[str, str | None], text: str,
                      attachments: Sequence[Attachment]) -> tuple[str, str | None]:
        thread = (origin.get("thread") or "").removeprefix("vk:")
        owner, _, post = thread.partition("_")
        if not owner or not post:
            raise PublishFailed("неизвестно, где писал житель")
        owner_id, post_id = int(owner), int(post)
        try:
            existing = await self._already_posted(owner_id, post_id, text)
            if existing is not None:  # posted before a crash: not again
                return existing, None
            photos, note = await self._upload(attachments)
            answer = await self.community.call(
                "wall.createComment", owner_id=owner_id, post_id=post_id,
                from_group=self.group_id, message=text,
                reply_to_comment=int(origin["reply_to"]) if origin.get("reply_to") else None,
                attachments=",".join(photos) or None,
                guid=f"otklik-{incident.id}-{incident.version}")
        except VkTemporaryError as e:
            raise PublishLater(str(e)) from None
        except VkPermanentError as e:
            raise PublishFailed(REASONS.get(e.code, f"VK ответил ошибкой {e.code}")) from None
        return f"{owner_id}_{post_id}_{answer['comment_id']}", note

    async def _already_posted(self, owner_id: int, post_id: int, text: str) -> str | None:
        if self.reader is None:
            return None
        try:
            comments = await self.reader.call("wall.getComments", owner_id=owner_id,
                                              post_id=post_id, count=100, sort="desc",
                                              thread_items_count=10)
        except VkPermanentError as e:
            if e.code in POST_GONE_CODES:
                raise
            # A problem of the reading token only: the comment's guid still guards repeats.
            log.warning("VK answers under %s_%s not checked: %s", owner_id, post_id, e)
            return None
        for comment in comments.get("items", []):
            for c in [comment, *comment.get("thread", {}).get("items", [])]:
                if c.get("from_id") == -self.group_id and c.get("text") == text:
                    return f"{owner_id}_{post_id}_{c['id']}"
        return None

    async def _upload(self, attachments: Sequence[Attachment]) -> tuple[list[str], str | None]:
        photos = await asyncio.to_thread(_read_photos, attachments)
        if not photos:
            return [], None
        if self.user is None:
            return [], f"фото ({len(photos)}) не приложены: не задан vk.user_token"
        try:
            return await self.user.upload_wall_photos(self.group_id, photos), None
        except VkPermanentError as e:  # the answer still goes out; the photos are in the chat
            log.warning("VK photo upload refused: %s", e)
            reason = UPLOAD_REASONS.get(e.code, f"VK ответил ошибкой {e.code}")
            return [], f"фото ({len(photos)}) не приложены: {reason}"


def _read_photos(attachments: Sequence[Attachment]) -> list[bytes]:
    """The draft's photos from disk (the Telegram file ids mean nothing to VK)."""
    paths = [Path(a.local_path) for a in attachments if a.kind == "photo" and a.local_path]
    return [p.read_bytes() for p in paths if p.exists()][:10]
