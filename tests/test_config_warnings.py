"""``otklik check-config`` warns (``warning:`` lines, exit 0) about a config that loads but
would not work: tokens in the file, nobody able to invite, departments nobody answers for,
the example's sample people, walls watched without keywords."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import HTTP_TOKEN_ENV, TOKEN_ENV, VK_TOKEN_ENVS
from tests.harness import CONFIG, cli

ROOT = Path(__file__).resolve().parent.parent
CLEAN = CONFIG.format(token="", api_base="https://api.telegram.org")
SECRET = "123456789:AAE-very-secret-token-value"


@pytest.fixture(autouse=True)
def _no_tokens_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in (TOKEN_ENV, HTTP_TOKEN_ENV, *VK_TOKEN_ENVS.values()):
        monkeypatch.delenv(env, raising=False)


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    path = tmp_path / "otklik.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"{path}: OK" in out
    return [line for line in out.splitlines() if line.startswith("warning:")]


def test_a_clean_config_has_no_warnings(tmp_path: Path, capsys) -> None:
    assert check(tmp_path, capsys, CLEAN) == []


@pytest.mark.parametrize(("section", "key", "env"), [
    ("telegram", "token", TOKEN_ENV),
    ("http", "token", HTTP_TOKEN_ENV),
    *(("vk", key, env) for key, env in VK_TOKEN_ENVS.items()),
])
def test_a_token_written_in_the_file_is_warned_about_without_showing_it(
        tmp_path: Path, capsys, section: str, key: str, env: str) -> None:
    if section == "telegram":
        text = CLEAN.replace('token = ""', f'token = "{SECRET}"', 1)
    else:
        extra = "\ngroup_id = 5" if (section, key) == ("vk", "token") else ""
        text = CLEAN.replace("[[departments]]",
                             f'[{section}]\n{key} = "{SECRET}"{extra}\n\n[[departments]]', 1)
    warnings = check(tmp_path, capsys, text)
    assert len(warnings) == 1, warnings
    assert f"{section}.{key}: a token is written in the file" in warnings[0]
    assert env in warnings[0] and SECRET not in warnings[0]
    assert SECRET.split(":")[1] not in warnings[0]


def test_nobody_who_could_invite(tmp_path: Path, capsys) -> None:
    text = CLEAN.replace('roles = ["coordinator", "admin"]\ntelegram_id = 1001',
                         'roles = ["coordinator", "admin"]')
    warnings = check(tmp_path, capsys, text)
    assert any("no coordinator or admin has a telegram_id or vk_id" in w and "/invite" in w
               for w in warnings), warnings
    # A vk_id is enough.
    assert check(tmp_path, capsys, text.replace('roles = ["coordinator", "admin"]',
                                                'roles = ["coordinator", "admin"]\nvk_id = 7'
                                                )) == []


def test_a_department_and_its_category_without_an_executor(tmp_path: Path, capsys) -> None:
    text = CLEAN.replace('departments = ["housing", "roads"]', 'departments = ["roads"]')
    warnings = check(tmp_path, capsys, text)
    assert len(warnings) == 2, warnings
    assert "departments[1]: no executor in department 'housing'" in warnings[0]
    assert ("categories[1]: incidents of 'housing' go to department 'housing', "
            "which has no executor") in warnings[1]


def test_the_examples_sample_people_and_placeholder_ids(tmp_path: Path, capsys) -> None:
    text = CLEAN.replace('name = "Иванова Анна"\nroles = ["coordinator", "admin"]\n'
                         'telegram_id = 1001',
                         'name = "Иванова Анна Сергеевна"\nroles = ["coordinator", "admin"]\n'
                         'telegram_id = 100000001')
    warnings = check(tmp_path, capsys, text)
    assert len(warnings) == 2, warnings
    assert "people[0].name: 'Иванова Анна Сергеевна' is a sample person" in warnings[0]
    assert "people[0].telegram_id: 100000001 is the example's placeholder" in warnings[1]


def test_vk_walls_watched_without_keywords(tmp_path: Path, capsys) -> None:
    watched = CLEAN.replace("[[departments]]", "[vk]\ncommunities = [-1]\n\n[[departments]]", 1)
    assert check(tmp_path, capsys, watched) == []  # the categories have keywords
    bare = "\n".join(line for line in watched.splitlines() if not line.startswith("keywords"))
    warnings = check(tmp_path, capsys, bare)
    assert len(warnings) == 1 and "vk.communities" in warnings[0], warnings
    assert "no category has keywords" in warnings[0]


def test_the_real_cli_prints_warnings_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "otklik.toml"
    path.write_bytes(b"\xef\xbb\xbf" + CLEAN.replace('token = ""', f'token = "{SECRET}"', 1)
                     .encode("utf-8"))
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    result = cli("check-config", "--config", str(path), env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {path}: telegram.token: a token is written in the file; "
                        "anyone who can read the file can use it (better: leave it empty and "
                        f"set {TOKEN_ENV})"]
    assert SECRET not in result.stdout + result.stderr
