"""Reports judge lateness at the time they are taken: an answer due at 17:00 today is not
overdue in a report asked for at 09:00, while one due at 08:30 is."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.harness import COORDINATOR, Harness
from workflows.model import Incident, Priority, Sighting, State

TZ = ZoneInfo("Asia/Novokuznetsk")


def today(hour: int, minute: int = 0) -> datetime:
    """Monday 2026-11-23, the harness's day (its clock stands at 09:00)."""
    return datetime(2026, 11, 23, hour, minute, tzinfo=TZ)


async def seed(otklik: Harness, *dues: datetime) -> None:
    assert otklik.app is not None
    async with otklik.app.store.write() as uow:
        for n, due in enumerate(dues, start=1):
            at = today(8, n)
            incident = Incident(
                id=n, state=State.ASSIGNED, source="incident_management", text=f"Жалоба {n}",
                category="roads", department="roads", executor_id=None,
                priority=Priority.NORMAL, registered_at=at.astimezone(UTC),
                answer_due=due.astimezone(UTC))
            await uow.incidents.add(incident, at.astimezone(UTC),
                                     Sighting("incident_management", f"im-{n}", incident.text,
                                              "roads"))


async def test_an_answer_due_later_today_is_not_overdue_at_nine(otklik: Harness) -> None:
    await seed(otklik, today(17), today(8, 30))
    await otklik.say(COORDINATOR, "/report 23.11.2026 23.11.2026")
    await otklik.step()
    note = next(t for t in reversed(otklik.texts(COORDINATOR)) if "Период:" in t)
    assert "Просрочены: <b>1</b>" in note, note
    assert "Ответ в срок: <b>0 %</b> — 0 из 1" in note, note


async def test_the_same_day_after_the_deadline_both_are_overdue(otklik: Harness) -> None:
    await seed(otklik, today(17), today(8, 30))
    otklik.clock.advance(hours=9)  # 18:00
    await otklik.say(COORDINATOR, "/report 23.11.2026 23.11.2026")
    await otklik.step()
    note = next(t for t in reversed(otklik.texts(COORDINATOR)) if "Период:" in t)
    assert "Просрочены: <b>2</b>" in note, note
    assert "Ответ в срок: <b>0 %</b> — 0 из 2" in note, note
