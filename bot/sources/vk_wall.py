"""VK communities as a source: new wall posts and comments of the watched communities.

Each poll reads the newest posts of every community and the comments under them newer than
the cursor kept in the database, skips what the community itself wrote, and hands every
message to :meth:`Service.observe`: a match on a category's keywords becomes an incident (or
a repeat of the author's open one), a resident's reply after an answer reopens it. Natural
keys (``owner_post`` and ``owner_post_comment``) make a message seen twice change nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.service import Service
from bot.vk_client import VkClient, VkError
from workflows.detection import Detector
from workflows.model import Sighting

log = logging.getLogger(__name__)
SOURCE = "vk"


class VkWallSource:
    def __init__(self, client: VkClient, service: Service, detector: Detector, *,
                 communities: list[int], group_id: int, posts_per_poll: int = 20) -> None:
        self.client = client  # a service token: reading other communities' walls
        self.service = service
        self.detector = detector
        self.communities = communities
        self.own_ids = {-abs(group_id)} if group_id else set()
        self.posts_per_poll = posts_per_poll

    async def poll_once(self) -> int:
        """Read what is new; the number of messages handed on."""
        seen = 0
        for owner_id in self.communities:
            try:
                seen += await self._poll_community(owner_id)
            except VkError as e:
                log.warning("VK community %s not read: %s", owner_id, e)
        return seen

    async def _poll_community(self, owner_id: int) -> int:
        wall = await self.client.call("wall.get", owner_id=owner_id, count=self.posts_per_poll)
        own = self.own_ids | {owner_id}
        handled = 0
        for post in wall.get("items", []):
            post_id = post["id"]
            key = f"{owner_id}_{post_id}"
            if post.get("from_id") not in own and await self._is_new(f"post:{key}", 0):
                await self._observe(post, external_id=key, thread=key, reply_to=None)
                await self._advance(f"post:{key}", 1)
                handled += 1
            if post.get("comments", {}).get("count", 1) == 0:
                continue
            handled += await self._poll_comments(owner_id, post_id, own)
        return handled

    async def _poll_comments(self, owner_id: int, post_id: int, own: set[int]) -> int:
        key = f"{owner_id}_{post_id}"
        last = await self._cursor(f"comments:{key}")
        answer = await self.client.call("wall.getComments", owner_id=owner_id, post_id=post_id,
                                        count=100, sort="asc", thread_items_count=10,
                                        extended=1)
        names = _names(answer)
        comments: list[dict[str, Any]] = []
        for comment in answer.get("items", []):
            comments.append(comment)
            comments.extend(comment.get("thread", {}).get("items", []))
        handled, newest = 0, last
        for comment in sorted(comments, key=lambda c: c["id"]):
            if comment["id"] <= last or comment.get("deleted"):
                continue
            newest = max(newest, comment["id"])
            if comment.get("from_id") in own:
                continue  # the community's own comments, our answers among them
            await self._observe(comment, external_id=f"{key}_{comment['id']}", thread=key,
                                reply_to=str(comment["id"]), author=names.get(comment["from_id"]))
            handled += 1
        if newest > last:
            await self._advance(f"comments:{key}", newest)
        return handled

    async def _observe(self, item: dict[str, Any], *, external_id: str, thread: str,
                       reply_to: str | None, author: str | None = None) -> None:
        text = item.get("text") or ""
        found = self.detector.match(text)
        owner, _, rest = thread.partition("_")
        url = f"https://vk.com/wall{owner}_{rest}" + (f"?reply={reply_to}" if reply_to else "")
        from_id = item.get("from_id")
        await self.service.observe(Sighting(
            source=SOURCE, external_id=external_id, text=text,
            category=found.category if found else None, url=url,
            author=author or (f"https://vk.com/id{from_id}" if from_id else None),
            author_id=str(from_id) if from_id else None, thread=f"vk:{thread}",
            reply_to=reply_to))

    async def _cursor(self, key: str) -> int:
        async with self.service.store.read() as tx:
            return await tx.cursor(SOURCE, key)

    async def _is_new(self, key: str, value: int) -> bool:
        return await self._cursor(key) <= value

    async def _advance(self, key: str, value: int) -> None:
        async with self.service.store.tx() as tx:
            await tx.set_cursor(SOURCE, key, value)


def _names(answer: dict[str, Any]) -> dict[int, str]:
    names = {p["id"]: f"{p.get('first_name', '')} {p.get('last_name', '')}".strip()
             for p in answer.get("profiles", [])}
    names.update({-g["id"]: g.get("name", "") for g in answer.get("groups", [])})
    return names
