"""Answers to VK incidents: a reply comment from the community under the resident's post or
comment, with the draft's photos uploaded to the community's wall."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from bot.publishers import PublishFailed, PublishLater
from bot.vk_client import VkClient, VkPermanentError, VkTemporaryError
from workflows.model import Attachment, Incident

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


class VkPublisher:
    def __init__(self, community: VkClient, group_id: int,
                 user: VkClient | None = None) -> None:
        self.community = community  # community token: comments from the community
        self.user = user  # a community admin's user token: wall photo uploads
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
                attachments=",".join(photos) or None)
        except VkTemporaryError as e:
            raise PublishLater(str(e)) from None
        except VkPermanentError as e:
            raise PublishFailed(REASONS.get(e.code, f"VK ответил ошибкой {e.code}")) from None
        return f"{owner_id}_{post_id}_{answer['comment_id']}", note

    async def _already_posted(self, owner_id: int, post_id: int, text: str) -> str | None:
        comments = await self.community.call("wall.getComments", owner_id=owner_id,
                                             post_id=post_id, count=100, sort="desc",
                                             thread_items_count=10)
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
        return await self.user.upload_wall_photos(self.group_id, photos), None


def _read_photos(attachments: Sequence[Attachment]) -> list[bytes]:
    """The draft's photos from disk (the Telegram file ids mean nothing to VK)."""
    paths = [Path(a.local_path) for a in attachments if a.kind == "photo" and a.local_path]
    return [p.read_bytes() for p in paths if p.exists()][:10]
