"""The command line, run as an administrator would: ``python -m bot ...``. In this process
(``tests.harness.cli``: the same ``main``, environment, working folder and output), except for
one smoke test that starts a real ``python -m bot``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import TOKEN_ENV
from tests.harness import ROOT, cli

EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
SECRET = "123456789:AAE-very-secret-token-value"


def otklik(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    environment.update(env or {})
    return cli(*args, env=environment, cwd=ROOT)


def example_with(old: str, new: str) -> str:
    assert old in EXAMPLE, f"the example no longer contains {old!r}"
    return EXAMPLE.replace(old, new, 1)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "otklik.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- check-config ---------------------------------------------------------------------------


def test_check_config_accepts_the_example() -> None:
    # The smoke test of the real command: `python -m bot` in a process of its own.
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    result = subprocess.run([sys.executable, "-m", "bot", "check-config", "--config",
                             "config.example.toml"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "config.example.toml: OK" in result.stdout
    assert "12 departments, 20 categories, 6 people" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(("text", "key"), [
    pytest.param(example_with('department = "housing"', 'department = "roadz"'),
                 "categories[0].department", id="unknown-department"),
    pytest.param(example_with('"Asia/Novokuznetsk"', '"Mars/Olympus"'), "timezone",
                 id="bad-time-zone"),
    pytest.param(example_with("timezone =", "timezon ="), "timezon", id="misspelled-key"),
    pytest.param(example_with('roles = ["executor"]', 'roles = ["exekutor"]'),
                 "people[1].roles[0]", id="unknown-role"),
])
def test_check_config_rejects_a_broken_config(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    result = otklik("check-config", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: {key}: " in result.stderr
    assert "OK" not in result.stdout


def test_check_config_rejects_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    result = otklik("check-config", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: cannot read the config file" in result.stderr


def test_check_config_never_prints_the_token(tmp_path: Path) -> None:
    path = write(tmp_path, example_with('token = ""', f'token = "{SECRET}"'))
    ok = otklik("check-config", "--config", str(path), env={TOKEN_ENV: SECRET + "-env"})
    broken = otklik("check-config", "--config",
                    str(write(tmp_path, example_with('token = ""', f'token = "{SECRET}"')
                              .replace('"Asia/Novokuznetsk"', '"Mars/Olympus"'))))
    assert ok.returncode == 0, ok.stderr
    assert broken.returncode == 2
    for result in (ok, broken):
        assert SECRET not in result.stdout + result.stderr


# --- deadline -------------------------------------------------------------------------------


def deadline(*args: str) -> subprocess.CompletedProcess[str]:
    return otklik("deadline", "--config", "config.example.toml", *args)


def test_deadline_counts_working_hours_over_the_weekend() -> None:
    # Friday 16:00, Mon–Fri 08:00–17:00: first response in 1 working hour (Friday 17:00);
    # the answer in 8: 1 left on Friday + 7 on Monday, 08:00 + 7h = 15:00.
    result = deadline("--policy", "incident_management", "--at", "2026-11-20 16:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "first_response: 2026-11-20 17:00",
        "answer: 2026-11-23 15:00",
    ]


def test_deadline_fast_track_answers_in_four_working_hours() -> None:
    # 1 working hour left on Friday + 3 on Monday from 08:00.
    result = deadline("--policy", "incident_management", "--priority", "fast_track",
                      "--at", "2026-11-20 16:00")
    assert result.returncode == 0, result.stderr
    assert "answer: 2026-11-23 11:00" in result.stdout.splitlines()


def test_deadline_unknown_policy_names_the_known_ones() -> None:
    result = deadline("--policy", "incident", "--at", "2026-11-20 16:00")
    assert result.returncode != 0
    assert "'incident'" in result.stderr
    for known in ("incident_management", "pos", "kuzbass_online", "governor"):
        assert known in result.stderr
    assert result.stdout == ""


def test_deadline_rejects_a_malformed_time() -> None:
    result = deadline("--policy", "incident_management", "--at", "20.11.2026 16:00")
    assert result.returncode != 0
    assert "--at" in result.stderr
    assert "YYYY-MM-DD HH:MM" in result.stderr
    assert result.stdout == ""


# --- run ------------------------------------------------------------------------------------


def test_run_with_a_config_but_no_token_is_an_error_not_the_demo(tmp_path: Path) -> None:
    # A forgotten environment variable under a service manager must not look like success.
    path = write(tmp_path, EXAMPLE)
    result = otklik("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"{path}: no bot token: set {TOKEN_ENV} in the "
                                     "environment (or [telegram] token)")
    assert result.stdout == ""  # no demo transcript
    assert not (tmp_path / "otklik-data").exists()


def test_run_without_a_config_plays_the_offline_demo(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    result = cli("run", env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "offline demo" in result.stderr
    assert "бот →" in result.stdout  # the demo's chat transcript
    assert list(tmp_path.iterdir()) == []  # the demo never touches the current folder


def test_run_with_a_broken_config_fails_instead_of_playing_the_demo(tmp_path: Path) -> None:
    path = write(tmp_path, example_with('"Asia/Novokuznetsk"', '"Mars/Olympus"'))
    result = otklik("run", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: timezone: " in result.stderr
    assert result.stdout == ""
