"""Answer templates: the config's and the coordinators' own, filled for an
incident; and suggestions from the answers approved before (*Как в №…*)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.storage import Storage
from bot.templates import Templates
from bot.usecases.common import Clock, Result
from bot.usecases.notifier import suggestion_buttons
from workflows.answer_templates import (
    MAX_BUTTONS,
    MAX_TEXT,
    MAX_TITLE,
    AnswerTemplate,
    fill,
    unknown_placeholders,
)
from workflows.model import Button, Incident, Person, Role


class Answers:
    def __init__(self, store: Storage, config: Config, templates: Templates, clock: Clock,
                 suggester: Any = None) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.clock = clock
        # Suggestions from approved answers (bot.suggestions.Suggester); None: none offered.
        self.suggester = suggester


    async def seed(self) -> None:
        """The config's ``[[answer_templates]]`` in the database, as the config says."""
        async with self.store.write() as uow:
            await uow.templates.sync_config(
                [(t.category, t.title.strip(), t.text)
                 for t in self.config.settings.answer_templates], self.clock())

    async def in_use(self, category: str | None = None) -> list[AnswerTemplate]:
        async with self.store.read() as uow:
            return await uow.templates.in_use(category)

    async def offered(self, incident: Incident) -> list[AnswerTemplate]:
        """The *Шаблон: …* buttons of an incident: at most three of its category, the primary
        answer's template left out (it has its own button)."""
        if not incident.category:
            return []
        found = await self.in_use(incident.category)
        return [t for t in found if not t.primary][:MAX_BUTTONS]

    def template_values(self, incident: Incident) -> dict[str, str]:
        """The fixed values a template may use; nothing else is reachable from its text."""
        tz = self.config.tz
        category = self.config.categories.get(incident.category or "")

        def local(t: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
            return t.astimezone(tz).strftime(fmt) if t else ""
        return {
            "address": incident.address or self.templates.phrase("no_address"),
            "deadline": local(incident.answer_due),
            "department": self.config.departments.get(incident.department or "", ""),
            "category": category.name if category else "",
            "number": str(incident.id),
            "registered": local(incident.registered_at, "%d.%m.%Y"),
            "today": local(self.clock(), "%d.%m.%Y"),
        }

    async def filled(self, incident: Incident, template_id: int) -> str | None:
        """The template's text filled for the incident; None when it is gone or belongs to
        another category (a stale or forged button)."""
        async with self.store.read() as uow:
            found = await uow.templates.get(template_id)
        if found is None or found.category != incident.category:
            return None
        return fill(found.text, self.template_values(incident))

    async def primary(self, incident: Incident) -> str | None:
        """The primary answer from the category's «Первичный ответ» template, if it has one."""
        for t in await self.in_use(incident.category) if incident.category else []:
            if t.primary:
                return fill(t.text, self.template_values(incident))
        return None

    async def suggestions(self, person: Person, incident: Incident) -> list[Any]:
        """The *Как в №…* offers (``bot.suggestions.Suggestion``) for ``person`` working on
        ``incident``: past answers of its category inside their scope, at most three."""
        if self.suggester is None:
            return []
        async with self.store.read() as uow:
            return await self.suggester.offer(uow, person, incident)

    def suggestion_buttons(self, incident: Incident, offered: Sequence[Any]
                           ) -> list[tuple[Button, ...]]:
        return suggestion_buttons(self.templates, incident, offered)

    async def suggested(self, person: Person, incident: Incident,
                               past_id: int) -> str | None:
        """The answer of past incident ``past_id`` for a press on its button; None when it
        could not have been offered to ``person`` here (a stale or forged button)."""
        if self.suggester is None:
            return None
        async with self.store.read() as uow:
            return await self.suggester.answer(uow, person, incident, past_id)

    @staticmethod
    def may_edit(actor: Person) -> bool:
        """Whether ``actor`` may add and delete answer templates: the coordinators."""
        return actor.has(Role.COORDINATOR)

    async def add(self, actor: Person, category: str, title: str,
                                  text: str) -> Result:
        """A template typed by a coordinator: refused with a reason, never half-saved."""
        if not self.may_edit(actor):
            return Result(False, "wrong_role")
        if category not in self.config.categories:
            return Result(False, "bad_button")
        if len(title) > MAX_TITLE:
            return Result(False, "template_title_long")
        if len(text) > MAX_TEXT:
            return Result(False, "template_text_long")
        if unknown_placeholders(text):
            return Result(False, "template_placeholder")
        async with self.store.write() as uow:
            if any(t.title.casefold() == title.casefold()
                   for t in await uow.templates.in_use(category)):
                return Result(False, "template_exists")
            new_id = await uow.templates.add(category, title, text, "chat", actor.id,
                                                  self.clock())
        return Result(True, str(new_id))

    async def delete(self, actor: Person, template_id: int) -> Result:
        if not self.may_edit(actor):
            return Result(False, "wrong_role")
        async with self.store.write() as uow:
            gone = await uow.templates.delete(template_id, self.clock())
        return Result(gone, "" if gone else "stale")
