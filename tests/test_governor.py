"""The Governor's networks (002 3.12): the head of the department assigns, the executor records
the call with the resident, the draft goes up the approval chain, and the signed letter is
e-mailed — through the real aiogram Bot and vk_api against the fakes, and a local SMTP server.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from docx import Document

from bot.config import ConfigError, load_config
from bot.letters import DOCX_MIME
from fakes.telegram import FakeTelegramServer, FakeUser
from fakes.vk import GROUP_ID, FakeVkServer
from tests.harness import (
    COORDINATOR,
    PETROV,
    SIDOROVA,
    TOKEN,
    Harness,
    incident_number,
    load,
    make_clock,
    write_config,
)
from tests.smtp import SmtpServer, free_port
from tests.test_vk_chat import CONFIG as VK_CONFIG
from tests.test_vk_chat import VASILIEV, VK_TOKEN, VkHarness
from workflows.approval import DEFAULT, GOVERNOR, step_of
from workflows.commands import Approve, HeadAssign, Return
from workflows.model import AuditEntry, Role

HEAD = FakeUser(5001, "Борис", "Гордеев")
OTHER_HEAD = FakeUser(5002, "Лев", "Носов")
EMAILS = ["otvetk42@example.ru", "priem@example.ru"]

GOVERNOR_CONFIG = """
[[people]]
name = "Гордеев Борис"
roles = ["department_head"]
departments = ["roads"]
telegram_id = 5001

[[people]]
name = "Носов Лев"
roles = ["department_head"]
departments = ["housing"]
telegram_id = 5002

[sla]
default_policy = "governor"

[sla.policies.governor]
title = "Губернаторские соцсети"
days = "every day"
hours = "00:00-24:00"
production_calendar = false
answer = "until 18:00"
approval = ["department_head", "coordinator"]
email_to = {emails}

