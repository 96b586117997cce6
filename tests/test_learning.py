"""Detection that works out of the box and learns from the coordinator (issue 11): the bundled
dictionary, possible complaints in the chat, the learned model, ``otklik detection-eval``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.config import load_config
from bot.learning import Learner, add_label, build_triage
from bot.morphology import make_lemmatizer
from bot.storage import open_storage
from fakes.telegram import FakeUser
from tests.harness import COORDINATOR, PETROV, Harness, cli, load, write_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = load_config(ROOT / "config.example.toml")
LEMMATIZE = make_lemmatizer()
TRIAGE = build_triage(EXAMPLE, LEMMATIZE)
GROUP = -1001234567890
RESIDENT = FakeUser(7007, "Галина", "Жительница")


# --- the bundled dictionary ----------------------------------------------------------------

def test_every_category_of_the_example_has_keywords_from_the_dictionary() -> None:
    rules = {rule.category: rule for rule in TRIAGE.detector.rules}
    assert set(rules) == set(EXAMPLE.categories)
    assert all(rule.keywords for rule in rules.values())
    for key in ("communications", "agriculture", "property", "culture", "sport",
                "civil_defense", "animals", "trade", "construction"):
        assert key in rules


def test_the_dictionary_catches_inflected_forms_and_phrases() -> None:
    cases = {
        "Во дворе огромными ямами изрыт весь асфальт": "roads",
        "Третий день нет горячей воды в квартирах, батареи холодные": "housing",
        "Стая бездомных собак бросается на детей": "animals",
        "Мусорные контейнеры переполнены, вывоз мусора не производится": "waste",
        "Автобус по маршруту 12 не ходит по расписанию": "transport",
        "Не могу записаться к врачу в поликлинике": "health",
        "Отключение электроэнергии каждый вечер, перепады напряжения": "energy",
        "Не горят фонари на детской площадке": "improvement",
    }
    for text, key in cases.items():
        found = TRIAGE.detector.match(text)
        assert found is not None and found.category == key, (text, found)


def test_stop_words_veto_even_the_bundled_keywords() -> None:
    assert TRIAGE.detector.match("Продам гараж, рядом с дорогой, асфальт до ворот") is None
    assert TRIAGE.detector.match("Реклама: ремонт батарей и отопления недорого") is None


def test_the_deployment_dictionary_replaces_a_block(tmp_path: Path) -> None:
    (tmp_path / "dict.toml").write_text('[roads]\nkeywords = ["шлагбаум"]\n', encoding="utf-8")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8").replace(
        "[detection]\n", '[detection]\ndictionary = "dict.toml"\n', 1)
    (tmp_path / "otklik.toml").write_text(text, encoding="utf-8")
    triage = build_triage(load_config(tmp_path / "otklik.toml"), LEMMATIZE)
    assert triage.detector.match("Сломан шлагбаумом въезд, не проехать").category == "roads"
    assert triage.detector.match("Огромная яма на дороге у школы") is None


def test_what_reads_like_a_complaint() -> None:
    assert TRIAGE.classify("Когда администрация наведёт порядок у дома 5 на ул. Мирной? "
                           "Просим принять меры").complaint
    assert TRIAGE.classify("Уже месяц никто не отвечает, безобразие, помогите!").complaint
    assert not TRIAGE.classify("Спасибо администрации за праздник, всё было отлично").complaint
    assert not TRIAGE.classify("Всем доброе утро, хорошего дня, соседи").complaint


# --- the learned model ---------------------------------------------------------------------

async def test_a_correction_changes_the_next_prediction_after_retraining(
        tmp_path: Path) -> None:
    store = await open_storage(tmp_path / "db.sqlite3")
    try:
        triage = build_triage(EXAMPLE, LEMMATIZE)
        learner = Learner(store, triage)
        from datetime import UTC, datetime
        now = datetime(2026, 11, 23, tzinfo=UTC)
        async with store.write() as uow:
            for i in range(8):
                await add_label(uow, f"Сломан шлагбаум у въезда номер {i}", "roads", at=now)
                await add_label(uow, f"В подъезде {i} не убирают, грязно", "housing", at=now)
        assert await learner.retrain()
        text = "Опять сломан шлагбаум, проехать нельзя"
        assert triage.classify(text).category == "roads"
        assert triage.classify(text).by == "model"
        assert not await learner.retrain()  # nothing new: no training
        async with store.write() as uow:  # the coordinator corrects: barriers belong to ЖКХ
            for i in range(20):
                await add_label(uow, f"Сломан шлагбаум у въезда во двор {i}", "housing", at=now)
        assert triage.classify(text).category == "roads"  # not before retraining
        assert await learner.retrain()
        verdict = triage.classify(text)
        assert verdict.category == "housing" and verdict.suggestions[0] == "housing"
    finally:
        await store.close()


# --- «Возможный инцидент» in the chat ------------------------------------------------------

POSSIBLE = ("Когда администрация наведёт порядок у дома 5 на ул. Мирной? Шлагбаум сломан, "
            "просим принять меры")


async def labels(otklik: Harness, sql: str) -> list[tuple[object, ...]]:
    assert otklik.app is not None
    async with otklik.app.store.read() as uow, uow.conn.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def complain(otklik: Harness, text: str) -> None:
    otklik.server.message(RESIDENT, text, chat_id=GROUP)
    await otklik.step()


async def test_a_possible_complaint_reaches_the_coordinator_and_is_registered(
        otklik: Harness) -> None:
    await complain(otklik, POSSIBLE)
    assert await otklik.incident(1) is None
    card = otklik.last_text(COORDINATOR)
    assert "Возможный инцидент" in card and "Шлагбаум сломан" in card
    otklik.button(COORDINATOR, "pc", label="Не инцидент")
    await otklik.press(COORDINATOR, "pc", label="ЖКХ")
    incident = await otklik.incident(1)
    assert incident is not None and incident.category == "housing"
    assert incident.text == POSSIBLE
    assert otklik.app is not None
    assert await labels(otklik, "SELECT text, category FROM detection_labels") == [
        (POSSIBLE, "housing")]
    # A second press on the same card changes nothing.
    await otklik.press(COORDINATOR, "pc", label="Дороги")
    assert await otklik.incident(2) is None
    assert "уже разобрано" in otklik.alerts(COORDINATOR)[-1]


async def test_not_a_complaint_is_learned_and_chatter_is_dropped(otklik: Harness) -> None:
    await complain(otklik, "Всем доброе утро, хорошего дня, соседи!")
    assert "Возможный инцидент" not in otklik.last_text(COORDINATOR)
    await complain(otklik, POSSIBLE)
    await otklik.press(COORDINATOR, "pc", label="Не инцидент")
    assert await otklik.incident(1) is None
    assert otklik.app is not None
    assert await labels(otklik, "SELECT category, status FROM detection_labels, "
                                   "possible_complaints") == [("-", "dismissed")]


async def test_many_possible_complaints_come_as_a_digest(otklik: Harness, server, tmp_path,
                                                         clock) -> None:
    await otklik.close()
    h = Harness(server, load(write_config(tmp_path, server,
                                          "\n[detection]\npossible_per_hour = 1\n")), clock)
    await h.start()
    try:
        for street in ("Мирной", "Лесной", "Садовой"):
            h.server.message(RESIDENT, POSSIBLE.replace("Мирной", street), chat_id=GROUP)
        await h.step()
        cards = [t for t in h.texts(COORDINATOR) if "Возможный инцидент" in t]
        assert len(cards) == 1  # the others wait for the digest
        assert h.app is not None
        await h.app.detection_tick()
        await h.step()
        assert any("Возможные инциденты: 2" in t for t in h.texts(COORDINATOR))
        await h.press(COORDINATOR, "pc_show", 3)
        assert "Садовой" in h.last_text(COORDINATOR)
        await h.press(COORDINATOR, "pc", 3, label="Дороги")
        assert (await h.incident(1)).category == "roads"
        await h.app.detection_tick()  # nothing queued any more: no second digest
        await h.step()
        assert sum("Возможные инциденты" in t for t in h.texts(COORDINATOR)) == 1
    finally:
        await h.close()


async def test_the_likely_category_is_the_first_button_of_a_forwarded_post(
        otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Жители пишут: отопление не включили, батареи ледяные")
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    call, _ = otklik.button(COORDINATOR, "cat")
    categories = [b["text"] for row in call.buttons for b in row
                  if b["callback_data"].split(":")[1] == "cat"]
    assert categories[0] == "ЖКХ"  # the likely one first (source buttons may stand above)
    await otklik.press(COORDINATOR, "cat", label="ЖКХ")
    assert otklik.app is not None
    assert await labels(otklik, "SELECT category, origin FROM detection_labels") == [
        ("housing", "coordinator")]


LEAK = "Прорвало трубу во дворе, яма с водой у подъезда дома {n}"
NEIGHBOUR = FakeUser(7008, "Ольга", "Соседка")


async def test_the_coordinator_corrects_the_category_of_a_found_incident(
        otklik: Harness) -> None:
    """A found incident's category is the detection's guess: «Категория» on the card corrects
    it (and the department, and the executor when theirs differs); the correction is a
    labelled example, and after retraining the next such text gets the corrected category."""
    assert otklik.app is not None
    from datetime import UTC, datetime
    async with otklik.app.store.write() as uow:  # the district's earlier decisions
        for i in range(6):
            await add_label(uow, f"Разбит асфальт на дороге по улице {i}", "roads",
                            at=datetime(2026, 11, 1, tzinfo=UTC))
            await add_label(uow, f"Батареи холодные, отопления нет в доме {i}", "housing",
                            at=datetime(2026, 11, 1, tzinfo=UTC))
    await otklik.app.detection_tick()
    triage = otklik.app.usecases.intake.triage
    assert triage is not None
    assert triage.classify(LEAK.format(n=9)).category == "roads"  # «яма»: a road, it seems
    for n, resident in ((1, RESIDENT), (2, NEIGHBOUR)):
        otklik.server.message(resident, LEAK.format(n=n), chat_id=GROUP)
        await otklik.step()
        incident = await otklik.incident(n)
        assert incident.category == "roads" and incident.source == "telegram_group"
        assert "Петров" in otklik.last_text(COORDINATOR)  # routed to the roads' executor
        otklik.button(COORDINATOR, "recat", n)  # on the card of the registration
        await otklik.press(COORDINATOR, "recat", n)
        assert "Верная категория инцидента" in otklik.last_text(COORDINATOR)
        await otklik.press(COORDINATOR, "set_cat", n, label="ЖКХ")
        incident = await otklik.incident(n)
        assert (incident.category, incident.department) == ("housing", "housing")
        assert "Исполнитель: Сидорова Мария" in otklik.last_text(COORDINATOR)
        assert "Сидорова Мария" in otklik.last_text(PETROV)  # taken away from him
    entries = [e for e in await otklik.audit() if e.action == "category"]
    assert [(e.incident_id, e.reason, e.ok) for e in entries] == [
        (1, "housing", True), (2, "housing", True)]
    assert await labels(otklik, "SELECT text, category FROM detection_labels"
                                " WHERE person_id IS NOT NULL") == [
        (LEAK.format(n=1), "housing"), (LEAK.format(n=2), "housing")]
    # Only the other categories are offered.
    await otklik.press(COORDINATOR, "recat", 1)
    call, _ = otklik.button(COORDINATOR, "set_cat", 1)
    assert [b["text"] for row in call.buttons for b in row] == ["Дороги"]
    assert triage.classify(LEAK.format(n=9)).category == "roads"  # not before retraining
    await otklik.app.detection_tick()
    verdict = triage.classify(LEAK.format(n=9))
    assert verdict.category == "housing" and verdict.by == "model"


# --- otklik detection-eval and learn ---------------------------------------------------------

SAMPLE = """text,category
"Во дворе огромные ямы, асфальт разбит",roads
"Нет горячей воды третий день","ЖКХ: отопление, водоснабжение, управляющие компании"
"Стая бездомных собак у школы",animals
"Автобус не ходит по расписанию",transport
"Свет отключают каждый вечер",housing|energy
"Поздравляем всех с праздником весны",-
"""


def otklik_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=ROOT)


def test_detection_eval_prints_the_figures_for_a_small_csv(tmp_path: Path) -> None:
    data = tmp_path / "sample.csv"
    data.write_text(SAMPLE, encoding="utf-8")
    done = otklik_cli("detection-eval", "--config", "config.example.toml", "--data", str(data))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "recall=0.83 accuracy=1.00 n=6", done.stdout
    assert any(line.startswith("roads ") for line in lines)
    assert "top confusions" in done.stdout
    learned = otklik_cli("detection-eval", "--config", "config.example.toml", "--data",
                         str(data), "--learn", "--retrain-every", "2")
    assert learned.returncode == 0, learned.stderr
    assert learned.stdout.strip().splitlines()[-1].endswith("n=6")


def test_detection_eval_names_a_bad_column_or_category(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("text;kind\nЯма на дороге у дома;дороги\n", encoding="utf-8")
    done = otklik_cli("detection-eval", "--config", "config.example.toml", "--data", str(data))
    assert done.returncode == 2 and "no column 'category'" in done.stderr
    done = otklik_cli("detection-eval", "--config", "config.example.toml", "--data", str(data),
                      "--category-column", "kind")
    assert done.returncode == 2 and "'дороги' ×1" in done.stderr


def test_learn_keeps_the_rows_as_labels(tmp_path: Path) -> None:
    config = tmp_path / "otklik.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8").replace(
        'database = "otklik-data/otklik.sqlite3"', 'database = "db.sqlite3"'), encoding="utf-8")
    data = tmp_path / "history.csv"
    header, body = SAMPLE.split("\n", 1)
    data.write_text(header + "\n" + body * 3, encoding="utf-8")
    done = otklik_cli("learn", "--config", str(config), "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert "18 labelled examples added" in done.stdout
    import sqlite3
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM detection_labels WHERE origin = 'import'"
                          ).fetchone() == (18,)




def test_the_fast_prediction_is_scikit_learns_arithmetic() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier

    from bot.learning import train

    texts = [TRIAGE.features(t) for t in (
        "Яма на дороге у дома", "Асфальт разбит, ямы везде", "Нет горячей воды",
        "Батареи холодные, отопления нет", "Собаки бросаются на детей", "Стая собак у школы",
        "Автобус не пришёл", "Маршрутка переполнена", "Дорогу не чистят от снега",
        "Отопление не включили", "Бездомные собаки во дворе", "Автобусы ходят редко")]
    labels = ["roads", "roads", "housing", "housing", "animals", "animals", "transport",
              "transport", "roads", "housing", "animals", "transport"]
    model = train(texts, labels)
    assert model is not None
    vectorizer = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, max_df=0.9,
                                 sublinear_tf=True)
    classifier = SGDClassifier(loss="modified_huber", alpha=1e-4, max_iter=30, tol=None,
                               random_state=0).fit(vectorizer.fit_transform(texts), labels)
    for text in ("Огромная яма и собаки", "Где автобус номер пять?", "совсем незнакомые слова"):
        features = TRIAGE.features(text)
        expected = classifier.predict_proba(vectorizer.transform([features]))[0]
        got = dict(model.predict(features))
        for label, p in zip(classifier.classes_, expected, strict=True):
            assert abs(got.get(label, 0.0) - p) < 1e-4, (text, label)
    binary = train(texts[:4] * 3, ["roads", "roads", "housing", "housing"] * 3)
    assert binary is not None
    assert binary.predict(TRIAGE.features("Яма на дороге"))[0][0] == "roads"


def test_many_examples_are_fitted_a_part_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above FIT_ROWS examples only the counts are all in memory: the classifier learns from
    their TF-IDF rows a part at a time, and still tells the categories apart."""
    from sklearn.linear_model import SGDClassifier

    import bot.learning
    from bot.learning import train

    parts: list[int] = []
    partial_fit = SGDClassifier.partial_fit

    def spy(self: SGDClassifier, x: object, y: object, **kwargs: object) -> object:
        parts.append(x.shape[0])  # type: ignore[attr-defined]
        return partial_fit(self, x, y, **kwargs)

    monkeypatch.setattr(SGDClassifier, "partial_fit", spy)
    monkeypatch.setattr(bot.learning, "FIT_ROWS", 5)
    texts = [TRIAGE.features(t) for t in (
        "Яма на дороге у дома", "Асфальт разбит, ямы везде", "Нет горячей воды",
        "Батареи холодные, отопления нет", "Собаки бросаются на детей", "Стая собак у школы",
        "Дорогу не чистят от снега", "Отопление не включили", "Бездомные собаки во дворе")]
    labels = ["roads", "roads", "housing", "housing", "animals", "animals", "roads",
              "housing", "animals"]
    model = train(texts * 2, labels * 2)
    assert model is not None
    assert parts and max(parts) == 5 and sum(parts) == bot.learning.EPOCHS * 18
    for text, label in (("Огромная яма на дороге", "roads"), ("Собаки во дворе", "animals"),
                        ("Нет отопления, батареи холодные", "housing")):
        assert model.predict(TRIAGE.features(text))[0][0] == label, text


def test_a_broken_deployment_dictionary_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "dict.toml").write_text('[roads]\nkeywords = "яма"\n', encoding="utf-8")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8").replace(
        "[detection]\n", '[detection]\ndictionary = "dict.toml"\n', 1)
    (tmp_path / "otklik.toml").write_text(text, encoding="utf-8")
    done = otklik_cli("check-config", "--config", str(tmp_path / "otklik.toml"))
    assert done.returncode == 2
    assert "dict.toml: roads.keywords: expected a list of strings" in done.stderr
    (tmp_path / "dict.toml").unlink()
    done = otklik_cli("check-config", "--config", str(tmp_path / "otklik.toml"))
    assert done.returncode == 2 and "cannot read the dictionary" in done.stderr
