"""SLA in working hours, end to end: reminders, escalation, urgent pings, interim answers,
the first response and the digest, with a fixed clock and the sweep run by hand."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from tests.harness import (
    BLOCK_OWNER,
    COORDINATOR,
    CURATOR,
    PETROV,
    Harness,
    incident_number,
)

NSK = 7  # Asia/Novokuznetsk is UTC+7


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h - NSK, mi, tzinfo=UTC) if h >= NSK else datetime(
        y, mo, d - 1, h + 24 - NSK, mi, tzinfo=UTC)


async def sweep_at(otklik: Harness, when: datetime) -> int:
    otklik.clock.now = when
    assert otklik.app is not None
    sent = await otklik.app.usecases.sweep.sweep()
    await otklik.step()
    return sent


async def register(otklik: Harness, text: str = "Яма на Ленина") -> int:
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    return incident_number(otklik.last_text(COORDINATOR))


def count(otklik: Harness, user, needle: str) -> int:
    return sum(needle in t for t in otklik.texts(user))


async def test_friday_16_00_reminders_deadline_and_escalation(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 20, 16)  # Friday
    n = await register(otklik)
    incident = await otklik.incident(n)
    assert incident.answer_due == local(2026, 11, 23, 15)  # Monday 15:00
    # The first response is due at 17:00, the end of Friday's working day: the coordinator
    # is chased when work starts again, and nothing comes over the weekend.
    assert await sweep_at(otklik, local(2026, 11, 20, 17)) == 0
    assert await sweep_at(otklik, local(2026, 11, 21, 12)) == 0
    await sweep_at(otklik, local(2026, 11, 23, 8))
    assert count(otklik, COORDINATOR, "Истекает срок первичного ответа") == 1
    await sweep_at(otklik, local(2026, 11, 23, 11))  # 50% of 8 working hours
    assert count(otklik, PETROV, "Напоминание: ответ по инциденту") == 1
    await sweep_at(otklik, local(2026, 11, 23, 14))  # 1 working hour before
    assert count(otklik, PETROV, "Напоминание: ответ по инциденту") == 2
    await sweep_at(otklik, local(2026, 11, 23, 15))
    assert count(otklik, PETROV, "Срок ответа по инциденту") == 1
    assert count(otklik, COORDINATOR, "Просрочен инцидент") == 1
    assert count(otklik, BLOCK_OWNER, "Эскалация") == 0
    # Escalation two working hours later is 17:00, the end of the working day: it waits for
    # Tuesday 08:00, two working hours late.
    await sweep_at(otklik, local(2026, 11, 23, 17))
    assert count(otklik, BLOCK_OWNER, "Эскалация") == 0
    await sweep_at(otklik, local(2026, 11, 24, 8))
    escalation = [t for t in otklik.texts(BLOCK_OWNER) if "Эскалация" in t]
    assert len(escalation) == 1 and "на 2 ч" in escalation[0] and "Петров" in escalation[0]
    assert count(otklik, CURATOR, "Эскалация") == 1
    # The pings carry buttons that act on them.
    assert otklik.button(BLOCK_OWNER, "remind", n) and otklik.button(PETROV, "take", n)
    kinds = [e.action for e in await otklik.audit() if e.action.startswith("sla_")]
    assert kinds == ["sla_first_response", "sla_reminder", "sla_reminder", "sla_deadline",
                     "sla_overdue", "sla_escalation"]


async def test_night_reminder_waits_for_working_hours(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 23, 16)  # Monday 16:00, due Tuesday 16:00
    n = await register(otklik)
    await sweep_at(otklik, local(2026, 11, 23, 20))
    assert count(otklik, PETROV, "Напоминание") == 0
    assert count(otklik, COORDINATOR, "Истекает срок первичного ответа") == 0
    await sweep_at(otklik, local(2026, 11, 24, 8))
    # The first-response chase (due at 17:00) waited for the morning too.
    assert count(otklik, COORDINATOR, "Истекает срок первичного ответа") == 1
    # 50% of the 8 working hours falls on Tuesday 12:00, not yet.
    assert count(otklik, PETROV, "Напоминание") == 0
    await sweep_at(otklik, local(2026, 11, 24, 12))
    assert count(otklik, PETROV, f"инциденту №{n}") >= 1


async def test_urgent_incident_on_sunday_night_pings_at_once(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 22, 23)  # Sunday 23:00
    n = await register(otklik, "Прорыв трубы, затопило улицу")
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "urgent", n)
    await otklik.say(COORDINATOR, "завтра 06:00")
    incident = await otklik.incident(n)
    assert incident.priority == "urgent" and incident.answer_due == local(2026, 11, 23, 6)
    assert "срочный" in otklik.last_text(PETROV)
    # Half of the 7 hours has passed at 02:30 on Monday night: the reminder goes at once.
    await sweep_at(otklik, local(2026, 11, 23, 2, 30))
    assert count(otklik, PETROV, "Напоминание") == 1
    assert any(e.action == "set_priority" and e.reason == "urgent" for e in await otklik.audit())


async def test_bad_urgent_deadline_is_asked_again(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "urgent", n)
    await otklik.say(COORDINATOR, "когда-нибудь")
    assert "Срок не распознан" in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "сегодня 18:00")
    assert (await otklik.incident(n)).priority == "urgent"


async def test_restart_between_reminder_and_escalation_sends_each_once(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 20, 16)
    await register(otklik)
    await sweep_at(otklik, local(2026, 11, 23, 11))
    await otklik.restart()
    await sweep_at(otklik, local(2026, 11, 23, 11))  # the same sweep again after the restart
    await otklik.restart()
    await sweep_at(otklik, local(2026, 11, 24, 9))  # long after: everything left at once
    await otklik.restart()
    await sweep_at(otklik, local(2026, 11, 24, 10))
    assert count(otklik, COORDINATOR, "Просрочен инцидент") == 1
    assert count(otklik, BLOCK_OWNER, "Эскалация") == 1
    assert count(otklik, CURATOR, "Эскалация") == 1
    # The 14:00 reminder and the 15:00 deadline ping fell due together: one message.
    assert count(otklik, PETROV, "Напоминание") + count(otklik, PETROV, "наступил") == 2


async def test_interim_answer_then_chase_then_final(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 23, 9)
    n = await register(otklik, "Нужен ремонт дороги на Садовой")
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Ремонт включён в план, выполним до конца недели.")
    await otklik.press(PETROV, "interim", n)
    await otklik.press(PETROV, "promise", n, label="Через 3 дня")
    assert "обещан к <b>26.11.2026</b>" in otklik.last_text(PETROV)
    await otklik.press(PETROV, "submit", n)
    assert "промежуточного" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    incident = await otklik.incident(n)
    assert incident.state == "waiting" and incident.promised_at == local(2026, 11, 26, 8)
    await sweep_at(otklik, local(2026, 11, 25, 16))
    assert (await otklik.incident(n)).state == "waiting"
    await sweep_at(otklik, local(2026, 11, 26, 8))
    incident = await otklik.incident(n)
    assert incident.state == "in_progress"
    assert "окончательный ответ" in otklik.last_text(PETROV)
    # The ladder runs again from the promised date: 8 working hours, due 16:00.
    assert incident.answer_due == local(2026, 11, 26, 16)
    await otklik.press(PETROV, "answer", n)
    await otklik.say(PETROV, "Дорогу отремонтировали.", )
    await otklik.say(PETROV, photo=b"new asphalt")
    await otklik.press(PETROV, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    assert (await otklik.incident(n)).state == "awaiting_feedback"
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        cur = await uow.conn.execute(
            "SELECT kind FROM answers WHERE incident_id = ? ORDER BY id", (n,))
        assert [r[0] for r in await cur.fetchall()] == ["interim", "final"]


async def test_first_response_in_one_tap_stops_its_clock(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 23, 9)
    n = await register(otklik)
    await otklik.press(COORDINATOR, "first_response", n)
    package = otklik.last_text(COORDINATOR)
    assert "принято в работу, ответ будет дан до 23.11.2026 17:00" in package
    await otklik.press(COORDINATOR, "fr_published", n)
    assert (await otklik.incident(n)).first_response_at == local(2026, 11, 23, 9)
    await sweep_at(otklik, local(2026, 11, 23, 10))
    assert count(otklik, COORDINATOR, "Истекает срок первичного ответа") == 0
    await otklik.press(COORDINATOR, "fr_published", n)
    assert "уже сделано" in otklik.alerts(COORDINATOR)[-1]


async def test_extend_deadline_with_reason_is_audited(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 23, 9)
    n = await register(otklik)
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "extend", n)
    await otklik.say(COORDINATOR, "27.11 12:00\nНужно согласование с подрядчиком")
    incident = await otklik.incident(n)
    assert incident.answer_due == local(2026, 11, 27, 12)
    assert "продлён до <b>27.11.2026 12:00</b>" in otklik.last_text(PETROV)
    (row,) = [e for e in await otklik.audit() if e.action == "extend"]
    assert row.reason == "Нужно согласование с подрядчиком"


async def test_daily_digest_once_at_the_start_of_the_working_day(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 20, 16)
    await register(otklik, "Яма 1")
    await sweep_at(otklik, local(2026, 11, 21, 9))  # Saturday: no digest
    assert count(otklik, COORDINATOR, "Сводка") == 0
    await sweep_at(otklik, local(2026, 11, 23, 8))
    await sweep_at(otklik, local(2026, 11, 23, 9))
    digests = [t for t in otklik.texts(COORDINATOR) if "Сводка" in t]
    assert len(digests) == 1
    assert "Срок сегодня: <b>1</b>" in digests[0] and "Дорожное хозяйство: 1" in digests[0]


async def test_running_app_sweeps_on_its_scheduler(otklik: Harness) -> None:
    """The real run loop: long polling, the outbox task and APScheduler's sweep together."""
    otklik.clock.now = local(2026, 11, 20, 16)
    await register(otklik)
    otklik.clock.now = local(2026, 11, 23, 11)  # a reminder is due
    assert otklik.app is not None
    task = asyncio.create_task(otklik.app.run(sweep_every=0.05))
    try:
        for _ in range(200):
            if count(otklik, PETROV, "Напоминание") == 1:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert count(otklik, PETROV, "Напоминание") == 1


async def test_quiet_feedback_window_closes_the_incident(otklik: Harness) -> None:
    otklik.clock.now = local(2026, 11, 23, 9)
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Яму засыпали")
    await otklik.press(PETROV, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    incident = await otklik.incident(n)
    assert incident.feedback_until == local(2026, 11, 25, 9)  # the default 2 days
    await sweep_at(otklik, local(2026, 11, 25, 8, 59))
    assert (await otklik.incident(n)).state == "awaiting_feedback"
    await sweep_at(otklik, local(2026, 11, 25, 9))
    assert (await otklik.incident(n)).state == "closed"
    assert "закрыт." in otklik.last_text(PETROV)
    (row,) = [e for e in await otklik.audit() if e.action == "close"]
    assert row.actor_id is None
