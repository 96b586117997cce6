"""The weekly note, its chart, workbook and CSV, built from a real SQLite store.

The hand-checked week of ``tests/test_metrics.py`` goes into the database through the store's
own helpers; the expected figures are the ones worked out there by hand. A second, generated
week (``realistic_week``) checks that a busy week draws and fits a Telegram message.
"""

from __future__ import annotations

import csv
import random
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image

from bot.config import Config, load_config
from bot.reports import INCIDENT_COLUMNS, build_report, period_from_args, previous_period
from bot.storage import Storage, open_storage
from tests import test_metrics as hand
from workflows.metrics import Answer
from workflows.model import AuditEntry, DraftKind, Incident, Priority, Sighting, State
from workflows.sla import compute_deadlines

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config.example.toml"
TZ = ZoneInfo("Asia/Novokuznetsk")
S = State


@pytest.fixture
def config() -> Config:
    return load_config(CONFIG_PATH)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await open_storage(tmp_path / "x.sqlite3")
    try:
        yield s
    finally:
        await s.close()


async def fill(store: Storage, people: dict[int, str], incidents: Iterable[Incident],
               audit: Iterable[AuditEntry], answers: Iterable[Answer]) -> None:
    async with store.write() as uow:
        for pid, name in people.items():
            await uow.conn.execute(
                "INSERT INTO people (id, name, roles, departments) VALUES (?, ?, ?, ?)",
                (pid, name, "executor" if pid > 10 else "coordinator", ""))
        for i in incidents:
            seen = Sighting(i.source, f"post-{i.id}", i.text, i.category, author=i.author)
            await uow.incidents.add(i, i.registered_at, seen)
        for e in audit:
            await uow.audit.add(e)
        for ans in answers:
            await uow.answers.add(ans.incident_id, ans.kind, "Ответ жителю", (), ans.published_at,
                                ans.published_by)


def cells(ws: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in ws.iter_rows(values_only=True)]  # type: ignore[attr-defined]


def find(rows: list[tuple[object, ...]], label: str) -> tuple[object, ...]:
    (found,) = [r for r in rows if r and r[0] == label]
    return found


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute)  # naive local, as in the files


# -- the hand-checked week --------------------------------------------------------------------


