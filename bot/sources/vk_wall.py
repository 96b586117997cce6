"""VK communities as a source: new wall posts and comments of the watched communities.

Each poll reads the newest posts of every community and the comments under them newer than
the cursor kept in the database, skips what the community itself wrote, and hands every
message to :meth:`Service.observe`: a match on a category's keywords becomes an incident (or
a repeat of the author's open one), a resident's reply after an answer reopens it. Natural
keys (``owner_post`` and ``owner_post_comment``) make a message seen twice change nothing.

Faults: transient ones (errors 1, 6, 9, 10, network) are retried with backoff by
:mod:`bot.vk_client` and, when retries run out, only logged: the next poll tries again. A
refusal (a bad token, a closed or deleted wall, a wrong id: errors 5, 15, 18, 27, 28, 100 and
the like) is reported to the coordinators once per community and error, not on every poll,
and once more when the community can be read again. What was reported is kept in memory: a
restart reports a standing fault once more.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.usecases.intake import Intake
from bot.vk_client import VkClient, VkError, VkPermanentError
from workflows.detection import Detector
from workflows.model import Attachment, Role, Sighting
from workflows.sla import parse_duration
from workflows.triage import Triage

log = logging.getLogger(__name__)
SOURCE = "vk"
# A post whose comments cannot be read (closed: 212; deleted between wall.get and
# wall.getComments: 15) is skipped; it does not stop the rest of the community.
SKIPPED_POST_CODES = frozenset({15, 212})


def poll_seconds(every: str) -> float:
    """``vk.poll_every`` ("5m", "1h", "1d") in seconds; working-time units count as clock
    time here (a poll is no deadline)."""
    amount = parse_duration(every).amount
    span = timedelta(days=amount) if isinstance(amount, int) else amount
    return max(span.total_seconds(), 1.0)


def community_link(owner_id: int) -> str:
    return f"https://vk.com/club{-owner_id}" if owner_id < 0 else f"https://vk.com/id{owner_id}"


class VkWallSource:
    def __init__(self, client: VkClient, intake: Intake, detector: Detector | Triage, *,
                 communities: list[int], group_id: int, posts_per_poll: int = 20) -> None:
        self.client = client  # a service token: reading other communities' walls
        self.intake = intake
        self.detector = detector
        self.communities = communities
        self.own_ids = {-abs(group_id)} if group_id else set()
        self.posts_per_poll = posts_per_poll
        self.faults: dict[int, int] = {}  # owner id → the error code the coordinators know of

    async def poll_once(self) -> int:
        """Read what is new; the number of messages handed on."""
        seen = 0
        for owner_id in self.communities:
            try:
                seen += await self._poll_community(owner_id)
            except VkPermanentError as e:
                log.warning("VK community %s not read: %s", owner_id, e)
                await self._report_fault(owner_id, e)
            except VkError as e:  # retries ran out: the next poll tries again
                log.warning("VK community %s not read: %s", owner_id, e)
            else:
                await self._report_recovery(owner_id)
        return seen

    async def _report_fault(self, owner_id: int, error: VkError) -> None:
        if self.faults.get(owner_id) == error.code:
            return
        self.faults[owner_id] = error.code
        templates = self.intake.templates
        reason = templates.phrase_raw("vk_errors", str(error.code),
                                      default=templates.phrase_raw("vk_errors", "default"))
        text = templates.phrase("vk_source_failed", community=community_link(owner_id),
                                code=error.code, reason=reason)
        await self._tell_coordinators(text)

    async def _report_recovery(self, owner_id: int) -> None:
        if self.faults.pop(owner_id, None) is None:
            return
        await self._tell_coordinators(self.intake.templates.phrase(
            "vk_source_recovered", community=community_link(owner_id)))

    async def _tell_coordinators(self, text: str) -> None:
        async with self.intake.store.write() as uow:
            await self.intake.notifier.send_to_role(uow, Role.COORDINATOR, text)

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
            try:
                handled += await self._poll_comments(owner_id, post_id, own)
            except VkPermanentError as e:
                if e.code not in SKIPPED_POST_CODES:
                    raise
                log.info("VK post %s: comments not read: %s", key, e)
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
        await self.intake.observe(Sighting(
            source=SOURCE, external_id=external_id, text=text,
            category=found.category if found else None, url=url,
            author=author or (f"https://vk.com/id{from_id}" if from_id else None),
            author_id=str(from_id) if from_id else None, thread=f"vk:{thread}",
            reply_to=reply_to, attachments=_photo_links(item)))

    async def _cursor(self, key: str) -> int:
        async with self.intake.store.read() as uow:
            return await uow.cursors.get(SOURCE, key)

    async def _is_new(self, key: str, value: int) -> bool:
        return await self._cursor(key) <= value

    async def _advance(self, key: str, value: int) -> None:
        async with self.intake.store.write() as uow:
            await uow.cursors.set(SOURCE, key, value)


def _photo_links(item: dict[str, Any]) -> tuple[Attachment, ...]:
    """The resident's photos as links (their largest copy) for the executor's card."""
    links = []
    for attachment in item.get("attachments") or []:
        sizes = (attachment.get("photo") or {}).get("sizes") or []
        if attachment.get("type") == "photo" and sizes:
            biggest = max(sizes, key=lambda s: s.get("width", 0) * s.get("height", 0))
            if biggest.get("url"):
                links.append(Attachment("link", biggest["url"]))
    return tuple(links[:10])


def _names(answer: dict[str, Any]) -> dict[int, str]:
    names = {p["id"]: f"{p.get('first_name', '')} {p.get('last_name', '')}".strip()
             for p in answer.get("profiles", [])}
    names.update({-g["id"]: g.get("name", "") for g in answer.get("groups", [])})
    return names
