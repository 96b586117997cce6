"""A plain install: the wheel built from this tree, installed into a fresh virtual environment
with its dependencies from the package index, runs the demo from an unrelated folder.

The wheel is built from a copy of the tree as the Docker build sees it (``.dockerignore``
applied), so that the build leaves nothing (``build/``, ``*.egg-info``) in the checkout and the
image's ``pip install .`` is known to find what it needs. Slow by nature (a build and an
install, ~30–60 s), so every check shares one install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKER_CONTEXT_SKIPS = [
    line.strip().removeprefix("**/")
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")]
SKIP = shutil.ignore_patterns(*DOCKER_CONTEXT_SKIPS, ".*_cache", "__pycache__")
# Files the program reads at run time, beside its modules.
DATA = ("templates/*", "templates/board/*", "bot/migrations/*.sql", "fakes/*.json")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    elsewhere: Path  # a working folder with nothing of Otklik in it

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        # Nothing of the test's own environment may leak in: no PYTHONPATH, no tokens.
        env = {k: v for k, v in os.environ.items()
               if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
               and not k.startswith("OTKLIK_")}
        return subprocess.run(list(args), cwd=self.elsewhere, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("packaging")
    source, wheels, elsewhere = tmp / "source", tmp / "wheels", tmp / "elsewhere"
    shutil.copytree(ROOT, source, ignore=SKIP)
    elsewhere.mkdir()
    _checked(subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
         str(wheels), str(source)], capture_output=True, text=True, timeout=600, check=False))
    (wheel,) = wheels.glob("otklik-*.whl")
    shutil.rmtree(source)  # from here on, only the wheel has Otklik's files
    box = Installed(wheel, tmp / "venv", elsewhere)
    _checked(box.run(sys.executable, "-m", "venv", str(box.venv)))
    _checked(box.run(box.bin("python"), "-m", "pip", "install", "--quiet",
                     "--disable-pip-version-check", str(wheel), timeout=900))
    yield box


def test_the_wheel_carries_every_file_read_at_run_time(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    expected = {p.relative_to(ROOT).as_posix() for pattern in DATA for p in ROOT.glob(pattern)
                if p.is_file()}
    assert "templates/texts.toml" in expected
    assert sorted(expected - names) == []


def test_the_installed_package_runs_from_its_own_files(installed: Installed) -> None:
    code = ("import bot, templates; from bot.templates import DEFAULT_DIR; "
            "print(bot.__file__); print(templates.__file__); print(DEFAULT_DIR)")
    lines = _checked(installed.run(installed.bin("python"), "-c", code)).stdout.splitlines()
    site = installed.venv.resolve()
    for line in lines:
        assert Path(line).resolve().is_relative_to(site), lines
        assert not Path(line).resolve().is_relative_to(ROOT), lines


def test_the_installed_demo_plays_to_the_end(installed: Installed) -> None:
    result = installed.run(installed.bin("otklik"), "demo", timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.count("▶") >= 10  # the scenes were played, not skipped
    assert "Traceback" not in result.stderr


def test_the_installed_cli_checks_the_example_config(installed: Installed) -> None:
    example = installed.elsewhere / "otklik.toml"
    shutil.copyfile(ROOT / "config.example.toml", example)
    result = installed.run(installed.bin("otklik"), "check-config", "--config", "otklik.toml")
    assert result.returncode == 0, result.stderr
    assert "otklik.toml: OK" in result.stdout


# --- the documentation stands alone ----------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", ["README.md", *sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_documentation_links_stay_inside_the_repository(doc: str) -> None:
    path = ROOT / doc
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if target.startswith(("https://", "http://", "mailto:", "#")):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc}: {target} points outside the repository"
        assert resolved.exists(), f"{doc}: {target} does not exist"


def test_the_readme_links_the_design_in_docs() -> None:
    assert "](docs/design.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
