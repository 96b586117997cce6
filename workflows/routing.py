"""Who gets a new incident: the category decides the department, the load decides the person."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

from workflows.model import Category, Person, Role


def pick_executor(
    category: Category | None,
    people: Iterable[Person],
    open_load: Mapping[int, int],
    reachable: Container[int] | None = None,
) -> Person | None:
    """The active executor of the category's department with the fewest open incidents.

    Ties go to the person registered first (lowest id), so routing is predictable. Only the
    ids in ``reachable`` (when given: people with a bound chat that is not blocked) are
    candidates. ``None`` when the category's department has no such executor: the
    coordinator assigns by hand.
    """
    if category is None:
        return None
    candidates = [
        p for p in people if p.has(Role.EXECUTOR) and category.department in p.departments
        and (reachable is None or p.id in reachable)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (open_load.get(p.id, 0), p.id))
