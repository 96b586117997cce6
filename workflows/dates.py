"""Dates and times as people type them in the chat: «сегодня 18:00», «завтра», «25.11 12:30»,
«до 05.12 17:30», «5 декабря 17:30»."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME = time(18, 0)

# Month names as typed after a day: «5 декабря», «5 дек», «12 мая», «1 март».
_GENITIVE = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
             "сентября", "октября", "ноября", "декабря")
_NOMINATIVE = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
               "сентябрь", "октябрь", "ноябрь", "декабрь")


def _month(word: str) -> int | None:
    word = word.rstrip(".")
    pairs = zip(_GENITIVE, _NOMINATIVE, strict=True)
    for number, (genitive, nominative) in enumerate(pairs, start=1):
        if word == nominative or (len(word) >= 3 and genitive.startswith(word)):
            return number
    return None


_PATTERN = re.compile(
    r"^\s*(?:до\s+)?(?:(?P<word>сегодня|завтра|послезавтра)"
    r"|(?P<d>\d{1,2})[./](?P<m>\d{1,2})(?:[./](?P<y>\d{2,4}))?"
    r"|(?P<dd>\d{1,2})\s+(?P<month>[а-яё]{3,}\.?)(?:\s+(?P<yy>\d{4})(?:\s*г(?:ода|\.)?)?)?)"
    r",?"
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
        typed_year = found["y"] or found["yy"]
        month = int(found["m"]) if found["m"] else _month(found["month"] or "")
        if month is None:
            return None
        try:
            year = int(typed_year) if typed_year else today.year
            if year < 100:
                year += 2000
            day = date(year, month, int(found["d"] or found["dd"]))
        except ValueError:
            return None
        if not typed_year and day < today:
            day = day.replace(year=day.year + 1)
    at = default_time
    if found["hh"]:
        try:
            at = time(int(found["hh"]), int(found["mm"]))
        except ValueError:
            return None
    return datetime.combine(day, at, tzinfo=tz)
