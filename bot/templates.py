"""All user-facing wording: jinja2 message templates and one-line phrases, autoescaped.

Messages live in ``templates/<name>.html`` (HTML parse mode); short phrases, button labels,
state names and refusals in ``templates/texts.toml``. Both are rendered by the same jinja2
environment with autoescaping, so a resident's ``<b>`` or ``&`` shows as typed.
"""

from __future__ import annotations

import copy
import functools
import html
import re
import tomllib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from types import CodeType
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from petrovich.enums import Case, Gender
from petrovich.main import Petrovich


def _default_dir() -> Path:
    """The ``templates`` package: installed beside ``bot`` by a wheel, mapped to the checkout's
    folder by an editable install. An editable install made before templates/ became a package
    does not map it, so the folder beside bot/ is the fallback."""
    try:
        found = resources.files("templates")
    except ModuleNotFoundError:
        found = None
    if isinstance(found, Path) and (found / "texts.toml").is_file():
        return found
    return Path(__file__).resolve().parent.parent / "templates"


DEFAULT_DIR = _default_dir()


class _CompiledOnce(jinja2.BytecodeCache):
    """Every ``Templates`` of the process shares its compiled templates: a template is compiled
    once per source text (jinja keys the cache by name and checks the source's checksum, so an
    edited file is compiled again), not once per instance (each App, report and demo scene makes
    one)."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, bytes]] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.bytecode_from_string(found[1])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = (bucket.checksum, bucket.bytecode_to_string())


_COMPILED = _CompiledOnce()
_PHRASES: dict[str, CodeType] = {}  # a phrase's source → its compiled code (same options)


@functools.lru_cache(maxsize=8)
def _texts(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    """``texts.toml`` parsed once per version of the file (each instance gets a copy)."""
    return tomllib.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=512)
def _plain(raw: str) -> jinja2.Template:
    return jinja2.Template(raw)


class Templates:
    def __init__(self, tz: ZoneInfo, directory: Path = DEFAULT_DIR) -> None:
        self.tz = tz
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            bytecode_cache=_COMPILED,
        )
        self.env.filters["local"] = self._local_in_context
        self.env.filters["state"] = lambda s: self.phrase_raw("states", str(s))
        self.env.filters["source"] = lambda s: self.phrase_raw("sources", str(s), default=str(s))
        self.env.filters["priority"] = lambda s: self.phrase_raw("priorities", str(s))
        self.env.filters["action"] = lambda s: self.phrase_raw("actions", str(s), default=str(s))
        self.env.filters["role"] = lambda s: self.phrase_raw("roles", str(s), default=str(s))
        self.env.filters["hours"] = hours
        self.env.filters["result_status"] = lambda s: self.phrase_raw(
            "result_statuses", str(s), default=str(s))
        # A region's municipalities by key (empty: one district, where nothing is shown),
        # and the time zones of those with their own.
        self.municipalities: dict[str, str] = {}
        self.zones: dict[str, ZoneInfo] = {}
        self.env.filters["municipality"] = self.municipality
        self.env.filters["plural"] = plural
        self.env.filters["genitive"] = lambda name: decline(name, "genitive")
        self.env.filters["dative"] = lambda name: decline(name, "dative")
        self.env.filters["gendered"] = gendered
        texts = directory / "texts.toml"
        stat = texts.stat()
        self.texts: dict[str, Any] = copy.deepcopy(_texts(texts, stat.st_mtime_ns, stat.st_size))
        self._phrases: dict[str, jinja2.Template] = {}

    def local(self, t: datetime | None, fmt: str = "%d.%m.%Y %H:%M",
              tz: ZoneInfo | None = None) -> str:
        if t is None:
            return "—"
        return t.astimezone(tz or self.tz).strftime(fmt)

    @jinja2.pass_context
    def _local_in_context(self, context: jinja2.runtime.Context, t: datetime | None,
                          fmt: str = "%d.%m.%Y %H:%M") -> str:
        """``local``, in the time zone of the message's incident's municipality when it has
        its own (a region's)."""
        tz = None
        if self.zones:
            incident = context.get("incident")
            tz = self.zones.get(getattr(incident, "municipality", None) or "")
        return self.local(t, fmt, tz)

    def municipality(self, incident: Any) -> str:
        """The name of the incident's municipality ("" in a single district)."""
        if not self.municipalities:
            return ""
        key = getattr(incident, "municipality", None)
        return self.municipalities.get(key or "") or self.phrase_raw("phrases", "region")

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"{name}.html").render(**context).strip()

    def phrase_raw(self, section: str, key: str, default: str | None = None) -> str:
        value = self.texts.get(section, {}).get(key)
        if value is None:
            if default is not None:
                return default
            raise KeyError(f"templates/texts.toml: [{section}] has no {key!r}")
        return str(value)

    def phrase(self, key: str, **context: Any) -> str:
        """A phrase from the ``[phrases]`` table, rendered with escaping (HTML)."""
        template = self._phrases.get(key)
        if template is None:
            source = self.phrase_raw("phrases", key)
            code = _PHRASES.get(source)
            if code is None:
                code = _PHRASES[source] = self.env.compile(source)
            template = self.env.template_class.from_code(
                self.env, code, self.env.make_globals(None))
            self._phrases[key] = template
        return template.render(**context)

    def label(self, action: str, arg: str = "") -> str:
        """A button's label: ``<action>_<arg>`` when the argument changes the meaning."""
        buttons = self.texts.get("buttons", {})
        return str(buttons.get(f"{action}_{arg}") or self.phrase_raw("buttons", action))

    def refusal(self, code: str, **context: Any) -> str:
        """Plain text (button answers are not HTML), so it is rendered without escaping."""
        raw = self.phrase_raw("refusals", code, default=self.phrase_raw("refusals", "default"))
        return _plain(raw).render(**context)


