from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fakes.telegram import FakeTelegramServer
from tests import processes
from tests.harness import TOKEN, Clock, Harness, load, make_clock, write_config
from tests.speed import fast_setup
from tests.two_workers import TwoWorkers, on_two_workers


def pytest_collection_finish(session: pytest.Session) -> None:
    """The wheel of tests/test_packaging.py is built and installed from the start, in the
    background, when one of its tests is to run."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        if "installed" in getattr(item, "fixturenames", ()):
            item.module.start()  # type: ignore[attr-defined]
            break
    # So are the bot processes stopped by a signal (tests/processes.py).
    if any("bot_processes" in getattr(item, "fixturenames", ()) for item in session.items):
        processes.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests import test_packaging

    test_packaging.stop()
    processes.stop()


@pytest.fixture(scope="session")
def bot_processes() -> dict[str, processes.Running]:
    """Real ``otklik run`` processes, one per test that stops one (tests/processes.py)."""
    return processes.start()


@pytest.fixture(scope="session", autouse=True)
def _fast_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with fast_setup(tmp_path_factory.mktemp("speed")):
        yield


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return make_clock()


@pytest.fixture
async def otklik(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                 ) -> AsyncIterator[Harness]:
    kind = TwoWorkers if on_two_workers() else Harness  # OTKLIK_TEST_WORKERS=2
    h = kind(server, load(write_config(tmp_path, server)), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()
