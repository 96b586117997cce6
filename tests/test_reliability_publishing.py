"""Publishing to a Telegram group is idempotent and length-safe: each part (the album, the
parts of the text) is recorded as it goes out, so a 502 on the text after the album does not
send the album again; an answer longer than a message is split, never refused."""

from __future__ import annotations

import pytest

from bot.templates import split_plain, utf16_units
from tests.harness import COORDINATOR, PETROV, Harness
from tests.test_groups import GROUP, complain


async def approve_with(otklik: Harness, text: str, photos: int = 0) -> int:
    await complain(otklik, "Во дворе дома 5 огромная яма, машины бьются")
    n = 1
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, "Черновик.")
    for i in range(photos):
        otklik.server.message(PETROV, photo=f"photo {i}".encode(), media_group_id="album")
    await otklik.step()
    assert otklik.app is not None
    petrov = next(p for p in await otklik.app.usecases.queries.people() if p.name == "Петров Павел")
    assert (await otklik.app.usecases.drafts.set_text(petrov, n, text)).ok
    await otklik.press(PETROV, "submit", n)
    await otklik.press(COORDINATOR, "approve", n)
    return n


async def test_a_502_on_the_text_after_the_album_does_not_send_the_album_again(
        otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    n = await approve_with(otklik, "Яму засыпали щебнем, асфальт положим весной.", photos=2)
    otklik.server.fail_next("sendMessage", error_code=502, description="Bad Gateway",
                            html=True, chat_id=GROUP)
    await app.usecases.sweep.sweep()
    assert (await otklik.incident(n)).state == "approved"  # to be tried again
    otklik.clock.advance(minutes=5)
    await app.usecases.sweep.sweep()
    await otklik.step()
    albums = [c for c in otklik.server.sent_to(GROUP) if c.method == "sendMediaGroup"]
    texts = [c for c in otklik.server.sent_to(GROUP) if c.method == "sendMessage"]
    assert len(albums) == 1 and len(albums[0].params["media"]) == 2
    assert [c.text for c in texts] == ["Яму засыпали щебнем, асфальт положим весной."]
    assert (await otklik.incident(n)).state == "awaiting_feedback"


async def test_an_answer_longer_than_a_message_is_published_in_parts(
        otklik: Harness) -> None:
    app = otklik.app
    assert app is not None
    paragraphs = [f"Пункт {i}. " + "Работы выполнены в полном объёме. " * 30 for i in range(9)]
    answer = "\n\n".join(p.strip() for p in paragraphs)
    assert len(answer) > 2 * 4096
    n = await approve_with(otklik, answer)
    await app.usecases.sweep.sweep()
    await otklik.step()
    texts = [c.text or "" for c in otklik.server.sent_to(GROUP) if c.method == "sendMessage"]
    assert len(texts) == 3
    assert all(utf16_units(t) <= 4096 for t in texts)
    assert all(t.startswith("Пункт ") for t in texts)  # cut between paragraphs
    assert "\n\n".join(texts) == answer
    assert (await otklik.incident(n)).state == "awaiting_feedback"
    assert not [t for t in otklik.texts(COORDINATOR) if "Не удалось опубликовать" in t]


def test_split_plain_prefers_paragraphs_then_sentences_then_words() -> None:
    assert split_plain("Короткий ответ.", 4096) == ["Короткий ответ."]
    assert split_plain("", 4096) == []
    text = "Первый абзац.\n\nВторой абзац подлиннее."
    assert split_plain(text, 30) == ["Первый абзац.", "Второй абзац подлиннее."]
    sentences = "Яму засыпали. Асфальт положим весной. Спасибо за сообщение."
    assert split_plain(sentences, 40) == ["Яму засыпали. Асфальт положим весной.",
                                          "Спасибо за сообщение."]
    words = "слово " * 20
    parts = split_plain(words, 25)
    assert all(len(p) <= 25 for p in parts) and " ".join(parts).split() == words.split()
    assert split_plain("а" * 50, 20) == ["а" * 20, "а" * 20, "а" * 10]  # no boundary at all


def test_split_plain_counts_utf16_and_keeps_a_caption_short() -> None:
    emoji = "🙂" * 10  # 20 UTF-16 code units
    assert split_plain(emoji, 10) == ["🙂" * 5, "🙂" * 5]
    long = ("Предложение номер один. " * 100).strip()
    parts = split_plain(long, 4096, first_limit=1024)
    assert utf16_units(parts[0]) <= 1024 and parts[0].endswith(".")
    assert all(utf16_units(p) <= 4096 for p in parts[1:])
    assert " ".join(parts) == long


@pytest.mark.parametrize("limit", [50, 100, 1024, 4096])
def test_split_plain_loses_nothing_but_whitespace(limit: int) -> None:
    text = "\n\n".join(f"Абзац {i}. " + "Текст предложения, и ещё. " * (i * 7 % 50)
                       for i in range(40))
    parts = split_plain(text, limit)
    assert all(0 < utf16_units(p) <= limit for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
