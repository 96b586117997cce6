"""The config file: the example loads; a broken one is named by file, key and expectation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import TOKEN_ENV, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PATH = ROOT / "config.example.toml"
EXAMPLE = EXAMPLE_PATH.read_text(encoding="utf-8")
SECRET = "123456789:AAE-very-secret-token-value"


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def write(tmp_path: Path, text: str, name: str = "otklik.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def example_with(old: str, new: str) -> str:
    """The example with its first ``old`` replaced: one mistake in an otherwise good config."""
    assert old in EXAMPLE, f"the example no longer contains {old!r}"
    return EXAMPLE.replace(old, new, 1)


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def assert_names(message: str, path: Path, key: str, *expected: str) -> None:
    """One line of the message is ``<file>: <key>: ...`` and says what was expected."""
    lines = [line for line in message.splitlines() if line.startswith(f"{path}: {key}: ")]
    assert lines, f"no line for {key!r} in:\n{message}"
    for fragment in expected:
        assert fragment in lines[0], f"{fragment!r} missing from {lines[0]!r}"


# --- the shipped example ----------------------------------------------------------------------


def test_shipped_example_loads_with_paths_relative_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deploy").mkdir()
    path = write(tmp_path / "deploy", EXAMPLE)
    monkeypatch.chdir(tmp_path)  # the working directory must not matter

    config = load_config(path)

    assert len(config.departments) == 12
    assert len(config.categories) == 20
    assert len(config.seed_people()) == 6
    assert config.categories["energy"].department == "housing"
    assert config.settings.timezone == "Asia/Novokuznetsk"
    assert config.database == tmp_path / "deploy" / "otklik-data" / "otklik.sqlite3"
    assert config.files_dir == tmp_path / "deploy" / "otklik-data" / "files"
    assert config.telegram_token == ""
    assert config.telegram_api_base == "https://api.telegram.org"


def test_shipped_example_loads_in_place() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.database == ROOT / "otklik-data" / "otklik.sqlite3"


# --- one mistake each: file, key and what was expected --------------------------------------

DEPARTMENT_TABLES = re.compile(r'\[\[departments\]\]\nkey = "\w+"\nname = "[^"]*"\n+')

BROKEN = [
    pytest.param(example_with('timezone = "Asia/Novokuznetsk"\n', ""),
                 "timezone", ["required key is missing"], id="missing-timezone"),
    pytest.param(DEPARTMENT_TABLES.sub("", EXAMPLE),
                 "departments", ["required key is missing"], id="missing-departments"),
    pytest.param(example_with('department = "housing"\n\n[[categories]]\nkey = "waste"',
                              'department = "roadz"\n\n[[categories]]\nkey = "waste"'),
                 "categories[1].department",
                 ["unknown department 'roadz'", "known: housing, roads, waste"],
                 id="category-unknown-department"),
    pytest.param(example_with('departments = ["roads"]', 'departments = ["roadz"]'),
                 "people[1].departments", ["unknown department 'roadz'", "known: housing"],
                 id="person-unknown-department"),
    pytest.param(example_with('departments = ["roads"]', "departments = []"),
                 "people[1].departments", ["an executor needs at least one department"],
                 id="executor-without-department"),
    pytest.param(example_with('"coordinator", "admin"]', '"coordinator", "boss"]'),
                 "people[0].roles[1]", ["'executor'", "'coordinator'", "'admin'"],
                 id="unknown-role"),
    pytest.param(example_with('"Asia/Novokuznetsk"', '"Asia/Novokuzneck"'),
                 "timezone", ["unknown time zone 'Asia/Novokuzneck'", "IANA name"],
                 id="bad-time-zone"),
    pytest.param(example_with("timezone =", "timezon ="),
                 "timezon", ["unknown key", "did you mean 'timezone'?"], id="top-level-typo"),
    pytest.param(example_with("api_base =", "apibase ="),
                 "telegram.apibase", ["unknown key", "did you mean 'api_base'?"],
                 id="section-typo"),
    pytest.param(example_with("telegram_id = 100000001", 'telegram_id = "abc"'),
                 "people[0].telegram_id", ["valid integer"], id="wrong-type"),
    pytest.param(example_with('key = "roads"\nname = "МКУ', 'key = "housing"\nname = "МКУ'),
                 "departments[1].key", ["duplicate 'housing'", "departments[0]"],
                 id="duplicate-department"),
    pytest.param(example_with('["curator"]', '["curator"]\ntelegram_id = 100000001'),
                 "people[3].telegram_id", ["duplicate 100000001", "people[0]"],
                 id="duplicate-telegram-id"),
    pytest.param(example_with('key = "roads"\nname = "МКУ', 'key = "Roads"\nname = "МКУ'),
                 "departments[1].key", ["lowercase latin letters, digits and '_'"],
                 id="bad-department-key"),
    pytest.param(example_with('"https://api.telegram.org"', '"ftp://api.telegram.org"'),
                 "telegram.api_base", ["http:// or https:// URL"], id="bad-api-base"),
    pytest.param(example_with("extra_days_off = []", 'extra_days_off = ["2026-13-01"]'),
                 "calendar.extra_days_off[0]", ["YYYY-MM-DD", "month"], id="bad-date"),
    pytest.param(example_with('pos = "pos"', 'pos = "poss"'),
                 "sla.sources.pos", ["unknown policy 'poss'", "known: incident_management"],
                 id="unknown-policy-for-source"),
    pytest.param(example_with('default_policy = "incident_management"', 'default_policy = "im"'),
                 "sla.default_policy", ["unknown policy 'im'", "governor"],
                 id="unknown-default-policy"),
]


@pytest.mark.parametrize(("text", "key", "expected"), BROKEN)
def test_broken_config_names_file_key_and_expectation(
        tmp_path: Path, text: str, key: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    assert_names(error_of(path), path, key, *expected)


def test_typo_in_a_required_key_also_reports_it_missing(tmp_path: Path) -> None:
    path = write(tmp_path, example_with("timezone =", "timezon ="))
    assert_names(error_of(path), path, "timezone", "required key is missing")


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, example_with('files_dir = "otklik-data/files"',
                                        'files_dir = "otklik-data/files'))
    message = error_of(path)
    assert message.startswith(f"{path}: not valid TOML")
    assert "line 10" in message


def test_non_utf8_file_names_the_line_and_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "otklik.toml"
    path.write_bytes('timezone = "UTC"\n# ok\n[[departments]]\nname = "ЖКХ"\n'.encode("cp1251"))
    message = error_of(path)
    assert message.startswith(f"{path}: line 4: not UTF-8")
    assert "UTF-8 encoding" in message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    message = error_of(path)
    assert message.startswith(f"{path}: cannot read the config file")
    assert "No such file" in message


def test_directory_instead_of_file_is_reported(tmp_path: Path) -> None:
    message = error_of(tmp_path)
    assert message.startswith(f"{tmp_path}: cannot read the config file")
    assert "directory" in message


# --- the token ------------------------------------------------------------------------------


def test_token_comes_from_the_file_without_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, example_with('token = ""', f'token = "{SECRET}"'))
    assert load_config(path).telegram_token == SECRET


def test_environment_token_overrides_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, example_with('token = ""', 'token = "file-token"'))
    monkeypatch.setenv(TOKEN_ENV, "env-token")
    assert load_config(path).telegram_token == "env-token"


def test_empty_environment_token_falls_back_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, example_with('token = ""', 'token = "file-token"'))
    monkeypatch.setenv(TOKEN_ENV, "")
    assert load_config(path).telegram_token == "file-token"


WITH_TOKEN = example_with('token = ""', f'token = "{SECRET}"')


@pytest.mark.parametrize(("text", "key"), [
    pytest.param(WITH_TOKEN.replace('"Asia/Novokuznetsk"', '"Mars/Olympus"', 1), "timezone",
                 id="bad-time-zone-next-to-token"),
    pytest.param(example_with('token = ""', f'tokn = "{SECRET}"'), "telegram.tokn",
                 id="token-under-misspelled-key"),
    pytest.param(example_with("database =", f'telegram_token = "{SECRET}"\ndatabase ='),
                 "telegram_token", id="token-at-top-level"),
    pytest.param(example_with("telegram_id = 100000001", f'telegram_id = "{SECRET}"'),
                 "people[0].telegram_id", id="token-pasted-as-telegram-id"),
])
def test_token_never_appears_in_errors(tmp_path: Path, text: str, key: str) -> None:
    assert SECRET in text
    path = write(tmp_path, text)
    message = error_of(path)
    assert_names(message, path, key)
    assert SECRET not in message
    assert SECRET.split(":")[1] not in message


def test_example_policies_match_the_regulation(tmp_path: Path) -> None:
    """The example spells out the regulation's policies; they behave like the built-ins."""
    from datetime import datetime

    from workflows.model import Priority
    from workflows.sla import compute_deadlines, default_policies

    config = load_config(EXAMPLE_PATH)
    builtin = default_policies(config.tz)
    for start in (datetime(2026, 11, 20, 16, 0, tzinfo=config.tz),
                  datetime(2026, 11, 20, 17, 59, tzinfo=config.tz),  # the governor's 4 hours
                  datetime(2026, 11, 2, 15, 0, tzinfo=config.tz)):  # before a short day
        for name in ("incident_management", "pos", "kuzbass_online", "governor"):
            for priority in (Priority.NORMAL, Priority.FAST_TRACK):
                assert (compute_deadlines(config.policies[name], priority, start)
                        == compute_deadlines(builtin[name], priority, start)), (name, priority)
    assert config.policies["incident_management"].calendar.is_short_day(
        datetime(2026, 11, 3).date())
    assert not config.policies["governor"].calendar.is_short_day(datetime(2026, 11, 3).date())


