"""Who sees which incident: one rule for the lists, the cards, the reports, the exports and
the actions of those who oversee the work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workflows.model import Incident, Person, Role

# Roles that oversee every incident of the district.
EVERYTHING = (Role.COORDINATOR, Role.CURATOR, Role.ADMIN, Role.HEAD)


def sees_everything(person: Person) -> bool:
    return any(person.has(r) for r in EVERYTHING)


def in_municipality(person: Person, municipality: str | None) -> bool:
    """Whether the person works where an incident of ``municipality`` is: the region's staff
    (no municipality) everywhere, a municipality's people in it only."""
    return person.municipality is None or person.municipality == municipality


def working_in(people: Iterable[Person], municipality: str | None) -> list[Person]:
    """The people who work where an incident of ``municipality`` is."""
    return [p for p in people if in_municipality(p, municipality)]


def may_see(person: Person, incident: Incident) -> bool:
    """Coordinators, curators, admins and the head of the МЦУ see all of their municipality
    (the region's staff: of every one); a block owner the incidents of their departments; an
    executor their own work."""
    if not in_municipality(person, incident.municipality):
        return False
    if sees_everything(person):
        return True
    if person.has(Role.BLOCK_OWNER) and incident.department in person.departments:
        return True
    if person.has(Role.DEPARTMENT_HEAD) and incident.department in person.departments:
        return True
    return person.active and incident.executor_id == person.id


def out_of_scope(person: Person, incident: Incident) -> bool:
    """Anybody acting on another municipality's incident, or an overseer with a limited
    scope (a block owner) acting on an incident outside it."""
    if not in_municipality(person, incident.municipality):
        return True
    limited = person.has(Role.BLOCK_OWNER) or person.has(Role.DEPARTMENT_HEAD)
    return limited and not sees_everything(person) and not may_see(person, incident)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose past incidents a person may draw on: those of ``departments`` and their own."""

    person_id: int
    departments: frozenset[str]


def answer_scope(person: Person) -> Scope | None:
    """Which past answers may be suggested to ``person``: None — all of them — for
    those who see everything; else those of the departments they work in (an executor's, a
    block owner's) and of their own incidents, never another department's."""
    if sees_everything(person):
        return None
    return Scope(person.id, person.departments if person.active else frozenset())


def may_reuse(person: Person, department: str | None, executor_id: int | None) -> bool:
    """The same rule for one past incident (a press on a *Как в №…* button is checked)."""
    scope = answer_scope(person)
    return scope is None or department in scope.departments or executor_id == scope.person_id
