"""A folder of the whole test session, shared by pytest-xdist's workers.

The process that starts pytest makes it (``open_session``, from conftest.py's
``pytest_configure``) and names it in ``OTKLIK_TESTS_SHARED``; the workers, started after
that, inherit the variable and so find the same folder. Only the process that made it removes
it (``close_session``), after every worker is done.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "OTKLIK_TESTS_SHARED"
_made: Path | None = None


def open_session() -> None:
    global _made
    if ENV not in os.environ:
        _made = Path(tempfile.mkdtemp(prefix="otklik-tests-"))
        os.environ[ENV] = str(_made)


def folder() -> Path:
    """The session's folder (made here when pytest was started without conftest.py)."""
    open_session()
    return Path(os.environ[ENV])


def workers() -> int:
    """How many pytest-xdist workers run the session (0: one process runs it all)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))


def close_session() -> None:
    global _made
    if _made is None:
        return
    made, _made = _made, None
    os.environ.pop(ENV, None)
    shutil.rmtree(made, ignore_errors=True)


def worker() -> str:
    """This pytest-xdist worker's id (``gw0``, ``gw1``…), or "" outside a worker."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")
