"""Publishers post an approved answer back where the resident wrote.

A publisher gets the incident, where it came from (thread, the message to answer) and the
answer with its files, and returns the id of what it posted with an optional note for the
coordinator (say, the photos had to be left out). It raises
:class:`PublishLater` for what may pass (rate limits, network) and :class:`PublishFailed`
with a reason a coordinator can read for what will not (post deleted, comments closed, no
rights): the coordinator then gets the ready package to publish by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from workflows.model import Attachment, Incident


class PublishLater(Exception):
    """A temporary failure: try again later."""


class PublishFailed(Exception):
    """A permanent failure; the message is shown to the coordinator."""


class Publisher(Protocol):
    async def publish(self, incident: Incident, origin: dict[str, str | None], text: str,
                      attachments: Sequence[Attachment]) -> tuple[str, str | None]: ...
