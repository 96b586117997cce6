"""Every button the core can offer has a label, and every message template renders."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.templates import DEFAULT_DIR, Templates
from workflows.model import Incident, Person, Priority, Role, State
from workflows.transitions import actions_for

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ALL_ROLES = Person(1, "Все роли", frozenset(Role), frozenset({"roads"}))


@pytest.fixture
def templates() -> Templates:
    return Templates(ZoneInfo("Asia/Novokuznetsk"))


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("priority", list(Priority))
def test_every_offered_button_has_a_label(templates: Templates, state: State,
                                          priority: Priority) -> None:
    incident = Incident(7, state, "vk", "текст", "roads", "roads", ALL_ROLES.id, priority, NOW)
    for row in actions_for(incident, ALL_ROLES):
        for button in row:
            assert templates.label(button.action, button.arg)


def test_every_state_and_priority_has_a_russian_name(templates: Templates) -> None:
    for state in State:
        assert templates.phrase_raw("states", state.value)
    for priority in Priority:
        assert templates.phrase_raw("priorities", priority.value)


def test_every_template_file_is_valid_jinja(templates: Templates) -> None:
    for path in DEFAULT_DIR.glob("*.html"):
        templates.env.get_template(path.name)  # raises on a syntax error


@pytest.mark.parametrize(("source", "shown"), [("vk", "Источник: ВКонтакте"),
                                               ("pos", "Источник: Платформа обратной связи"),
                                               ("crm_export", "Источник: crm_export")])
def test_the_card_names_the_source_in_russian(templates: Templates, source: str,
                                              shown: str) -> None:
    incident = Incident(7, State.ASSIGNED, source, "Яма", "roads", "roads", 1,
                        Priority.NORMAL, NOW)
    assert shown in templates.render("card", incident=incident, names={}, category=None,
                                     department="", executor="", reassigned=False)
