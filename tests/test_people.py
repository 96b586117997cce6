"""A person is one person, and the config is the truth for the people in it.

People are keyed by the config's ``key`` or their ids, never by name; /invite never hands an
existing person's account to a newcomer; moving a chat is an explicit admin choice and the old
chat is told; people removed from the config are refused at the next start and their open
incidents go back to the coordinator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from fakes.telegram import FakeTelegramServer, FakeUser
from tests import pg
from tests.harness import (
    CONFIG,
    COORDINATOR,
    CURATOR,
    PETROV,
    SIDOROVA,
    TOKEN,
    Harness,
    incident_number,
    make_clock,
)
from tests.test_onboarding import link_token

NEWCOMER = FakeUser(5005, "Павел", "Петров")  # a namesake of the executor Петров Павел
SECOND = FakeUser(1002, "Анна", "Иванова")


async def person_of(otklik: Harness, user: FakeUser) -> object:
    assert otklik.app is not None
    return await otklik.app.usecases.queries.person_for_chat("telegram", user.id)


async def register(otklik: Harness, text: str = "Яма на Ленина", category: str = "Дороги") -> int:
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label=category)
    return incident_number(otklik.last_text(COORDINATOR))


def write(tmp_path: Path, server: FakeTelegramServer, people: str, name: str = "otklik.toml"
          ) -> Path:
    head = CONFIG.format(token=TOKEN, api_base=server.api_base).split("[[people]]")[0]
    path = tmp_path / name
    path.write_text(head + people, encoding="utf-8")
    return path


NAMESAKES = """
[[people]]
name = "Иванова Анна"
key = "ivanova_admin"
roles = ["coordinator", "admin"]
telegram_id = 1001

[[people]]
name = "Иванова Анна"
key = "ivanova_roads"
roles = ["executor"]
departments = ["roads"]
telegram_id = 1002
"""


async def test_namesakes_with_keys_are_two_people(server: FakeTelegramServer,
                                                  tmp_path: Path) -> None:
    otklik = Harness(server, load_config(write(tmp_path, server, NAMESAKES)), make_clock())
    await otklik.start()
    try:
        admin, executor = await person_of(otklik, COORDINATOR), await person_of(otklik, SECOND)
        assert admin is not None and executor is not None
        assert admin.id != executor.id  # type: ignore[attr-defined]
        assert executor.roles == {"executor"}  # type: ignore[attr-defined]
        await otklik.say(SECOND, "/invite curator Смирнова Ольга")
        assert "нет прав" in otklik.last_text(SECOND)
    finally:
        await otklik.close()


def test_check_config_refuses_namesakes_without_keys(server: FakeTelegramServer,
                                                     tmp_path: Path) -> None:
    people = NAMESAKES.replace('key = "ivanova_roads"\n', "")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, server, people))
    assert "people[1].name: duplicate 'Иванова Анна'" in str(e.value)
    assert "key" in str(e.value)
    with pytest.raises(ConfigError, match=r"people\[1\].key: duplicate 'same'"):
        load_config(write(tmp_path, server, NAMESAKES.replace("ivanova_admin", "same")
                          .replace("ivanova_roads", "same")))


async def test_invite_with_an_existing_name_never_takes_that_account(otklik: Harness) -> None:
    n = await register(otklik)
    petrov = await person_of(otklik, PETROV)
    await otklik.say(COORDINATOR, "/invite executor roads Петров Павел")
    assert "уже зарегистрирован" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "inv_new")
    await otklik.say(NEWCOMER, f"/start {link_token(otklik.last_text(COORDINATOR))}")
    newcomer = await person_of(otklik, NEWCOMER)
    assert newcomer is not None and newcomer.id != petrov.id  # type: ignore[attr-defined]
    assert await person_of(otklik, PETROV) == petrov  # Петров keeps his chat
    assert (await otklik.incident(n)).executor_id == petrov.id  # type: ignore[attr-defined]
    await otklik.say(NEWCOMER, "/my")
    assert "Открытых инцидентов нет" in otklik.last_text(NEWCOMER)


async def test_rebinding_is_explicit_and_the_old_chat_is_told(otklik: Harness) -> None:
    n = await register(otklik)
    petrov = await person_of(otklik, PETROV)
    await otklik.say(COORDINATOR, "/invite executor roads Петров Павел")
    await otklik.press(COORDINATOR, "inv_rebind", petrov.id)  # type: ignore[attr-defined]
    await otklik.say(NEWCOMER, f"/start {link_token(otklik.last_text(COORDINATOR))}")
    assert await person_of(otklik, NEWCOMER) == petrov
    assert await person_of(otklik, PETROV) is None
    assert "больше не подключён" in otklik.last_text(PETROV)
    await otklik.say(NEWCOMER, "/my")
    assert f"№{n}" in otklik.last_text(NEWCOMER)
    assert any(e.action == "invite_rebind" for e in await otklik.audit())


async def test_a_bound_chat_cannot_take_someone_elses_invitation(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/invite curator Смирнова Ольга")
    token = link_token(otklik.last_text(COORDINATOR))
    sidorova = await person_of(otklik, SIDOROVA)
    await otklik.say(SIDOROVA, f"/start {token}")
    assert "уже подключён" in otklik.last_text(SIDOROVA)
    assert await person_of(otklik, SIDOROVA) == sidorova
    newcomer = FakeUser(5006, "Ольга", "Смирнова")
    await otklik.say(newcomer, f"/start {token}")  # the invitation is still unused
    assert "Добро пожаловать, Смирнова Ольга" in otklik.last_text(newcomer)


async def test_the_config_is_the_truth_for_its_people(otklik: Harness, tmp_path: Path,
                                                      server: FakeTelegramServer) -> None:
    n = await register(otklik)  # goes to Петров (roads)
    await otklik.press(PETROV, "take", n)
    await otklik.say(COORDINATOR, "/invite curator Смирнова Ольга")
    invited = FakeUser(5006, "Ольга", "Смирнова")
    await otklik.say(invited, f"/start {link_token(otklik.last_text(COORDINATOR))}")
    # Петров leaves the config; Сидорова moves to housing only; the curator gets admin.
    people = CONFIG.split("[[people]]", 1)[1]
    people = "[[people]]" + people
    people = people.replace('''[[people]]
name = "Петров Павел"
roles = ["executor"]
departments = ["roads"]
telegram_id = 2001
''', "").replace('departments = ["housing", "roads"]', 'departments = ["housing"]').replace(
        'roles = ["curator"]', 'roles = ["curator", "admin"]')
    changed = write(tmp_path, server, people, "changed.toml")
    if pg.on_postgresql():  # the same database as before the restart
        changed.write_text(changed.read_text(encoding="utf-8").replace(
            'database = "otklik.sqlite3"', f'database = "{otklik.config.database}"'),
            encoding="utf-8")
    otklik.config = load_config(changed)
    await otklik.restart()

    await otklik.say(PETROV, "/my")
    assert otklik.last_text(PETROV) == "Доступ закрыт, обратитесь к администратору."
    assert "Исполнитель Петров Павел исключён" in otklik.last_text(COORDINATOR)
    assert f"№{n}" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "reassign", n)
    await otklik.press(COORDINATOR, "to", n, label="Сидорова")
    assert (await otklik.incident(n)).executor_id == (await person_of(otklik, SIDOROVA)).id  # type: ignore[union-attr]
    sidorova = await person_of(otklik, SIDOROVA)
    assert sidorova.departments == {"housing"}  # type: ignore[attr-defined]
    await otklik.say(CURATOR, "/invite")  # the curator is an admin now
    assert "выберите роль" in otklik.last_text(CURATOR)
    assert await person_of(otklik, invited) is not None  # invited people are kept
    await otklik.say(invited, "/my")
    assert "Доступ закрыт" not in otklik.last_text(invited)
    actions = [e.action for e in await otklik.audit()]
    assert actions.count("person_deactivated") == 1 and actions.count("person_updated") == 2
    # Back in the config: active again, the same account.
    otklik.config = load_config(write(tmp_path, server, "[[people]]" + CONFIG.split(
        "[[people]]", 1)[1], "back.toml"))
    await otklik.restart()
    await otklik.say(PETROV, "/my")
    assert "Доступ закрыт" not in otklik.last_text(PETROV)


async def test_people_of_a_database_from_before_keys_are_adopted(otklik: Harness) -> None:
    assert otklik.app is not None
    before = await otklik.app.usecases.queries.people()
    async with otklik.app.store.write() as uow:  # as migration 010 finds an older database
        await uow.conn.execute("UPDATE people SET person_key = NULL")
    await otklik.restart()
    assert await otklik.app.usecases.queries.people() == before
    actions = [e.action for e in await otklik.audit()]
    assert "person_deactivated" not in actions and actions.count("person_added") == 5


async def test_adding_an_id_or_a_key_keeps_the_account(server: FakeTelegramServer,
                                                       tmp_path: Path) -> None:
    people = """