async def test_report_of_the_hand_checked_week(config: Config, store: Storage,
                                               tmp_path: Path) -> None:
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    report = await build_report(config, store, hand.START, hand.END, out_dir=tmp_path / "out")

    text = report.text
    assert len(text) <= 4096
    assert "Период: <b>17.11.2025 – 23.11.2025</b>" in text
    assert "Asia/Novokuznetsk, UTC+07:00" in text
    for title in ("Инцидент Менеджмент", "Платформа обратной связи", "Кузбасс-онлайн",
                  "Губернаторские соцсети"):
        assert title in text
    # Policies with their involved incidents: 7 on Инцидент Менеджмент, 1 POS, 1 governor.
    assert "Инцидент Менеджмент (пн–пт 08:00–17:00, кроме праздничных дней, предпраздничные " \
           "дни на час короче): первичный ответ — 1 раб. ч, ответ — 8 раб. ч, фаст-трек — " \
           "4 раб. ч; инцидентов: 7" in text
    assert "Губернаторские соцсети (ежедневно круглосуточно): ответ — до 18:00 (не менее 4 ч " \
           "от поступления)" in text
    assert "к прошлой неделе (10.11.2025 – 16.11.2025)" in text
    # Last week: 1 new (№6), 1 overdue, answers on time 0 of 1, first responses 1 of 1.
    assert "Новые: <b>8</b> (+7), из них повторные: <b>2</b> (+2)" in text
    assert "Повторные жалобы к открытым инцидентам: <b>1</b> (+1)" in text
    assert "Просрочены: <b>3</b> (+2), в т. ч. с прошлых периодов: 1" in text
    assert "Отложены (промежуточный ответ): <b>1</b> (+1)" in text
    assert "закрыты: 1 (+1); переоткрыты: 1 (+1)" in text
    assert "Перенаправлены: 1 (+1); не инциденты: 1 (+1)" in text
    assert "Первичный ответ в срок: <b>67 %</b> — 2 из 3 (−33 п. п.)" in text
    assert "Ответ в срок: <b>50 %</b> — 2 из 4 (+50 п. п.)" in text
    assert "медиана <b>4,8</b>" in text and "90-й перцентиль <b>9,0</b>" in text
    assert "1 на 6 проектов ответа, <b>0,17</b> на проект" in text
    assert "Переоткрыто жителями: <b>33 %</b> — 1 на 3 окончательных ответов" in text
    assert "• Дороги и транспорт: 4 / 2 / 0" in text and "• ЖКХ: 4 / 1 / 1" in text
    assert "ул. Ленина — 3" in text
    # Ratings (worked out in test_metrics): waste 0.9, roads 2/3, housing 0.5.
    assert "1. Региональный оператор ТКО — <b>0,90</b>" in text
    assert "2. МКУ «Дорожное хозяйство» — <b>0,67</b>" in text
    assert "3. Отдел ЖКХ администрации — <b>0,50</b>" in text
    assert "1. Алексеев — <b>0,90</b>" in text and "3. Сидорова — <b>0,50</b>" in text
    assert "0,4 × своевременность + 0,4 × полнота + 0,2 × объём" in text
    assert "<script" not in text and text.count("<b>") == text.count("</b>")

    # The workbook.
    wb = load_workbook(report.xlsx)
    assert wb.sheetnames == ["Сводка", "Рейтинги", "Инциденты"]
    summary = cells(wb["Сводка"])
    assert find(summary, "Период")[1] == "17.11.2025 – 23.11.2025"
    assert find(summary, "Часовой пояс")[1] == "Asia/Novokuznetsk, UTC+07:00"
    assert find(summary, "Новые инциденты")[1:4] == (8, 1, 7)
    assert find(summary, "из них повторные")[1:4] == (2, 0, 2)
    assert find(summary, "Просроченные")[1:4] == (3, 1, 2)
    assert find(summary, "Отложенные (промежуточный ответ)")[1:4] == (1, 0, 1)
    assert find(summary, "Закрытые")[1] == 1
    assert find(summary, "Переоткрытые")[1] == 1
    assert find(summary, "Перенаправленные по компетенции")[1] == 1
    assert find(summary, "Признанные не инцидентом")[1] == 1
    assert find(summary, "Ответ в срок, доля")[1:4] == (0.5, 0.0, 0.5)
    assert find(summary, "Первичный ответ в срок, доля")[1] == pytest.approx(2 / 3)
    assert find(summary, "Время до ответа, медиана, рабочих часов")[1] == pytest.approx(4.75)
    assert find(summary, "Время до ответа, 90-й перцентиль, рабочих часов")[1] == 9.0
    assert find(summary, "Возвратов на доработку на проект ответа")[1] == pytest.approx(1 / 6)
    assert find(summary, "Доля переоткрытых среди окончательных ответов")[1] == \
        pytest.approx(1 / 3)
    assert find(summary, "Инцидент Менеджмент")[3] == 7
    assert find(summary, "Повторные жалобы к открытым инцидентам")[1:4] == (1, 0, 1)
    by_category, top_topic = [r for r in summary if r[0] == "Дороги: ямы, очистка от снега"]
    assert by_category[1:6] == (4, 1, 2, 0, 1)  # new, repeat, overdue, postponed, complaints
    assert top_topic[1] == 4

    ratings = cells(wb["Рейтинги"])
    assert "0,4 × своевременность" in str(ratings[0][0])
    deps_at = ratings.index(find(ratings, "Подразделения"))
    execs_at = ratings.index(find(ratings, "Исполнители"))
    deps = [r[:7] for r in ratings[deps_at + 2:execs_at] if r[0] is not None]
    assert deps == [(1, "Региональный оператор ТКО", 1, 1, 1, 0, 1),
                    (2, "МКУ «Дорожное хозяйство»", 2, 1, 3, 1, 2),
                    (3, "Отдел ЖКХ администрации", 1, 0, 2, 0, 1)]
    assert [r[10] for r in ratings[deps_at + 2:deps_at + 5]] == pytest.approx([0.9, 2 / 3, 0.5])
    execs = [r[1] for r in ratings[execs_at + 2:] if r[0] is not None]
    assert execs == ["Алексеев", "Петров", "Сидорова"]

    sheet = cells(wb["Инциденты"])
    assert sheet[0] == INCIDENT_COLUMNS
    table = {r[0]: dict(zip(INCIDENT_COLUMNS, r, strict=True)) for r in sheet[1:]}
    assert sorted(table) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    r2 = table[2]
    assert r2["Зарегистрирован"] == local(18, 15)
    assert r2["Срок первичного ответа"] == local(18, 16)
    assert r2["Первичный ответ"] == local(19, 15)  # the answer itself, no primary one
    assert r2["Первая публикация"] == local(19, 15)
    assert r2["Срок ответа"] == local(19, 14)
    assert r2["Ответ в срок"] == "нет"
    assert r2["Рабочих часов до ответа"] == 9.0
    assert r2["Состояние"] == "переоткрыт"
    assert r2["Категория"] == "Дороги: ямы, очистка от снега"
    assert r2["Подразделение"] == "МКУ «Дорожное хозяйство»"
    assert r2["Исполнитель"] == "Петров"
    assert r2["Политика SLA"] == "Инцидент Менеджмент"
    assert (r2["Просрочен в периоде"], r2["Повторный"]) == ("да", "да")
    r1 = table[1]
    assert (r1["Первичный ответ"], r1["Первая публикация"]) == (local(17, 9, 30), local(17, 12))
    assert (r1["Ответ в срок"], r1["Рабочих часов до ответа"], r1["Состояние"]) == \
        ("да", 3.0, "закрыт")
    r3 = table[3]
    assert (r3["Рабочих часов до ответа"], r3["Ответ в срок"], r3["Состояние"]) == \
        (6.5, "нет", "согласован, ждёт публикации")
    assert table[4]["Политика SLA"] == "Губернаторские соцсети"
    assert table[4]["Срок первичного ответа"] is None
    assert table[8]["Ответ в срок"] == "срок не наступил"
    assert table[5]["Исполнитель"] is None and table[5]["Состояние"] == "не инцидент"
    assert table[6]["Зарегистрирован"] == local(13, 10) and table[6]["Повторный"] is None
    assert table[6]["Повторных жалоб в периоде"] == 1

    # The CSV: the same rows, for Excel in a Russian locale.
    raw = report.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with report.csv.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert tuple(rows[0]) == INCIDENT_COLUMNS
    assert [r[0] for r in rows[1:]] == [str(n) for n in range(1, 10)]
    assert rows[2] == ["2", "18.11.2025 15:00", "18.11.2025 16:00", "19.11.2025 15:00",
                       "19.11.2025 15:00", "19.11.2025 14:00", "нет", "9,00", "переоткрыт",
                       "Дороги: ямы, очистка от снега", "МКУ «Дорожное хозяйство»", "Петров",
                       "Инцидент Менеджмент", "да", "да", "0", "ВКонтакте", "", "", "",
                       ""]
    assert rows[3][7] == "6,50" and rows[8][6] == "срок не наступил"

    # The chart opens and is a real picture.
    assert report.chart is not None
    with Image.open(report.chart) as image:
        width, height = image.size
        assert width >= 800 and height >= 800
        assert len(image.getcolors(1 << 16) or ()) > 20  # not a blank canvas


