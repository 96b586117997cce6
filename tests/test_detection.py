"""Detecting complaints: keyword rules per category, matched on lemmas (issue 4, section 1).

Most tests use the real pymorphy3 lemmatizer (``bot.morphology``), since the point is that
inflected words match; the last ones show that ``workflows.detection`` itself needs none.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pymorphy3
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.morphology import make_lemmatizer
from workflows.detection import Detector, Match, Rule, tokenize

ROOT = Path(__file__).resolve().parent.parent
LEMMATIZE = make_lemmatizer()
MORPH = pymorphy3.MorphAnalyzer()

# (key, keywords, stop words), in config order. «вывоз мусора» is a phrase: its lemmas must
# stand next to each other, so «мусор не вывозят» does not match it; the single «мусор» is
# listed as well so that any mention of rubbish counts.
CATEGORIES = [
    ("roads", ["яма", "асфальт", "дорога", "очистка от снега"], ["воздушный"]),
    ("waste", ["вывоз мусора", "мусор", "контейнер", "свалка"], []),
    ("housing", ["отопление", "батарея", "горячая вода"], []),
    ("improvement", ["освещение", "фонарь", "детская площадка", "ёлка"], []),
    ("transport", ["остановка", "автобус", "маршрутка"], []),
]
# Advertisements and job offers are never complaints: these veto every category.
COMMON_STOP_WORDS = ["реклама", "продам", "вакансия"]


def detector(categories: list[tuple[str, list[str], list[str]]] = CATEGORIES,
             min_length: int = 15) -> Detector:
    return Detector.from_config(categories, LEMMATIZE, min_length=min_length,
                                stop_words=COMMON_STOP_WORDS)


DETECTOR = detector()


# --- Lemmas ------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["яма", "ямы", "ямами", "ямой", "яме", "ям", "ямах", "ямою"])
def test_every_form_of_a_keyword_matches_it(form: str) -> None:
    assert DETECTOR.match(f"У нас во дворе {form}, сколько можно") == Match("roads", "яма", 1)


def test_shouting_in_capitals_is_still_a_complaint() -> None:
    assert DETECTOR.match("Во дворе огромные ЯМЫ!!!") == Match("roads", "яма", 1)


def test_the_most_probable_parse_alone_would_miss_plural_pits() -> None:
    # Why make_lemmatizer() returns every parse's normal form: pymorphy3 ranks «ям» (a
    # postal station) first for «ямы», so the single best lemma misses the commonest complaint.
    best_only = make_lemmatizer(all_parses=False)
    assert best_only("ямы") == "ям"
    assert LEMMATIZE("ямы")[:2] == ("ям", "яма")
    naive = Detector.from_config(CATEGORIES, best_only)
    assert naive.match("Во дворе огромные ямы") is None
    assert DETECTOR.match("Во дворе огромные ямы") is not None


def test_phrases_match_adjacent_lemmas_in_order() -> None:
    only_phrase = detector([("waste", ["вывоз мусора"], [])])
    assert only_phrase.match("Когда будет вывоз мусора?") == Match("waste", "вывоз мусора", 1)
    assert only_phrase.match("Нет вывоза мусора третью неделю") is not None
    # Not adjacent, or a verb instead of the noun «вывоз»: the phrase does not match ...
    assert only_phrase.match("Мусор не вывозят уже неделю") is None
    assert only_phrase.match("Вывоз строительного мусора за свой счёт") is None
    # ... which is why the config lists «мусор» on its own as well.
    assert DETECTOR.match("Мусор не вывозят уже неделю") == Match("waste", "мусор", 1)
    # Both keywords hit the phrase; the keyword reported is the first hit, as configured.
    assert DETECTOR.match("Вывоз мусора не производится") == Match("waste", "вывоз мусора", 2)


def test_phrases_with_adjectives_match_in_any_case() -> None:
    assert DETECTOR.match("Третий день нет горячей воды!") == Match("housing", "горячая вода", 1)
    assert DETECTOR.match("На детских площадках темно") == Match(
        "improvement", "детская площадка", 1)


# --- Stop words and length -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Продам гараж, рядом яма для ремонта",
    "Продаст кто-нибудь батарею? Отопление слабое",
    "Ищем водителя автобуса, вакансия открыта",
    "Размещу вашу рекламу на остановках",
])
def test_a_common_stop_word_vetoes_every_category(text: str) -> None:
    assert DETECTOR.match(text) is None
    assert DETECTOR.matches(text) == []


def test_a_category_stop_word_vetoes_only_its_category() -> None:
    text = "Самолёт попал в воздушную яму, а на остановке опять темно"
    assert DETECTOR.matches(text) == [Match("transport", "остановка", 1)]


def test_stop_words_are_matched_on_lemmas_of_the_same_verb_only() -> None:
    # «продаю» is a form of «продавать», not of the stop word «продам» (→ «продать»).
    assert DETECTOR.match("Продаю, как говорится, за что купил: яма на яме") is not None


def test_texts_shorter_than_the_minimum_are_ignored() -> None:
    assert DETECTOR.match("Ямы!") is None
    assert DETECTOR.match("        Ямы!          ") is None  # spaces do not count
    assert DETECTOR.match("Ямы во дворе!!!") == Match("roads", "яма", 1)  # exactly 15
    assert DETECTOR.match("Ямы во дворе!!") is None  # 14
    assert detector(min_length=0).match("Ямы!") == Match("roads", "яма", 1)


def test_nothing_matches_an_ordinary_comment() -> None:
    assert DETECTOR.match("Спасибо администрации за праздник, всё было отлично!") is None
    assert DETECTOR.match("") is None
    assert DETECTOR.match("😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀") is None


# --- Competing categories --------------------------------------------------------------------

def test_the_category_with_more_hits_wins() -> None:
    text = "На остановке яма, вторая яма у подъезда, асфальт весь разбит"
    assert DETECTOR.match(text) == Match("roads", "яма", 3)
    assert DETECTOR.matches(text) == [Match("roads", "яма", 3), Match("transport", "остановка", 1)]


def test_a_tie_goes_to_the_category_first_in_the_config() -> None:
    text = "Яма возле остановки, спасибо"
    assert DETECTOR.match(text) == Match("roads", "яма", 1)
    assert detector(CATEGORIES[::-1]).match(text) == Match("transport", "остановка", 1)
    assert [m.category for m in DETECTOR.matches(text)] == ["roads", "transport"]


# --- Spelling and noise ----------------------------------------------------------------------

def test_yo_and_ye_are_the_same_letter() -> None:
    # The keyword is spelt «ёлка»; the resident writes «елку», and the other way round.
    assert DETECTOR.match("Когда поставят елку на площади?") == Match("improvement", "ёлка", 1)
    ye = detector([("improvement", ["елка"], [])])
    assert ye.match("Ёлку так и не поставили!") == Match("improvement", "елка", 1)
    assert tokenize("Ещё ЁЛКА") == ["еще", "елка"]


def test_hashtags_count_as_words() -> None:
    assert DETECTOR.match("#ямы #Новокузнецк #позор") == Match("roads", "яма", 1)
    assert DETECTOR.match("Опять то же самое #ЯмыНовокузнецка") == Match("roads", "яма", 1)
    assert DETECTOR.match("Третью неделю #вывоз_мусора") == Match("waste", "вывоз мусора", 2)
    assert tokenize("#ЯмыНовокузнецка #вывоз_мусора") == ["ямы", "новокузнецка", "вывоз", "мусора"]


def test_emoji_urls_mentions_and_numbers_do_not_break_words() -> None:
    text = "😡😡😡Яма😡 на ул. Ленина 15, фото: https://vk.com/photo-1_2 @gorod_nk 👉 #позор"
    assert DETECTOR.match(text) == Match("roads", "яма", 1)
    assert tokenize(text) == ["яма", "на", "ул", "ленина", "фото", "позор"]
    assert DETECTOR.match("[id1|Света], у нас опять яма у подъезда") == Match("roads", "яма", 1)


def test_keywords_inside_urls_and_mentions_do_not_count() -> None:
    assert DETECTOR.match("Подробнее: https://город.рф/ямы/ и vk.com/musor, пишите @ямы_нк") \
        is None
    assert DETECTOR.match("[club5|Мусор-ТВ], спасибо за новости! Пишите на info@musor.ru") \
        is None


# --- Every case of every keyword noun --------------------------------------------------------

NOUNS = {"яма": "roads", "мусор": "waste", "отопление": "housing", "освещение": "improvement",
         "остановка": "transport"}
CASES = ["nomn", "gent", "datv", "accs", "ablt", "loct"]


def noun_parse(word: str) -> pymorphy3.analyzer.Parse:
    return next(p for p in MORPH.parse(word) if p.normal_form == word and "NOUN" in p.tag)


@settings(max_examples=300, deadline=None)
@given(noun=st.sampled_from(sorted(NOUNS)), case=st.sampled_from(CASES),
       number=st.sampled_from(["sing", "plur"]),
       spelling=st.sampled_from([str.lower, str.upper, str.capitalize]),
       template=st.sampled_from(["{} во дворе, сколько можно!", "Жалоба жителей: {}",
                                 "Пишу третий раз про {}!!! 😡 https://vk.com/wall-1_2"]))
def test_any_inflected_form_of_a_keyword_matches_it(
        noun: str, case: str, number: str, spelling: object, template: str) -> None:
    inflected = noun_parse(noun).inflect({case, number})
    assume(inflected is not None)  # «мусор» has no plural
    assert inflected is not None
    text = template.format(spelling(inflected.word))  # type: ignore[operator]
    assert DETECTOR.match(text) == Match(NOUNS[noun], noun, 1), text


# --- Configuration ---------------------------------------------------------------------------

def test_bad_keywords_and_stop_words_are_reported_with_the_category() -> None:
    with pytest.raises(ValueError, match="category 'roads': keyword '!!!' has no words"):
        Detector.from_config([("roads", ["!!!"], [])], LEMMATIZE)
    with pytest.raises(ValueError, match="category 'roads': stop word 'в аренду' must be one"):
        Detector.from_config([("roads", ["яма"], ["в аренду"])], LEMMATIZE)


def test_rules_are_lemmatized_once_and_keep_the_configured_spelling() -> None:
    d = Detector.from_config([("roads", ["Яма", "ямы", "яма", "Очистка от снега"], ["Продам"])],
                             LEMMATIZE)
    (rule,) = d.rules
    # «ямы» is not a dictionary form: it takes its most probable lemma, the other «ям».
    assert rule == Rule("roads", (("яма",), ("ям",), ("очистка", "от", "снег")),
                        frozenset({"продать"}), ("Яма", "ямы", "Очистка от снега"))
    assert d.match("Когда будет очистка от снега?") == Match("roads", "Очистка от снега", 1)


def test_the_lemmatizer_is_cached_and_each_call_makes_its_own() -> None:
    other = make_lemmatizer()
    assert other is not LEMMATIZE
    assert other("ямами") == ("ям", "яма")
    other("ямами")
    info = other.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses, info.maxsize) == (1, 1, 100_000)


def test_the_detector_caches_lemmas_of_repeated_words() -> None:
    d = detector()
    d.match("Яма, яма и ещё раз яма")
    info = d.cache_info()
    assert (info.misses, info.hits) == (4, 2)  # яма, и, еще, раз; then яма twice


# --- Without pymorphy3 -------------------------------------------------------------------------

def test_the_core_works_with_any_lemmatizer() -> None:
    lemmas = {"ямы": "яма", "ямами": "яма", "мусора": "мусор", "вывоза": "вывоз",
              "продам": "продать"}
    fake = Detector.from_config(
        [("roads", ["яма"], []), ("waste", ["вывоз мусора"], [])],
        lambda word: lemmas.get(word, word), stop_words=["продам"])
    assert fake.match("Опять ямы во дворе, с ямами ничего не делают") == Match("roads", "яма", 2)
    assert fake.match("Нет вывоза мусора с понедельника") == Match("waste", "вывоз мусора", 1)
    assert fake.match("Продам участок, на въезде ямы") is None


def test_the_core_does_not_import_pymorphy3() -> None:
    code = ("import sys, workflows.detection; "
            "assert 'pymorphy3' not in sys.modules, 'pymorphy3 imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
