"""Benchmark: complaint detection on 1,000 realistic comments, 12 categories × 8 keywords.

The comments (80–400 characters) are generated from a fixed seed: complaints with inflected
keywords, thanks and questions with none, advertisements with stop words, and the usual noise
(emoji, URLs, @mentions, VK mention markup, hashtags, house numbers), padded with everyday
chatter to a random length. Measured: loading the
pymorphy3 analyzer, building the detector, one pass with cold lemma caches (a fresh
lemmatizer and detector: every new word goes to pymorphy3) and passes with warm caches (every
word cached). Prints figures; not a test.

    .venv/bin/python bench/bench_detection.py
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

from workflows.detection import Detector, tokenize

COMMENTS = 1_000
SEED = 4

CATEGORIES: list[tuple[str, list[str], list[str]]] = [
    ("housing", ["отопление", "батарея", "горячая вода", "управляющая компания", "подъезд",
                 "крыша", "протечка", "лифт"], ["вакансия"]),
    ("energy", ["свет", "электричество", "отключение света", "электроэнергия", "подстанция",
                "провод", "напряжение", "счётчик"], []),
    ("waste", ["мусор", "вывоз мусора", "контейнер", "контейнерная площадка", "помойка",
               "мусоровоз", "отходы", "урна"], []),
    ("roads", ["яма", "асфальт", "дорога", "ремонт дороги", "лужа", "тротуар", "гололёд",
               "очистка от снега"], ["воздушный"]),
    ("transport", ["автобус", "маршрутка", "остановка", "расписание", "маршрут", "водитель",
                   "трамвай", "проезд"], []),
    ("social", ["пособие", "льгота", "субсидия", "пенсия", "соцзащита", "многодетный",
                "инвалид", "выплата"], []),
    ("education", ["школа", "детский сад", "учитель", "садик", "кружок", "очередь в сад",
                   "класс", "питание в школе"], []),
    ("health", ["поликлиника", "врач", "запись к врачу", "лекарство", "больница", "скорая",
                "терапевт", "талон"], []),
    ("improvement", ["освещение", "фонарь", "детская площадка", "двор", "лавочка", "газон",
                     "благоустройство", "сквер"], []),
    ("ecology", ["свалка", "выброс", "дым", "запах", "смог", "вырубка", "загрязнение",
                 "река"], []),
    ("animals", ["собака", "бездомная собака", "стая", "укус", "отлов", "бродячий пёс",
                 "приют", "кошка"], []),
    ("safety", ["пожар", "драка", "полиция", "хулиган", "камера", "охрана", "кража",
                "заброшенное здание"], []),
]
COMMON_STOP_WORDS = ["реклама", "продам", "вакансия", "скидка"]

# Complaint sentences, each with a keyword in some form (lemmas, cases, numbers, phrases).
COMPLAINTS = [
    "Во дворе огромные ямы, машины ломаются каждый день",
    "Ямами весь проезд изрыт, асфальт не кладут третий год",
    "На тротуаре лужа по колено, дети в школу не пройдут",
    "Гололёд на остановке, бабушка упала и сломала руку",
    "Когда будет очистка от снега на нашей улице?",
    "Нет горячей воды уже вторую неделю, управляющая компания молчит",
    "Батареи еле тёплые, в квартире плюс пятнадцать",
    "Отопление так и не дали, а платёжки приходят исправно",
    "Крыша течёт, протечки по всему подъезду, лифт не работает",
    "Опять отключение света, без предупреждения, холодильник потёк",
    "Провода висят над детской площадкой, это же опасно",
    "Мусор не вывозят уже неделю, контейнеры переполнены",
    "Вывоз мусора срывается постоянно, на площадке помойка",
    "Мусоровоз приезжает в пять утра и гремит под окнами",
    "Автобус номер 12 не ходит по расписанию, стоим по сорок минут",
    "Маршрутки переполнены, водители хамят пассажирам",
    "На остановке нет ни павильона, ни лавочки",
    "Пособие на ребёнка не пришло, в соцзащите ничего не объясняют",
    "Многодетным обещали льготы на проезд, где они?",
    "Выплату пенсии задержали, пенсионеры в недоумении",
    "В детский сад очередь на два года, работать не могу",
    "В школе холодно, учителя ведут уроки в куртках",
    "Питание в школе ужасное, дети голодные приходят",
    "В поликлинику невозможно записаться, талонов к терапевту нет",
    "Запись к врачу только через месяц, а болеть надо сейчас",
    "Скорая ехала полтора часа, лекарств в аптеке нет",
    "Фонари во дворе не горят, освещения нет совсем",
    "Детскую площадку сломали, лавочки разбиты, газон вытоптан",
    "Сквер зарос, благоустройство обещали ещё в прошлом году",
    "Свалка за гаражами горит, дым стоит над всем районом",
    "Запах с завода невыносимый, выбросы каждую ночь",
    "Река вся в пене, загрязнение видно невооружённым глазом",
    "Стая бездомных собак бросается на детей у школы",
    "Бродячие псы покусали соседа, отлов не приезжает",
    "В заброшенном здании собираются подростки, вчера был пожар",
    "Хулиганы разбили камеры в подъезде, полиция не едет",
]
# Sentences with no keyword at all (thanks, questions, chatter).
NEUTRAL = [
    "Спасибо администрации за праздник, всё было отлично",
    "Подскажите, во сколько завтра начинается концерт на площади?",
    "Поздравляем всех жителей с днём города!",
    "Кто знает, работает ли сегодня почта на Ленина?",
    "Отличная новость, давно пора было так сделать",
    "Фото очень красивые, особенно вечерние",
    "Ребята молодцы, выступили на соревнованиях достойно",
    "Присоединяюсь к поздравлениям",
    "А где можно посмотреть полный список победителей конкурса?",
    "Погода в выходные обещает быть солнечной",
    "Интересно, а в следующем году фестиваль тоже проведут?",
    "Согласна с предыдущим комментарием",
]
# Padding: the chatter that surrounds complaints.
FILLER = [
    "Сколько можно терпеть?", "Администрация, ответьте!", "Писали уже много раз.",
    "Никто ничего не делает.", "Жители возмущены.", "Примите меры, пожалуйста.",
    "Это уже не в первый раз.", "Надеемся на понимание.", "Ждём ответа.",
    "Дети и пенсионеры страдают больше всех.", "Куда смотрят ответственные?",
    "Обращались в управу, ответа нет.", "Позор!", "Жалобы игнорируются.",
    "Живём как в прошлом веке.", "Может, хоть здесь услышат.",
]
ADS = [
    "Продам гараж на Кирова, недорого, торг", "Реклама: натяжные потолки со скидкой 30%",
    "Открыта вакансия водителя автобуса, звоните", "Скидки на окна до конца месяца!",
]
STREETS = ["Ленина", "Кирова", "Металлургов", "Народная", "Строителей", "Циолковского",
           "Запсибовцев", "Тольятти", "Бардина", "Мира"]
NOISE = ["😡", "🤬", "👍", "😢", "🙏", "‼️", "https://vk.com/wall-123_4567", "@nk_gorod",
         "[id1234|Светлана], ", "#Новокузнецк", "#ямы", "#позор", "https://t.me/nk_news/88"]


# Everyday words of comments, none a keyword; inflected at random into chatter sentences, so
# that 1,000 comments bring a realistic number of distinct word forms (a few thousand) to the
# lemmatizer. The grammar of the chatter is nonsense; its vocabulary is what costs.
_CHATTER = """
житель соседка сосед бабушка дедушка ребёнок мама папа семья человек глава мэр депутат
чиновник администрация район город посёлок улица дом квартира окно дверь машина гараж
магазин аптека рынок праздник неделя месяц год утро вечер ночь зима весна лето осень
вопрос ответ обращение жалоба письмо звонок телефон сайт новость фотография видео деньги
рубль налог закон порядок проблема ситуация безобразие внимание помощь совет решение
плохой хороший старый новый большой маленький холодный тёплый грязный чистый тёмный
опасный страшный обычный местный городской районный муниципальный последний каждый
весь настоящий несчастный бедный простой сложный длинный короткий ужасный нормальный
сделать делать говорить сказать писать написать ждать ответить обещать сидеть ходить
приезжать приехать звонить позвонить жаловаться терпеть решить починить исправить
убрать проверить посмотреть увидеть знать понимать помнить забыть работать платить
бояться ругаться возмущаться надеяться верить просить требовать разобраться
"""
CHATTER = _CHATTER.split()


def chatter(rng: random.Random, forms: dict[str, list[str]]) -> str:
    words = [rng.choice(forms[rng.choice(CHATTER)]) for _ in range(rng.randint(4, 10))]
    return " ".join(words).capitalize() + rng.choice([".", "!", "?", "...", "!!!"])


def comment(rng: random.Random, forms: dict[str, list[str]]) -> str:
    kind = rng.random()
    if kind < 0.6:
        parts = [rng.choice(COMPLAINTS)]
        if rng.random() < 0.3:
            parts.append(rng.choice(COMPLAINTS))
    elif kind < 0.9:
        parts = [rng.choice(NEUTRAL)]
    else:
        parts = [rng.choice(ADS)]
    parts.append(f"ул. {rng.choice(STREETS)}, {rng.randint(1, 120)}.")
    target = rng.randint(80, 400)
    while len(" ".join(parts)) < target:
        pick = rng.random()
        parts.append(rng.choice(FILLER) if pick < 0.3 else rng.choice(NOISE) if pick < 0.45
                     else chatter(rng, forms))
    while len(" ".join(parts)) > 400:  # drop the last sentence until it fits
        parts.pop()
    rng.shuffle(parts)
    return " ".join(parts)


def make_comments(n: int) -> list[str]:
    import pymorphy3  # only to inflect the chatter, outside of what is measured

    morph = pymorphy3.MorphAnalyzer()
    forms = {word: sorted({f.word for f in morph.parse(word)[0].lexeme}) for word in CHATTER}
    rng = random.Random(SEED)
    texts = []
    while len(texts) < n:
        text = comment(rng, forms)
        if 80 <= len(text) <= 400:
            texts.append(text)
    return texts


def run(detector: Detector, texts: list[str]) -> tuple[float, Counter[str]]:
    found: Counter[str] = Counter()
    started = time.perf_counter()
    for text in texts:
        m = detector.match(text)
        found[m.category if m else "—"] += 1
    return time.perf_counter() - started, found


def timed(make: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    value = make()
    return value, time.perf_counter() - started


def main() -> None:
    started = time.perf_counter()
    from bot.morphology import make_lemmatizer  # the first import loads pymorphy3
    imported = time.perf_counter() - started
    _, first = timed(make_lemmatizer)
    loads = [timed(make_lemmatizer)[1] for _ in range(5)]

    texts = make_comments(COMMENTS)
    lengths = [len(t) for t in texts]
    words = sum(len(tokenize(t)) for t in texts)
    print(f"{len(texts)} comments, {min(lengths)}–{max(lengths)} chars "
          f"(median {statistics.median(lengths):.0f}), {words:,} words; {len(CATEGORIES)} "
          f"categories × {sum(len(k) for _, k, _ in CATEGORIES) / len(CATEGORIES):.0f} keywords")
    print(f"import bot.morphology (pymorphy3) {imported * 1000:.0f} ms; make_lemmatizer() "
          f"first {first * 1000:.0f} ms, then median {statistics.median(loads) * 1000:.0f} ms")

    for label, all_parses in (("all parses (default)", True), ("best parse only", False)):
        colds = []
        for _ in range(3):  # each with a fresh lemmatizer and detector: both caches cold
            lemmatize = make_lemmatizer(all_parses=all_parses)
            detector, built = timed(lambda lemmatize=lemmatize: Detector.from_config(
                CATEGORIES, lemmatize, stop_words=COMMON_STOP_WORDS))
            assert isinstance(detector, Detector)
            cold, found = run(detector, texts)
            colds.append(cold)
        cold = statistics.median(colds)
        info = detector.cache_info()
        warm = min(run(detector, texts)[0] for _ in range(5))
        print(f"\n{label}: detector built in {built * 1000:.1f} ms")
        print(f"  cold caches: {cold * 1000:7.1f} ms = {len(texts) / cold:8,.0f} texts/s "
              f"({cold / len(texts) * 1e6:5.0f} µs/text, median of 3; "
              f"{info.misses:,} distinct words)")
        print(f"  warm caches: {warm * 1000:7.1f} ms = {len(texts) / warm:8,.0f} texts/s "
              f"({warm / len(texts) * 1e6:5.0f} µs/text, best of 5)")
        print("  matched: " + ", ".join(f"{k} {v}" for k, v in found.most_common()))

if __name__ == "__main__":
    main()
