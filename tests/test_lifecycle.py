"""The whole life of an incident in Telegram, driven through the real aiogram Bot over HTTP."""

from __future__ import annotations

from tests.harness import (
    COORDINATOR,
    CURATOR,
    PETROV,
    SIDOROVA,
    Harness,
    incident_number,
)
from workflows.regulation import Action


async def register(otklik: Harness, text: str, category: str = "Дороги", **kw: object) -> int:
    await otklik.say(COORDINATOR, text, **kw)
    if "http" not in text:  # a plain text is registered on «Да»; a link goes straight on
        await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "cat", label=category)
    return incident_number(otklik.last_text(COORDINATOR))


def actions(entries: list, n: int) -> list[str]:
    return [e.action for e in entries if e.incident_id == n and e.ok]


async def test_full_lifecycle_with_decline_return_and_edit(otklik: Harness) -> None:
    n = await register(otklik, "Яма на дороге у школы №5 https://vk.com/wall-1_10")
    # Routed by category to the least loaded roads executor: Петров (lowest id).
    assert f"Инцидент №{n}" in otklik.last_text(PETROV)

    await otklik.press(PETROV, "decline", n)
    assert "Почему инцидент" in otklik.last_text(PETROV)
    await otklik.say(PETROV, "Это дорога регионального значения")
    assert "Это дорога регионального значения" in otklik.last_text(COORDINATOR)
    assert (await otklik.incident(n)).state == "new"

    await otklik.press(COORDINATOR, "reassign", n)
    await otklik.press(COORDINATOR, "to", n, label="Сидорова")
    assert f"Инцидент №{n}" in otklik.last_text(SIDOROVA)

    await otklik.press(SIDOROVA, "take", n)
    await otklik.say(SIDOROVA, "Яму засыплем до пятницы.")
    assert "Яму засыплем до пятницы." in otklik.last_text(SIDOROVA)  # the preview
    await otklik.press(SIDOROVA, "submit", n)
    review = otklik.last_text(COORDINATOR)
    assert "Яму засыплем до пятницы." in review and "от Сидоровой Марии" in review

    await otklik.press(COORDINATOR, "return", n)
    await otklik.say(COORDINATOR, "Укажите точную дату & приложите фото <b>до</b>")
    returned = otklik.last_text(SIDOROVA)
    # The reason reaches the executor word for word, escaped for HTML.
    assert "Укажите точную дату &amp; приложите фото &lt;b&gt;до&lt;/b&gt;" in returned

    await otklik.press(SIDOROVA, "answer", n)
    await otklik.say(SIDOROVA, "Яму засыплем 27 ноября.")
    await otklik.press(SIDOROVA, "submit", n)
    await otklik.press(COORDINATOR, "edit_approve", n)
    # The current text comes back ready to copy.
    assert "Яму засыплем 27 ноября." in otklik.last_text(COORDINATOR)
    await otklik.say(COORDINATOR, "Уважаемый житель! Яму засыплем 27 ноября.")
    incident = await otklik.incident(n)
    assert incident.state == "approved"
    assert incident.approved_text == "Уважаемый житель! Яму засыплем 27 ноября."
    assert any("согласован с правками" in t for t in otklik.texts(SIDOROVA))

    package = otklik.last_text(COORDINATOR)
    assert "Уважаемый житель! Яму засыплем 27 ноября." in package
    await otklik.press(COORDINATOR, "published", n)
    assert (await otklik.incident(n)).state == "awaiting_feedback"
    async with otklik.app.store.read() as uow:  # type: ignore[union-attr]
        cur = await uow.conn.execute("SELECT text FROM answers WHERE incident_id = ?", (n,))
        assert [r[0] for r in await cur.fetchall()] == [
            "Уважаемый житель! Яму засыплем 27 ноября."]

    await otklik.say(COORDINATOR, f"/incident {n}")
    detail = otklik.last_text(COORDINATOR)
    assert "История" in detail and "возвращён на доработку" in detail
    await otklik.press(COORDINATOR, "close", n)
    assert (await otklik.incident(n)).state == "closed"

    assert actions(await otklik.audit(), n) == [
        "register", "assign", "decline", "assign", "take", "submit", "return", "submit",
        "edit_approve", "publish", "close"]


async def test_redirect_reaches_curator_and_executor(otklik: Harness) -> None:
    n = await register(otklik, "Не работает светофор на трассе")
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "redirect", n)
    await otklik.say(COORDINATOR, "ГИБДД Новокузнецка\nСветофор на федеральной трассе")
    assert "ГИБДД Новокузнецка" in otklik.last_text(CURATOR)
    assert "ГИБДД Новокузнецка" in otklik.last_text(PETROV)
    # The resident is told where the message went: an answer approved and published like
    # any other; only then is the incident redirected.
    incident = await otklik.incident(n)
    assert incident.state == "on_review" and incident.redirected_to == "ГИБДД Новокузнецка"
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    incident = await otklik.incident(n)
    assert incident.state == "redirected"
    assert incident.redirected_to == "ГИБДД Новокузнецка"


async def test_reject_as_not_an_incident(otklik: Harness) -> None:
    n = await register(otklik, "Купите рекламу у нас!!!")
    await otklik.say(COORDINATOR, f"/incident {n}")
    # Rejected from the card it came back on (new, after the executor declined).
    await otklik.press(PETROV, "decline", n)
    await otklik.say(PETROV, "Это реклама")
    await otklik.press(COORDINATOR, "reject", n)
    await otklik.say(COORDINATOR, "Спам")
    assert (await otklik.incident(n)).state == "rejected"
    assert "Спам" in otklik.last_text(CURATOR)


