# ruff: noqa: E402  (the collector is switched off before the imports below)
from __future__ import annotations

import gc

# What is imported and collected (aiogram's hundreds of models, the test modules) lives for the
# whole session: the garbage collector is off meanwhile, and it is then frozen out of its
# reach (pytest_collection_finish), so that every full collection during the tests does not
# walk those ~250,000 objects again (each walk took about 0.3 s, dozens of times a run). A test
# that imports a large library (matplotlib, scikit-learn: as many objects again) has them frozen
# after it (pytest_runtest_teardown).
gc.disable()

import os
import sys

# Python's bytecode cache (__pycache__, with pytest's rewritten test modules) is written and used
# even where the environment sets PYTHONDONTWRITEBYTECODE: without it each pytest-xdist worker
# compiles every test module again (~2 s of its start), and each process a test starts, the bot.
sys.dont_write_bytecode = False  # (this process)
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # (the workers and processes it starts)
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests import shared

# The bot and aiogram are imported by the fixtures that use them (in pytest-xdist's workers,
# at collection, with the test modules): pytest-xdist's controller, which runs no test, does
# not spend seconds importing them before it starts the workers.
if TYPE_CHECKING:
    from fakes.telegram import FakeTelegramServer
    from tests import processes
    from tests.harness import Clock, Harness


def pytest_configure(config: pytest.Config) -> None:
    shared.open_session()  # before pytest-xdist starts its workers: they inherit it


# The tests that share something costly of their module or session run in one worker under
# pytest-xdist (``--dist loadgroup``): the browser, the installed wheel, the bot processes.
GROUPS = {"chrome": "browser", "installed": "packaging", "bot_processes": "bot-processes"}
# The tests (node id prefixes) that take longest from start to end, mostly waiting on the
# processes they start or on time passing (Telegram's limits, a long poll, a retry).
FIRST = ("tests/test_workers.py", "tests/test_lean_aiogram.py",
         "tests/test_config_refusals.py::test_no_value_anywhere",
         "tests/test_learning.py::test_a_correction", "tests/test_addresses.py::test_the_note",
         "tests/test_head.py", "tests/test_layers.py::test_the_use_cases_import_first",
         "tests/test_outbox_concurrency.py::test_concurrent", "tests/test_drawer.py",
         "tests/test_fake_telegram.py::test_get_updates_long_polling",
         "tests/test_webhook.py::test_a_storage_fault")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The group named as pytest-xdist's ``xdist_group`` mark would: after the test's id, where
    the scheduler reads it. (pytest-xdist 3.8 sets ``item._nodeid``, which pytest 9 no longer
    reads: the id is ``item._id``.)"""
    if not (shared.workers() and config.getvalue("loadgroup")):
        return
    # The tests that wait longest (on processes they start) are handed out first, beside the
    # others, rather than left for the end, where one worker would wait on them alone.
    items[:] = sorted(items, key=lambda item: not item.nodeid.startswith(FIRST))
    from _pytest.nodeid import coerce_node_id

    for item in items:
        groups = [g for f, g in GROUPS.items() if f in getattr(item, "fixturenames", ())]
        if groups and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{groups[0]}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """The wheel of tests/test_packaging.py is built and installed from the start, in the
    background, when one of its tests is to run."""
    _freeze()
    gc.enable()
    if session.config.option.collectonly:
        return
    for item in session.items:
        if "installed" in getattr(item, "fixturenames", ()):
            item.module.start()  # type: ignore[attr-defined]
            break
    # So are the bot processes stopped by a signal (tests/processes.py); under pytest-xdist by
    # the worker that runs their tests, gw0 (pytest_xdist_make_scheduler).
    pinned = shared.worker() == PINNED_TO and session.config.getvalue("loadgroup")
    if (not shared.workers() or pinned) and any(
            "bot_processes" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests import processes

        processes.start()


PINNED_TO = "gw0"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup`` where the install of the wheel, started at collection, goes last,
    when it is most likely ready, and the bot processes' group only to gw0, which started
    them (in their place in the order: they are ready seconds after collection; left for
    the end, gw1 could find them the only work left and start bots of its own, waiting
    for them while gw0's went unused); everything else goes, in the order collected, to
    whichever worker asks first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    bots, last = GROUPS["bot_processes"], (GROUPS["installed"],)

    class Scheduling(LoadGroupScheduling):
        def _assign_work_unit(self, node: Any) -> None:
            scopes = list(self.workqueue)
            usable = [s for s in scopes if s != bots or node.gateway.id == PINNED_TO] or scopes
            chosen = ([s for s in usable if s not in last] or usable)[0]
            self.workqueue.move_to_end(chosen, last=False)
            super()._assign_work_unit(node)

    return Scheduling(config, log)


_frozen_with = 0  # len(sys.modules) at the last freeze


def _freeze() -> None:
    global _frozen_with
    gc.collect()
    gc.freeze()
    _frozen_with = len(sys.modules)


@pytest.hookimpl(trylast=True)  # after the test's fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if len(sys.modules) > _frozen_with + 50:
        _freeze()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests import test_packaging

    test_packaging.stop()
    if "tests.processes" in sys.modules:  # what started bot processes imported it
        sys.modules["tests.processes"].stop()
    if "bot.drawer" in sys.modules:  # the chart process, warm since the last chart: ended
        sys.modules["bot.drawer"].drawer.close()  # and waited for (its CPU time counted)
    shared.close_session()  # in the process that made it: after every worker is done


@pytest.fixture(scope="session")
def bot_processes() -> dict[str, processes.Running]:
    """Real ``otklik run`` processes, one per test that stops one (tests/processes.py)."""
    from tests import processes

    return processes.start()


@pytest.fixture(scope="session", autouse=True)
def _fast_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from tests.speed import fast_setup

    with fast_setup(tmp_path_factory.mktemp("speed")):
        yield


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    from fakes.telegram import FakeTelegramServer
    from tests.harness import TOKEN

    async with FakeTelegramServer(token=TOKEN) as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    from tests.harness import make_clock

    return make_clock()


@pytest.fixture
async def otklik(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                 ) -> AsyncIterator[Harness]:
    from tests.harness import Harness, load, write_config
    from tests.two_workers import TwoWorkers, on_two_workers

    kind = TwoWorkers if on_two_workers() else Harness  # OTKLIK_TEST_WORKERS=2
    h = kind(server, load(write_config(tmp_path, server)), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()
