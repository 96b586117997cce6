"""Every config is refused with one line naming file and key, or accepted: never a traceback.

Many bad configs go through ``load_config`` and ``otklik check-config`` in process; one of them
also through the real CLI in a fresh process.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import TOKEN_ENV, ConfigError, load_config
from tests.harness import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
POLICY = "[sla.policies.incident_management]\n"
IM = "sla.policies.incident_management"


def changed(old: str, new: str) -> str:
    assert old in EXAMPLE, f"the example no longer contains {old!r}"
    return EXAMPLE.replace(old, new, 1)


def policy_with(extra: str) -> str:
    return changed(POLICY, POLICY + extra + "\n")


BAD = [
    pytest.param(policy_with('lunch = "18:00-19:00"'), f"{IM}: lunch", "must lie inside",
                 id="lunch-after-the-day"),
    pytest.param(policy_with('lunch = "06:00-07:00"'), f"{IM}: lunch", "must lie inside",
                 id="lunch-before-the-day"),
    pytest.param(policy_with('lunch = "07:00-18:00"'), f"{IM}: lunch", "must lie inside",
                 id="lunch-covering-the-day"),
    pytest.param(policy_with('lunch = "08:00-17:00"'), f"{IM}: lunch", "must lie inside",
                 id="lunch-equal-to-the-day"),
    pytest.param(policy_with('lunch = "12:00"'), f"{IM}.lunch", "span of time",
                 id="lunch-not-a-span"),
    pytest.param(changed("extra_days_off = []\nextra_working_days = []",
                         "extra_days_off = [2026-12-31]\nextra_working_days = [2026-12-31]"),
                 "calendar: extra_working_days", "2026-12-31", id="date-both-off-and-working"),
    pytest.param(changed('answer = "8wh"', 'answer = "0h"'), f"{IM}.answer", "no time at all",
                 id="answer-zero"),
    pytest.param(changed('first_response = "1wh"', 'first_response = "0wd"'),
                 f"{IM}.first_response", "no time at all", id="first-response-zero"),
    pytest.param(changed('answer_fast_track = "4wh"', 'answer_fast_track = "0 min"'),
                 f"{IM}.answer_fast_track", "no time at all", id="fast-track-zero"),
    pytest.param(changed('answer = "8wh"', 'answer = "99999999999999d"'), f"{IM}.answer",
                 "too large", id="answer-too-large"),
    pytest.param(changed('escalate_after = "2wh"', 'escalate_after = "99999999999999999h"'),
                 f"{IM}.escalate_after", "too large", id="escalation-too-large"),
    pytest.param(changed('answer = "8wh"', "answer = 8"), f"{IM}.answer", "string",
                 id="answer-a-number"),
    pytest.param(changed('reminders = ["50%", "1wh"]', 'reminders = ["150%"]'),
                 f"{IM}.reminders", "between 0% and 100%", id="reminder-over-100"),
    pytest.param(changed('poll_every = "5m"', 'poll_every = "9999999999999999999d"'),
                 "vk.poll_every", "too large", id="poll-every-too-large"),
    pytest.param(changed("telegram_id = 100000001", "telegram_id = -100000001"),
                 "people[0].telegram_id", "greater than 0", id="negative-telegram-id"),
    pytest.param(changed("telegram_id = 100000001", "telegram_id = 0"),
                 "people[0].telegram_id", "greater than 0", id="zero-telegram-id"),
    pytest.param(changed("telegram_id = 100000001", "telegram_id = 100000001\nvk_id = -5"),
                 "people[0].vk_id", "greater than 0", id="negative-vk-id"),
    pytest.param(changed("group_id = 0", "group_id = -123456"), "vk.group_id",
                 "greater than or equal to 0", id="negative-group-id"),
    pytest.param(changed("telegram_id = 100000001", 'telegram_id = "@ivanova"'),
                 "people[0].telegram_id",
                 "telegram_id must be the numeric id (a user sees it with @userinfobot), "
                 "not a @username", id="telegram-username"),
    pytest.param(changed('database = "otklik-data/otklik.sqlite3"',
                         'database = "blocker/otklik.sqlite3"'),
                 "database", "cannot be created", id="database-under-a-file"),
    pytest.param(changed('database = "otklik-data/otklik.sqlite3"', 'database = "."'),
                 "database", "is a folder", id="database-is-a-folder"),
    pytest.param(changed('database = "otklik-data/otklik.sqlite3"',
                         'database = "mysql://db/otklik"'),
                 "database", "mysql:// is not a database this bot knows", id="database-mysql"),
    pytest.param(changed('database = "otklik-data/otklik.sqlite3"',
                         'database = "postgresql://otklik@db/otklik"'),
                 "backup", "back up a PostgreSQL database with pg_dump",
                 id="postgresql-with-file-backups"),
    pytest.param(changed('files_dir = "otklik-data/files"', 'files_dir = "blocker"'),
                 "files_dir", "is a file", id="files-dir-is-a-file"),
    pytest.param(changed('hours = "08:00-17:00"', 'hours = "25:00-26:00"'), f"{IM}.hours",
                 "span of time", id="hours-no-time"),
    pytest.param(changed('days = "mon-fri"', 'days = "weekdays"'), f"{IM}.days", "mon-fri",
                 id="days-unknown"),
    pytest.param(changed("communities = []", "communities = [0]"), "vk.communities",
                 "owner ids", id="community-zero"),
    pytest.param(changed("extra_days_off = []", "extra_days_off = 5"),
                 "calendar.extra_days_off", "list", id="days-off-not-a-list"),
    pytest.param(changed("start_timeout = 60", 'start_timeout = 60\nsecret_token = "a b"'),
                 "telegram.secret_token", "A-Z, a-z, 0-9, _ and -", id="secret-token-space"),
    pytest.param(changed("start_timeout = 60", 'start_timeout = 60\nmode = "webhook"\n'
                         'listen = "127.0.0.1:8443"\nsecret_token = "s3cret"'),
                 "telegram.webhook_url", 'required with mode = "webhook"',
                 id="webhook-without-url"),
    pytest.param(changed("start_timeout = 60", 'start_timeout = 60\nmode = "webhook"\n'
                         'webhook_url = "http://otklik.example.ru/tg"\n'
                         'listen = "127.0.0.1:8443"\nsecret_token = "s3cret"'),
                 "telegram.webhook_url", "only to https://", id="webhook-plain-http"),
    pytest.param(changed("start_timeout = 60", 'start_timeout = 60\nmode = "webhook"\n'
                         'webhook_url = "https://otklik.example.ru/tg"\n'
                         'listen = "127.0.0.1:8443"'),
                 "telegram.secret_token", 'required with mode = "webhook"',
                 id="webhook-without-secret"),
    pytest.param(changed("start_timeout = 60", 'start_timeout = 60\nlisten = "8443"'),
                 "telegram.listen", "host:port", id="webhook-listen-no-host"),
    pytest.param(changed("start_timeout = 60", 'start_timeout = 60\nmode = "hook"'),
                 "telegram.mode", "'polling' or 'webhook'", id="telegram-mode-unknown"),
    pytest.param(changed('feedback_window = "2d"', 'feedback_window = "0d"')
                 if 'feedback_window = "2d"' in EXAMPLE
                 else changed("[sla]\n", '[sla]\nfeedback_window = "2wd"\n'),
                 "sla.feedback_window", "calendar time", id="feedback-window-working"),
]


@pytest.fixture(autouse=True)
def _setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    (tmp_path / "blocker").write_text("a file where a folder is expected", encoding="utf-8")


@pytest.mark.parametrize(("text", "key", "expected"), BAD)
def test_bad_config_is_refused_in_one_line_naming_file_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        text: str, key: str, expected: str) -> None:
    path = tmp_path / "otklik.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: {key}" in str(info.value) and expected in str(info.value), str(info.value)

    assert main(["check-config", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"config error: {path}: {key}"), err
    assert expected in err and "Traceback" not in err


def test_the_real_cli_refuses_a_lunch_outside_the_day_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "otklik.toml"
    path.write_text(policy_with('lunch = "18:00-19:00"'), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    result = cli("check-config", "--config", str(path), env=env, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"config error: {path}: {IM}: lunch")


def test_a_lunch_inside_the_day_and_a_bom_are_accepted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "otklik.toml"
    path.write_bytes(b"\xef\xbb\xbf" + policy_with('lunch = "12:00-12:48"').encode("utf-8"))
    config = load_config(path)
    assert config.policies["incident_management"].calendar.lunch is not None
    assert main(["check-config", "--config", str(path)]) == 0
    assert ": OK" in capsys.readouterr().out


# --- every key with every kind of wrong value: refused with a reason or accepted --------------

WEIRD = [-1, 0, 2**63, -(2**70), 1.5, "", " ", "\x00", "x" * 5000, True, [], [1], {}, {"a": 1},
         "2026-13-45", "00:00-24:00", "99:99-00:00", "until 25:00", "-5h", "1e9d", "@user"]


def _leaves(node: object, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))] or [path]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [path]


def _with(data: object, path: tuple, value: object) -> object:
    """``data`` with ``value`` at ``path``: the containers along the path are copied, the
    rest is shared (``base`` is checked unchanged at the end of the test)."""
    import copy

    if not path:
        return copy.deepcopy(value)
    head = copy.copy(data)
    head[path[0]] = _with(data[path[0]], path[1:], value)  # type: ignore[index]
    return head


def test_no_value_anywhere_ends_in_a_traceback(tmp_path: Path) -> None:
    import copy
    import tomllib

    from bot.config import config_from_data

    base = tomllib.loads(policy_with('lunch = "12:00-12:48"'))
    base["vk"]["communities"] = [-1]
    base["calendar"]["extra_days_off"] = [date(2026, 12, 31)]
    pristine = copy.deepcopy(base)
    path = tmp_path / "otklik.toml"
    tried = refused = 0
    for leaf in _leaves(base):
        for value in WEIRD:
            tried += 1
            try:
                config_from_data(_with(base, leaf, value), path)  # type: ignore[arg-type]
            except ConfigError as e:
                refused += 1
                assert str(e).startswith(f"{path}: "), (leaf, value, str(e))
    assert tried > 1000 and refused > tried // 2
    assert base == pristine  # nothing shared between the tries was changed