async def test_empty_period_gives_a_note_not_an_error(config: Config, store: Storage,
                                                      tmp_path: Path) -> None:
    await fill(store, hand.PEOPLE, hand.INCIDENTS, hand.AUDIT, hand.ANSWERS)
    start, end = datetime(2025, 9, 1, tzinfo=TZ), datetime(2025, 9, 8, tzinfo=TZ)
    report = await build_report(config, store, start, end, out_dir=tmp_path)
    assert report.metrics.is_empty and report.chart is None
    assert "За период инцидентов нет" in report.text
    assert "01.09.2025 – 07.09.2025" in report.text and "Asia/Novokuznetsk" in report.text
    assert "Инцидент Менеджмент" in report.text
    assert "Рейтинг" not in report.text
    wb = load_workbook(report.xlsx)
    assert cells(wb["Инциденты"]) == [INCIDENT_COLUMNS]
    assert find(cells(wb["Сводка"]), "Новые инциденты")[1] == 0
    with report.csv.open(encoding="utf-8-sig", newline="") as f:
        assert list(csv.reader(f, delimiter=";")) == [list(INCIDENT_COLUMNS)]


async def test_empty_database(config: Config, store: Storage, tmp_path: Path) -> None:
    start, end = period_from_args("week", datetime(2025, 11, 26, 12, tzinfo=TZ), TZ)
    report = await build_report(config, store, start, end, out_dir=tmp_path)
    assert "За период инцидентов нет" in report.text and report.chart is None
    assert report.ratings.departments == ()


