"""Delivery and safety: duplicates, rate limits, 429, unreachable chats, long texts, restarts."""

from __future__ import annotations

import pytest

from bot.outbox import RateLimiter, RateLimits
from handlers.telegram.render import split_html, visible_length
from tests.harness import COORDINATOR, PETROV, SIDOROVA, Harness, incident_number


async def register(otklik: Harness, text: str = "Яма на Ленина", category: str = "Дороги") -> int:
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")  # a plain text: registered on «Да»
    await otklik.press(COORDINATOR, "cat", label=category)
    return incident_number(otklik.last_text(COORDINATOR))


async def test_duplicate_update_changes_nothing(otklik: Harness) -> None:
    n = await register(otklik)
    update = await otklik.press(PETROV, "take", n)
    sent_before = len(otklik.server.calls)
    audit_before = len(await otklik.audit())
    otklik.server.redeliver(update["update_id"])
    await otklik.step()
    assert len(await otklik.audit()) == audit_before
    assert otklik.server.calls[sent_before:] == [
        c for c in otklik.server.calls[sent_before:] if c.method == "getUpdates"]


async def test_duplicate_draft_photo_is_kept_once(otklik: Harness) -> None:
    n = await register(otklik)
    await otklik.press(PETROV, "take", n)
    update = await otklik.say(PETROV, photo=b"pothole")
    otklik.server.redeliver(update["update_id"])
    await otklik.step()
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and len(draft.attachments) == 1


async def test_429_retry_after_is_honoured_nothing_lost_or_doubled(otklik: Harness) -> None:
    otklik.server.fail_next("sendMessage", error_code=429,
                            description="Too Many Requests: retry after 7", retry_after=7,
                            chat_id=PETROV.id)
    otklik.server.message(COORDINATOR, "Яма у дома 5 https://t.me/c/100/5")
    await otklik.app.poll_once()  # type: ignore[union-attr]
    await otklik.app.outbox.send_due()  # type: ignore[union-attr]
    call, data = otklik.button(COORDINATOR, "cat", label="Дороги")
    otklik.server.callback(COORDINATOR, call, data)
    await otklik.app.poll_once()  # type: ignore[union-attr]
    delay = await otklik.app.outbox.send_due()  # type: ignore[union-attr]
    refused = [c for c in otklik.server.calls_to("sendMessage") if not c.ok]
    assert [c.error_code for c in refused] == [429]
    assert otklik.server.sent_to(PETROV.id) == []
    # Petrov's chat waits the 7 seconds; the coordinator's message was not held up.
    assert delay is not None and 6.5 <= delay <= 7.0
    assert "Зарегистрирован инцидент" in otklik.last_text(COORDINATOR)
    otklik.clock.advance(seconds=6)
    await otklik.app.outbox.send_due()  # type: ignore[union-attr]
    assert otklik.server.sent_to(PETROV.id) == []
    otklik.clock.advance(seconds=1)
    await otklik.app.outbox.send_due()  # type: ignore[union-attr]
    cards = [c for c in otklik.server.sent_to(PETROV.id) if "Новый инцидент" in (c.text or "")]
    assert len(cards) == 1
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        menus = len(otklik.server.calls_to("setMyCommands"))  # sent at the start
        assert await uow.outbox.counts() == {"sent": len(otklik.server.calls_to("sendMessage"))
                                            - 1 + menus}


async def test_network_error_and_5xx_are_retried(otklik: Harness) -> None:
    otklik.server.fail_next("sendMessage", error_code=502, description="Bad Gateway",
                            chat_id=COORDINATOR.id, times=2)
    otklik.server.message(COORDINATOR, "/help")
    await otklik.app.poll_once()  # type: ignore[union-attr]
    for _ in range(3):
        await otklik.app.outbox.send_due()  # type: ignore[union-attr]
        otklik.clock.advance(seconds=5)
    helps = [c for c in otklik.server.sent_to(COORDINATOR.id) if "/my" in (c.text or "")]
    assert len(helps) == 1
    assert len([c for c in otklik.server.calls_to("sendMessage") if not c.ok]) == 2