[email]
host = "127.0.0.1"
port = {port}
tls = "none"
from_address = "mcu@example.ru"
"""


def governor_config(port: int) -> str:
    return GOVERNOR_CONFIG.format(emails=json.dumps(EMAILS), port=port)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as s:
        yield s


@pytest.fixture
async def otklik(server: FakeTelegramServer, tmp_path: Path, smtp: SmtpServer
                 ) -> AsyncIterator[Harness]:
    h = Harness(server, load(write_config(tmp_path, server, governor_config(smtp.port))),
                make_clock())
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def actions(otklik: Harness, n: int) -> list[str]:
    return [e.action for e in await otklik.audit() if e.incident_id == n and e.ok]


async def register(otklik: Harness, text: str) -> int:
    await otklik.say(COORDINATOR, text)
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    return incident_number(otklik.last_text(COORDINATOR))


async def to_review(otklik: Harness, n: int) -> None:
    """Head assigns Сидорова; she takes it, records the call, writes and submits."""
    await otklik.press(HEAD, "head_to", n, label="Сидорова")
    await otklik.press(SIDOROVA, "take", n)
    await otklik.press(SIDOROVA, "contact", n)
    await otklik.say(SIDOROVA, "Позвонила 23.11 в 10:15, разъяснила сроки ремонта.")
    await otklik.say(SIDOROVA, "Яму на ул. Мира засыплем до 25 ноября.")
    await otklik.press(SIDOROVA, "submit", n)


def documents(otklik: Harness, user: FakeUser) -> list[bytes]:
    return [content for c in otklik.server.sent_to(user.id) if c.method == "sendDocument"
            for content in c.files.values()]


def transcript(otklik: Harness, smtp: SmtpServer, users: dict[int, str]) -> str:
    """Every message of the fake Bot API and of the SMTP server, in order."""
    lines = []
    for call in otklik.server.calls:
        if call.method not in {"sendMessage", "sendDocument"} or call.chat_id not in users:
            continue
        body = call.params.get("text") or f"[документ {', '.join(call.files)}]"
        buttons = [b["text"] for row in call.buttons for b in row]
        lines.append(f"→ {users[call.chat_id]}: {body}"
                     + (f"\n   [{' | '.join(buttons)}]" if buttons else ""))
    for msg in smtp.messages:
        names = [p.get_filename() for p in msg.iter_attachments()]
        lines.append(f"✉ SMTP From: {msg['From']} To: {msg['To']}\n   Subject: {msg['Subject']}"
                     f"\n   Attachments: {', '.join(names)}\n"
                     + "\n".join("   " + line for line in
                                 msg.get_body(("plain",)).get_content().splitlines()))
    return "\n".join(lines)


async def test_governor_incident_from_registration_to_the_email(
        otklik: Harness, smtp: SmtpServer) -> None:
    n = await register(otklik, "Глубокая яма на ул. Мира у дома 5, машины бьют колёса")
    # 3.12.3: the head of the department gets it with the department's executors to choose.
    assert "Передан руководителю подразделения" in otklik.last_text(COORDINATOR)
    head_card = otklik.last_text(HEAD)
    assert f"Инцидент №{n}" in head_card and "назначьте исполнителя" in head_card
    call, _ = otklik.button(HEAD, "head_to", n)
    assert [b["text"] for row in call.buttons for b in row] == ["Петров Павел",
                                                               "Сидорова Мария"]
    assert not any(f"№{n}" in t for t in otklik.texts(PETROV))  # nobody routed by load
    assert not any(f"№{n}" in t for t in otklik.texts(OTHER_HEAD))  # another department
    assert (await otklik.incident(n)).state == "new"

    await otklik.press(HEAD, "head_to", n, label="Сидорова")
    assert f"Инцидент №{n}" in otklik.last_text(SIDOROVA)
    assert "назначен: Сидорова Мария" in otklik.last_text(HEAD)

    # 3.12.4: no submission before the contact with the resident is recorded.
    await otklik.press(SIDOROVA, "take", n)
    await otklik.say(SIDOROVA, "Яму на ул. Мира засыплем до 25 ноября.")
    otklik.button(SIDOROVA, "contact", n)  # offered on the preview
    await otklik.press(SIDOROVA, "submit", n)
    assert "Сначала свяжитесь с заявителем" in otklik.alerts(SIDOROVA)[-1]
    assert "нужно связаться с заявителем" in otklik.last_text(SIDOROVA)
    assert (await otklik.incident(n)).state == "in_progress"
    await otklik.press(SIDOROVA, "contact", n)
    assert "Опишите кратко разговор" in otklik.last_text(SIDOROVA)
    await otklik.say(SIDOROVA, "Позвонила 23.11 в 10:15, разъяснила сроки ремонта.")
    assert any(f"Связь с заявителем по инциденту №{n} отмечена" in t
               for t in otklik.texts(SIDOROVA))
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "Яму на ул. Мира засыплем до 25 ноября."
    await otklik.press(SIDOROVA, "submit", n)
    assert (await otklik.incident(n)).state == "on_review"

    # The chain: the head first, with approve / return only; the coordinator is not asked yet.
    review = otklik.last_text(HEAD)
    assert "Яму на ул. Мира засыплем до 25 ноября." in review and "руководителем" in review
    call, _ = otklik.button(HEAD, "approve", n)
    assert [b["text"] for row in call.buttons for b in row] == ["✅ Согласовать",
                                                               "↩️ На доработку"]
    assert not any("На согласование" in t for t in otklik.texts(COORDINATOR))

    # A return at the head's step goes back to the executor with the reason.
    await otklik.press(HEAD, "return", n)
    await otklik.say(HEAD, "Укажите, кто выполняет работы")
    assert "Укажите, кто выполняет работы" in otklik.last_text(SIDOROVA)
    assert "Комментарий руководителя подразделения (Гордеев Борис)" in otklik.last_text(SIDOROVA)
    assert (await otklik.incident(n)).state == "in_progress"
    await otklik.press(SIDOROVA, "answer", n)
    await otklik.press(SIDOROVA, "edit_text", n)
    await otklik.say(SIDOROVA, "Уважаемый житель! Яму на ул. Мира засыплет МКУ «УЖКХ» "
                               "до 25 ноября.")
    await otklik.press(SIDOROVA, "submit", n)  # the call recorded once is enough

    old_card = otklik.button(HEAD, "approve", n)
    await otklik.press(HEAD, "approve", n)
    assert (await otklik.incident(n)).state == "on_review"
    review = otklik.last_text(COORDINATOR)
    assert "Уже согласовано: Гордеев Борис" in review and "МКУ «УЖКХ»" in review
    # The head's card of the step just passed is outdated now.
    otklik.server.callback(HEAD, *old_card)
    await otklik.step()
    assert "Карточка устарела" in otklik.alerts(HEAD)[-1]

    await otklik.press(COORDINATOR, "approve", n)
    incident = await otklik.incident(n)
    assert incident.state == "approved"

    # 3.12.6: the letter as DOCX for the executor, and the request for the signed PDF.
    [docx] = documents(otklik, SIDOROVA)
    paragraphs = [p.text for p in Document(io.BytesIO(docx)).paragraphs]
    assert "Уважаемый житель! Яму на ул. Мира засыплет МКУ «УЖКХ» до 25 ноября." in paragraphs
    assert "Исполнитель: Сидорова Мария, Дорожное хозяйство" in paragraphs
    assert f"Исх. № {n}-2026 от 23.11.2026" in paragraphs
    [upload] = [c for c in otklik.server.sent_to(SIDOROVA.id) if c.method == "sendDocument"]
    assert upload.files and list(upload.files)[0]  # uploaded from disk
    assert "пришлите скан подписанного ответа файлом PDF" in otklik.last_text(SIDOROVA)

    await otklik.press(SIDOROVA, "signed_pdf", n)
    otklik.server.message(SIDOROVA, document=("ответ.docx", b"PK\x03\x04 not signed", DOCX_MIME))
    await otklik.step()
    assert "Нужен подписанный ответ файлом PDF" in otklik.last_text(SIDOROVA)
    assert smtp.messages == []
    otklik.server.message(SIDOROVA, document=("ответ-подписан.pdf", b"%PDF-1.4 signed",
                                              "application/pdf"))
    await otklik.step()

    [msg] = smtp.messages
    assert smtp.recorder.envelopes == [("mcu@example.ru", EMAILS)]
    assert msg["To"] == ", ".join(EMAILS) and str(n) in msg["Subject"]
    files = {p.get_filename(): p for p in msg.iter_attachments()}
    assert set(files) == {"ответ-подписан.pdf", f"Ответ по инциденту {n}.docx"}
    assert files["ответ-подписан.pdf"].get_content() == b"%PDF-1.4 signed"
    assert files[f"Ответ по инциденту {n}.docx"].get_content() == docx
    assert any("отправлен по электронной почте" in t for t in otklik.texts(COORDINATOR))
    assert "отправлен по электронной почте" in otklik.last_text(SIDOROVA)

    assert await actions(otklik, n) == [
        "register", "to_head", "head_assign", "take", "contact", "submit", "return",
        "submit", "approve_step", "approve", "letter_made", "letter_signed", "email_sent"]
    entries = [e for e in await otklik.audit() if e.incident_id == n and e.ok]
    steps = {e.action: e for e in entries}
    assert steps["approve_step"].reason == "department_head"
    assert steps["email_sent"].reason == ", ".join(EMAILS)
    assert steps["contact"].reason == "Позвонила 23.11 в 10:15, разъяснила сроки ремонта."
    await otklik.say(COORDINATOR, f"/incident {n}")
    detail = otklik.last_text(COORDINATOR)
    assert "исполнитель связался с заявителем" in detail
    assert "ответ отправлен по электронной почте" in detail
    assert "ответ согласован на этапе (Гордеев Борис): <i>руководитель подразделения</i>" in detail

    print("\n" + transcript(otklik, smtp, {
        COORDINATOR.id: "Координатор", HEAD.id: "Руководитель (дороги)",
        SIDOROVA.id: "Исполнитель Сидорова", PETROV.id: "Исполнитель Петров"}))


async def test_a_failed_send_is_reported_and_retried_until_it_leaves(
        otklik: Harness, smtp: SmtpServer) -> None:
    n = await register(otklik, "Не убран снег на остановке у рынка")
    await to_review(otklik, n)
    await otklik.press(HEAD, "approve", n)
    await otklik.press(COORDINATOR, "approve", n)
    smtp.recorder.refuse = 2
    # Without the button: the only letter waiting for this executor takes the PDF.
    otklik.server.message(SIDOROVA, document=("скан.pdf", b"%PDF-1.7 scan", "application/pdf"))
    await otklik.step()
    assert smtp.messages == [] and smtp.recorder.refused == 1
    failed = [t for t in otklik.texts(COORDINATOR) if "не отправлено" in t]
    assert len(failed) == 1 and "451" in failed[0] and "Повторная попытка в 09:05" in failed[0]
    letter = await otklik.app.usecases.letters.waiting(n)  # type: ignore[union-attr]
    assert letter is not None and letter["status"] == "pending" and letter["attempts"] == 1

    usecases = otklik.app.usecases  # type: ignore[union-attr]
    assert await usecases.sweep.sweep() == 0  # not due yet: nothing is tried
    assert smtp.recorder.refused == 1
    otklik.clock.advance(minutes=5)  # type: ignore[attr-defined]
    await usecases.sweep.sweep()
    await otklik.step()
    assert smtp.recorder.refused == 2 and smtp.messages == []
    # Told once: the second failure is only in the audit.
    assert len([t for t in otklik.texts(COORDINATOR) if "не отправлено" in t]) == 1
    otklik.clock.advance(minutes=10)  # type: ignore[attr-defined]
    await usecases.sweep.sweep()
    await otklik.step()
    [msg] = smtp.messages
    assert {p.get_filename() for p in msg.iter_attachments()} == {
        "скан.pdf", f"Ответ по инциденту {n}.docx"}
    assert any("отправлен по электронной почте" in t for t in otklik.texts(COORDINATOR))
    assert (await otklik.app.usecases.letters.waiting(n))["status"] == "sent"  # type: ignore
    acts = await actions(otklik, n)
    assert acts[-4:] == ["letter_signed", "email_failed", "email_failed", "email_sent"]
    await usecases.sweep.sweep()
    assert len(smtp.messages) == 1  # never sent twice


async def test_a_server_that_is_down_loses_nothing(
        server: FakeTelegramServer, tmp_path: Path) -> None:
    port = free_port()  # nothing listens on it yet
    h = Harness(server, load(write_config(tmp_path, server, governor_config(port))),
                make_clock())
    await h.start()
    try:
        n = await register(h, "Не работает светофор на перекрёстке")
        await to_review(h, n)
        await h.press(HEAD, "approve", n)
        await h.press(COORDINATOR, "approve", n)
        await h.press(SIDOROVA, "signed_pdf", n)
        h.server.message(SIDOROVA, document=("скан.pdf", b"%PDF-1.7 scan", "application/pdf"))
        await h.step()
        assert any("не отправлено" in t and "ConnectionRefusedError" in t
                   for t in h.texts(COORDINATOR))
        with SmtpServer(port) as smtp:
            h.clock.advance(minutes=6)  # type: ignore[attr-defined]
            await h.app.usecases.sweep.sweep()  # type: ignore[union-attr]
            assert len(smtp.messages) == 1
    finally:
        await h.close()


async def test_only_the_step_holder_acts_and_heads_keep_to_their_department(
        otklik: Harness) -> None:
    n = await register(otklik, "Провал асфальта на ул. Ленина")
    # Another department's head cannot assign it (a forged press is refused and audited).
    await otklik.app.usecases.actions.act(  # type: ignore[union-attr]
        await _person(otklik, "Носов Лев"), n, HeadAssign(2))
    assert (await otklik.incident(n)).state == "new"
    await to_review(otklik, n)
    # The coordinator cannot approve at the head's step.
    coordinator = await _person(otklik, "Иванова Анна")
    result = await otklik.app.usecases.actions.act(coordinator, n, Approve())  # type: ignore
    assert not result.ok and result.code == "not_the_head"
    result = await otklik.app.usecases.actions.act(coordinator, n, Return("нет"))  # type: ignore
    assert not result.ok and result.code == "not_the_head"
    await otklik.press(HEAD, "approve", n)
    head = await _person(otklik, "Гордеев Борис")
    result = await otklik.app.usecases.actions.act(head, n, Approve())  # type: ignore
    assert not result.ok and result.code == "wrong_role"
    # A return at the coordinator's step goes back to the executor, and the chain restarts.
    await otklik.press(COORDINATOR, "return", n)
    await otklik.say(COORDINATOR, "Добавьте срок")
    assert "Добавьте срок" in otklik.last_text(SIDOROVA)
    await otklik.press(SIDOROVA, "answer", n)
    await otklik.press(SIDOROVA, "submit", n)
    assert "руководителем" in otklik.last_text(HEAD)
    refused = [e for e in await otklik.audit() if e.incident_id == n and not e.ok]
    assert {e.reason for e in refused} >= {"not_the_head", "wrong_role"}


async def _person(otklik: Harness, name: str):  # noqa: ANN202
    return next(p for p in await otklik.app.usecases.queries.people()  # type: ignore[union-attr]
                if p.name == name)


async def test_without_a_head_the_incident_is_routed_as_before(
        server: FakeTelegramServer, tmp_path: Path, smtp: SmtpServer) -> None:
    extra = governor_config(smtp.port).replace('roles = ["department_head"]\n'
                                               'departments = ["roads"]',
                                               'roles = ["department_head"]\n'
                                               'departments = ["housing"]')
    h = Harness(server, load(write_config(tmp_path, server, extra)), make_clock())
    await h.start()
    try:
        n = await register(h, "Яма во дворе дома 3")
        assert f"Инцидент №{n}" in h.last_text(PETROV)  # least loaded roads executor
        assert not any(f"№{n}" in t for t in h.texts(HEAD))
    finally:
        await h.close()


# ----------------------------------------------------------------------------- VK


@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    async with FakeVkServer(tokens={VK_TOKEN: "group"}) as s:
        yield s


async def test_executor_in_vk_records_the_call_and_uploads_the_signed_pdf(
        server: FakeTelegramServer, vk: FakeVkServer, tmp_path: Path, smtp: SmtpServer
) -> None:
    path = tmp_path / "otklik.toml"
    config = VK_CONFIG.format(token=TOKEN, api_base=server.api_base, vk_token=VK_TOKEN,
                              group_id=GROUP_ID, vk_api_base=vk.api_base)
    path.write_text(config + governor_config(smtp.port), encoding="utf-8")
    h = VkHarness(server, load_config(path), make_clock())
    h.vk = vk
    await h.start()
    try:
        n = await h.register("Разбита дорога к школе")
        await h.press(HEAD, "head_to", n, label="Васильев")
        await h.vk_press(VASILIEV, "take", n)
        await h.vk_say(VASILIEV, "Дорогу отремонтируем до 1 декабря.")
        await h.vk_press(VASILIEV, "submit", n)
        assert "Сначала свяжитесь с заявителем" in h.snackbars(VASILIEV)[-1]
        await h.vk_press(VASILIEV, "contact", n)
        await h.vk_say(VASILIEV, "Созвонился с жителем, объяснил сроки.")
        await h.vk_press(VASILIEV, "submit", n)
        await h.press(HEAD, "approve", n)
        await h.press(COORDINATOR, "approve", n)
        assert (await h.incident(n)).state == "approved"
        # The DOCX reaches the VK chat as a document uploaded for the conversation.
        docs = [a["doc"] for m in vk.messages_to(VASILIEV) for a in m.get("attachments", [])
                if a["type"] == "doc"]
        assert [d["title"] for d in docs] == [f"Ответ по инциденту {n}.docx"]
        await h.vk_press(VASILIEV, "signed_pdf", n)
        await h.vk_say(VASILIEV, "", [vk.add_doc(VASILIEV, "подписан.pdf", b"%PDF-1.4 vk")])
        [msg] = smtp.messages
        assert {p.get_filename() for p in msg.iter_attachments()} == {
            "подписан.pdf", f"Ответ по инциденту {n}.docx"}
        assert "отправлен по электронной почте" in h.vk_last(VASILIEV)
        assert (await h.actions(n))[-3:] == ["letter_made", "letter_signed", "email_sent"]
    finally:
        await h.close()


# ----------------------------------------------------------------------------- pure and config


def test_step_is_counted_from_the_audit_since_the_last_submission() -> None:
    from datetime import UTC, datetime
    at = datetime(2026, 11, 23, tzinfo=UTC)

    def e(action: str, ok: bool = True) -> AuditEntry:
        return AuditEntry(1, 1, action, None, None, at, ok=ok)

    assert step_of([e("submit")]) == 0
    assert step_of([e("submit"), e("approve_step")]) == 1
    assert step_of([e("submit"), e("approve_step"), e("return"), e("submit")]) == 0
    assert step_of([e("submit"), e("approve_step", ok=False)]) == 0


def test_procedures_by_default_and_from_the_config(tmp_path: Path,
                                                   server: FakeTelegramServer) -> None:
    config = load(write_config(tmp_path, server))
    assert config.procedures["governor"] == GOVERNOR
    assert GOVERNOR.approval == (Role.DEPARTMENT_HEAD, Role.COORDINATOR)
    assert config.procedures["incident_management"] == DEFAULT
    assert DEFAULT.approval == (Role.COORDINATOR,)
    config = load(write_config(tmp_path, server, governor_config(25)))
    assert config.procedures["governor"].email_to == tuple(EMAILS)


@pytest.mark.parametrize(("change", "message"), [
    (('[email]\nhost = "127.0.0.1"', '[email]\nhost = ""'),
     "sla.policies.governor.email_to: letters are e-mailed through [email]"),
    (('approval = ["department_head", "coordinator"]', 'approval = ["curator"]'),
     "'curator' cannot approve"),
    (('"otvetk42@example.ru"', '"otvetk42"'), "'otvetk42' is not an e-mail address"),
    (('tls = "none"', 'tls = "tls"'), "email.tls"),
    (('from_address = "mcu@example.ru"', 'from_address = ""'), "from_address: required"),
    (('departments = ["roads"]\ntelegram_id = 5001', 'telegram_id = 5001'),
     "a department head needs the departments they head"),
])
def test_config_refuses_a_broken_procedure(tmp_path: Path, server: FakeTelegramServer,
                                           change: tuple[str, str], message: str) -> None:
    extra = governor_config(25)
    assert change[0] in extra
    with pytest.raises(ConfigError, match=None) as e:
        load(write_config(tmp_path, server, extra.replace(*change)))
    assert message in str(e.value)


def test_smtp_password_comes_from_the_environment(
        tmp_path: Path, server: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTKLIK_SMTP_PASSWORD", "s3cret")
    config = load(write_config(tmp_path, server, governor_config(25)))
    assert config.smtp_password == "s3cret"


async def test_a_declined_incident_goes_back_to_the_head(otklik: Harness) -> None:
    n = await register(otklik, "Нет разметки на пешеходном переходе")
    await otklik.press(HEAD, "head_to", n, label="Петров")
    await otklik.press(PETROV, "decline", n)
    await otklik.say(PETROV, "Разметка — подрядчик области")
    assert (await otklik.incident(n)).state == "new"
    assert "Разметка — подрядчик области" in otklik.last_text(COORDINATOR)
    call, _ = otklik.button(HEAD, "head_to", n)
    assert [b["text"] for row in call.buttons for b in row] == ["Сидорова Мария"]
    await otklik.press(HEAD, "head_to", n, label="Сидорова")
    assert f"Инцидент №{n}" in otklik.last_text(SIDOROVA)


async def test_a_department_head_is_invited_with_a_department(otklik: Harness) -> None:
    newcomer = FakeUser(5055, "Ирина", "Белова")
    await otklik.say(COORDINATOR, "/invite")
    await otklik.press(COORDINATOR, "inv_role", label="руководитель подразделения")
    call, _ = otklik.button(COORDINATOR, "inv_dept")
    assert "—" not in [b["text"] for row in call.buttons for b in row]  # a department is due
    await otklik.press(COORDINATOR, "inv_dept", label="Отдел ЖКХ")
    await otklik.say(COORDINATOR, "Белова Ирина")
    token = otklik.last_text(COORDINATOR).split("?start=")[1].split()[0]
    await otklik.say(newcomer, f"/start {token}")
    assert "руководитель подразделения" in otklik.last_text(newcomer)
    person = await otklik.app.usecases.queries.person_for_chat("telegram", newcomer.id)  # type: ignore
    assert person.roles == {Role.DEPARTMENT_HEAD} and person.departments == {"housing"}
    await otklik.say(COORDINATOR, "/invite department_head Без Отдела")
    assert "руководителя подразделения нужно указать подразделение" in otklik.last_text(
        COORDINATOR)


def test_check_config_warns_of_departments_without_a_head_and_a_written_password(
        tmp_path: Path, server: FakeTelegramServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main
    monkeypatch.delenv("OTKLIK_TELEGRAM_TOKEN", raising=False)
    extra = governor_config(25).replace('from_address = "mcu@example.ru"',
                                        'from_address = "mcu@example.ru"\npassword = "pw-123"')
    extra = extra.replace('[[people]]\nname = "Носов Лев"\nroles = ["department_head"]\n'
                          'departments = ["housing"]\ntelegram_id = 5002\n', "")
    path = write_config(tmp_path, server, extra)
    assert main(["check-config", "--config", str(path)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("warning:")]
    assert any("email.password: a token is written in the file" in w
               and "OTKLIK_SMTP_PASSWORD" in w for w in warnings)
    assert any("sla.policies.governor.head_assigns: no department_head for housing" in w
               for w in warnings)


async def test_mailer_tls_modes_against_the_local_server(
        tmp_path: Path, server: FakeTelegramServer, smtp: SmtpServer) -> None:
    from bot.mailer import Mailer, MailFailed, build_message
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4 x")

    def mailer(tls: str) -> Mailer:
        extra = governor_config(smtp.port).replace('tls = "none"', f'tls = "{tls}"')
        return Mailer(load(write_config(tmp_path, server, extra)))

    def message() -> object:
        return build_message(sender="mcu@example.ru", to=EMAILS, subject="Тема",
                             body="Текст", files=[(pdf, "a.pdf", "application/pdf")])

    await mailer("none").send(message())  # type: ignore[arg-type]
    assert len(smtp.messages) == 1
    # The local server offers no STARTTLS: the letter is refused, not sent in the clear.
    with pytest.raises(MailFailed, match="STARTTLS"):
        await mailer("starttls").send(message())  # type: ignore[arg-type]
    # Nor does it speak TLS from the first byte.
    with pytest.raises(MailFailed):
        await mailer("ssl").send(message())  # type: ignore[arg-type]
    assert len(smtp.messages) == 1