# -- a busy generated week --------------------------------------------------------------------

EXECUTORS = {
    "roads": [11, 14], "housing": [12], "improvement": [12, 15], "waste": [13],
    "social": [16], "education": [17], "health": [18],
}
REALISTIC_PEOPLE = {1: "Иванова А. С.", 11: "Петров П. И.", 12: "Сидорова М. В.",
                    13: "Алексеев Н. Н.", 14: "Кузьмин Р. О.", 15: "Орлова Е. А.",
                    16: "Белова Т. Г.", 17: "Зайцев В. В.", 18: "Ершова Л. М."}
STREETS = ["ул. Ленина", "ул. Кирова", "пр. Строителей", "ул. Мира", "улица Гагарина",
           "пр. Металлургов", "д. Ивановка", "ул. Садовая"]
TOPICS = {"roads": 6, "housing": 7, "waste": 4, "improvement": 4, "transport": 2,
          "energy": 2, "social": 1, "education": 1, "health": 1, "ecology": 1}


def realistic_week(config: Config, end: datetime, seed: int = 7
                   ) -> tuple[list[Incident], list[AuditEntry], list[Answer]]:
    """Two weeks before ``end`` of plausible work: more on weekdays, older incidents further
    along; every event before ``end`` (the note runs on Monday morning)."""
    rng = random.Random(seed)
    sla = config.settings.sla
    incidents: list[Incident] = []
    audit: list[AuditEntry] = []
    answers: list[Answer] = []
    n = 0
    for back in range(14, 0, -1):
        day = (end - timedelta(days=back)).date()
        weekday = day.weekday() < 5
        for _ in range(rng.randint(8, 14) if weekday else rng.randint(2, 4)):
            n += 1
            hour = rng.randint(7, 18) if weekday else rng.randint(9, 20)
            t0 = datetime(day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=TZ)
            key = rng.choices(list(TOPICS), weights=list(TOPICS.values()))[0]
            category = config.categories[key]
            source = rng.choices(["vk", "pos", "governor", "kuzbass_online"], [14, 3, 2, 1])[0]
            policy = config.policies[sla.sources.get(source, sla.default_policy)]
            priority = Priority.FAST_TRACK if rng.random() < 0.1 else Priority.NORMAL
            deadlines = compute_deadlines(policy, priority, t0)
            executor = rng.choice(EXECUTORS.get(category.department, [11]))
            age = (end - t0) / timedelta(days=1)
            fate = rng.choices(
                ["closed", "feedback", "in_progress", "on_review", "waiting", "redirected",
                 "rejected", "assigned", "reopened"],
                [8 * age, 6, 4 + 10 / age, 2, 2, 1, 1, 2 + 10 / age, 1])[0]
            cal = policy.calendar
            story: list[tuple[str, State | None, State, datetime, int | None, str | None]] = [
                ("register", None, S.NEW, t0, None, None)]
            kept = [DraftKind.FINAL]
            if fate in ("rejected", "redirected"):
                story.append(("reject" if fate == "rejected" else "redirect", S.NEW,
                              S.REJECTED if fate == "rejected" else S.REDIRECTED,
                              t0 + timedelta(minutes=rng.randint(10, 90)), 1, "—"))
            else:
                story.append(("assign", S.NEW, S.ASSIGNED, t0, None, None))
                if policy.first_response is not None:
                    story.append(("first_response", S.ASSIGNED, S.ASSIGNED, cal.add_working(
                        t0, timedelta(minutes=rng.randint(10, 80))), 1, None))
                if fate != "assigned":
                    t = cal.add_working(t0, timedelta(minutes=rng.randint(10, 60)))
                    story.append(("take", S.ASSIGNED, S.IN_PROGRESS, t, executor, None))
                if fate not in ("assigned", "in_progress"):
                    kind = DraftKind.INTERIM if fate == "waiting" else DraftKind.FINAL
                    kept = [kind]
                    t = cal.add_working(t, timedelta(minutes=rng.randint(60, 540)))
                    story.append(("submit", S.IN_PROGRESS, S.ON_REVIEW, t, executor,
                                  kind.value))
                    if rng.random() < 0.25:
                        t += timedelta(minutes=40)
                        story.append(("return", S.ON_REVIEW, S.IN_PROGRESS, t, 1, "нет фото"))
                        t = cal.add_working(t, timedelta(hours=2))
                        story.append(("submit", S.IN_PROGRESS, S.ON_REVIEW, t, executor,
                                      kind.value))
                if fate in ("feedback", "closed", "waiting", "reopened"):
                    t += timedelta(minutes=20)
                    story.append(("approve", S.ON_REVIEW, S.APPROVED, t, 1, None))
                    t += timedelta(minutes=20)
                    story.append(("publish", S.APPROVED, S.WAITING if fate == "waiting"
                                  else S.AWAITING_FEEDBACK, t, 1, None))
                    if fate == "closed":
                        story.append(("close", S.AWAITING_FEEDBACK, S.CLOSED,
                                      t + timedelta(days=2), None, None))
                    if fate == "reopened":
                        story.append(("reopen", S.AWAITING_FEEDBACK, S.REOPENED,
                                      t + timedelta(days=1), 1, "не сделано"))
            story = [s for s in story if s[3] < end]
            for action, frm, to, when, actor, reason in story:
                audit.append(AuditEntry(n, actor, action, frm, to, when, reason))
                if action == "publish":
                    answers.append(Answer(n, kept[0], when, 1))
            street = rng.choice(STREETS)
            incidents.append(Incident(
                id=n, state=story[-1][2], source=source,
                text=f"{category.name.split(':')[0]}: проблема, {street}, д. {rng.randint(1, 80)}",
                category=key, department=category.department,
                executor_id=None if fate in ("rejected", "redirected") else executor,
                priority=priority, registered_at=t0, author=f"resident{rng.randint(1, 300)}",
                first_response_due=deadlines.first_response, answer_due=deadlines.answer,
                clock_start=t0))
    return incidents, audit, answers