def hours(span: timedelta) -> str:
    """A working-time span the way a person says it: «2 ч 15 мин», «40 мин»."""
    minutes = int(span.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    if h and m:
        return f"{h} ч {m} мин"
    return f"{h} ч" if h else f"{m} мин"


# --- people's names -----------------------------------------------------------------------------
# Names are stored as «Фамилия Имя [Отчество]». The petrovich package declines each part; the
# gender comes from the patronymic, else the surname's or the first name's ending.

_PETROVICH = Petrovich()
_CASES = {"genitive": Case.GENITIVE, "dative": Case.DATIVE}
_CYRILLIC_WORD = re.compile(r"^[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)*$")
_MALE_NAMES_IN_A = {"илья", "никита", "кузьма", "фома", "лука", "савва", "данила", "гаврила",
                    "фока", "лёва", "лева", "миша", "гоша", "паша", "дима", "вова", "саша",
                    "женя", "ваня", "петя", "коля", "толя", "федя", "серёжа", "сережа", "алёша",
                    "алеша", "юра", "костя", "вася", "валера", "слава", "жора", "гена"}
_EITHER = {"саша", "женя", "валя", "слава"}


def gender_of(name: str) -> Gender | None:
    """«male», «female» or None (unknown) for a name written «Фамилия Имя [Отчество]»."""
    parts = [p.lower() for p in name.split()]
    if len(parts) >= 3:
        if parts[2].endswith(("вна", "чна", "кызы")):
            return Gender.FEMALE
        if parts[2].endswith(("вич", "ич", "оглы")):
            return Gender.MALE
    if parts:
        last = parts[0]
        if last.endswith(("ова", "ева", "ёва", "ина", "ына", "ская", "цкая")):
            return Gender.FEMALE
        if last.endswith(("ов", "ев", "ёв", "ин", "ын", "ский", "цкий")):
            return Gender.MALE
    if len(parts) >= 2:
        first = parts[1]
        if first in _EITHER:
            return None
        if first in _MALE_NAMES_IN_A:
            return Gender.MALE
        if first.endswith(("а", "я")):
            return Gender.FEMALE
        if re.search(r"[бвгджзклмнпрстфхцчшщй]$", first):
            return Gender.MALE
    return None


def decline(name: str, case: str) -> str:
    """A person's name in a case: «Сидорова Мария» → «Сидоровой Марии» (genitive). A name
    that is not Russian, or whose gender is unknown, is left as it is."""
    words = name.split()
    gender = gender_of(name)
    if not words or gender is None or not all(_CYRILLIC_WORD.match(w) for w in words[:3]):
        return name
    to = _CASES[case]

    def last(w: str) -> str:
        # Surnames in -ых, -их, -ко, -аго and on a vowel other than -а/-я never change.
        if w.lower().endswith(("ых", "их", "ко", "аго", "яго", "е", "и", "о", "у", "ы", "ю")):
            return w
        return _PETROVICH.lastname(w, to, gender)

    def first(w: str) -> str:
        done = _PETROVICH.firstname(w, to, gender)
        if done == w and w.lower().endswith(("а", "я")):  # Никита, Лука: like Анна
            done = _PETROVICH.firstname(w, to, Gender.FEMALE)
        return done

    inflect = (last, first, lambda w: _PETROVICH.middlename(w, to, gender))
    try:
        done = [how(w) for how, w in zip(inflect, words, strict=False)]
    except (KeyError, IndexError, ValueError):
        return name
    # After г, к, х, ж, ш, ч, щ Russian writes и, not ы (Ольги, not Ольгы).
    return _AFTER_HUSHING.sub(r"\1и", " ".join(done + words[3:]))


_AFTER_HUSHING = re.compile(r"([гкхжшчщ])ы\b")


def gendered(name: str, male: str, female: str, unknown: str | None = None) -> str:
    """The word that agrees with the person: ``gendered(name, "взял", "взяла")``."""
    gender = gender_of(name or "")
    if gender is Gender.MALE:
        return male
    if gender is Gender.FEMALE:
        return female
    return unknown if unknown is not None else f"{male}({female.removeprefix(male)})" \
        if female.startswith(male) else f"{male}/{female}"


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for ``n``: 1 символ, 2 символа, 5 символов, 21 символ."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


# --- text measures shared by the front ends ----------------------------------------------------

_LINK = re.compile(r"<a\s[^>]*?href=\"([^\"]*)\"[^>]*>(.*?)</a>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def plain_text(markup: str) -> str:
    """Template HTML as plain text (VK, the shell): no tags, entities decoded, line breaks
    kept, links as ``label (url)``.

    Only real tags are removed: what residents typed reaches the templates escaped
    (``&lt;b&gt;``), so it comes out as typed."""

    def link(m: re.Match[str]) -> str:
        href = html.unescape(m.group(1))
        label = html.unescape(_TAG.sub("", m.group(2))).strip()
        return href if not label or label == href else f"{label} ({href})"

    text = _LINK.sub(lambda m: link(m).replace("&", "&amp;").replace("<", "&lt;"), markup)
    text = re.sub(r"<blockquote[^>]*>", "«", text, flags=re.IGNORECASE)
    text = re.sub(r"</blockquote>", "»", text, flags=re.IGNORECASE)
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    return html.unescape(_TAG.sub("", text))


def utf16_units(s: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (never less than VK's count)."""
    return len(s.encode("utf-16-le")) // 2


def fit_units(s: str, room: int) -> str:
    """The longest prefix of ``s`` of at most ``room`` UTF-16 code units."""
    taken = units = 0
    for ch in s:
        u = 2 if ord(ch) > 0xFFFF else 1
        if units + u > room:
            break
        units += u
        taken += 1
    return s[:taken]


# Where a long plain text may be cut, best first: between paragraphs, between lines, after a
# sentence, between words.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?…]+[»\"')\]]*\s+"),
           re.compile(r"\s+"))


def split_plain(text: str, limit: int, *, first_limit: int | None = None) -> list[str]:
    """A plain text in parts of at most ``limit`` UTF-16 code units (``first_limit`` for the
    first part: a caption holds 1,024, a message 4,096), cut between paragraphs, else between
    lines, else after a sentence, else between words; a single word longer than a part is
    cut where it must. Nothing is lost but the whitespace at the cuts; never refused."""
    parts: list[str] = []
    rest = text.strip()
    room = first_limit or limit
    while rest and utf16_units(rest) > room:
        head = fit_units(rest, room)
        cut = 0
        for pattern in _BREAKS:
            # the last boundary in the part, unless it would leave the part nearly empty
            ends = [m.end() for m in pattern.finditer(head) if m.start() >= len(head) // 4]
            if ends:
                cut = ends[-1]
                break
        if cut == 0:
            cut = len(head) or 1
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip()
        room = limit
    if rest:
        parts.append(rest)
    return parts
