"""The address a resident names in a complaint: settlement, street and house, normalised.

``extract_address(text)`` finds the first street named in the text («ул. Ленина д. 5»,
«по улице Школьной 12», «проспект Дружбы д.19Д», «у дома №19 на проспекте Дружбы») and the
settlement when one is named («г. Курск», «в селе Полевая», «пос. Юбилейный»), and returns an
``Address`` whose ``str()`` is the normal form «г. Курск, ул. Школьная, д. 12». Kinds are
abbreviated the one way: ул., пр-т, пер., б-р, ш., пр-д, пл., наб., мкр.; г., с., пос., д.

Residents write the street name in whatever case the sentence wants («по улице Школьной»).
An adjective name is put back into the nominative by an injected ``nominative(word, gender)``
(pymorphy3 in ``bot.addresses``) so that this module does no I/O; without it the name is kept
as written. Names in the genitive («Ленина», «Карла Маркса») are left as they are.

A regular grammar rather than natasha's AddrExtractor: natasha pulls pymorphy2 (a second
morphology next to pymorphy3) and on the sample texts missed houses written without «д.»
(«ул. Школьной 12», «пр-т Победы 50»), which is how most residents write them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Address", "extract_address", "format_address"]

Nominative = Callable[[str, str], str]

# kind regex → (normal abbreviation, grammatical gender of the kind word)
_STREET_KINDS: tuple[tuple[str, str, str], ...] = (
    (r"ул[.,]?|улиц[аеуыи]|улицей", "ул.", "femn"),
    (r"пр-т\.?|пр-т[аеу]|пр-кт\.?|пр-кт[аеу]|просп\.?|проспект[аеу]?|проспектом|пр\.",
     "пр-т", "masc"),
    (r"пер\.?|переул(?:ок|ка|ке|ку|ком)", "пер.", "masc"),
    (r"б-р\.?|бульвар[аеу]?|бул\.", "б-р", "masc"),
    (r"ш\.|шоссе", "ш.", "neut"),
    (r"пр-д\.?|проезд[аеу]?", "пр-д", "masc"),
    (r"пл\.|площад[ьию]", "пл.", "femn"),
    (r"наб\.|набережн(?:ая|ой|ую)", "наб.", "femn"),
    (r"мкр\.?|мкрн\.?|микрорайон[аеу]?", "мкр.", "masc"),
)
_SETTLEMENT_KINDS: tuple[tuple[str, str], ...] = (
    (r"г\.|город[ае]?|гор\.", "г."),
    (r"с\.|сел[оаеу]", "с."),
    (r"пос\.|п\.|посел(?:ок|ка|ке|ку)|посёл(?:ок|ка|ке|ку)|пгт\.?|рп\.?", "пос."),
    (r"дер\.|деревн[яеиюй]|д\.(?=\s*[А-ЯЁ])", "д."),
    (r"х\.|хутор[аеу]?", "х."),
)

_WORD = r"[А-ЯЁа-яё][а-яё]+(?:-[А-ЯЁа-яё][а-яё]+)?"
_ORDINAL = r"\d{1,2}-?(?:[а-я]{1,3})?"
_INITIAL = r"[А-ЯЁ]\.\s?"
# Words that end a street name: the next part of the address or an ordinary word.
_STOP = {
    "д", "дом", "дома", "доме", "дому", "домом", "г", "город", "города", "в", "во", "на", "и",
    "от", "до", "по", "у", "около", "возле", "напротив", "рядом", "с", "со", "к", "за", "между",
    "кв", "квартира", "подъезд", "корп", "корпус", "стр", "строение", "район", "района",
    "села", "село", "поселка", "посёлка", "деревни", "не", "уже", "где", "который", "которая",
    "есть", "нет", "был", "была", "было", "а", "но", "это", "так", "также", "тоже", "при",
    "всего", "всей", "всю", "вся", "весь", "из", "для", "после", "перед", "под", "над",
    "через", "или", "же", "вдоль", "угол",
}

_HOUSE = (r"(?P<house>\d{1,4}"
          r"(?:[а-яё](?![а-яё])|\s?[«\"][А-Яа-яЁё][»\"]|-?\s?[А-ЯЁ](?![А-Яа-яЁё]))?"
          r"(?:\s?[/\\\\]\s?\d{1,4}[А-Яа-я]?(?![а-яё])|/[А-Яа-я](?![а-яё]))?)")
_HOUSE_AFTER = re.compile(
    r"^\s*,?\s*(?:(?:около|возле|у|напротив|рядом\sс)\s(?=дом|д\.|зд))?"
    r"(?:(?:д\.|д(?=[\s\d])|дом(?:а|е|у|ом)?|зд\.|здание)\s*)?(?:№\s*)?" + _HOUSE
    + r"(?!\d)(?![.:]\d)"
    r"(?!\s*(?:г\.|год|лет|час|мин|руб|%|км\b|м\b|метр|кв\.?\s?м\b|чел|раз\b|раза\b|дн|сут|шт))")
# «ул. Орловская, в районе дома №1», «ул. Сумская (напротив дома №25)», «около 19 дома».
_HOUSE_NEAR = re.compile(
    r"^\s*[,(]?\s*(?:в районе|около|возле|у|напротив|рядом с)\s"
    r"(?P<pre>(?:д\.|дом[ауе]?)\s*(?:№\s*)?)?" + _HOUSE
    + r"(?!\d)(?P<post>\s*(?:-?го\s)?дом[ау]?\b)?")
_MAX_STREETS = 3
_HOUSE_BEFORE = re.compile(
    r"(?:д\.|дом[а-я]{0,2}|здани[еяю])\s*(?:№\s*)?" + _HOUSE + r"(?![\d.]\d)[^.!?]{0,25}$")


_ADJ_END = r"(?:ая|ой|ую|ий|ый|ого|ому|ое|ая|ей|ья|ьей|ин[ао]?й?|ов[ао]?й?)$"


def _kind_group(kinds: tuple[tuple[str, ...], ...]) -> str:
    return "|".join(f"(?P<k{i}>{k[0]})" for i, k in enumerate(kinds))


_STREET_RE = re.compile(
    r"(?<![А-Яа-яЁёA-Za-z\-])(?i:" + _kind_group(_STREET_KINDS) + r")(?![а-яё])\s*"
    r"(?P<name>(?:" + _ORDINAL + r"\s)?(?:" + _INITIAL + r")?" + _WORD
    + r"(?:\s\d{1,2}(?:-?[а-я]{1,2})?[\s-][Дд]ивизии|\s" + _WORD + r"){0,2})")
# «3-й Московский переулок 27», «в Южном переулке», «Мирный проезд»: the name before the kind.
_STREET_BEFORE_RE = re.compile(
    r"(?<![А-Яа-яЁё\-])(?P<name>(?:\d{1,2}-?[а-я]{0,2}\s?)?[А-ЯЁа-яё][а-яё]+"
    r"(?:ий|ый|ой|ом|ого))\s(?P<kind>переул(?:ок|ке|ка|ку)|проезд[аеу]?|бульвар[аеу]?)(?![а-яё])")
_BEFORE_KINDS = {"переул": ("пер.", "masc"), "проезд": ("пр-д", "masc"),
                 "бульвар": ("б-р", "masc")}
_SETTLEMENT_RE = re.compile(
    r"(?<![А-Яа-яЁёA-Za-z\-])(?i:" + _kind_group(_SETTLEMENT_KINDS) + r")(?![а-яё])\s*"
    r"(?P<name>[А-ЯЁ][а-яё]+(?:-[А-ЯЁа-яё][а-яё]+)?(?:\s[А-ЯЁ][а-яё]+)?)")


@dataclass(frozen=True, slots=True)
class Address:
    street: str | None = None  # «ул. Школьная»
    house: str | None = None  # «12», «19Д», «44/2»
    settlement: str | None = None  # «г. Курск»

    def __str__(self) -> str:
        return format_address(self)

    @property
    def street_name(self) -> str | None:
        """The street without its kind: «Школьная»."""
        return None if self.street is None else self.street.split(" ", 1)[-1]


def format_address(a: Address) -> str:
    parts = [p for p in (a.settlement, a.street) if p]
    if a.house:
        parts.append(f"д. {a.house}")
    return ", ".join(parts)


def _which(m: re.Match[str], kinds: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    for i, k in enumerate(kinds):
        if m.group(f"k{i}") is not None:
            return k
    raise AssertionError("no kind matched")


def _trim_name(raw: str, rest: str = "") -> str:
    """The street name in ``raw`` (the words after the kind); ``rest`` is the text after it.
    A lower-case word is kept when it looks like an adjective («хуторская») or when a house
    number follows it («проспект победы 32»)."""
    words = raw.split()
    kept: list[str] = []
    for i, w in enumerate(words):
        bare = w.strip(".").lower()
        if bare in _STOP and not re.fullmatch(r"[А-ЯЁ]\.", w):
            break
        if w[0].islower() and w != "лет":
            tail = " ".join(words[i + 1:]) if i + 1 < len(words) else rest
            numbered = bool(re.match(r"\s*,?\s*(?:д\.?\s*|дом\s*)?\d", tail))
            after_ordinal = bool(kept) and bool(re.match(_ORDINAL + "$", kept[-1]))
            if not numbered and not after_ordinal and (kept or not re.search(_ADJ_END, w)):
                break
        kept.append(w)
    while kept and kept[-1][:1].isdigit():  # «Радищева 2 месяца»: the number is not the name
        kept.pop()
    return " ".join(kept)


def _normal_house(raw: str) -> str:
    h = re.sub(r"/(?=[А-Яа-я])", "", raw.replace("\\", "/"))
    h = re.sub(r"[\s«»\"\-]", "", h)
    return h[:1] + h[1:].upper() if h else h


def _normal_name(name: str, gender: str, nominative: Nominative | None) -> str:
    """Adjectives back in the nominative («Школьной» → «Школьная»); a name of several words is
    changed only when all its words change («Верхней Луговой»), so that «Ленинского Комсомола»
    and «Красной Армии» stay as written."""
    out: list[str] = []
    changed = kept = 0
    for w in name.split():
        if re.fullmatch(_ORDINAL, w) or re.fullmatch(r"[А-ЯЁ]\.", w):
            out.append(w)
            continue
        n = nominative(w, gender) if nominative is not None else w
        n = n[:1].upper() + n[1:] if n else w
        if n.lower() == w.lower():
            kept += 1
        else:
            changed += 1
        out.append(n)
    if changed and kept:
        return " ".join(w[:1].upper() + w[1:] for w in name.split())
    return " ".join(out)


def _house_near(text: str, start: int, end: int) -> str | None:
    after = _HOUSE_AFTER.match(text[end:])
    if after is None:
        near = _HOUSE_NEAR.match(text[end:])
        after = near if near and (near["pre"] or near["post"]) else None
    if after:
        return _normal_house(after["house"])
    before = _HOUSE_BEFORE.search(text[max(0, start - 60):start])
    return _normal_house(before["house"]) if before else None


def extract_address(text: str, nominative: Nominative | None = None) -> Address | None:
    """The first address named in ``text`` (module doc), or None when no street is named."""
    text = " ".join((text or "").split())
    # Every street named, in order; the first one with a house wins, else the first one.
    found: list[tuple[int, int, str, str, str]] = []  # start, end of the name, name, abbr, gender
    pos = 0
    while (m := _STREET_RE.search(text, pos)) is not None:
        # The next search starts after the kind: «Проезд возле дома пр. Энтузиастов».
        pos = m.start("name")
        name = _trim_name(m["name"], text[m.end("name"):])
        if name and re.search(r"[А-ЯЁа-яё]{2}", name):
            abbr, gender = _which(m, _STREET_KINDS)[1:]
            found.append((m.start(), m.start("name") + len(name), name, abbr, gender))
    for m in _STREET_BEFORE_RE.finditer(text):
        word = m["name"].split()[-1].lower()
        if word in _STOP or not (m["name"][0].isupper() or m["name"][0].isdigit()):
            continue
        abbr, gender = next(v for k, v in _BEFORE_KINDS.items() if m["kind"].startswith(k))
        found.append((m.start(), m.end(), m["name"], abbr, gender))
    found.sort()
    street = house = None
    for start, end, name, abbr, gender in found[:_MAX_STREETS]:
        house = _house_near(text, start, end)
        if house is not None or street is None:
            street = f"{abbr} {_normal_name(name, gender, nominative)}"
        if house is not None:
            break
    settlement = None
    for m in _SETTLEMENT_RE.finditer(text):
        name = _trim_name(m["name"])
        if not name or name.lower() in _STOP:
            continue
        abbr = _which(m, _SETTLEMENT_KINDS)[1]
        settlement = f"{abbr} {_normal_name(name, 'geo', nominative)}"
        break
    if street is None and settlement is None:
        return None
    return Address(street=street, house=house, settlement=settlement)