def test_shortened_days_and_min_time_from_the_config(tmp_path: Path) -> None:
    from datetime import date, time, timedelta

    from workflows.sla import Until

    text = EXAMPLE.replace("extra_short_days = []", 'extra_short_days = [2026-12-30]', 1)
    text = text.replace("not_short_days = []", "not_short_days = [2026-11-03]", 1)
    text = text.replace('min_time = "4h"', 'min_time = "90m"', 1)
    text = text.replace('hours = "08:30-17:30"\nanswer = "8wh"',
                        'hours = "08:30-17:30"\nshortened_pre_holiday = false\nanswer = "8wh"', 1)
    config = load_config(write(tmp_path, text))
    im = config.policies["incident_management"].calendar
    assert im.day_end(date(2026, 12, 30)) == time(16) and not im.is_short_day(date(2026, 11, 3))
    assert not config.policies["pos"].calendar.is_short_day(date(2026, 4, 30))
    assert config.policies["kuzbass_online"].calendar.is_short_day(date(2026, 4, 30))
    assert config.policies["governor"].answer == Until(time(18), timedelta(minutes=90))


@pytest.mark.parametrize(("old", "new", "key", "expected"), [
    ("not_short_days = []", "not_short_days = [2026-12-30]\nextra_short_days = [2026-12-30]",
     "calendar", "dates also listed in extra_short_days"),
    ('min_time = "4h"', 'min_time = "2wh"', "sla.policies.governor.min_time",
     "expected elapsed time"),
    ('min_time = "4h"', 'min_time = "soon"', "sla.policies.governor.min_time", "invalid duration"),
    ('production_calendar = false', 'production_calendar = false\nshortened_pre_holiday = true',
     "sla.policies.governor", "need the production calendar"),
])
def test_bad_shortened_day_and_min_time_values(tmp_path: Path, old: str, new: str, key: str,
                                               expected: str) -> None:
    text = example_with(old, new)
    if "extra_short_days = [2026-12-30]" in new:
        text = text.replace("extra_short_days = []\n", "", 1)
    path = write(tmp_path, text)
    message = error_of(path)
    assert key in message and expected in message, message