[[people]]
name = "Иванова Анна"
roles = ["coordinator", "admin"]
telegram_id = 1001

[[people]]
name = "Петров Павел"
roles = ["executor"]
departments = ["roads"]
"""
    otklik = Harness(server, load_config(write(tmp_path, server, people)), make_clock())
    await otklik.start()
    try:
        assert otklik.app is not None
        (petrov,) = [p for p in await otklik.app.usecases.queries.people()
                                if p.name == "Петров Павел"]
        for step, change in enumerate((
                ('departments = ["roads"]\n', 'departments = ["roads"]\ntelegram_id = 2001\n'),
                ("telegram_id = 2001\n", 'telegram_id = 2001\nkey = "petrov"\n'),
                ("telegram_id = 2001\n", "telegram_id = 2011\n"))):
            people = people.replace(*change)
            otklik.config = load_config(write(tmp_path, server, people, f"v{step}.toml"))
            await otklik.restart()
            (now,) = [p for p in await otklik.app.usecases.queries.people()
                                 if p.name == "Петров Павел"]
            assert now.id == petrov.id and now.active
        assert not [e for e in await otklik.audit() if e.action == "person_deactivated"]
        # His new Telegram account is bound (the key kept him); the old chat was told.
        assert await person_of(otklik, FakeUser(2011, "Павел")) == petrov
        assert "больше не подключён" in otklik.last_text(PETROV)
    finally:
        await otklik.close()


def test_telegram_groups_must_be_group_ids(server: FakeTelegramServer, tmp_path: Path) -> None:
    path = write(tmp_path, server, NAMESAKES)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "groups = [-1001234567890]", "groups = [-1001234567890, 12345]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"telegram\.groups: 12345 is not a group's chat id"):
        load_config(path)
    path.write_text(path.read_text(encoding="utf-8").replace(", 12345", ""), encoding="utf-8")
    assert load_config(path).telegram_groups == {-1001234567890}
