"""The use cases: what Otklik does, one small module per job, over the storage's units of work.

A front end (handlers/, the board, the HTTP intake, the scheduler) calls a use case with the
acting person; the use case loads what the transition needs, calls the pure core
(``workflows``), and commits the new state, the audit row and the outgoing messages together.
A refusal is audited too, and answered as a :class:`Result` whose ``code`` the front end
turns into a polite explanation.

:func:`build` wires them (the composition root, :class:`bot.app.App`, calls it once with
everything they need); handlers reach them through :class:`UseCases`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.publishers import Publisher
from bot.storage import Storage
from bot.templates import Templates
from bot.usecases.actions import Actions
from bot.usecases.answers import Answers
from bot.usecases.chats import Chats
from bot.usecases.common import Channel, Clock, Invitation, Policies, Result
from bot.usecases.digests import Digests
from bot.usecases.drafts import Drafts
from bot.usecases.gate import Gate
from bot.usecases.intake import Intake
from bot.usecases.ledger import Ledger
from bot.usecases.letters import Letters
from bot.usecases.notifier import Notifier
from bot.usecases.onboarding import Onboarding
from bot.usecases.problems import Problems, plain_words
from bot.usecases.publishing import Publishing
from bot.usecases.queries import Queries
from bot.usecases.sla import Sweep
from workflows.sla import Policy

__all__ = ["Channel", "Invitation", "Result", "UseCases", "build"]


@dataclass(frozen=True, slots=True)
class UseCases:
    """Every use case, built once; with the config, the texts and the clock they share."""

    config: Config
    templates: Templates
    clock: Clock
    policies: Policies
    notifier: Notifier
    onboarding: Onboarding
    intake: Intake
    actions: Actions
    drafts: Drafts
    letters: Letters
    publishing: Publishing
    problems: Problems
    sweep: Sweep
    digests: Digests
    answers: Answers
    queries: Queries
    chats: Chats
    gate: Gate


def build(store: Storage, config: Config, templates: Templates, channels: Sequence[Channel],
          policies: dict[str, Policy], clock: Clock, *,
          wake_outbox: Callable[[], None] = lambda: None,
          publishers: dict[str, Publisher] | None = None,
          triage: Any = None, suggester: Any = None) -> UseCases:
    """The use cases over ``store``. ``channels``: the platforms messages go to;
    ``wake_outbox``: called after messages are queued; ``publishers``: source → the
    publisher of approved answers there; ``triage``: judges messages that matched no
    category (None: they are dropped); ``suggester``: suggestions from approved answers."""
    wired = {c.platform: c for c in channels}
    publishers = dict(publishers or {})
    named = Policies(config, policies)
    notifier = Notifier(store, config, templates, wired, named, clock, wake_outbox, suggester)
    letters = Letters(store, config, templates, named, notifier, clock)
    ledger = Ledger(named, notifier, letters, publishers, suggester)
    problems = Problems(store, config, templates, notifier, publishers, clock,
                        suggester.words if suggester is not None else plain_words)
    publishing = Publishing(store, config, publishers, notifier, ledger, clock, problems)
    digests = Digests(store, config, templates, named, notifier, clock)
    queries, chats = Queries(store, clock), Chats(store)
    onboarding = Onboarding(store, config, templates, wired, notifier, clock)
    return UseCases(
        config=config, templates=templates, clock=clock, policies=named, notifier=notifier,
        onboarding=onboarding,
        intake=Intake(store, config, templates, wired, named, notifier, ledger, clock, triage,
                      problems),
        actions=Actions(store, config, templates, wired, named, ledger, publishers, clock,
                        problems),
        drafts=Drafts(store, clock),
        letters=letters,
        publishing=publishing,
        problems=problems,
        sweep=Sweep(store, named, notifier, ledger, publishing, letters, digests, clock),
        digests=digests,
        answers=Answers(store, config, templates, clock, suggester),
        queries=queries,
        chats=chats,
        gate=Gate(store, queries, onboarding, clock),
    )
