"""A region: two municipalities in one deployment (issue 13.1).

The demo's story is played in each municipality through the real aiogram Bot against the fake
Bot API; the people of one never see the other's incidents (not in a message, a list, a card,
nor through a forged button), and the regional curator sees both and gets the regional note
with the municipalities rated.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import analytics
from bot.config import ConfigError, load_config
from fakes.telegram import FakeTelegramServer, FakeUser
from tests import pg
from tests.harness import TOKEN, Clock, Harness, incident_number

TZ = ZoneInfo("Asia/Novokuznetsk")

# Per municipality: coordinator, the waste executor, the improvement executor, the curator.
NK = {"coordinator": FakeUser(1101, "Анна", "Иванова"),
      "waste": FakeUser(1201, "Павел", "Петров"),
      "improvement": FakeUser(1202, "Мария", "Сидорова"),
      "curator": FakeUser(1301, "Ирина", "Белова")}
PR = {"coordinator": FakeUser(2101, "Елена", "Орлова"),
      "waste": FakeUser(2201, "Игорь", "Смирнов"),
      "improvement": FakeUser(2202, "Ольга", "Лебедева"),
      "curator": FakeUser(2301, "Юрий", "Зайцев")}
REGIONAL_CURATOR = FakeUser(3001, "Олег", "Кузнецов")
GROUPS = {"nk": -1001000000001, "pr": -1001000000002}

PEOPLE = """
[[people]]
name = "{coordinator}"
roles = ["coordinator", "admin"]
telegram_id = {coordinator_id}
municipality = "{key}"

[[people]]
name = "{waste}"
roles = ["executor"]
departments = ["waste"]
telegram_id = {waste_id}
municipality = "{key}"

[[people]]
name = "{improvement}"
roles = ["executor"]
departments = ["improvement"]
telegram_id = {improvement_id}
municipality = "{key}"

[[people]]
name = "{curator}"
roles = ["curator"]
telegram_id = {curator_id}
municipality = "{key}"
"""

CONFIG = """
timezone = "Asia/Novokuznetsk"
database = "otklik.sqlite3"
files_dir = "files"

[telegram]
token = "{token}"
api_base = "{api_base}"

[[municipalities]]
key = "nk"
name = "Новокузнецк"
telegram_groups = [{nk_group}]

[[municipalities]]
key = "pr"
name = "Прокопьевск"
telegram_groups = [{pr_group}]

[[departments]]
key = "waste"
name = "Региональный оператор ТКО"

[[departments]]
key = "improvement"
name = "Отдел благоустройства"

[[categories]]
key = "waste"
name = "ТКО: вывоз мусора"
block = "ЖКХ"
department = "waste"
keywords = ["мусор", "контейнер", "свалка"]

[[categories]]
key = "improvement"
name = "Благоустройство"
block = "Благоустройство"
department = "improvement"

