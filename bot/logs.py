"""Logging for an administrator: one format (text or JSON lines, with timestamps), quiet
libraries, and no secret in any line.

:func:`setup` installs a single handler on stderr with :class:`SecretFilter`, which masks the
configured tokens (Telegram, VK, the HTTP intake) and anything shaped like a bot token or an
``access_token=`` parameter in the message *and* in the formatted traceback: aiogram's and
aiohttp's errors carry request URLs such as ``…/bot123:ABC…/getUpdates``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

MASK = "***"
# A secret shorter than this is not replaced word for word (it would garble ordinary text);
# the patterns below still catch tokens of the usual shapes.
MIN_SECRET = 8

_PATTERNS = (
    # Bot API URLs: /bot<id>:<secret>/method and /file/bot<id>:<secret>/path.
    (re.compile(r"(/bot\d+:)[A-Za-z0-9_-]+"), r"\1" + MASK),
    # A bare bot token: digits, a colon, 30+ characters (BotFather's are 35).
    (re.compile(r"\b(\d{5,}:)[A-Za-z0-9_-]{30,}"), r"\1" + MASK),
    # VK and OAuth style parameters: access_token=…, "access_token": "…".
    (re.compile(r"(access_token[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+", re.IGNORECASE),
     r"\1" + MASK),
    # Authorization headers.
    (re.compile(r"(Bearer\s+)[^\s\"',}]+", re.IGNORECASE), r"\1" + MASK),
)

_secrets: set[str] = set()

# Libraries that log routine work at INFO: every scheduler run (every 30 s), every update.
QUIET = {
    "apscheduler.executors.default": logging.WARNING,
    "apscheduler.scheduler": logging.WARNING,
    "aiogram.event": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "pymorphy3": logging.WARNING,
}


def add_secrets(values: Iterable[str | None]) -> None:
    """Mask these values wherever they appear from now on."""
    for value in values:
        if value and len(value.strip()) >= MIN_SECRET:
            _secrets.add(value.strip())


def mask(text: str) -> str:
    """``text`` with every known secret and every token-shaped string replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message and its traceback before any formatter sees it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
            record.exc_info = None  # the masked text is what gets printed
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


HANDLER_NAME = "otklik"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(level: str | int = "INFO", fmt: str = "text", *, stream: object = None) -> None:
    """Install (or replace) Otklik's handler on the root logger: stderr, masking secrets."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SecretFilter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == HANDLER_NAME:  # ours from an earlier call; others stay
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    root.setLevel(numeric)
    for name, quiet in QUIET.items():
        # Routine library chatter only when the administrator asked for DEBUG.
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else quiet)
