"""Command line: ``python -m bot run|check-config|demo|deadline|report``, also installed as
``otklik``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import datetime
from pathlib import Path

from bot import detection_cli, dictionaries
from bot.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otklik", description="Otklik: incident chat-bot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (Telegram long polling); the offline demo "
                                     "when no bot token is configured")
    run.add_argument("--config", help="config file (default: otklik.toml if present)")
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("--config", required=True)
    demo = sub.add_parser("demo", help="play a scripted incident offline and print the chat")
    demo.add_argument("--config", help="config to run the demo with (default: the example)")
    deadline = sub.add_parser("deadline", help="print the deadlines of an incident")
    deadline.add_argument("--config", required=True)
    deadline.add_argument("--policy", required=True)
    deadline.add_argument("--priority", default="normal", choices=["normal", "fast_track"])
    deadline.add_argument("--at", required=True, help='local time, "YYYY-MM-DD HH:MM"')
    report = sub.add_parser("report", help="write the analytic note, chart, XLSX and CSV of a "
                                           "period to a folder")
    report.add_argument("--config", required=True)
    report.add_argument("--from", dest="first", required=True,
                        help="first day, YYYY-MM-DD or DD.MM.YYYY")
    report.add_argument("--to", dest="last", required=True,
                        help="last day (included), YYYY-MM-DD or DD.MM.YYYY")
    report.add_argument("--out", required=True, help="folder for the files")
    detection_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.command != "run" else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        match args.command:
            case "check-config":
                return check_config(args.config)
            case "run":
                return run_bot(args.config)
            case "demo":
                from bot.demo import run_demo
                return asyncio.run(run_demo(args.config))
            case "deadline":
                return print_deadlines(args.config, args.policy, args.priority, args.at)
            case "report":
                return asyncio.run(write_report(args.config, args.first, args.last, args.out))
            case "learn" | "detection-eval":
                return detection_cli.run(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    return 1


def check_config(path: str) -> int:
    config = load_config(path)
    dictionaries.rules(config)  # the deployment's own dictionary, when it names one
    s = config.settings
    print(f"{path}: OK — {len(s.departments)} departments, {len(s.categories)} categories, "
          f"{len(s.people)} people, time zone {s.timezone}")
    if not config.telegram_token:
        print("note: no Telegram token (set [telegram] token or OTKLIK_TELEGRAM_TOKEN) — "
              "`run` plays the offline demo instead")
    return 0


def run_bot(path: str | None) -> int:
    if path is None and Path("otklik.toml").exists():
        path = "otklik.toml"
    config = load_config(path) if path else None
    if config is None or not config.telegram_token:
        where = f"{path}: telegram.token" if path else "no config file (--config)"
        print(f"{where}: no bot token (set [telegram] token or OTKLIK_TELEGRAM_TOKEN) — "
              "running the offline demo instead.\n", file=sys.stderr)
        logging.getLogger().setLevel(logging.WARNING)
        from bot.demo import run_demo
        return asyncio.run(run_demo())
    from bot.app import App

    async def go() -> None:
        app = App(config)
        await app.start()
        try:
            await app.run()
        finally:
            await app.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())
    return 0


def print_deadlines(path: str, policy_name: str, priority: str, at: str) -> int:
    from workflows.model import Priority
    from workflows.sla import compute_deadlines

    config = load_config(path)
    policies = config.policies
    if policy_name not in policies:
        print(f"unknown policy {policy_name!r} (known: {', '.join(policies)})", file=sys.stderr)
        return 2
    try:
        start = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=config.tz)
    except ValueError:
        print(f'--at: expected "YYYY-MM-DD HH:MM", got {at!r}', file=sys.stderr)
        return 2
    d = compute_deadlines(policies[policy_name], Priority(priority), start)
    for name, value in (("first_response", d.first_response), ("answer", d.answer)):
        shown = value.astimezone(config.tz).strftime("%Y-%m-%d %H:%M") if value else "—"
        print(f"{name}: {shown}")
    return 0


async def write_report(path: str, first: str, last: str, out: str) -> int:
    """The report of the days ``first``–``last`` from the configured database, without the
    chat: prints the note and the paths of the files."""
    from bot.reports import build_report, period_from_args
    from bot.store import Store
    from bot.templates import plain_text

    config = load_config(path)
    if str(config.database) != ":memory:" and not config.database.exists():
        print(f"{path}: database: {config.database} does not exist (has the bot run yet?)",
              file=sys.stderr)
        return 2
    try:
        start, end = period_from_args(f"{first} {last}", datetime.now(config.tz), config.tz,
                                      command="otklik report --from … --to …")
    except ValueError as e:
        print(f"period: {e}", file=sys.stderr)
        return 2
    store = await Store.open(config.database)
    try:
        report = await build_report(config, store, start, end, out_dir=Path(out))
    finally:
        await store.close()
    print(plain_text(report.text))
    print()
    for f in (report.chart, report.xlsx, report.csv):
        if f is not None:
            print(f"wrote {f}")
    return 0