[[people]]
name = "Кузнецов Олег (куратор ЦУР)"
roles = ["curator"]
telegram_id = 3001
"""


def _name(user: FakeUser) -> str:
    return f"{user.last_name} {user.first_name}"


def region_config(directory: Path, api_base: str) -> Path:
    text = CONFIG.format(token=TOKEN, api_base=api_base, nk_group=GROUPS["nk"],
                         pr_group=GROUPS["pr"])
    for key, people in (("nk", NK), ("pr", PR)):
        text += PEOPLE.format(key=key, **{role: _name(u) for role, u in people.items()},
                              **{f"{role}_id": u.id for role, u in people.items()})
    if pg.on_postgresql():
        text = text.replace('database = "otklik.sqlite3"', f'database = "{pg.fresh_url()}"')
    path = directory / "region.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def region(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                 ) -> AsyncIterator[Harness]:
    h = Harness(server, load_config(region_config(tmp_path, server.api_base)), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def demo_story(h: Harness, people: dict[str, FakeUser], where: str) -> int:
    """The demo's story (fakes/demo.py) in one municipality: a post registered, declined,
    reassigned, answered, returned, edited, approved, published and closed."""
    coordinator, petrov, sidorova = (people["coordinator"], people["waste"],
                                     people["improvement"])
    await h.say(coordinator, photo=b"\xff\xd8demo-photo", caption=(
        f"{where}: третий день не вывозят мусор во дворе дома 12, контейнеры переполнены"),
        forward_from_chat={"id": -100777, "type": "channel", "title": "Подслушано",
                           "username": "podslushano"})
    await h.press(coordinator, "cat", label="ТКО")
    n = incident_number(h.last_text(coordinator))
    assert f"№{n}" in h.last_text(petrov)  # routed to the municipality's own executor
    await h.press(petrov, "decline", n)
    await h.say(petrov, "Площадка у дома 12 — зона благоустройства, не ТКО")
    await h.press(coordinator, "reassign", n)
    await h.press(coordinator, "to", n, label=sidorova.last_name)
    await h.press(sidorova, "take", n)
    await h.say(sidorova, "Мусор вывезен, площадка убрана.")
    h.server.message(sidorova, photo=b"\xff\xd8after-1")
    await h.step()
    await h.press(sidorova, "submit", n)
    await h.press(coordinator, "return", n)
    await h.say(coordinator, "Добавьте, когда начнут вывозить по графику.")
    await h.press(sidorova, "answer", n)
    await h.say(sidorova, "Мусор вывезен. С 25 ноября вывоз ежедневно в 7:00.")
    await h.press(sidorova, "submit", n)
    await h.press(coordinator, "edit_approve", n)
    await h.say(coordinator, "Здравствуйте! Мусор вывезен, с 25 ноября вывоз ежедневно в 7:00.")
    await h.press(coordinator, "published", n)
    await h.say(coordinator, f"/incident {n}")
    await h.press(coordinator, "close", n)
    assert (await h.incident(n)).state == "closed"
    return n


async def group_complaint(h: Harness, key: str, author: FakeUser) -> int:
    """A resident's complaint in the municipality's Telegram group: found, registered."""
    h.server.message(author, "Опять не вывезли мусор с площадки, контейнеры полные",
                     chat_id=GROUPS[key])
    await h.step()
    assert h.app is not None
    found = [i for i in await h.app.usecases.queries.visible_incidents(
        await _person(h, REGIONAL_CURATOR)) if i.source == "telegram_group"
        and i.municipality == key]
    assert len(found) == 1
    return found[0].id


async def _person(h: Harness, user: FakeUser):  # type: ignore[no-untyped-def]
    assert h.app is not None
    person = await h.app.usecases.queries.person_for_chat("telegram", user.id)
    assert person is not None
    return person


def numbers(h: Harness, user: FakeUser) -> set[int]:
    """Every incident number in every message ``user`` got."""
    return {int(n) for text in h.texts(user) for n in re.findall(r"№(\d+)", text)}


async def test_two_municipalities_never_see_each_others_incidents(region: Harness) -> None:
    h = region
    resident = FakeUser(7001, "Галина", "Жительница")
    nk_story = await demo_story(h, NK, "Новокузнецк")
    pr_story = await demo_story(h, PR, "Прокопьевск")
    nk_open = await group_complaint(h, "nk", resident)
    pr_open = await group_complaint(h, "pr", resident)
    mine = {"nk": {nk_story, nk_open}, "pr": {pr_story, pr_open}}
    assert (await h.incident(nk_story)).municipality == "nk"
    assert (await h.incident(pr_story)).municipality == "pr"

    # The group complaint went to its own municipality's coordinator only.
    assert any(f"№{nk_open}" in t for t in h.texts(NK["coordinator"]))
    assert any(f"№{pr_open}" in t for t in h.texts(PR["coordinator"]))

    # Lists: /open of each coordinator shows its own open incident, not the other's.
    for key, people, other in (("nk", NK, "pr"), ("pr", PR, "nk")):
        await h.say(people["coordinator"], "/open")
        listed = h.last_text(people["coordinator"])
        assert f"№{min(mine[key] - {nk_story, pr_story})}" in listed
        assert all(f"№{n}" not in listed for n in mine[other])

    # Cards: /incident of the other municipality's incident is refused.
    await h.say(NK["coordinator"], f"/incident {pr_open}")
    refused = h.last_text(NK["coordinator"])
    assert "Прокопьевск" not in refused and "мусор" not in refused
    await h.say(PR["curator"], f"/incident {nk_story}")
    assert "Новокузнецк" not in h.last_text(PR["curator"])

    # Forged presses on the other municipality's incident: answered, refused, nothing changes.
    assert h.app is not None
    nk_waste = await _person(h, NK["waste"])
    before = await h.incident(pr_open)
    card = h.server.sent_to(NK["coordinator"].id)[-1]
    executor_card = h.server.sent_to(NK["waste"].id)[-1]
    forged = [(NK["coordinator"], card, f"i:close:{pr_open}:-1:"),
              (NK["coordinator"], card, f"i:reassign:{pr_open}:-1:"),
              (NK["coordinator"], card, f"i:to:{pr_open}:-1:{nk_waste.id}"),
              (NK["coordinator"], card, f"i:reject:{pr_open}:-1:"),
              (NK["waste"], executor_card, f"i:take:{pr_open}:-1:")]
    for user, message, data in forged:
        update = h.server.callback(user, message, data)
        await h.step()
        answers = [c for c in h.server.calls_to("answerCallbackQuery")
                   if c.params.get("callback_query_id") == update["callback_query"]["id"]]
        assert len(answers) == 1 and answers[0].params.get("text"), data
    shown = len(h.texts(NK["coordinator"]))
    h.server.callback(NK["coordinator"], card, f"i:show:{pr_open}:-1:")
    await h.step()
    assert h.texts(NK["coordinator"])[shown:] == [refused]
    after = await h.incident(pr_open)
    assert (after.state, after.executor_id, after.version) == (
        before.state, before.executor_id, before.version)
    assert any(e.action == "reassign" and e.reason == "not_visible" and not e.ok
               for e in await h.audit() if e.incident_id == pr_open)

    # Nor may an incident be given to another municipality's executor (a forged «to»).
    pr_waste = await _person(h, PR["waste"])
    held = await h.incident(nk_open)
    h.server.callback(NK["coordinator"], card, f"i:to:{nk_open}:-1:{pr_waste.id}")
    await h.step()
    assert (await h.incident(nk_open)).executor_id == held.executor_id != pr_waste.id

    # Tuesday: the daily digest at 08:00 (each municipality's to its coordinator, the whole
    # region's to the regional curator), then the open incidents overdue escalate to the
    # curators: each municipality's to its own, both to the regional curator.
    for hour in (8, 11):
        h.clock.now = datetime(2026, 11, 24, hour, 0, tzinfo=TZ).astimezone(UTC)
        await h.app.usecases.sweep.sweep()
        await h.step()
    (digest,) = [t for t in h.texts(REGIONAL_CURATOR) if "Сводка" in t]
    assert f"№{nk_open} · 🏛 Новокузнецк" in digest and f"№{pr_open} · 🏛 Прокопьевск" in digest
    for key, people in (("nk", NK), ("pr", PR)):
        (own,) = [t for t in h.texts(people["coordinator"]) if "Сводка" in t]
        assert f"№{min(mine[key] - {nk_story, pr_story})}" in own
        escalations = [t for t in h.texts(people["curator"]) if "Эскалация" in t]
        assert len(escalations) == 1 and f"№{nk_open if key == 'nk' else pr_open}" in (
            escalations[0])
    escalated = [t for t in h.texts(REGIONAL_CURATOR) if "Эскалация" in t]
    assert len(escalated) == 2

    # Nobody of one municipality ever got a message naming the other's incidents.
    for key, people, other in (("nk", NK, "pr"), ("pr", PR, "nk")):
        for user in people.values():
            assert not numbers(h, user) & mine[other], (key, _name(user), [
                t for t in h.texts(user) if any(f"№{n}" in t for n in mine[other])])

    # The regional curator sees both, each with its municipality's name.
    await h.say(REGIONAL_CURATOR, "/open")
    listed = h.last_text(REGIONAL_CURATOR)
    assert f"№{nk_open} · 🏛 Новокузнецк" in listed
    assert f"№{pr_open} · 🏛 Прокопьевск" in listed
    for n, name in ((nk_story, "Новокузнецк"), (pr_story, "Прокопьевск")):
        await h.say(REGIONAL_CURATOR, f"/incident {n}")
        assert f"Инцидент №{n}</b> · 🏛 {name}" in h.last_text(REGIONAL_CURATOR)

    # The weekly notes (Monday 30 November, 08:00): each municipality's curator gets the
    # municipality's, the regional curator the regional one with the municipalities rated.
    h.clock.now = datetime(2026, 11, 30, 8, 0, tzinfo=TZ).astimezone(UTC)
    assert await analytics.weekly_note(h.app.usecases.digests)
    await h.step()
    regional = h.last_text(REGIONAL_CURATOR)
    assert "Аналитическая записка ЦУР</b>: регион, все муниципалитеты" in regional
    # The same resident in both municipalities is no repeat: one in each is new there.
    assert "Новые: <b>4</b> (+4), из них повторные: <b>0</b>" in regional
    rating = regional.split("Рейтинг муниципалитетов")[1].split("Рейтинг подразделений")[0]
    assert "Новокузнецк" in rating and "Прокопьевск" in rating
    for people, name, other in ((NK, "Новокузнецк", "Прокопьевск"),
                                (PR, "Прокопьевск", "Новокузнецк")):
        note = h.last_text(people["curator"])
        assert f"Аналитическая записка МЦУ</b>: {name}" in note
        assert "Рейтинг муниципалитетов" not in note and other not in note
    assert not any("Рейтинг муниципалитетов" in t for t in h.texts(NK["coordinator"]))


async def test_the_http_intake_names_the_municipality(region: Harness) -> None:
    assert region.app is not None
    from bot.sources.http_intake import BadField, parse

    config = region.app.config
    seen = parse({"source": "pos", "external_id": "P-1", "text": "Свалка у гаражей",
                  "category": "waste", "municipality": "pr"}, set(config.categories),
                 config.subcategories, list(config.municipalities))
    result = await region.app.usecases.intake.register(None, seen)
    assert result.incident is not None and result.incident.municipality == "pr"
    await region.step()
    n = result.incident.id
    assert any(f"№{n}" in t for t in region.texts(PR["coordinator"]))
    assert any(f"№{n}" in t for t in region.texts(PR["waste"]))
    assert not numbers(region, NK["coordinator"]) & {n}
    with pytest.raises(BadField, match="municipality: unknown municipality"):
        parse({"source": "pos", "external_id": "P-2", "text": "Свалка", "category": "waste",
               "municipality": "atlantis"}, set(config.categories), config.subcategories,
              list(config.municipalities))


# -- the config ------------------------------------------------------------------------------


def _refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "region.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    return str(e.value)


BASE = CONFIG.format(token=TOKEN, api_base="http://127.0.0.1:1", nk_group=GROUPS["nk"],
                     pr_group=GROUPS["pr"])


@pytest.mark.parametrize(("change", "key", "words"), [
    pytest.param(('telegram_id = 3001\n', 'telegram_id = 3001\nmunicipality = "kemerovo"\n'),
                 "people[0].municipality", "unknown municipality 'kemerovo' (known: nk, pr)",
                 id="unknown-municipality"),
    pytest.param(('key = "pr"', 'key = "nk"'), "municipalities[1].key", "duplicate 'nk'",
                 id="duplicate-key"),
    pytest.param(('name = "Прокопьевск"', 'name = "Новокузнецк"'), "municipalities[1].name",
                 "duplicate", id="duplicate-name"),
    pytest.param((f"telegram_groups = [{GROUPS['pr']}]", f"telegram_groups = [{GROUPS['nk']}]"),
                 "municipalities[1].telegram_groups", "listed in municipalities[0]",
                 id="group-in-two-municipalities"),
    pytest.param(('name = "Отдел благоустройства"\n',
                  'name = "Отдел благоустройства"\nmunicipality = "pr"\n'),
                 "categories[1].municipality", "of the municipality 'pr'",
                 id="category-of-a-municipal-department"),
    pytest.param(('name = "Новокузнецк"\n', 'name = "Новокузнецк"\ntimezone = "Mars/Olymp"\n'),
                 "municipalities[0].timezone", "unknown time zone", id="bad-timezone"),
    pytest.param(('name = "Новокузнецк"\n', 'name = "Новокузнецк"\nvk_communities = [0]\n'),
                 "municipalities[0].vk_communities", "owner ids", id="bad-community"),
    pytest.param(('name = "Новокузнецк"\n', 'name = "Новокузнецк"\ntelegram_group = [-1]\n'),
                 "municipalities[0].telegram_group", "did you mean 'telegram_groups'",
                 id="misspelt-key"),
])
def test_a_bad_region_config_names_the_file_and_the_key(
        tmp_path: Path, change: tuple[str, str], key: str, words: str) -> None:
    old, new = change
    assert old in BASE
    message = _refused(tmp_path, BASE.replace(old, new, 1))
    assert message.startswith(f"{tmp_path / 'region.toml'}: {key}: "), message
    assert words in message
    assert "\n" not in message


def test_a_municipality_key_without_municipalities_is_refused(tmp_path: Path) -> None:
    single = BASE.split("[[municipalities]]")[0] + BASE.split(
        f"telegram_groups = [{GROUPS['pr']}]\n")[1]
    single += '\n[[people]]\nname = "Х"\nroles = ["curator"]\nmunicipality = "nk"\n'
    message = _refused(tmp_path, single)
    assert "people[1].municipality: unknown municipality 'nk' " \
           "(no [[municipalities]] are declared)" in message


def test_municipalities_follow_from_the_config(tmp_path: Path) -> None:
    text = BASE.replace('name = "Прокопьевск"\n', 'name = "Прокопьевск"\n'
                        'timezone = "Asia/Omsk"\nextra_days_off = [2026-12-01]\n'
                        'vk_communities = [-42]\n')
    path = tmp_path / "region.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert list(config.municipalities) == ["nk", "pr"]
    assert config.telegram_groups == frozenset(GROUPS.values())
    assert config.vk_communities == [-42]
    assert config.municipality_of("vk:-42_17") == "pr"
    assert config.municipality_of(f"tg:{GROUPS['nk']}") == "nk"
    assert config.municipality_of(None, "pr") == "pr"
    assert config.municipality_of("vk:-1_2") is None  # the region's own
    # Прокопьевск counts its deadlines in its own calendar: 1 December is a day off there.
    own = config.municipal_policies["pr"]["incident_management"].calendar
    assert own.tz == ZoneInfo("Asia/Omsk")
    assert not own.is_working_day(datetime(2026, 12, 1).date())
    assert config.policies["incident_management"].calendar.is_working_day(
        datetime(2026, 12, 1).date())
    assert "nk" not in config.municipal_policies


def test_the_region_example_config_loads(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    root = Path(__file__).resolve().parent.parent
    path = root / "docs" / "region.example.toml"
    config = load_config(path)
    assert len(config.municipalities) >= 2
    assert {p.municipality for p, _ in config.seed_people()} >= {None, *config.municipalities}
    assert main(["check-config", "--config", str(path)]) == 0
    assert f"{path}: OK — 2 municipalities, 3 departments" in capsys.readouterr().out


def test_one_district_stays_one(tmp_path: Path) -> None:
    """No [[municipalities]]: nothing of a region shows (the example config as it is)."""
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "config.example.toml")
    assert config.municipalities == {} and config.municipal_policies == {}
    assert config.municipality_of("vk:-1_2", "nk") is None
    assert all(p.municipality is None for _, p in config.seed_people())


async def test_a_municipality_counts_deadlines_in_its_own_calendar(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    """Прокопьевск (here) lives in Omsk time and has Tuesday 24 November off: registered on
    Monday at 16:00 Novokuznetsk time (15:00 in Omsk), its incident is due on Wednesday at
    14:00 Omsk time, Новокузнецк's on Tuesday (8 working hours); its cards say Omsk time."""
    path = region_config(tmp_path, server.api_base)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'name = "Прокопьевск"\n', 'name = "Прокопьевск"\nextra_days_off = [2026-11-24]\n'
                                   'timezone = "Asia/Omsk"\n'), encoding="utf-8")
    h = Harness(server, load_config(path), clock)
    await h.start()
    try:
        assert h.app is not None
        clock.now = datetime(2026, 11, 23, 16, 0, tzinfo=TZ).astimezone(UTC)
        due = {}
        for key in ("nk", "pr"):
            h.server.message(FakeUser(7001, "Галина", "Жительница"),
                             "Опять не вывезли мусор с площадки, контейнеры полные",
                             chat_id=GROUPS[key])
            await h.step()
            (incident,) = [i for i in await h.app.usecases.queries.visible_incidents(
                await _person(h, REGIONAL_CURATOR)) if i.municipality == key]
            due[key] = incident.answer_due.astimezone(TZ)
        assert due["nk"] == datetime(2026, 11, 24, 15, 0, tzinfo=TZ)
        assert due["pr"] == datetime(2026, 11, 25, 14, 0, tzinfo=ZoneInfo("Asia/Omsk"))
        assert "Срок ответа: 25.11.2026 14:00" in h.last_text(PR["coordinator"])
        assert "Срок ответа: 24.11.2026 15:00" in h.last_text(NK["coordinator"])
    finally:
        await h.close()