async def test_busy_week_draws_and_fits(config: Config, store: Storage, tmp_path: Path) -> None:
    start, end = period_from_args("week", datetime(2025, 11, 24, 8, tzinfo=TZ), TZ)
    incidents, audit, answers = realistic_week(config, end)
    await fill(store, REALISTIC_PEOPLE, incidents, audit, answers)
    report = await build_report(config, store, start, end, out_dir=tmp_path)
    m = report.metrics
    assert m.new == sum(start <= i.registered_at < end for i in incidents)
    assert len(report.text) <= 4096
    wb = load_workbook(report.xlsx)
    assert len(cells(wb["Инциденты"])) == len(m.rows) + 1
    scores = [r.score for r in report.ratings.executors]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 5
    assert report.chart is not None
    with Image.open(report.chart) as image:
        assert image.size[0] >= 800 and image.size[1] >= 800


# -- periods ----------------------------------------------------------------------------------


def test_period_words() -> None:
    wednesday = datetime(2025, 11, 26, 15, tzinfo=TZ)
    week = (datetime(2025, 11, 17, tzinfo=TZ), datetime(2025, 11, 24, tzinfo=TZ))
    assert period_from_args("week", wednesday, TZ) == week
    assert period_from_args("", wednesday, TZ) == week
    assert period_from_args("Неделя", wednesday, TZ) == week
    # 2025-11-23 18:00 UTC is already Monday 01:00 in Novokuznetsk: last week is 17–23.
    from datetime import UTC
    assert period_from_args("week", datetime(2025, 11, 23, 18, tzinfo=UTC), TZ) == week
    assert period_from_args("month", wednesday, TZ) == (
        datetime(2025, 10, 1, tzinfo=TZ), datetime(2025, 11, 1, tzinfo=TZ))
    assert period_from_args("month", datetime(2026, 1, 10, tzinfo=TZ), TZ) == (
        datetime(2025, 12, 1, tzinfo=TZ), datetime(2026, 1, 1, tzinfo=TZ))


def test_period_dates_to_inclusive() -> None:
    now = datetime(2025, 11, 26, 15, tzinfo=TZ)
    expected = (datetime(2025, 11, 1, tzinfo=TZ), datetime(2025, 11, 16, tzinfo=TZ))
    assert period_from_args("01.11.2025 15.11.2025", now, TZ) == expected
    assert period_from_args("2025-11-01   2025-11-15", now, TZ) == expected
    assert period_from_args("2025-11-01 15.11.2025", now, TZ) == expected
    assert period_from_args("26.11.2025 26.11.2025", now, TZ) == (
        datetime(2025, 11, 26, tzinfo=TZ), datetime(2025, 11, 27, tzinfo=TZ))


