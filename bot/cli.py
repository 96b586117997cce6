"""Command line: ``python -m bot run|check-config|demo|deadline|report``, also installed as
``otklik``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import signal
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import detection_cli, dictionaries, logs
from bot.config import TOKEN_ENV, Config, ConfigError, load_config

if TYPE_CHECKING:
    from bot.workers import Link
    from workflows.calendar import WorkingCalendar


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otklik", description="Otklik: incident chat-bot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (Telegram long polling); the offline demo "
                                     "when no bot token is configured")
    run.add_argument("--config", help="config file (default: otklik.toml if present)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     type=str.upper, help="overrides [logging] level")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="N worker processes on one PostgreSQL database, in webhook mode "
                          "(default 1)")
    run.add_argument("--leader-retry", type=float, default=5.0, metavar="SECONDS",
                     help="how often a worker tries to take over the leader's duties "
                          "(default 5)")
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("--config", required=True)
    demo = sub.add_parser("demo", help="play a scripted incident offline and print the chat")
    demo.add_argument("--config", help="config to run the demo with (default: the example)")
    deadline = sub.add_parser("deadline", help="print the deadlines of an incident")
    deadline.add_argument("--config", help="config file (default: otklik.toml if present, "
                                           "else the built-in policies)")
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
    status = sub.add_parser("status", help="print the health of the bot from its database")
    status.add_argument("--config", required=True)
    status.add_argument("--json", action="store_true", help="the /healthz document")
    backup = sub.add_parser("backup", help="copy the database consistently (safe while the "
                                           "bot runs)")
    backup.add_argument("--config", required=True)
    backup.add_argument("--out", required=True, help="the file to write")
    migrate = sub.add_parser("migrate", help="bring the configured database to the newest "
                                             "schema (the bot does this at start too)")
    migrate.add_argument("--config", required=True)
    copy_db = sub.add_parser("copy-db", help="copy a district's SQLite database into an empty "
                                             "PostgreSQL database")
    copy_db.add_argument("--from", dest="source", required=True, metavar="sqlite:PATH")
    copy_db.add_argument("--to", dest="target", required=True, metavar="postgresql://…")
    detection_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    logs.setup("INFO" if args.command == "run" else "WARNING")
    try:
        match args.command:
            case "check-config":
                return check_config(args.config)
            case "run":
                return run_bot(args.config, args.log_level, workers=args.workers,
                               leader_retry=args.leader_retry)
            case "status":
                return asyncio.run(print_status(args.config, as_json=args.json))
            case "backup":
                return write_backup(args.config, args.out)
            case "migrate":
                return asyncio.run(migrate_database(args.config))
            case "copy-db":
                return copy_database(args.source, args.target)
            case "demo":
                from fakes.demo import run_demo
                return _demo(run_demo(args.config))
            case "deadline":
                return print_deadlines(args.config, args.policy, args.priority, args.at)
            case "report":
                return asyncio.run(write_report(args.config, args.first, args.last, args.out))
            case "learn" | "detection-eval":
                return detection_cli.run(args)
    except ConfigError as e:
        print(f"config error: {logs.mask(str(e))}", file=sys.stderr)
        return 2
    except Exception as e:  # never a traceback for the admin: one line, and the log has it
        logging.getLogger(__name__).debug("failed", exc_info=True)
        print(f"otklik {args.command}: {type(e).__name__}: {logs.mask(str(e))}",
              file=sys.stderr)
        return 1
    return 1


def check_config(path: str) -> int:
    config = load_config(path)
    dictionaries.rules(config)  # the deployment's own dictionary, when it names one
    s = config.settings
    region = f"{len(s.municipalities)} municipalities, " if s.municipalities else ""
    print(f"{path}: OK — {region}{len(s.departments)} departments, "
          f"{len(s.categories)} categories, {len(s.people)} people, time zone {s.timezone}")
    from bot.config_warnings import config_warnings
    for warning in config_warnings(config):
        print(f"warning: {warning}")
    if not config.telegram_token:
        print(f"note: no Telegram token: `run` needs {TOKEN_ENV} in the environment (or "
              "[telegram] token)")
    return 0


def run_bot(path: str | None, log_level: str | None = None, *, workers: int = 1,
            leader_retry: float = 5.0) -> int:
    """A real run with a config (``--config`` or ./otklik.toml); the offline demo only
    without either. A failed start is one line on stderr and an exit code: 2 config, 3 a
    refused token, 4 storage, 5 Telegram unreachable, 1 a part that died while running.
    ``workers`` > 1: that many worker processes under a supervisor (:mod:`bot.workers`)."""
    if path is None and Path("otklik.toml").exists():
        path = "otklik.toml"
    if path is None:
        print("no config file (--config, or otklik.toml here): running the offline demo.\n",
              file=sys.stderr)
        logging.getLogger().setLevel(logging.WARNING)
        from fakes.demo import run_demo
        return _demo(run_demo())
    config = load_config(path)
    if not config.telegram_token:
        print(f"{path}: no bot token: set {TOKEN_ENV} in the environment (or [telegram] "
              "token)", file=sys.stderr)
        return 2
    if workers != 1 or not leader_retry > 0:
        problem = _workers_problem(config, workers, leader_retry)
        if problem:
            print(f"{path}: {problem}", file=sys.stderr)
            return 2
    settings = config.settings.logging
    logs.add_secrets([config.telegram_token, config.http_token, *config.vk_tokens.values(),
                      config.smtp_password])
    logs.setup(log_level or settings.level, settings.format)
    if workers > 1:
        import bot.app  # noqa: F401 - imported once, here: the workers are forked from this process
        from bot.workers import supervise
        return supervise(functools.partial(serve, config, leader_retry), workers)
    return serve(config, leader_retry)


def serve(config: Config, leader_retry: float, link: Link | None = None) -> int:
    """The bot of ``config`` in this process until it is stopped (``link``: as a worker of
    ``otklik run --workers N``); the exit code."""
    # What the bot imports and builds to start (aiogram's hundreds of classes, the templates,
    # the config) lives as long as the process: the collector is off meanwhile, and once the
    # bot serves, the start's garbage is collected once and the rest frozen out of the
    # collector's reach, so that no later full collection walks those ~120,000 objects again
    # (~0.1 s or more each: a pause in answering).
    gc.disable()
    try:
        return asyncio.run(_serve(config, leader_retry, link))
    finally:
        gc.enable()  # (already on once the bot served: this is for a start that failed)


async def _serve(config: Config, leader_retry: float, link: Link | None) -> int:
    from bot.app import App, StartError

    app = App(config)
    app.leader_retry = leader_retry
    app.reuse_port = link is not None  # the listening addresses shared by the workers
    app.on_ready = link.ready if link is not None else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.request_stop)
    watch = None
    if link is not None:  # one of --workers N: stops when its supervisor is gone
        watch = asyncio.create_task(link.orphaned(app.request_stop))
    try:
        await app.start()
        gc.collect()  # the start's own garbage is not frozen with the rest
        gc.freeze()
        gc.enable()
        await app.run()
    except StartError as e:
        print(f"otklik: {logs.mask(e.message)}", file=sys.stderr)
        return e.code
    except asyncio.CancelledError:  # a stop while starting
        return 0
    finally:
        if watch is not None:
            watch.cancel()
        await app.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def _workers_problem(config: object, workers: int, leader_retry: float) -> str | None:
    """Why ``--workers N`` cannot run with this config (None: it can)."""
    from bot.config import Config, is_database_url

    assert isinstance(config, Config)
    if workers < 1:
        return f"--workers {workers}: expected 1 or more"
    if not leader_retry > 0:
        return f"--leader-retry {leader_retry:g}: expected a number of seconds above 0"
    if workers > 1 and not is_database_url(config.database):
        return (f"--workers {workers} needs PostgreSQL (database = \"postgresql://…\"); "
                "the SQLite file is for one process: run without --workers")
    if workers > 1 and config.settings.telegram.mode != "webhook":
        return (f"--workers {workers} needs [telegram] mode = \"webhook\" (with polling "
                "only one process may call getUpdates)")
    return None


def _demo(play: object) -> int:
    """Run the demo coroutine; any error is one line and exit 1, never a hang."""
    try:
        return asyncio.run(play)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        print(f"otklik demo failed: {type(e).__name__}: {logs.mask(str(e))}", file=sys.stderr)
        return 1


# The time zone of the built-in policies when `deadline` runs without a config.
BUILTIN_TIMEZONE = "Asia/Novokuznetsk"


def print_deadlines(path: str | None, policy_name: str, priority: str, at: str) -> int:
    """The deadlines of an incident registered at ``at`` (local time), and the shortened
    pre-holiday days the clock runs through on the way."""
    from zoneinfo import ZoneInfo

    from workflows.model import Priority
    from workflows.sla import compute_deadlines, default_policies

    if path is None and Path("otklik.toml").exists():
        path = "otklik.toml"
    if path is None:
        tz = ZoneInfo(BUILTIN_TIMEZONE)
        policies = default_policies(tz)
        print(f"no config file (--config, or otklik.toml here): the built-in policies, "
              f"time zone {BUILTIN_TIMEZONE}", file=sys.stderr)
    else:
        config = load_config(path)
        tz, policies = config.tz, config.policies
    if policy_name not in policies:
        print(f"unknown policy {policy_name!r} (known: {', '.join(policies)})", file=sys.stderr)
        return 2
    try:
        start = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError:
        print(f'--at: expected "YYYY-MM-DD HH:MM", got {at!r}', file=sys.stderr)
        return 2
    policy = policies[policy_name]
    d = compute_deadlines(policy, Priority(priority), start)
    for name, value in (("first_response", d.first_response), ("answer", d.answer)):
        shown = value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "—"
        print(f"{name}: {shown}")
    last = max((t for t in (d.first_response, d.answer) if t is not None), default=None)
    if last is not None:
        for day in crossed_short_days(policy.calendar, start, last):
            end = policy.calendar.day_end(day)
            shown = "24:00" if end == time(0) else f"{end:%H:%M}"
            print(f"shortened: {day.isoformat()} (until {shown})")
    return 0


def crossed_short_days(calendar: WorkingCalendar, start: datetime, end: datetime
                       ) -> list[date]:
    """The shortened days whose working time lies (in part) between ``start`` and ``end``."""
    tz = calendar.tz
    found = []
    for day in calendar.short_days(start.astimezone(tz).date(), end.astimezone(tz).date()):
        a = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        b = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        if calendar.working_between(max(a, start), min(b, end)) > timedelta(0):
            found.append(day)
    return found


async def write_report(path: str, first: str, last: str, out: str) -> int:
    """The report of the days ``first``–``last`` from the configured database, without the
    chat: prints the note and the paths of the files."""
    from bot.reports import build_report, period_from_args
    from bot.storage import open_storage
    from bot.templates import plain_text

    config = load_config(path)
    if isinstance(config.database, Path) and str(config.database) != ":memory:" \
            and not config.database.exists():
        print(f"{path}: database: {config.database} does not exist (has the bot run yet?)",
              file=sys.stderr)
        return 2
    try:
        start, end = period_from_args(f"{first} {last}", datetime.now(config.tz), config.tz,
                                      command="otklik report --from … --to …")
    except ValueError as e:
        print(f"period: {e}", file=sys.stderr)
        return 2
    store = await open_storage(config.database)
    try:
        # A region's: the roll-up, municipalities rated (one district's: as always).
        report = await build_report(config, store, start, end, out_dir=Path(out),
                                    now=datetime.now(config.tz), region=True)
    finally:
        await store.close()
    print(plain_text(report.text))
    print()
    for f in (report.chart, report.xlsx, report.csv):
        if f is not None:
            print(f"wrote {f}")
    return 0


def _existing_database(path: str) -> tuple[object, Path | str] | None:
    config = load_config(path)
    if isinstance(config.database, str):  # PostgreSQL: the server says whether it is there
        return config, config.database
    database = Path(config.database)
    if str(database) == ":memory:" or not database.exists():
        print(f"{path}: database: {database} does not exist (has the bot run yet?)",
              file=sys.stderr)
        return None
    return config, database


async def print_status(path: str, *, as_json: bool = False) -> int:
    """The bot's health from its database (what ``/healthz`` answers); exit 0 when OK, 1
    when failing or not running."""
    import json

    from bot import health
    from bot.storage import open_storage

    found = _existing_database(path)
    if found is None:
        return 2
    _, database = found
    try:
        store = await open_storage(database)
    except Exception as e:
        print(f"cannot open the database {database}: {e}", file=sys.stderr)
        return 4
    try:
        doc = await health.stored_report(store, datetime.now(UTC))
    finally:
        await store.close()
    print(json.dumps(doc, ensure_ascii=False, indent=2) if as_json else health.render(doc))
    return 0 if doc["status"] == "ok" else 1


def write_backup(path: str, out: str) -> int:
    """A consistent copy of the database (SQLite's online backup), safe while the bot runs."""
    from bot.storage.backup import BackupError, backup

    found = _existing_database(path)
    if found is None:
        return 2
    _, database = found
    if isinstance(database, str):
        print("backup copies an SQLite file; back up a PostgreSQL database with pg_dump",
              file=sys.stderr)
        return 2
    try:
        written = backup(database, Path(out))
    except BackupError as e:
        print(f"backup failed: {e}", file=sys.stderr)
        return 4
    print(f"wrote {written} ({written.stat().st_size} bytes), a consistent copy of {database}")
    return 0


async def migrate_database(path: str) -> int:
    """Bring the configured database to the newest schema; prints the versions applied."""
    from bot.storage import StorageError
    from bot.storage.postgresql import PostgresStorage, migrate
    from bot.storage.sqlite import SqliteStorage

    config = load_config(path)
    database = config.database
    try:
        if isinstance(database, str):
            conn = await PostgresStorage.connect(database)
            try:
                applied = await migrate(conn)
            finally:
                await conn.close()
        else:
            applied = await SqliteStorage.migrate_file(database)
    except StorageError as e:
        print(f"cannot migrate the database {_shown(database)}: {e}", file=sys.stderr)
        return 4
    done = ", ".join(f"{v:03d}" for v in applied) if applied else "nothing (up to date)"
    print(f"{_shown(database)}: applied {done}")
    return 0


def copy_database(source: str, target: str) -> int:
    """``copy-db --from sqlite:PATH --to postgresql://…``: a district's data into the
    region's (empty) database."""
    from bot.config import is_database_url
    from bot.storage import StorageError
    from bot.storage.postgresql import copy_from_sqlite

    if not source.startswith("sqlite:"):
        print(f"copy-db: --from {source}: expected sqlite:PATH", file=sys.stderr)
        return 2
    if not is_database_url(target):
        print(f"copy-db: --to {target}: expected a postgresql:// URL", file=sys.stderr)
        return 2
    path = Path(source.removeprefix("sqlite:")).expanduser()
    if not path.is_file():
        print(f"copy-db: {path} does not exist", file=sys.stderr)
        return 2
    try:
        counts = asyncio.run(copy_from_sqlite(path, target))
    except StorageError as e:
        print(f"copy-db: {e}", file=sys.stderr)
        return 4
    print(f"copied {sum(counts.values())} rows of {len(counts)} tables from {path} into "
          f"{_shown(target)}")
    return 0


def _shown(database: Path | str) -> str:
    """A database as printed: a URL's password hidden."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", str(database))
