"""Routing a new incident: the category picks the department, the load picks the person."""

from __future__ import annotations

from workflows.model import Category, Person, Role
from workflows.routing import pick_executor

ROADS = Category("roads_pits", "Ямы на дорогах", block="zhkh", department="roads")


def person(pid: int, *roles: Role, departments: tuple[str, ...] = ("roads",),
           active: bool = True) -> Person:
    return Person(pid, f"person{pid}", frozenset(roles or (Role.EXECUTOR,)),
                  frozenset(departments), active)


def test_the_least_loaded_executor_of_the_department_gets_it() -> None:
    people = [person(1), person(2), person(3)]
    assert pick_executor(ROADS, people, {1: 4, 2: 1, 3: 2}) == people[1]


def test_an_executor_missing_from_the_load_counts_as_free() -> None:
    people = [person(1), person(2)]
    assert pick_executor(ROADS, people, {1: 1}) == people[1]


def test_a_tie_goes_to_the_lowest_id_whatever_the_order() -> None:
    people = [person(9), person(4), person(6)]
    assert pick_executor(ROADS, people, {9: 2, 4: 2, 6: 2}).id == 4  # type: ignore[union-attr]
    assert pick_executor(ROADS, list(reversed(people)), {}).id == 4  # type: ignore[union-attr]


def test_inactive_people_are_skipped_however_free() -> None:
    people = [person(1, active=False), person(2)]
    assert pick_executor(ROADS, people, {1: 0, 2: 5}) == people[1]


def test_other_departments_are_skipped_however_free() -> None:
    people = [person(1, departments=("water",)), person(2, departments=("water", "roads"))]
    assert pick_executor(ROADS, people, {1: 0, 2: 7}) == people[1]


def test_only_executors_are_picked() -> None:
    people = [person(1, Role.COORDINATOR), person(2, Role.BLOCK_OWNER), person(3)]
    assert pick_executor(ROADS, people, {3: 10}) == people[2]


def test_nobody_fits_means_the_coordinator_assigns_by_hand() -> None:
    people = [person(1, active=False), person(2, departments=("water",)),
              person(3, Role.COORDINATOR)]
    assert pick_executor(ROADS, people, {}) is None
    assert pick_executor(ROADS, [], {}) is None


def test_no_category_means_no_routing() -> None:
    assert pick_executor(None, [person(1)], {}) is None


def test_the_people_may_be_a_one_shot_iterable() -> None:
    people = [person(1), person(2)]
    assert pick_executor(ROADS, iter(people), {1: 3}) == people[1]


def test_only_executors_who_can_receive_are_candidates() -> None:
    people = [person(1), person(2), person(3)]
    assert pick_executor(ROADS, people, {2: 9}, reachable={2, 3}) == people[2]
    assert pick_executor(ROADS, people, {}, reachable=set()) is None