@pytest.mark.parametrize(("args", "message"), [
    ("yesterday", "Не понимаю период «yesterday»"),
    ("01.11.2025", "Нужны две даты"),
    ("01.11.2025 15.11.2025 30.11.2025", "Не понимаю период"),
    ("1/11/2025 15.11.2025", "Не понимаю дату «1/11/2025»"),
    ("31.11.2025 01.12.2025", "Такой даты нет: «31.11.2025»"),
    ("15.11.2025 01.11.2025", "позже его конца"),
    ("01.12.2025 05.12.2025", "ещё не наступило"),
    ("01.01.2024 01.11.2025", "длиннее 366 дней"),
])
def test_bad_periods_are_explained_in_russian(args: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        period_from_args(args, datetime(2025, 11, 26, 15, tzinfo=TZ), TZ)


def test_previous_period() -> None:
    week = (datetime(2025, 11, 17, tzinfo=TZ), datetime(2025, 11, 24, tzinfo=TZ))
    assert previous_period(*week, TZ) == (datetime(2025, 11, 10, tzinfo=TZ), week[0])
    march = (datetime(2025, 3, 1, tzinfo=TZ), datetime(2025, 4, 1, tzinfo=TZ))
    assert previous_period(*march, TZ) == (datetime(2025, 2, 1, tzinfo=TZ), march[0])
    january = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2026, 2, 1, tzinfo=TZ))
    assert previous_period(*january, TZ)[0] == datetime(2025, 12, 1, tzinfo=TZ)


def test_the_incident_sheet_is_written_as_xlsxwriter_writes_it(tmp_path: Path) -> None:
    """The incident sheet's rows are written straight into its XML: byte for byte what
    XlsxWriter's own writes give, with the values a table can hold and the odd ones."""
    import zipfile

    import xlsxwriter

    from bot.reports import _rows_sheet, _write_cells

    when = datetime(2025, 11, 17, 9, 30, 15, 250000)
    rows = [
        [1, when, None, "", 2.5, "да", "Ленина & Маркса <3>", "  пробелы ", "a\nb"],
        [2, None, when, "нет", 0.1 + 0.2, "_x0041_ экранируется", "ctrl\x01char", "<r>x</r>"],
        [],
        [3, "", None],
        [4, True, 12345678901234567, -7.0, "x" * 20000, "\ufffe", "«кавычки» \"и\" 'так'"],
        [5, when, "после странной строки"],
    ]

    def sheet(path: Path, fast: bool) -> bytes:
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        head = wb.add_format({"bold": True})
        dec = wb.add_format({"num_format": "0.00"})
        at = wb.add_format({"num_format": "dd.mm.yyyy hh:mm"})
        ws = wb.add_worksheet("Инциденты", worksheet_class=_rows_sheet() if fast else None)
        ws.write_row(0, 0, ("№", "Когда"), head)
        ws.set_row(0, 45)
        ws.set_row(3, 30)  # a row with attributes goes through XlsxWriter itself
        ws.set_column(0, 0, 7, wb.add_format({"align": "left"}))
        ws.freeze_panes(1, 1)
        if fast:
            ws.write_rows(1, rows, dec, at)
        else:
            for i, values in enumerate(rows, start=1):
                _write_cells(ws, i, values, dec, at)
        ws.autofilter(0, 0, len(rows), 8)
        wb.close()
        with zipfile.ZipFile(path) as z:
            return z.read("xl/worksheets/sheet1.xml") + z.read("xl/styles.xml")

    theirs = sheet(tmp_path / "theirs.xlsx", fast=False)
    ours = sheet(tmp_path / "ours.xlsx", fast=True)
    assert b"<v>45978.39600983796</v>" in theirs and b"inlineStr" in theirs
    assert ours == theirs
    # Without constant_memory it is XlsxWriter's writes as they are.
    wb = xlsxwriter.Workbook(str(tmp_path / "shared.xlsx"))
    ws = wb.add_worksheet("x", worksheet_class=_rows_sheet())
    ws.write_rows(0, rows, None, None)
    wb.close()
    found = load_workbook(tmp_path / "shared.xlsx").active
    assert found["G1"].value == "Ленина & Маркса <3>"
