"""A plain install: the wheel built from this tree, installed into a fresh virtual environment
with its dependencies from the package index, runs the demo from an unrelated folder.

The wheel is built from a copy of the tree as the Docker build sees it (``.dockerignore``
applied), so that the build leaves nothing (``build/``, ``*.egg-info``) in the checkout and the
image's ``pip install .`` is known to find what it needs. Slow by nature (a build and an
install, ~30–60 s), so every check shares one install, made in the background from the start
of the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import shared

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
    demo: subprocess.CompletedProcess[str] | None = None  # `otklik demo`, run after the install

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        # Nothing of the test's own environment may leak in: no PYTHONPATH, no tokens.
        # Bytecode is written there (whatever PYTHONDONTWRITEBYTECODE says here): the demo
        # compiles what it imports once, and the later runs read it.
        env = {k: v for k, v in os.environ.items()
               if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
               and not k.startswith("OTKLIK_")}
        return _background.run(list(args), cwd=self.elsewhere, env=env, timeout=timeout)

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result


def _install(tmp: Path) -> Installed:
    source, wheels, elsewhere = tmp / "source", tmp / "wheels", tmp / "elsewhere"
    shutil.copytree(ROOT, source, ignore=SKIP)
    elsewhere.mkdir()
    _checked(_background.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
         str(wheels), str(source)], timeout=600))
    (wheel,) = wheels.glob("otklik-*.whl")
    shutil.rmtree(source)  # from here on, only the wheel has Otklik's files
    box = Installed(wheel, tmp / "venv", elsewhere)
    # Without a pip of its own (installing one into it took ~5 s of CPU): this process's pip
    # installs into it (--python), as the environment's own pip would.
    _checked(box.run(sys.executable, "-m", "venv", "--without-pip", str(box.venv)))
    # --no-compile: Python compiles what it imports anyway; compiling all 480 MB of the
    # dependencies up front only doubled the install's time.
    _checked(box.run(sys.executable, "-m", "pip", "--python", box.bin("python"), "install",
                     "--quiet", "--no-compile", "--disable-pip-version-check", str(wheel),
                     timeout=900))
    demo = box.run(box.bin("otklik"), "demo", timeout=180)
    return Installed(wheel, box.venv, elsewhere, demo)


class _Background:
    """The build, the install and the demo run in a thread from the start of the session
    (``start``, called by conftest.py when a test here is selected), beside the other tests:
    they wait on the network and the disk far more than on the CPU.

    With pytest-xdist every worker calls ``start``: the first to claim the session's folder
    (``tests.shared``) installs, and a worker that runs a test here without having installed
    reads the outcome from that folder (``result.json``) once it is written. Every test that
    uses the install runs in one worker (conftest.py's groups): after the last of them, that
    worker hands the install to a process of its own to remove (``remove``)."""

    def __init__(self) -> None:
        self._future: Future[Installed] | None = None
        self._tmp: Path | None = None
        self._processes: set[subprocess.Popen[str]] = set()
        self._stopping = False

    def start(self) -> None:
        if self._future is not None:
            return
        tmp = shared.folder() / "packaging"
        try:
            tmp.mkdir()
        except FileExistsError:  # another worker of this session installs
            return
        self._tmp = tmp
        self._future = Future()
        threading.Thread(target=self._work, name="packaging", daemon=True).start()

    def _work(self) -> None:
        assert self._future is not None and self._tmp is not None
        try:
            box = _install(self._tmp)
        except BaseException as e:
            _write_outcome(self._tmp, {"error": repr(e)})
            self._future.set_exception(e)
        else:
            demo = box.demo
            assert demo is not None
            _write_outcome(self._tmp, {
                "wheel": str(box.wheel), "venv": str(box.venv), "elsewhere": str(box.elsewhere),
                "demo": [demo.args, demo.returncode, demo.stdout, demo.stderr]})
            self._future.set_result(box)

    def run(self, args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """``subprocess.run`` that :meth:`stop` can end."""
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, **{k: v for k, v in kw.items() if k != "timeout"}
                              ) as proc:
            self._processes.add(proc)
            try:
                if self._stopping:
                    proc.kill()
                out, err = proc.communicate(timeout=kw.get("timeout"))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            finally:
                self._processes.discard(proc)
        return subprocess.CompletedProcess(args, proc.returncode, out, err)

    def result(self) -> Installed:
        self.start()
        if self._future is not None:
            return self._future.result()
        return _installed_by_another_worker(shared.folder() / "packaging")

    def remove(self) -> None:
        """The install removed by a process of its own that the end of the run does not wait
        for (thousands of files: seconds of disk work, up to 18 s on a busy machine, that once
        held up the end of the run). It is moved out of the session's folder first, at once,
        so that the end of the session does not remove it too."""
        if self._future is not None and not self._future.done():
            return  # still installing (its tests failed early): removed with the session
        tmp = shared.folder() / "packaging"
        trash = Path(tempfile.mkdtemp(prefix="otklik-tests-removed-", dir=tmp.parent.parent))
        tmp.rename(trash / tmp.name)
        # The shell starts ``rm`` in the background and ends: nothing here waits for it.
        subprocess.run(["sh", "-c", 'rm -rf -- "$1" >/dev/null 2>&1 &', "sh", str(trash)],  # noqa: S607
                       check=True)

    def stop(self) -> None:
        """The end of this process's tests. The install is finished first when another
        worker may still use it (pytest-xdist); otherwise what still runs is killed."""
        if self._future is not None and shared.workers():
            with contextlib.suppress(BaseException):
                self._future.result(timeout=900)
        self._stopping = True
        for proc in list(self._processes):
            proc.kill()
        if self._future is not None:
            with contextlib.suppress(BaseException):
                self._future.result(timeout=30)


def _outcome(tmp: Path) -> Path:
    return tmp / "result.json"


def _write_outcome(tmp: Path, outcome: dict[str, Any]) -> None:
    partial = tmp / "result.json.partial"
    partial.write_text(json.dumps(outcome), encoding="utf-8")
    partial.replace(_outcome(tmp))  # whole, for a worker that waits for it


def _installed_by_another_worker(tmp: Path, wait: float = 1200) -> Installed:
    deadline = time.monotonic() + wait
    while not _outcome(tmp).exists():
        assert time.monotonic() < deadline, "the install of another worker never finished"
        time.sleep(0.2)
    found = json.loads(_outcome(tmp).read_text(encoding="utf-8"))
    if "error" in found:
        raise AssertionError(f"the install failed in another worker: {found['error']}")
    args, code, out, err = found["demo"]
    return Installed(Path(found["wheel"]), Path(found["venv"]), Path(found["elsewhere"]),
                     subprocess.CompletedProcess(args, code, out, err))


_background = _Background()
start = _background.start
stop = _background.stop


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    yield _background.result()
    _background.remove()


def test_the_wheel_carries_every_file_read_at_run_time(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    expected = {p.relative_to(ROOT).as_posix() for pattern in DATA for p in ROOT.glob(pattern)
                if p.is_file()}
    assert "templates/texts.toml" in expected
    assert sorted(expected - names) == []


def test_the_installed_package_runs_from_its_own_files(installed: Installed) -> None:
    code = ("import bot, fakes, templates; from bot.templates import DEFAULT_DIR; "
            "print(bot.__file__); print(fakes.__file__); print(templates.__file__); "
            "print(DEFAULT_DIR)")
    lines = _checked(installed.run(installed.bin("python"), "-c", code)).stdout.splitlines()
    site = installed.venv.resolve()
    for line in lines:
        assert Path(line).resolve().is_relative_to(site), lines
        assert not Path(line).resolve().is_relative_to(ROOT), lines


def test_the_installed_demo_plays_to_the_end(installed: Installed) -> None:
    result = installed.demo
    assert result is not None
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
