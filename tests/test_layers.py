"""The layers point one way: only bot/storage touches the database, handlers reach the data
through the use cases (bot/usecases), the pure core imports nothing of the bot; and the
storage interface is what the SQLite implementation implements."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

from bot.storage import base, repositories, sqlite

ROOT = Path(__file__).resolve().parents[1]
DATABASE_LIBRARIES = {"sqlite3", "aiosqlite"}
EXECUTING = {"execute", "executemany", "executescript", "execute_fetchall"}
CONNECTIONS = {"conn", "_conn", "connection"}


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _outside_storage() -> list[Path]:
    storage = ROOT / "bot" / "storage"
    return [p for p in _modules("bot", "handlers", "workflows") if storage not in p.parents]


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = [f"imports {name}" for name in sorted(_imported(tree))
             if name.split(".")[0] in DATABASE_LIBRARIES]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in EXECUTING:
            found.append(f"line {node.lineno}: .{node.attr}(")
        elif isinstance(node, ast.Attribute) and node.attr in CONNECTIONS:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_only_the_storage_package_touches_the_database() -> None:
    offences = {str(p.relative_to(ROOT)): o for p in _outside_storage() if (o := _offences(p))}
    assert offences == {}


def test_the_check_catches_sql_outside_storage(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import aiosqlite\n\nasync def f(uow):\n"
                      "    await uow.conn.execute('DELETE FROM people')\n", encoding="utf-8")
    assert _offences(sneaky) == ["imports aiosqlite", "line 4: .execute(", "line 4: .conn"]


def test_handlers_do_not_import_the_storage() -> None:
    offences = {}
    for path in _modules("handlers"):
        names = _imported(ast.parse(path.read_text(encoding="utf-8")))
        bad = sorted(n for n in names if n == "bot.storage" or n.startswith("bot.storage.")
                     or n == "bot.store")
        if bad:
            offences[str(path.relative_to(ROOT))] = bad
    assert offences == {}


def test_handlers_hold_no_store() -> None:
    """Handlers reach the data only through the use cases, never a store they were handed."""
    offences = {}
    for path in _modules("handlers"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = [node.lineno for node in ast.walk(tree)
                 if isinstance(node, ast.Attribute) and node.attr == "store"]
        if lines:
            offences[str(path.relative_to(ROOT))] = lines
    assert offences == {}


def test_use_case_modules_stay_small() -> None:
    """One job per module: none of bot/usecases grows past 400 lines."""
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in _modules("bot/usecases")}
    assert len(sizes) >= 10
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_the_core_imports_nothing_of_the_bot() -> None:
    offences = {}
    for path in _modules("workflows"):
        names = _imported(ast.parse(path.read_text(encoding="utf-8")))
        bad = sorted(n for n in names if n.split(".")[0] in {"bot", "handlers"})
        if bad:
            offences[str(path.relative_to(ROOT))] = bad
    assert offences == {}


def test_the_interface_names_no_engine() -> None:
    for module in ("__init__", "base", "repositories"):
        path = ROOT / "bot" / "storage" / f"{module}.py"
        names = _imported(ast.parse(path.read_text(encoding="utf-8")))
        assert not {n for n in names if n.split(".")[0] in DATABASE_LIBRARIES}, module
    for protocol in _protocols():  # every annotation resolves without an engine's module
        for name, method in vars(protocol).items():
            if inspect.iscoroutinefunction(method):
                hints = typing.get_type_hints(method)
                assert all("sqlite" not in str(h) for h in hints.values()), (protocol, name)


def _protocols() -> list[type]:
    return [c for _, c in inspect.getmembers(repositories, inspect.isclass)
            if c.__module__ == repositories.__name__]


@pytest.mark.parametrize("protocol", _protocols(), ids=lambda c: c.__name__)
def test_sqlite_implements_each_repository(protocol: type) -> None:
    implementation = getattr(sqlite, f"Sqlite{protocol.__name__}")
    wanted = {n: inspect.signature(f) for n, f in vars(protocol).items()
              if inspect.iscoroutinefunction(f)}
    given = {n: inspect.signature(f) for n, f in vars(implementation).items()
             if inspect.iscoroutinefunction(f) and not n.startswith("_")}
    assert wanted == given


def test_a_unit_of_work_has_every_repository() -> None:
    wanted = typing.get_type_hints(base.UnitOfWork, {"r": repositories})
    unit = sqlite.SqliteUnit.__new__(sqlite.SqliteUnit)
    sqlite.SqliteUnit.__init__(unit, None, writable=False)  # type: ignore[arg-type]
    for name, protocol in wanted.items():
        assert type(getattr(unit, name)).__name__ == f"Sqlite{protocol.__name__}", name
    assert {p.__name__ for p in wanted.values()} == {p.__name__ for p in _protocols()}


def test_the_use_cases_import_first() -> None:
    """bot.usecases imported before anything else (a script, a bench) finds no import cycle."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import bot.usecases"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