async def test_reject_from_the_card_of_an_incident_routed_but_not_taken(otklik: Harness) -> None:
    n = await register(otklik, "Купите рекламу у нас!!!")
    assert (await otklik.incident(n)).state == "assigned"  # routed to Петров at once
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "reject", n)  # offered on the detail card too
    await otklik.say(COORDINATOR, "Спам")
    assert (await otklik.incident(n)).state == "rejected"
    assert "Спам" in otklik.last_text(PETROV)
    # Nothing more may be done with it: asked before a choice of executor, the regulation says
    # no (and the refusal is audited).
    assert otklik.app is not None
    usecases = otklik.app.usecases
    coordinator = [p for p in await usecases.queries.people() if p.name == "Иванова Анна"][0]
    result = await usecases.actions.may(coordinator, n, Action.REASSIGN)
    assert (result.ok, result.code) == (False, "wrong_state")
    (row,) = [e for e in await otklik.audit() if e.action == "reassign" and not e.ok]
    assert (row.incident_id, row.reason) == (n, "wrong_state: rejected")


async def test_album_of_three_photos_and_a_pdf_is_one_draft(otklik: Harness) -> None:
    n = await register(otklik, "Не убирают снег во дворе", category="ЖКХ")
    await otklik.press(SIDOROVA, "take", n)
    for i in range(3):
        otklik.server.message(SIDOROVA, photo=f"photo-{i}".encode(), media_group_id="alb1",
                              caption="Снег убран, фото прилагаем." if i == 0 else None)
    otklik.server.message(SIDOROVA, document=("акт.pdf", b"%PDF-1.4 act", "application/pdf"))
    await otklik.step()

    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "Снег убран, фото прилагаем."
    assert [a.kind for a in draft.attachments] == ["photo", "photo", "photo", "document"]
    # Files are kept on disk too.
    assert all(a.local_path for a in draft.attachments)
    # One preview for the album and the document sent with it (not one per file).
    previews = [t for t in otklik.texts(SIDOROVA) if t.startswith("📝 Проект ответа")]
    assert len(previews) == 1 and "фото — 3" in previews[0] and "документы — 1" in previews[0]

    await otklik.press(SIDOROVA, "submit", n)
    sent = otklik.server.sent_to(COORDINATOR.id)
    album = [c for c in sent if c.method == "sendMediaGroup"][-1]
    assert len(album.params["media"]) == 3
    assert [c.method for c in sent[-2:]] == ["sendDocument", "sendMessage"]
    assert sent[-1].buttons, "the draft's buttons follow the album in a message of their own"


async def test_resident_html_is_shown_as_typed(otklik: Harness) -> None:
    n = await register(otklik, 'Во дворе <b>грязь</b> & "лужи" <script>')
    card = otklik.last_text(PETROV)
    assert "&lt;b&gt;грязь&lt;/b&gt; &amp; &#34;лужи&#34; &lt;script&gt;" in card
    assert (await otklik.incident(n)).text == 'Во дворе <b>грязь</b> & "лужи" <script>'


async def test_clear_attachments_and_cancel(otklik: Harness) -> None:
    n = await register(otklik, "Нет света в подъезде", category="ЖКХ")
    await otklik.press(SIDOROVA, "take", n)
    await otklik.say(SIDOROVA, photo=b"one")
    await otklik.say(SIDOROVA, "Лампу заменили")
    await otklik.press(SIDOROVA, "clear_attachments", n)
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.attachments == () and draft.text == "Лампу заменили"
    await otklik.press(SIDOROVA, "cancel", n)
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]
    assert (await otklik.incident(n)).state == "in_progress"


async def test_my_and_open_lists(otklik: Harness) -> None:
    a = await register(otklik, "Яма на Ленина")
    b = await register(otklik, "Нет отопления", category="ЖКХ")
    await otklik.say(PETROV, "/my")
    mine = otklik.last_text(PETROV)
    assert f"№{a}" in mine and f"№{b}" not in mine
    await otklik.say(CURATOR, "/open")
    overview = otklik.last_text(CURATOR)
    assert f"№{a}" in overview and f"№{b}" in overview
    await otklik.say(PETROV, "/open")
    assert "недоступна" in otklik.last_text(PETROV)


async def test_reopen_after_publication_goes_back_to_the_same_executor(otklik: Harness) -> None:
    n = await register(otklik, "Не горит фонарь у дома 3", category="ЖКХ")
    await otklik.press(SIDOROVA, "take", n)
    await otklik.say(SIDOROVA, "Фонарь заменили")
    await otklik.press(SIDOROVA, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)
    await otklik.press(COORDINATOR, "published", n)
    await otklik.say(COORDINATOR, f"/incident {n}")
    await otklik.press(COORDINATOR, "reopen", n)
    await otklik.say(COORDINATOR, "Житель пишет, что фонарь снова не горит")
    incident = await otklik.incident(n)
    assert incident.state == "reopened" and incident.executor_id is not None
    reopened = otklik.last_text(SIDOROVA)
    assert "переоткрыт " in reopened and "снова не горит" in reopened
    await otklik.press(SIDOROVA, "take", n)
    assert (await otklik.incident(n)).state == "in_progress"
    # The previous draft was cleared: a fresh answer starts from nothing.
    assert await otklik.app.usecases.queries.draft(n) is None  # type: ignore[union-attr]
