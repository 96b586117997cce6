"""The service files: the systemd unit parses and runs what the README says; the Dockerfile
installs and starts Otklik with the README's commands; compose wires the config, the data
volume and the tokens to the places the image expects them."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "otklik.service"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
README = ROOT / "README.md"
DATA_DIR = "/var/lib/otklik"
CONFIG = "/etc/otklik/otklik.toml"


def unit(text: str | None = None) -> dict[str, dict[str, list[str]]]:
    """The unit's sections: each key with all its values, in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (text if text is not None else UNIT.read_text(encoding="utf-8")).splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def instruction(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def readme() -> str:
    return " ".join(README.read_text(encoding="utf-8").split())


def start_command() -> str:
    """ENTRYPOINT + CMD of the image, as one shell command."""
    (entry,), (cmd,) = instruction("ENTRYPOINT"), instruction("CMD")
    return shlex.join(json.loads(entry) + json.loads(cmd))


# --- systemd ---------------------------------------------------------------------------------


def test_the_unit_restarts_on_failure_as_its_own_user_with_tokens_from_a_file() -> None:
    service = unit()["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["User"] == ["otklik"] and service["Group"] == ["otklik"]
    assert service["EnvironmentFile"] == ["/etc/otklik/otklik.env"]
    assert service["StateDirectory"] == ["otklik"]
    assert service["WorkingDirectory"] == [DATA_DIR]
    # A config error (2) or a refused token (3) is not fixed by restarting.
    assert set(service["RestartPreventExitStatus"][0].split()) == {"2", "3"}
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"):
        assert service[hardening] != ["no"], hardening
    assert service["ProtectSystem"] == ["strict"]
    assert unit()["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_unit_runs_the_readmes_command() -> None:
    (exec_start,) = unit()["Service"]["ExecStart"]
    assert exec_start == f"/opt/otklik/bin/otklik run --config {CONFIG}"
    assert exec_start in readme()
    assert "deploy/otklik.service" in readme()


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # verify also checks that ExecStart's program exists: the real one is installed only on a
    # server, so a stand-in of the same name takes its place.
    program = tmp_path / "opt" / "otklik" / "bin" / "otklik"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    text = UNIT.read_text(encoding="utf-8")
    assert text.count("/opt/otklik/bin/otklik") == 1
    copy = tmp_path / "otklik.service"
    copy.write_text(text.replace("/opt/otklik/bin/otklik", str(program)), encoding="utf-8")
    result = _verify(copy)
    about_us = [ln for ln in (result.stdout + result.stderr).splitlines() if "otklik" in ln]
    assert result.returncode == 0 and about_us == [], result.stdout + result.stderr

    # systemd-analyze reports a bad line but still exits 0: the check above relies on the
    # report, so make sure that here it does report one.
    broken = copy.with_name("broken-otklik.service")
    broken.write_text(copy.read_text(encoding="utf-8").replace("Restart=", "Restat=", 1),
                      encoding="utf-8")
    report = _verify(broken)
    assert "Restat" in report.stdout + report.stderr


# --- Docker ----------------------------------------------------------------------------------


def test_the_image_installs_and_starts_otklik_with_the_readmes_commands() -> None:
    text = readme()
    steps = [step.strip() for run in instruction("RUN") for step in run.split("&&")]
    installs = [s for s in steps if "pip install" in s or " venv " in s]
    assert installs == ["python3 -m venv /opt/otklik", "/opt/otklik/bin/pip install ."]
    for step in installs:
        assert step in text, step
    assert start_command() == f"/opt/otklik/bin/otklik run --config {CONFIG}"
    assert start_command() in text
    # The same command as the systemd unit: one way to run Otklik, documented once.
    assert unit()["Service"]["ExecStart"] == [start_command()]
    assert instruction("VOLUME") == [DATA_DIR]
    assert instruction("USER") == ["otklik"]
    assert "Dockerfile" in text and "compose.yaml" in text


def test_compose_mounts_the_config_and_the_data_and_takes_the_tokens_from_the_environment(
        ) -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    service = compose["services"]["otklik"]
    assert service["build"] == "."
    mounts = {v.split(":")[1]: v for v in service["volumes"]}
    assert mounts[CONFIG].endswith(":ro")
    volume = mounts[DATA_DIR].split(":")[0]
    assert volume in compose["volumes"]  # a named volume: the data outlives the container
    env = service["environment"]
    for name in ("OTKLIK_TELEGRAM_TOKEN", "OTKLIK_VK_TOKEN", "OTKLIK_VK_SERVICE_TOKEN",
                 "OTKLIK_VK_USER_TOKEN", "OTKLIK_HTTP_TOKEN"):
        assert env[name].startswith("${" + name), (name, env[name])
    # Without a Telegram token compose refuses to start rather than run something else.
    assert env["OTKLIK_TELEGRAM_TOKEN"].startswith("${OTKLIK_TELEGRAM_TOKEN:?")
    assert service["restart"] in {"unless-stopped", "always", "on-failure"}


def test_the_image_gets_the_sources_but_no_config_token_or_data() -> None:
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8")
                .splitlines() if ln.strip() and not ln.startswith("#")]

    def ignored(name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in patterns)

    for secret in ("otklik.toml", ".env", "otklik.env", ".venv", ".git", "otklik.sqlite3",
                   "otklik.sqlite3-wal", "otklik-data"):
        assert ignored(secret), secret
    for needed in ("pyproject.toml", "README.md", "bot", "handlers", "workflows", "templates"):
        assert not ignored(needed), needed
