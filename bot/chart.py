"""The weekly note's chart drawn from a plain description (JSON): its own process, so that
matplotlib (a second of CPU to import, tens of MiB) stays out of the bot, and the drawing
runs on another core while the workbook is written.

    python -I bot/chart.py [--idle SECONDS]    # as bot/drawer.py runs it

The process stays warm (matplotlib imported once) and draws one chart per line of JSON on
stdin, ``{"path": OUT.png, "spec": {...}}``, answering each with one line on stdout:
``{"done": OUT.png}`` or ``{"error": the traceback}``. It ends by itself after ``--idle``
seconds (60 by default) without a request, or when its stdin closes (the bot exited).

Imports only the standard library and matplotlib (run as a script, not as part of the
``bot`` package). ``bot.reports.chart_spec`` makes the description."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import traceback
from typing import Any

IDLE = 60.0  # seconds without a request before a serving process ends


def plot(spec: dict[str, Any], path: str) -> str:
    """Two panels in one PNG: stacked bars of new incidents per day, and a heat map."""
    bars, heat = spec["bars"], spec["heat"]
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 11), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=(1, 1.2))

    x = list(range(len(bars["ticklabels"])))
    base = [0] * len(x)
    for series in bars["series"]:
        heights = series["heights"]
        top.bar(x, heights, bottom=base, color=series["color"], label=series["label"],
                edgecolor="white", linewidth=0.5)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    for i, total in enumerate(base):
        if total:
            top.annotate(str(total), (i, total), ha="center", va="bottom", fontsize=9,
                         xytext=(0, 2), textcoords="offset points")
    step = max(1, len(x) // 16)
    top.set_xticks(x[::step], bars["ticklabels"][::step])
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylim(0, max([*base, 1]) * 1.15)
    top.set_ylabel(bars["ylabel"])
    top.set_title(bars["title"], fontsize=11)
    top.grid(axis="y", alpha=0.3)
    top.set_axisbelow(True)
    if bars["series"]:
        top.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3, fontsize=8,
                   frameon=False)
    else:
        top.text(0.5, 0.5, spec["empty"], ha="center", va="center",
                 transform=top.transAxes, color="#616161")

    bottom.set_title(heat["title"], fontsize=11)
    grid = heat["grid"]
    if grid:
        peak = max(max(row) for row in grid)
        # Empty cells stay white, so the few filled ones stand out.
        cmap = colormaps["YlOrRd"].with_extremes(bad="white")
        shown = [[n if n else float("nan") for n in row] for row in grid]
        image = bottom.imshow(shown, cmap=cmap, aspect="auto", vmin=0, vmax=peak)
        columns, lines = heat["columns"], heat["lines"]
        bottom.set_xticks([j - 0.5 for j in range(1, len(columns))], minor=True)
        bottom.set_yticks([i - 0.5 for i in range(1, len(lines))], minor=True)
        bottom.grid(which="minor", color="#e0e0e0", linewidth=0.8)
        bottom.tick_params(which="minor", length=0)
        for i, row in enumerate(grid):
            for j, n in enumerate(row):
                if n:
                    bottom.text(j, i, str(n), ha="center", va="center", fontsize=10,
                                color="white" if n > peak * 0.6 else "black")
        bottom.set_xticks(range(len(columns)), columns, fontsize=8, rotation=30, ha="right",
                          rotation_mode="anchor")
        bottom.set_yticks(range(len(lines)), lines, fontsize=9)
        fig.colorbar(image, ax=bottom, label=heat["unit"], shrink=0.8)
    else:
        bottom.set_axis_off()
        bottom.text(0.5, 0.5, spec["empty"], ha="center", va="center",
                    transform=bottom.transAxes, color="#616161")
    fig.savefig(path, format="png")
    return path


def serve(idle: float = IDLE) -> None:
    """Draw a chart per request line on stdin, answer each on stdout, until stdin closes or
    ``idle`` seconds pass without a request. Whatever else writes to stdout (a library's
    print) goes to stderr: stdout carries only the answers."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    stdin = sys.stdin.fileno()
    pending = bytearray()
    while True:
        while b"\n" not in pending:
            ready, _, _ = select.select([stdin], [], [], idle)
            if not ready:
                return  # idle: the next chart starts a new process
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                return  # stdin closed: the bot is gone
            pending += chunk
        end = pending.index(b"\n")
        line = bytes(pending[:end])
        del pending[:end + 1]
        try:
            request = json.loads(line)
            answer = {"done": plot(request["spec"], request["path"])}
        except Exception:
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer, ensure_ascii=False) + "\n")
        answers.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=IDLE,
                        help="seconds without a request before the process ends")
    serve(parser.parse_args().idle)


if __name__ == "__main__":
    main()
