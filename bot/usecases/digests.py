"""The coordinators' daily digest, and when the office's working day has begun (the weekly
and monthly notes of :mod:`bot.analytics` go out then too)."""

from __future__ import annotations

from datetime import datetime

from bot.config import Config
from bot.storage import Storage
from bot.templates import Templates
from bot.usecases.common import Clock, Policies
from bot.usecases.notifier import Notifier
from workflows.calendar import WorkingCalendar
from workflows.ladder import OWED
from workflows.model import Incident, Role, State


class Digests:
    def __init__(self, store: Storage, config: Config, templates: Templates,
                 policies: Policies, notifier: Notifier, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.templates = templates
        self.policies = policies
        self.notifier = notifier
        self.clock = clock


    @property
    def office_calendar(self) -> WorkingCalendar:
        """The working calendar of the default policy: when digests and notes go out."""
        return self.policies.default.calendar

    def working_day_started(self) -> datetime | None:
        """The local time now, when it is a working day and its working hours have begun."""
        local = self.clock().astimezone(self.config.tz)
        calendar = self.office_calendar
        if not calendar.is_working_day(local.date()) or local.time() < calendar.start:
            return None
        return local

    async def daily_digest(self) -> bool:
        """At the start of each working day, once: the coordinators' digest of what is due
        today, overdue, waiting for review and waiting for interim dates, per department (in
        a region: per municipality, and the whole region's to the regional staff)."""
        now = self.clock()
        local = self.working_day_started()
        if local is None:
            return False
        day, calendar = local.date(), self.office_calendar
        async with self.store.write() as uow:
            if await uow.jobs.last_day("digest") == day.isoformat():
                return False
            await uow.jobs.set_last_day("digest", day.isoformat())
            end_of_day = datetime.combine(day, calendar.end, tzinfo=self.config.tz)
            due = await uow.incidents.due_by(OWED, end_of_day)
            groups = {
                "overdue": [i for i in due if i.answer_due and i.answer_due < now],
                "due_today": [i for i in due if i.answer_due and i.answer_due >= now],
                "on_review": await uow.incidents.select(states=[State.ON_REVIEW]),
                "waiting": await uow.incidents.select(states=[State.WAITING]),
            }
            people = await uow.people.all()
            names = {p.id: p.name for p in people}
            if not self.config.municipalities:
                await self.notifier.send_to_role(uow, Role.COORDINATOR,
                                                 self._digest(local, groups, names))
                return True
            # A region: each municipality's coordinators get its own digest; the region's
            # coordinators and curators (ЦУР, who watch the deadlines of every municipality)
            # all of it, in one message a day rather than a card per incident.
            for key in [*self.config.municipalities, None]:
                roles = (Role.COORDINATOR,) if key else (Role.COORDINATOR, Role.CURATOR)
                readers = [p for p in people if p.municipality == key
                           and any(p.has(r) for r in roles)]
                if not readers:
                    continue
                text = self._digest(local, {k: [i for i in v if key is None
                                                or i.municipality == key]
                                            for k, v in groups.items()}, names)
                for person in readers:
                    await self.notifier.send_to(uow, person, text)
        return True

    def _digest(self, local: datetime, groups: dict[str, list[Incident]],
                names: dict[int, str]) -> str:
        per_department: dict[str, int] = {}
        for i in groups["overdue"] + groups["due_today"]:
            name = self.config.departments.get(i.department or "", "—")
            per_department[name] = per_department.get(name, 0) + 1
        return self.templates.render("digest", day=local, groups=groups, names=names,
                                     per_department=sorted(per_department.items()))
