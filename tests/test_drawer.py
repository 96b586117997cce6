"""The chart process kept warm between charts (bot/drawer.py serving bot/chart.py): one process
draws chart after chart, is replaced when it died, answers a bad description with a clear error
and serves on, ends by itself when idle or when its stdin closes; matplotlib stays out of the
bot.

Each start of the process imports matplotlib anew (a second of CPU): the tests share the bot's
own process where they can (``bot.drawer.drawer``, warm from the reports drawn before them),
and a process that draws nothing (its chart refused) imports nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot import drawer as drawing
from bot.drawer import ChartNotDrawn, Drawer

SPEC: dict[str, Any] = {
    "empty": "новых инцидентов в периоде нет",
    "bars": {"ticklabels": ["пн\n01.12", "вт\n02.12"], "ylabel": "новых инцидентов",
             "title": "Новые инциденты по дням",
             "series": [{"label": "Закрыт", "color": "#2e7d32", "heights": [1, 3]},
                        {"label": "В работе", "color": "#f9a825", "heights": [2, 0]}]},
    "heat": {"title": "категория × подразделение", "grid": [[2, 0], [1, 3]],
             "columns": ["ЖКХ", "Дороги"], "lines": ["Ямы", "Отопление"],
             "unit": "инцидентов"},
}


BAD: dict[str, Any] = {"bars": SPEC["bars"]}  # no heat map: refused before matplotlib


@pytest.fixture
def drawer() -> Drawer:
    return drawing.drawer


def drawn(path: Path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and image.size[0] >= 800 \
            and len(image.getcolors(1 << 16) or ()) > 20


def process(drawer: Drawer) -> subprocess.Popen[bytes]:
    proc = drawer._proc
    assert proc is not None
    return proc


def test_one_process_draws_chart_after_chart_and_matplotlib_stays_out(
        drawer: Drawer, tmp_path: Path) -> None:
    assert drawer.draw(SPEC, tmp_path / "a.png") == tmp_path / "a.png"
    first = drawer.pid
    assert drawer.draw(SPEC, tmp_path / "b.png") == tmp_path / "b.png"
    assert first is not None and drawer.pid == first != os.getpid()
    assert drawn(tmp_path / "a.png") and drawn(tmp_path / "b.png")
    assert "matplotlib" not in sys.modules


def test_a_killed_process_is_replaced_and_the_next_chart_drawn(
        drawer: Drawer, tmp_path: Path) -> None:
    drawer.draw(SPEC, tmp_path / "a.png")
    killed = process(drawer)
    killed.kill()
    killed.wait()
    drawer.draw(SPEC, tmp_path / "b.png")  # it was found dead
    assert drawn(tmp_path / "b.png") and drawer.pid not in (None, killed.pid)
    again = process(drawer)
    os.kill(again.pid, signal.SIGKILL)  # dies while the next chart is asked of it, unnoticed
    drawer.draw(SPEC, tmp_path / "c.png")
    assert drawn(tmp_path / "c.png") and drawer.pid not in (None, again.pid)
    assert again.wait() == -signal.SIGKILL


def test_a_bad_description_is_a_clear_error_and_the_process_serves_on(
        drawer: Drawer, tmp_path: Path) -> None:
    drawer.draw(SPEC, tmp_path / "a.png")
    pid = drawer.pid
    with pytest.raises(ChartNotDrawn, match=r"(?s)^the chart was not drawn: Traceback.*"
                                            r"KeyError: 'heat'$"):
        drawer.draw(BAD, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
    drawer.draw(SPEC, tmp_path / "b.png")
    assert drawn(tmp_path / "b.png") and drawer.pid == pid


def test_a_process_that_dies_of_a_chart_is_a_clear_error(tmp_path: Path) -> None:
    script = tmp_path / "dying.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.stdin.readline()
        sys.stderr.write("Segmentation fault, or so\\n")
        sys.exit(3)
    """), encoding="utf-8")
    dying = Drawer(script)
    try:
        with pytest.raises(ChartNotDrawn, match=r"^the chart was not drawn \(exit 3\): "
                                                r"Segmentation fault, or so$"):
            dying.draw(SPEC, tmp_path / "a.png")
        assert dying.pid is None  # the next chart starts another
    finally:
        dying.close()


def test_two_charts_at_once_are_both_drawn(drawer: Drawer, tmp_path: Path) -> None:
    paths = [tmp_path / f"{n}.png" for n in range(3)]
    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(lambda p: drawer.draw(SPEC, p), paths)) == paths
    assert all(drawn(p) for p in paths)


def test_the_process_ends_when_idle_and_the_next_chart_starts_another(tmp_path: Path) -> None:
    drawer = Drawer(idle=0.5)
    try:
        with pytest.raises(ChartNotDrawn):
            drawer.draw(BAD, tmp_path / "bad.png")  # answered: the process has served
        idle = process(drawer)
        assert idle.wait(timeout=60) == 0  # ended by itself, not killed
        drawer.draw(SPEC, tmp_path / "a.png")
        assert drawn(tmp_path / "a.png") and drawer.pid not in (None, idle.pid)
    finally:
        drawer.close()


def test_the_process_ends_when_its_stdin_closes(tmp_path: Path) -> None:
    drawer = Drawer()
    with pytest.raises(ChartNotDrawn):
        drawer.draw(BAD, tmp_path / "bad.png")
    proc = process(drawer)
    drawer.close()  # closes its stdin, as the end of the bot does
    assert proc.returncode == 0  # ended by itself, not killed
    assert drawer.pid is None
