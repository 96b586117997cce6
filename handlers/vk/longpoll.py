"""The Bots Long Poll of the community: events fetched in order, each handled before the
next request (one chat's in order, different chats concurrently), and the place (``ts``)
kept in the database.

``groups.getLongPollServer`` gives a server, a key and the current ``ts``; a request
``{server}?act=a_check&key=…&ts=…&wait=…`` answers the events after ``ts`` and the new
``ts``. As VK documents, ``failed: 1`` means events were lost: go on from the ``ts`` given;
``failed: 2`` the key expired: get a new key, keep ``ts``; ``failed: 3`` key and events are
lost: get a new key and ``ts``.

``ts`` is stored after a batch was handled (every event of it committed and marked
processed), so a restart asks VK again for what it had not finished, and what was finished
is recognised and skipped. The request goes through aiohttp, not vk_api: it waits up to
``wait`` seconds and must be cancellable when the app stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.updates import NotSaved, StorageFault, StoredCursor, by_chat
from bot.vk_client import VkClient

log = logging.getLogger(__name__)

CURSOR = "vk_longpoll"
WAIT = 25
MAX_PAUSE = 60.0


def peer_of(event: dict[str, Any]) -> int | str:
    """The conversation of an event (its lane: one conversation's events go in order)."""
    obj = event.get("object") or {}
    message = obj.get("message") if isinstance(obj.get("message"), dict) else obj
    peer = message.get("peer_id") or message.get("from_id") or obj.get("user_id")
    return int(peer) if isinstance(peer, int) else f"event {event.get('event_id')}"


class LongPollError(Exception):
    """The long poll server answered something unexpected."""


class BotsLongPoll:
    def __init__(self, client: VkClient, group_id: int, http: aiohttp.ClientSession,
                 cursor: StoredCursor, handle: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.client = client
        self.group_id = abs(group_id)
        self.http = http
        self.cursor = cursor  # where ts is kept
        self.handle = handle
        self.server: str | None = None
        self.key: str | None = None
        self.ts: int | None = None
        self._resume = True  # start from the stored ts (not after VK said it is lost)

    async def _connect(self) -> None:
        answer = await self.client.call("groups.getLongPollServer", group_id=self.group_id)
        self.server, self.key = str(answer["server"]), str(answer["key"])
        if self.ts is None:
            stored = 0
            if self._resume:
                stored = await self.cursor.load()
            self.ts = stored or int(answer["ts"])

    async def _remember(self, ts: int) -> None:
        self.ts = ts
        try:
            await self.cursor.save(ts)
        except StorageFault as e:
            # Polling goes on from ``self.ts``; after a restart the events since the stored
            # ts come again and those already handled are recognised by their claims.
            log.warning("VK long poll: ts %s not stored (%s)", ts, e)

    async def start(self) -> None:
        """Get the server now, so that events from this moment on are not missed; a failure
        is left to the first poll."""
        try:
            await self._connect()
        except Exception as e:
            log.warning("VK long poll server not available yet: %s", e)

    async def poll_once(self, wait: int = 0) -> int:
        """One long poll request (waiting up to ``wait`` seconds for events); the events
        handled. A failing event is logged and skipped: the rest of the batch goes on.
        A ``failed`` answer is dealt with and the request made again (three times at most)."""
        for _ in range(3):
            body = await self._request(wait)
            failed = body.get("failed")
            if failed == 1:
                log.warning("VK long poll: events before ts %s were lost", body.get("ts"))
                await self._remember(int(body["ts"]))
            elif failed in (2, 3):
                self.server = self.key = None
                if failed == 3:
                    self.ts, self._resume = None, False
            elif failed is not None or "ts" not in body:
                raise LongPollError(f"unexpected long poll answer: {str(body)[:200]}")
            else:
                return await self._handle(body)
        return 0

    async def _request(self, wait: int) -> dict[str, Any]:
        if self.server is None or self.key is None:
            await self._connect()
        assert self.server is not None
        params = {"act": "a_check", "key": self.key or "", "ts": str(self.ts), "wait": str(wait)}
        timeout = aiohttp.ClientTimeout(total=wait + 15)
        async with self.http.get(self.server, params=params, timeout=timeout) as response:
            response.raise_for_status()
            return dict(await response.json(content_type=None))

    async def _handle(self, body: dict[str, Any]) -> int:
        updates = body.get("updates") or []
        left = await by_chat(updates, peer_of, self._one)
        if left:
            # Neither stored nor told: ts stays before it, so VK delivers it again (the
            # events of the batch that were handled are recognised and skipped).
            self.server = None
            raise NotSaved(f"VK event {left[0].get('event_id')} not saved")
        await self._remember(int(body["ts"]))
        return len(updates)

    async def _one(self, event: dict[str, Any]) -> None:
        try:
            await self.handle(event)
        except NotSaved:
            raise
        except Exception:
            log.exception("VK event %s (%s) failed", event.get("event_id"), event.get("type"))

    async def run(self, wait: int = WAIT) -> None:
        """Poll until cancelled; network and VK failures pause with backoff."""
        pause = 1.0
        while True:
            try:
                await self.poll_once(wait)
                pause = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("VK long poll failed (%s); retrying in %.0f s", e, pause)
                self.server = None  # ask for a fresh server and key
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
