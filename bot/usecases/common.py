"""What the use cases share: the answer of a command, the policy of an incident, how a
platform draws a message, and the heads who assign an incident."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.config import Config
from bot.storage import UnitOfWork
from workflows import approval
from workflows.model import Attachment, Button, Draft, Incident, Person, Role
from workflows.sla import Policy

Clock = Callable[[], datetime]
Call = tuple[str, dict[str, Any]]
Rows = Sequence[Sequence[Button]]


class Channel(Protocol):
    """How one platform draws a message: the API calls that deliver it."""

    platform: str

    def build(self, chat_id: int, text: str, buttons: Rows = (), *, version: int | None = None,
              attachments: Sequence[Attachment] = ()) -> list[Call]: ...


@dataclass(frozen=True, slots=True)
class Result:
    """The answer of a use case: ``ok``, else ``code`` names the refusal (the front end turns
    it into a polite explanation); on success ``code`` may say which way it went
    ("existing", "repeat", "registered"...)."""

    ok: bool
    code: str = ""
    incident: Incident | None = None


@dataclass(frozen=True, slots=True)
class Invitation:
    """The answer of :meth:`Onboarding.invite`: the one-time token, or the refusal code."""

    ok: bool
    token: str = ""
    code: str = ""


class Policies:
    """The SLA policies of the config and the approval procedure each one asks for."""

    def __init__(self, config: Config, named: dict[str, Policy]) -> None:
        self.config = config
        self.named = named

    def policy_for(self, source: str, municipality: str | None = None) -> Policy:
        """The policy of a source: ``[sla.sources]``, else the policy of the same name (a
        message from ПОС, ``pos``, follows the ``pos`` policy), else the default one; in the
        calendar of the ``municipality`` when it has its own time zone or days off."""
        sla = self.config.settings.sla
        name = sla.sources.get(source) or (source if source in self.named
                                           else sla.default_policy)
        return self._in(municipality, self.named[name])

    def policy_of(self, incident: Incident) -> Policy:
        """The incident's policy: the one chosen on its card, else its source's."""
        if incident.policy and incident.policy in self.named:
            return self._in(incident.municipality, self.named[incident.policy])
        return self.policy_for(incident.source, incident.municipality)

    def _in(self, municipality: str | None, policy: Policy) -> Policy:
        own = self.config.municipal_policies.get(municipality or "")
        return own.get(policy.name, policy) if own else policy

    def procedure_for(self, incident: Incident) -> approval.Procedure:
        """The procedure of the incident's policy: approval chain, head, contact, letters."""
        return self.config.procedures.get(self.policy_for(incident.source).name,
                                          approval.DEFAULT)

    @property
    def default(self) -> Policy:
        return self.named[self.config.settings.sla.default_policy]


async def heads_to_assign(uow: UnitOfWork, incident: Incident, people: Sequence[Person],
                          policies: Policies, channels: dict[str, Channel]) -> list[Person]:
    """The heads of the department who assign this incident (reachable ones), or none:
    the policy does not ask for it, or the department has no reachable head (then it is
    routed as any other, and the coordinators can reassign)."""
    if not policies.procedure_for(incident).head_assigns:
        return []
    heads = approval.heads_of(incident.department, people)
    reachable = await uow.people.reachable([p.id for p in heads], channels)
    return [p for p in heads if p.id in reachable]


async def reachable_executors(uow: UnitOfWork, people: Sequence[Person], department: str,
                              channels: dict[str, Channel]) -> set[int]:
    """The ids of the department's executors who can be reached in a chat."""
    return await uow.people.reachable(
        [p.id for p in people if p.has(Role.EXECUTOR) and department in p.departments],
        channels)


def published_text(incident: Incident, draft: Draft | None) -> str:
    return incident.approved_text or (draft.text if draft else "")
