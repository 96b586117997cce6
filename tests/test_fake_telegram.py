"""Tests of the fake Telegram Bot API server, driven by the real aiogram Bot."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)

from fakes.telegram import BOT_ID, FakeTelegramServer, parse_html, user, utf16_len

TOKEN = "123456:TEST-token"
IVAN = user(1001, "Иван", "Петров", username="ivan_p")
PNG = b"\x89PNG\r\n\x1a\n" + b"fake-image-bytes" * 8


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.api_base))
    tg_bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield tg_bot
    await tg_bot.session.close()


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(text=text, callback_data=data) for text, data in buttons]
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        BOT_ID, True, "otklik_demo_bot", "Отклик",
    )


async def test_send_message_is_recorded(bot: Bot, server: FakeTelegramServer) -> None:
    first = await bot.send_message(IVAN.id, "<b>Заявка</b> принята &amp; зарегистрирована")
    second = await bot.send_message(IVAN.id, "Ещё", reply_markup=keyboard(("Ок", "ok")))
    assert first.text == "Заявка принята & зарегистрирована"
    assert first.chat.id == IVAN.id and first.from_user.id == BOT_ID
    assert second.message_id == first.message_id + 1
    assert second.reply_markup.inline_keyboard[0][0].callback_data == "ok"
    sent = server.sent_to(IVAN.id)
    assert [c.method for c in sent] == ["sendMessage", "sendMessage"]
    assert sent[0].params["text"].startswith("<b>Заявка</b>")
    assert sent[0].params["parse_mode"] == "HTML" and sent[0].params["chat_id"] == IVAN.id
    assert server.last_sent(IVAN.id).buttons == [[{"text": "Ок", "callback_data": "ok"}]]
    server.reset_calls()
    assert server.calls == [] and server.last_sent(IVAN.id) is None


async def test_text_length_counts_visible_utf16_units(bot: Bot) -> None:
    assert utf16_len("😀") == 2
    await bot.send_message(IVAN.id, "&lt;" + "я" * 4095)  # 4096 visible characters
    await bot.send_message(IVAN.id, "<i>" + "😀" * 2048 + "</i>")  # 4096 UTF-16 units
    for too_long in ("я" * 4097, "😀" * 2048 + "a", "&amp;" * 4097):
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(IVAN.id, too_long)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(IVAN.id, "<b> </b>")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(IVAN.id, BufferedInputFile(PNG, "p.png"), caption="x" * 1025)


@pytest.mark.parametrize(
    "html",
    ["<b>жирный", "a < b", "<b>x</i>", "x</b>", "<br>", "<span>x</span>", "&nbsp;", "Рога & Ко"],
)
async def test_malformed_html_rejected(bot: Bot, server: FakeTelegramServer, html: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(IVAN.id, html)
    assert server.calls[-1].ok is False and server.sent_to(IVAN.id) == []


def test_parse_html_matches_telegram() -> None:
    html = '<a href="https://x.ru/?a=1&amp;b=2">ссылка</a> &#1071;&#x44f;'
    assert parse_html(html) == "ссылка Яя"
    assert parse_html('<span class="tg-spoiler">s</span><pre><code class="language-py">'
                      "1</code></pre><blockquote expandable>q</blockquote>") == "s1q"
    with pytest.raises(ValueError, match=r'Unsupported start tag "abac" at byte offset 13'):
        parse_html("🏟 🏟&lt;<abac>")
    with pytest.raises(ValueError, match="Unmatched end tag at byte offset 4"):
        parse_html("<b>x</i>")
    assert parse_html("Рога & Копыта", strict=False) == "Рога & Копыта"


async def test_callback_data_limit_64_bytes(bot: Bot) -> None:
    await bot.send_message(IVAN.id, "ok", reply_markup=keyboard(("Да", "я" * 32)))  # 64 bytes
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(IVAN.id, "x", reply_markup=keyboard(("Да", "я" * 32 + "a")))
    with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
        rows = [[InlineKeyboardButton(text=str(i), callback_data=str(i))] for i in range(101)]
        too_many = InlineKeyboardMarkup(inline_keyboard=rows)
        await bot.send_message(IVAN.id, "x", reply_markup=too_many)


async def test_media_group(bot: Bot, server: FakeTelegramServer) -> None:
    def photos(n: int, caption: str | None = None) -> list[InputMediaPhoto]:
        return [InputMediaPhoto(media=BufferedInputFile(PNG + bytes([i]), f"{i}.png"),
                                caption=caption if i == 0 else None) for i in range(n)]

    with pytest.raises(TelegramBadRequest, match="too much messages to send as an album"):
        await bot.send_media_group(IVAN.id, photos(11))
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(IVAN.id, photos(1))
    album = await bot.send_media_group(IVAN.id, photos(3, caption="<b>Фото</b> с места"))
    assert len(album) == 3
    assert album[0].media_group_id
    assert {m.media_group_id for m in album} == {album[0].media_group_id}
    assert album[0].caption == "Фото с места"
    assert len(server.last_sent(IVAN.id).files) == 3
    downloaded = await bot.download(album[2].photo[-1].file_id)
    assert downloaded.read() == PNG + bytes([2])
    # a known file_id is reused; an unknown one is rejected like the real API
    again = await bot.send_photo(IVAN.id, album[0].photo[-1].file_id)
    assert again.photo[-1].file_id == album[0].photo[-1].file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(IVAN.id, "no-such-file-id")
    lines = server.transcript({IVAN.id: "Иван"})
    assert "бот → Иван: [фото ×3] Фото с места" in lines


async def test_fail_next_429_is_retry_after(bot: Bot, server: FakeTelegramServer) -> None:
    server.fail_next("sendMessage", error_code=429,
                     description="Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(IVAN.id, "первая попытка")
    assert info.value.retry_after == 7
    assert server.calls[-1].ok is False and server.calls[-1].error_code == 429
    await bot.send_message(IVAN.id, "вторая попытка")
    assert [c.params["text"] for c in server.sent_to(IVAN.id)] == ["вторая попытка"]


async def test_fail_next_filters_by_chat_and_counts(bot: Bot, server: FakeTelegramServer) -> None:
    server.fail_next("sendmessage", error_code=500, description="Internal Server Error",
                     times=2, chat_id=42)
    await bot.send_message(IVAN.id, "другой чат не затронут")
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(42, "x")
    await bot.send_message(42, "третья проходит")


async def test_blocked_user_is_forbidden(bot: Bot, server: FakeTelegramServer) -> None:
    server.block_user(IVAN.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(IVAN.id, "привет")
    assert server.sent_to(IVAN.id) == []
    server.unblock_user(IVAN.id)
    await bot.send_message(IVAN.id, "привет")


async def test_known_chats() -> None:
    async with FakeTelegramServer(known_chats={IVAN.id}) as strict:
        session = AiohttpSession(api=TelegramAPIServer.from_base(strict.api_base))
        async with Bot(TOKEN, session=session) as other:
            await other.send_message(IVAN.id, "ok")
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await other.send_message(1002, "нет такого чата")
            strict.message(user(1002, "Ольга"), "/start")  # writing to the bot opens the chat
            await other.send_message(1002, "теперь есть")


async def test_raw_requests(server: FakeTelegramServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.api_base}/bot{TOKEN}/sendMessagee") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(f"{server.api_base}/botWRONG/getMe") as resp:
            assert resp.status == 401
        body = {"chat_id": IVAN.id, "text": "json"}
        async with http.post(f"{server.api_base}/bot{TOKEN}/SENDMESSAGE", json=body) as resp:
            assert (await resp.json())["result"]["text"] == "json"
        async with http.get(f"{server.api_base}/bot{TOKEN}/sendMessage?chat_id=5") as resp:
            assert (await resp.json())["description"] == "Bad Request: message text is empty"
    assert server.calls[2].method == "sendMessage" and server.calls[2].ok


async def test_get_updates_long_polling_and_offset(bot: Bot, server: FakeTelegramServer) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3

    async def push_later() -> None:
        await asyncio.sleep(0.2)
        server.message(IVAN, "/start abc")

    started = time.monotonic()
    pusher = asyncio.create_task(push_later())
    updates = await bot.get_updates(timeout=10)
    await pusher
    assert time.monotonic() - started < 2
    assert [u.update_id for u in updates] == [1]
    assert updates[0].message.text == "/start abc"
    assert updates[0].message.entities[0].type == "bot_command"
    assert updates[0].message.chat.id == IVAN.id
    # not confirmed yet: delivered again; confirmed by offset: gone
    assert [u.update_id for u in await bot.get_updates()] == [1]
    server.message(IVAN, "второе")
    server.message(IVAN, "третье")
    assert [u.update_id for u in await bot.get_updates(offset=2, limit=1)] == [2]
    assert [u.update_id for u in await bot.get_updates(offset=4)] == []
    # a duplicate delivery keeps its update_id even though it was confirmed
    server.redeliver(3)
    assert [u.update_id for u in await bot.get_updates(offset=4)] == [3]
    assert await bot.get_updates(offset=4) == []
    assert [u["update_id"] for u in server.updates] == [1, 2, 3]


async def test_pushed_photo_and_document_can_be_downloaded(bot: Bot, server: FakeTelegramServer
                                                          ) -> None:
    server.message(IVAN, photo=PNG, caption="Яма на дороге", media_group_id="g1")
    server.message(IVAN, document=("акт.pdf", b"%PDF-1.4 test", "application/pdf"))
    photo_update, doc_update = await bot.get_updates()
    photo = photo_update.message.photo
    assert len(photo) >= 2 and photo_update.message.caption == "Яма на дороге"
    assert (await bot.download(photo[-1].file_id)).read() == PNG
    buffer = io.BytesIO()
    await bot.download(doc_update.message.document, destination=buffer)
    assert buffer.getvalue() == b"%PDF-1.4 test"
    assert doc_update.message.document.file_name == "акт.pdf"


async def test_callback_edit_and_answer(bot: Bot, server: FakeTelegramServer) -> None:
    markup = keyboard(("Взять в работу", "take:1"), ("Не наша компетенция", "reject:1"))
    sent = await bot.send_message(IVAN.id, "Новая заявка №1", reply_markup=markup)
    update = server.callback(IVAN, server.last_sent(IVAN.id), "take:1")
    query = Update.model_validate(update).callback_query
    assert query.message.message_id == sent.message_id and query.data == "take:1"
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query.id, text="x" * 201)
    assert await bot.answer_callback_query(query.id, text="Принято")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    edited = await bot.edit_message_text("Заявка №1 в работе", chat_id=IVAN.id,
                                         message_id=sent.message_id)
    assert edited.text == "Заявка №1 в работе" and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Заявка №1 в работе", chat_id=IVAN.id,
                                    message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=IVAN.id, message_id=999)
    assert await bot.delete_message(IVAN.id, sent.message_id)
    assert server.transcript({IVAN.id: "Иван"}) == [
        "бот → Иван: Новая заявка №1",
        "    [Взять в работу] [Не наша компетенция]",
        "Иван нажимает [Взять в работу]",
        "бот ✎ Иван (правка #1): Заявка №1 в работе",
    ]


async def test_dispatcher_polling_end_to_end(bot: Bot, server: FakeTelegramServer) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart(deep_link=True))
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"Код: <code>{command.args}</code>")

    polling = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    server.message(IVAN, "/start abc")
    for _ in range(100):
        if server.last_sent(IVAN.id):
            break
        await asyncio.sleep(0.02)
    await dp.stop_polling()
    await polling
    assert server.last_sent(IVAN.id).result["text"] == "Код: abc"
    assert server.transcript({IVAN.id: "Иван"}) == [
        "Иван → бот: /start abc",
        "бот → Иван: Код: abc",
    ]


async def test_leave_chat_and_command_menus_as_the_spec_says(server: FakeTelegramServer,
                                                             bot: Bot) -> None:
    group = -1001234
    assert await bot.send_message(group, "Привет")
    assert await bot.leave_chat(group) is True
    with pytest.raises(TelegramForbiddenError, match="not a member"):
        await bot.send_message(group, "Ещё раз")
    with pytest.raises(TelegramBadRequest, match="private chats"):
        await bot.leave_chat(IVAN.id)
    menu = [BotCommand(command="my", description="Мои инциденты")]
    assert await bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id=IVAN.id))
    assert server.commands[("chat", IVAN.id, None, "")] == [
        {"command": "my", "description": "Мои инциденты"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-One", description="x")])
    async with aiohttp.ClientSession() as http, http.post(  # a scope aiogram would not build
            f"{server.api_base}/bot{TOKEN}/setMyCommands",
            json={"commands": [{"command": "my", "description": "x"}],
                  "scope": {"type": "chat"}}) as response:
        assert response.status == 400 and "chat_id" in (await response.json())["description"]
    assert await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=IVAN.id))
    assert ("chat", IVAN.id, None, "") not in server.commands
