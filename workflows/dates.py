"""Dates and times as people type them in the chat: «сегодня 18:00», «завтра», «25.11 12:30»."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME = time(18, 0)

_PATTERN = re.compile(
    r"^\s*(?:(?P<word>сегодня|завтра|послезавтра)"
    r"|(?P<d>\d{1,2})[./](?P<m>\d{1,2})(?:[./](?P<y>\d{2,4}))?)"
    r"(?:\s*(?:в\s*)?(?P<hh>\d{1,2})[:.](?P<mm>\d{2}))?\s*$",
    re.IGNORECASE,
)
_OFFSETS = {"сегодня": 0, "завтра": 1, "послезавтра": 2}


def parse_local(text: str, now: datetime, tz: ZoneInfo,
                default_time: time = DEFAULT_TIME) -> datetime | None:
    """A typed date (and optional time) as an aware datetime, or None if it is not one.

    A day without a year is the next such day from today (so «05.01» typed in December is
    next January); a missing time is ``default_time``.
    """
    found = _PATTERN.match(text.strip().lower())
    if not found:
        return None
    today = now.astimezone(tz).date()
    if found["word"]:
        day = today + timedelta(days=_OFFSETS[found["word"]])
    else:
        try:
            year = int(found["y"]) if found["y"] else today.year
            if year < 100:
                year += 2000
            day = date(year, int(found["m"]), int(found["d"]))
        except ValueError:
            return None
        if not found["y"] and day < today:
            day = day.replace(year=day.year + 1)
    at = default_time
    if found["hh"]:
        try:
            at = time(int(found["hh"]), int(found["mm"]))
        except ValueError:
            return None
    return datetime.combine(day, at, tzinfo=tz)