def with_mines(tmp_path: Path, api_base: str, more: str = "") -> Path:
    """The region's config with a department of «pr» only (and ``more`` after it)."""
    path = region_config(tmp_path, api_base)
    path.write_text(path.read_text(encoding="utf-8") + """
[[departments]]
key = "mines"
name = "Отдел горных отводов"
municipality = "pr"
""" + more, encoding="utf-8")
    return path


async def test_a_category_of_one_municipality_is_offered_there_only(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    h = Harness(server, load_config(with_mines(tmp_path, server.api_base, """
[[categories]]
key = "subsidence"
name = "Провалы грунта"
block = "Безопасность"
department = "mines"
municipality = "pr"
""")), clock)
    await h.start()
    try:
        for people, offered in ((NK, False), (PR, True)):
            await h.say(people["coordinator"], "Провал грунта у дома 5 https://vk.com/wall-1_2")
            call, _ = h.button(people["coordinator"], "cat")
            labels = [b["text"] for row in call.buttons for b in row]
            assert ("Провалы грунта" in labels) is offered, labels
        await h.press(PR["coordinator"], "cat", label="Провалы")
        n = incident_number(h.last_text(PR["coordinator"]))
        assert (await h.incident(n)).municipality == "pr"
        # A forged press of the category on Новокузнецк's post registers nothing.
        call, data = h.button(NK["coordinator"], "cat")
        h.server.callback(NK["coordinator"], call, data.rsplit(":", 1)[0] + ":subsidence")
        await h.step()
        assert await h.incident(n + 1) is None
    finally:
        await h.close()


def test_the_summary_of_new_incidents_names_their_municipalities() -> None:
    """A coordinator's chat that is behind gets new incidents in one summary (bot.batching);
    in a region each line names the municipality (items queued before, without it, render)."""
    from bot.templates import Templates

    text = Templates(TZ).phrase("registered_summary", items=[
        {"n": 1, "category": "ТКО", "executor": "", "text": "мусор",
         "municipality": "Новокузнецк"},
        {"n": 2, "category": "ТКО", "executor": "", "text": "мусор"}])
    assert "№1 · 🏛 Новокузнецк · ТКО" in text and "№2 · ТКО" in text


async def test_vk_walls_of_each_municipality(server: FakeTelegramServer, tmp_path: Path,
                                             clock: Clock) -> None:
    """Each municipality's VK community: a complaint in its comments is its incident, told
    to its coordinator and routed to its executor; the answer goes under the comment."""
    from fakes.vk import GROUP_ID, FakeVkServer

    tokens = {"vk-group": "group", "vk-service": "service", "vk-user": "user"}
    walls = {"nk": -5550001, "pr": -5550002}
    async with FakeVkServer(tokens=tokens) as vk:
        vk.add_group(-walls["nk"], "Подслушано Новокузнецк")
        vk.add_group(-walls["pr"], "Подслушано Прокопьевск")
        vk.add_user(7000001, "Галина", "Жительница")
        path = region_config(tmp_path, server.api_base)
        text = path.read_text(encoding="utf-8")
        for key in walls:
            name = {"nk": "Новокузнецк", "pr": "Прокопьевск"}[key]
            text = text.replace(f'name = "{name}"\n',
                                f'name = "{name}"\nvk_communities = [{walls[key]}]\n')
        text += (f'\n[vk]\ntoken = "vk-group"\nservice_token = "vk-service"\n'
                 f'user_token = "vk-user"\ngroup_id = {GROUP_ID}\napi_base = "{vk.api_base}"\n')
        path.write_text(text, encoding="utf-8")
        h = Harness(server, load_config(path), clock)
        await h.start()
        try:
            assert h.app is not None and h.app.vk_wall is not None
            comments = {}
            for key, wall in walls.items():
                post = int(vk.add_post(wall, "Пишите, что нужно починить")["id"])
                comments[key] = (post, vk.add_comment(
                    wall, post, "Неделю не вывозят мусор, контейнеры переполнены", 7000001))
            await h.app.vk_wall.poll_once()
            await h.step()
            regional = await _person(h, REGIONAL_CURATOR)
            numbers_of = {i.municipality: i.id
                          for i in await h.app.usecases.queries.visible_incidents(regional)}
            assert set(numbers_of) == {"nk", "pr"}
            for key, people, other in (("nk", NK, "pr"), ("pr", PR, "nk")):
                n = numbers_of[key]
                assert any(f"№{n}" in t for t in h.texts(people["coordinator"]))
                assert any(f"№{n}" in t for t in h.texts(people["waste"]))
                assert numbers_of[other] not in numbers(h, people["coordinator"])
            n = numbers_of["pr"]
            await h.press(PR["waste"], "take", n)
            await h.say(PR["waste"], "Мусор вывезен, контейнеры вывозят ежедневно.")
            await h.press(PR["waste"], "submit", n)
            await h.press(PR["coordinator"], "approve", n)
            await h.app.usecases.sweep.sweep()
            await h.step()
            post, comment = comments["pr"]
            replies = [c for c in vk.comments(walls["pr"], post)
                       if c["from_id"] == -GROUP_ID and c.get("reply_to_comment") == comment["id"]]
            assert [r["text"] for r in replies] == ["Мусор вывезен, контейнеры вывозят ежедневно."]
        finally:
            await h.close()


async def test_a_person_moved_to_another_municipality_in_the_config(
        region: Harness, tmp_path: Path) -> None:
    """The config is the truth for its people: a new `municipality` applies at the next start
    (audited), and from then on the person sees that municipality's incidents only."""
    h = region
    n = await group_complaint(h, "nk", FakeUser(7001, "Галина", "Жительница"))
    path = tmp_path / "region.toml"
    text = path.read_text(encoding="utf-8")
    curator = f'telegram_id = {NK["curator"].id}\nmunicipality = "nk"'
    assert curator in text
    path.write_text(text.replace(curator, f'telegram_id = {NK["curator"].id}\n'
                                          'municipality = "pr"'), encoding="utf-8")
    h.config = load_config(path)
    await h.restart()
    person = await _person(h, NK["curator"])
    assert person.municipality == "pr"
    assert any(e.action == "person_updated" and e.reason.endswith("@nk → Белова Ирина "
                                                                  "[curator] @pr")
               for e in await h.audit())
    await h.say(NK["curator"], f"/incident {n}")
    assert h.last_text(NK["curator"]) == "Этот инцидент вам недоступен."


async def test_an_invited_person_belongs_to_the_admins_municipality(region: Harness) -> None:
    h = region
    await h.say(PR["coordinator"], "/invite executor waste Новиков Илья")
    link = re.search(r"start=(\S+)", h.last_text(PR["coordinator"]))
    assert link, h.last_text(PR["coordinator"])
    novikov = FakeUser(2203, "Илья", "Новиков")
    await h.say(novikov, f"/start {link.group(1)}")
    person = await _person(h, novikov)
    assert (person.name, person.municipality) == ("Новиков Илья", "pr")


async def test_an_admin_invites_to_the_departments_of_their_municipality_only(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock) -> None:
    h = Harness(server, load_config(with_mines(tmp_path, server.api_base)), clock)
    await h.start()
    try:
        for people, offered in ((NK, False), (PR, True)):
            await h.say(people["coordinator"], "/invite")
            await h.press(people["coordinator"], "inv_role", label="исполнитель")
            call, _ = h.button(people["coordinator"], "inv_dept")
            labels = [b["text"] for row in call.buttons for b in row]
            assert "Региональный оператор ТКО" in labels
            assert ("Отдел горных отводов" in labels) is offered, labels
        # Typed, or pressed on a forged button: refused, nobody is added.
        await h.say(NK["coordinator"], "/invite executor mines Новиков Илья")
        assert h.last_text(NK["coordinator"]) == "Такого подразделения нет в настройках."
        await h.say(PR["coordinator"], "/invite executor mines Новиков Илья")
        assert re.search(r"start=(\S+)", h.last_text(PR["coordinator"]))
    finally:
        await h.close()