def test_a_policy_of_its_own_with_a_lunch_break(tmp_path: Path) -> None:
    from datetime import datetime

    from workflows.model import Priority
    from workflows.sla import compute_deadlines

    path = tmp_path / "otklik.toml"
    path.write_text(EXAMPLE_PATH.read_text(encoding="utf-8").replace(
        'default_policy = "incident_management"', 'default_policy = "district"') + """
[sla.policies.district]
title = "Обращения в администрацию"
hours = "09:00-18:00"
lunch = "13:00-14:00"
answer = "4wh"
""", encoding="utf-8")
    config = load_config(path)
    start = datetime(2026, 11, 23, 11, 0, tzinfo=config.tz)  # Monday
    due = compute_deadlines(config.policies["district"], Priority.NORMAL, start).answer
    assert due == datetime(2026, 11, 23, 16, 0, tzinfo=config.tz)  # 2 h, lunch, 2 h


def test_bad_policy_values_name_the_key(tmp_path: Path) -> None:
    base = EXAMPLE_PATH.read_text(encoding="utf-8")
    for line, key in (('answer = "8 whs"', "sla.policies.incident_management.answer"),
                      ('hours = "17:00-08:00"', "sla.policies.incident_management.hours"),
                      ('reminders = ["half"]', "sla.policies.incident_management.reminders")):
        field = line.split(" = ")[0]
        text = base.replace(
            {"answer": 'answer = "8wh"', "hours": 'hours = "08:00-17:00"',
             "reminders": 'reminders = ["50%", "1wh"]'}[field], line, 1)
        path = tmp_path / "otklik.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert f"{path}: {key}" in str(err.value), str(err.value)
