"""Deadline computations per second: one working hour vs 14 working days vs 14 calendar days.

Working time is computed, not stepped, so the three figures should be of the same order.

    python bench/bench_deadlines.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.calendar import WorkingCalendar
from workflows.sla import Policy, Priority, compute_deadlines, default_policies, parse_rule

TZ = ZoneInfo("Asia/Novokuznetsk")


def _starts(n: int) -> list[datetime]:
    # Spread over three years so that every year's table is built before timing starts.
    rng = random.Random(42)
    origin = datetime(2025, 1, 1, tzinfo=UTC)
    return [origin + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)) for _ in range(n)]


def _rate(work: Callable[[datetime], object], starts: list[datetime], seconds: float) -> float:
    for t in starts:  # warm the per-year tables and the holiday cache
        work(t)
    done = 0
    began = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for t in starts:
            work(t)
        done += len(starts)
        elapsed = time.perf_counter() - began
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case")
    args = parser.parse_args()

    im = default_policies(TZ)["incident_management"]
    calendar: WorkingCalendar = im.calendar

    def policy(answer: str) -> Policy:
        return Policy(name=answer, title=answer, calendar=calendar, answer=parse_rule(answer))

    starts = _starts(1000)
    cases: list[tuple[str, Callable[[datetime], object]]] = [
        ("add_working 1 wh", lambda t: calendar.add_working(t, timedelta(hours=1))),
        ("add_working 14 wd (126 wh)", lambda t: calendar.add_working(t, timedelta(hours=126))),
        ("add_working 2 years (4446 wh)", lambda t: calendar.add_working(t, timedelta(hours=4446))),
        ("working_between 14 days", lambda t: calendar.working_between(t, t + timedelta(days=14))),
    ]
    for rule in ("1wh", "8wh", "14wd", "14d"):
        p = policy(rule)
        cases.append(
            (
                f"compute_deadlines answer={rule}",
                lambda t, p=p: compute_deadlines(p, Priority.NORMAL, t),
            )
        )
    cases.append(
        (
            "compute_deadlines incident_management",
            lambda t: compute_deadlines(im, Priority.NORMAL, t),
        )
    )

    width = max(len(name) for name, _ in cases)
    print(f"{'case':<{width}}  computations/s")
    for name, work in cases:
        print(f"{name:<{width}}  {_rate(work, starts, args.seconds):>14,.0f}")


if __name__ == "__main__":
    main()
