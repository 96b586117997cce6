"""The VK side of the outbox: delivering ``messages.send`` rows with the community token.

A row is sent as it was queued (:mod:`handlers.vk.render`), with its own ``random_id``, so a
retry never shows a message twice. Files listed under ``files`` are uploaded first, from
disk, into the conversation (``photos.getMessagesUploadServer`` → upload →
``photos.saveMessagesPhoto``; ``docs.getMessagesUploadServer`` → upload → ``docs.save``).

VK's answers become the outbox's outcomes:

- 6 (too many requests), 9 (flood control), 1 and 10 (VK's own trouble), HTTP 5xx and
  network errors → :class:`Retry` with the outbox's backoff; 29 (a method's daily limit)
  → :class:`Retry` in ten minutes;
- 7, 18, 900, 901, 902 and the like (the person does not accept messages from the
  community, or is gone) → :class:`Unreachable` with the reason in Russian
  (``[vk_message_errors]`` of ``templates/texts.toml``): the coordinators are told once;
- anything else (a bad keyboard, a text too long — our bug) → :class:`Rejected`.

The client given here must not retry by itself (the outbox does, without holding up other
chats): :func:`outbox_client` makes one that shares the community client's rate limit.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from pathlib import Path
from typing import Any

import requests

from bot.outbox import Rejected, Retry, Unreachable
from bot.templates import Templates
from bot.vk_client import RetryPolicy, VkClient, VkPermanentError, VkTemporaryError, scrub

log = logging.getLogger(__name__)

# The person cannot receive the community's messages, or is gone.
UNREACHABLE = frozenset({7, 18, 900, 901, 902, 932, 936, 945, 946})
DAILY_LIMIT = 29
DAILY_LIMIT_PAUSE = 600.0
UPLOAD_TIMEOUT = 60.0


def outbox_client(client: VkClient) -> VkClient:
    """The same ``VkApi`` (one rate limit for the token) without retries of its own."""
    twin = copy.copy(client)
    twin.retry = RetryPolicy(attempts=1)
    return twin


class VkTransport:
    platform = "vk"

    def __init__(self, client: VkClient, templates: Templates) -> None:
        self.client = client
        self.templates = templates

    def reason(self, e: VkPermanentError) -> str:
        return self.templates.phrase_raw("vk_message_errors", str(e.code),
                                         default=f"VK: {e.message}")

    async def send(self, method: str, payload: dict[str, Any]) -> Any:
        params = dict(payload)
        files = params.pop("files", None) or []
        try:
            if files:
                refs = await self._upload(int(params.get("peer_id") or 0), files)
                if refs:
                    params["attachment"] = ",".join(refs)
            if not params.get("message") and not params.get("attachment"):
                raise Rejected("nothing to send: the files could not be attached")
            return await self.client.call(method, **params)
        except VkTemporaryError as e:
            raise Retry(str(e)) from None
        except VkPermanentError as e:
            if e.code in UNREACHABLE:
                raise Unreachable(self.reason(e)) from None
            if e.code == DAILY_LIMIT:
                raise Retry(str(e), after=DAILY_LIMIT_PAUSE) from None
            raise Rejected(str(e)) from None

    async def _upload(self, peer_id: int, files: list[dict[str, Any]]) -> list[str]:
        """Attachment references of the files that could be uploaded; a file gone from disk
        or refused by VK is left out (and logged), the rest still go."""
        refs: list[str] = []
        for spec in files:
            path = Path(spec.get("path") or "")
            if not spec.get("path") or not await asyncio.to_thread(path.is_file):
                log.error("file to send to VK is gone: %s", spec.get("path"))
                continue
            name = spec.get("name") or path.name
            try:
                if spec.get("kind") == "photo":
                    refs.append(await self._photo(peer_id, path, name))
                else:
                    refs.append(await self._document(peer_id, path, name))
            except VkPermanentError as e:
                if e.code in UNREACHABLE:
                    raise
                log.error("VK refused the file %s: %s", name, e)
        return refs

    async def _photo(self, peer_id: int, path: Path, name: str) -> str:
        server = await self.client.call("photos.getMessagesUploadServer", peer_id=peer_id)
        uploaded = await self._post(server["upload_url"], "photo", path, name, "image/jpeg")
        if "error" in uploaded or uploaded.get("photo") in (None, "", "[]"):
            raise VkPermanentError(22, f"upload refused: {json.dumps(uploaded.get('error'))}",
                                   "photos.upload")
        [saved, *_] = await self.client.call(
            "photos.saveMessagesPhoto", photo=uploaded["photo"], server=uploaded["server"],
            hash=uploaded["hash"])
        return _ref("photo", saved)

    async def _document(self, peer_id: int, path: Path, name: str) -> str:
        server = await self.client.call("docs.getMessagesUploadServer", type="doc",
                                        peer_id=peer_id)
        uploaded = await self._post(server["upload_url"], "file", path, name,
                                    "application/octet-stream")
        if "error" in uploaded or not uploaded.get("file"):
            raise VkPermanentError(22, f"upload refused: {json.dumps(uploaded.get('error'))}",
                                   "docs.upload")
        saved = await self.client.call("docs.save", file=uploaded["file"], title=name)
        return _ref("doc", saved.get("doc") or {})

    async def _post(self, url: str, field: str, path: Path, name: str,
                    mime: str) -> dict[str, Any]:
        session = self.client.api.http

        def post() -> dict[str, Any]:
            with path.open("rb") as f:
                response = session.post(url, files={field: (name, f, mime)},
                                        timeout=UPLOAD_TIMEOUT)
            response.raise_for_status()
            return dict(response.json())

        try:
            return await asyncio.to_thread(post)
        except (requests.RequestException, ValueError) as e:
            status = getattr(getattr(e, "response", None), "status_code", 500) or 500
            kind = VkTemporaryError if status >= 500 or status == 429 else VkPermanentError
            raise kind(-1, scrub(f"upload failed: {type(e).__name__}"), "upload") from None


def _ref(kind: str, item: dict[str, Any]) -> str:
    """``photo-1_2_key``: how a message names an uploaded file (with its access key)."""
    key = f"_{item['access_key']}" if item.get("access_key") else ""
    return f"{kind}{item['owner_id']}_{item['id']}{key}"