async def test_blocked_executor_is_reported_to_the_coordinator_once(otklik: Harness) -> None:
    otklik.server.block_user(PETROV.id)
    # Three incidents: Петров (his card bounces), then Сидорова twice: an executor whose
    # chat is known to be unreachable is not routed to.
    for text in ("Яма 1", "Яма 2", "Яма 3"):
        await otklik.say(COORDINATOR, text)
        await otklik.press(COORDINATOR, "intake_yes")
        await otklik.press(COORDINATOR, "cat", label="Дороги")
    warnings = [t for t in otklik.texts(COORDINATOR) if "Не удалось доставить" in t]
    assert len(warnings) == 1 and "Петров" in warnings[0]
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        counts = await uow.outbox.counts()
    assert counts.get("failed", 0) == 1 and counts.get("pending", 0) == 0


async def test_long_texts_are_split_never_rejected(otklik: Harness) -> None:
    long_text = ("Очень длинная жалоба & <жалоба> " * 400).strip()
    n = await register(otklik, long_text)
    card_parts = [c for c in otklik.server.sent_to(PETROV.id) if c.method == "sendMessage"]
    assert len(card_parts) >= 3
    assert all(c.ok for c in otklik.server.calls_to("sendMessage"))
    assert card_parts[-1].buttons and not card_parts[0].buttons
    assert f"Инцидент №{n}" in card_parts[0].text


def test_split_html_keeps_tags_balanced_and_within_the_limit() -> None:
    text = "<b>Заголовок</b>\n<blockquote>" + ("слово &amp; " * 1000) + "</blockquote>\nконец"
    parts = split_html(text, 4096)
    assert len(parts) == 2  # about 8,000 visible characters
    assert all(visible_length(p) <= 4096 for p in parts)
    assert parts[0].endswith("</blockquote>") and parts[1].startswith("<blockquote>")
    joined = "".join(p.replace("<blockquote>", "").replace("</blockquote>", "") for p in parts)
    assert joined.count("слово") == 1000


def test_rate_limiter_keeps_telegram_limits() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimits(), monotonic=lambda: now[0])
    limiter.record(1)
    assert limiter.wait_for(1) == pytest.approx(1.0)
    assert limiter.wait_for(2) == 0
    for chat in range(100, 129):
        limiter.record(chat)
    assert limiter.wait_for(500) == pytest.approx(1.0)  # 30 in the last second
    now[0] = 1.0
    assert limiter.wait_for(500) == 0
    for i in range(20):
        now[0] = 2.0 + i * 1.5
        limiter.record(-42)
    assert limiter.wait_for(-42) == pytest.approx(60 - 19 * 1.5)  # 20 a minute per group


@pytest.mark.parametrize("crash_after", range(9))
async def test_restart_between_any_two_steps_loses_nothing(otklik: Harness,
                                                           crash_after: int) -> None:
    steps = [
        lambda: otklik.say(COORDINATOR, "Нет отопления в доме 7"),
        lambda: otklik.press(COORDINATOR, "intake_yes"),
        lambda: otklik.press(COORDINATOR, "cat", label="ЖКХ"),
        lambda: otklik.press(SIDOROVA, "take"),
        lambda: otklik.say(SIDOROVA, "Отопление включили"),
        lambda: otklik.say(SIDOROVA, photo=b"radiator"),
        lambda: otklik.press(SIDOROVA, "submit"),
        lambda: otklik.press(COORDINATOR, "approve"),
        lambda: otklik.press(COORDINATOR, "published"),
    ]
    for i, step in enumerate(steps):
        await step()
        if i == crash_after:
            await otklik.restart()
    incident = await otklik.incident(1)
    assert incident.state == "awaiting_feedback"
    assert incident.approved_text == "Отопление включили"
    draft = await otklik.app.usecases.queries.draft(1)  # type: ignore[union-attr]
    assert draft is not None and len(draft.attachments) == 1
    sent = [c.text or "" for c in otklik.server.calls_to("sendMessage") if c.ok]
    for once in ("Новый инцидент для вас", "Выберите категорию", "На согласование:",
                 "Ответ по инциденту №1 согласован", "Ваш ответ по инциденту №1 опубликован"):
        assert len([t for t in sent if once in t]) == 1, once


async def test_restart_with_undelivered_messages_sends_them_once(otklik: Harness) -> None:
    otklik.server.message(COORDINATOR, "Яма у школы https://t.me/c/100/9")
    await otklik.app.poll_once()  # type: ignore[union-attr]
    await otklik.restart()  # the category prompt was queued, not sent
    await otklik.step()
    prompts = [t for t in otklik.texts(COORDINATOR) if "Выберите категорию" in t]
    assert len(prompts) == 1
