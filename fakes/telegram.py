"""A fake Telegram Bot API server on loopback, for tests and for the offline demo.

Point the real aiogram ``Bot`` at it::

    async with FakeTelegramServer() as tg:
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.api_base))
        bot = Bot("123:abc", session=session, default=DefaultBotProperties(parse_mode="HTML"))
        tg.message(user(1001, "Иван"), "/start")      # queue an incoming update
        ...                                            # let the bot poll and handle it
        assert "Здравствуйте" in tg.last_sent(1001).params["text"]

It mimics getUpdates long polling, sending/editing/deleting messages, albums, files (upload,
getFile, download), callback queries and the validation errors of the real API: required
parameters (``telegram_methods.json``), HTML parse errors, length limits counted in UTF-16
code units of the visible text, inline keyboard limits. Every call is recorded in ``calls``;
``fail_next``/``block_user`` inject failures (``fail_next(..., html=True)``: a reverse proxy's
HTML error page instead of JSON); ``latency`` delays every answer, half before the method
takes effect and half after; ``enforce_limits=True`` answers 429 (``retry_after``) to a
sending call beyond Telegram's limits — 30 a second in all, one a second per chat, 20 a minute
per group — counted in ``too_many``; ``transcript`` renders the conversation. After
``setWebhook`` updates are POSTed to the webhook (with the secret header; getUpdates answers
409 meanwhile): a chat's next one after its previous one was accepted, different chats
concurrently; a non-2xx answer is retried after ``webhook_retry`` seconds (``webhook_posts``).

Deliberate deviation: with ``strict_html=True`` (the default) an ``&`` that does not start a
supported entity (``&lt; &gt; &amp; &quot; &apos; &#NN; &#xHH;``) is rejected. Telegram shows
such text literally (``&nbsp;`` as six characters), which is a bug in our messages all the same.
MarkdownV2 is not parsed: its text is measured as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 7000000001
BOT_USERNAME = "otklik_demo_bot"
BOT_FIRST_NAME = "Отклик"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
METHODS_FILE = Path(__file__).with_name("telegram_methods.json")

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
KICKED = "Forbidden: bot is not a member of the {kind} chat"
# setMyCommands: a command is 1–32 of a-z, 0-9 and _, a description 1–256 characters.
COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
COMMAND_SCOPES = {"default": (), "all_private_chats": (), "all_group_chats": (),
                  "all_chat_administrators": (), "chat": ("chat_id",),
                  "chat_administrators": ("chat_id",), "chat_member": ("chat_id", "user_id")}
# Successful calls of these methods count as "sent to a chat" (sent_to, last_sent).
SENDING = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage", "forwardMessage",
     "sendVideo"}
)
BUTTON_ACTIONS = (
    "callback_data", "url", "web_app", "login_url", "switch_inline_query", "copy_text", "pay",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game",
)
MEDIA_NAMES = {"photo": "фото", "video": "видео", "document": "документ", "audio": "аудио"}

_HTML_TAGS = frozenset({
    "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "code", "pre", "blockquote", "tg-emoji",
})
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ENTITY_RE = re.compile(r"&(?:#[xX]([0-9a-fA-F]*)|#([0-9]*)|([a-zA-Z]*));?")
_TAG_NAME_RE = re.compile(r"</?([^\s>]*)")
_TAG_RE = re.compile(r"""<(/?)([^\s>]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""")
_ATTR_RE = re.compile(r"""\s*([^\s=>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[A-Za-z0-9.-]+))?""")


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code}
        body["description"] = self.description
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class ProxyError(ApiError):
    """A reverse proxy in front of the Bot API failing: an HTML page, not JSON."""

    def page(self) -> str:
        return (f"<html><head><title>{self.code} {self.description}</title></head><body>"
                f"<center><h1>{self.code} {self.description}</h1></center><hr>"
                "<center>nginx</center></body></html>")


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# ----------------------------------------------------------------------------- text rules


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _entity(m: re.Match[str]) -> str | None:
    """The character of an HTML entity matched by _ENTITY_RE, None if Telegram ignores it."""
    hex_digits, digits, name = m.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name)
    number = hex_digits if hex_digits is not None else digits
    code = int(number, 16 if hex_digits is not None else 10) if number else 0
    valid = 0 < code < 0x10FFFF and not 0xD800 <= code <= 0xDFFF and len(number) <= 7
    return chr(code) if valid else None


def _unescape(value: str) -> str:
    return _ENTITY_RE.sub(lambda m: _entity(m) or m[0], value)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_attributes(text: str, match: re.Match[str]) -> dict[str, str]:
    """Attributes of a start tag matched by _TAG_RE, read as Telegram reads them."""
    tag, rest, begin = match[2].lower(), match[3].rstrip(), _byte_offset(text, match.start())
    attrs: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        attr = _ATTR_RE.match(rest, pos)
        if attr is None:
            raise ValueError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        name, value = attr[1].lower(), attr[2]
        if value is None and (tag, name) != ("blockquote", "expandable"):
            raise ValueError("Expected equal sign in declaration of an attribute of the tag "
                             f'"{tag}" at byte offset {begin}')
        pos = attr.end()
        if value and value[0] in "'\"":
            value = _unescape(value[1:-1])
        elif pos < len(rest) and not rest[pos].isspace():
            token = _byte_offset(text, match.start(3) + attr.start(2))
            raise ValueError(f"Unexpected end of name token at byte offset {token}")
        attrs[name] = value or ""
    return attrs


def parse_html(text: str, *, strict: bool = True) -> str:
    """The visible text of an HTML-formatted message. Raises ValueError with Telegram's reason
    (the part after "can't parse entities: "); offsets are in UTF-8 bytes, as Telegram's."""

    def offset(i: int) -> int:
        return _byte_offset(text, i)

    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            m = _ENTITY_RE.match(text, i)
            char = _entity(m) if m else None
            if m and char:
                out.append(char)
                i = m.end()
                continue
            if strict:
                raise ValueError(f"Unsupported HTML entity or bare '&' at byte offset {offset(i)}")
        if text[i] != "<":
            out.append(text[i])
            i += 1
            continue
        closing = text.startswith("</", i)
        if closing and not stack:
            raise ValueError(f"Unexpected end tag at byte offset {offset(i)}")
        name = _TAG_NAME_RE.match(text, i)[1].lower()  # type: ignore[index]
        if not closing and i + 1 + len(name) < len(text) and name not in _HTML_TAGS:
            raise ValueError(f'Unsupported start tag "{name}" at byte offset {offset(i)}')
        tag = _TAG_RE.match(text, i)
        if tag is None:
            kind = "end" if closing else "start"
            raise ValueError(f"Unclosed {kind} tag at byte offset {offset(i)}")
        if closing:
            expected = stack.pop()
            if tag[3].strip():
                raise ValueError(f"Unclosed end tag at byte offset {offset(i)}")
            if name and name != expected:
                raise ValueError(f'Unmatched end tag at byte offset {offset(i)}, '
                                 f'expected "</{expected}>", found "</{name}>"')
        else:
            attrs = _parse_attributes(text, tag)
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise ValueError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {offset(i)}')
            stack.append(name)
        i = tag.end()
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


# ----------------------------------------------------------------------------- data types


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str = "ru"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


def user(id: int, first_name: str, last_name: str | None = None, username: str | None = None,
         language_code: str = "ru") -> FakeUser:
    return FakeUser(id, first_name, last_name, username, language_code)


@dataclass
class Call:
    """One recorded Bot API request and its outcome."""

    seq: int
    method: str  # canonical case, e.g. "sendMessage" (as requested if the method is unknown)
    params: dict[str, Any]  # decoded: ints, bools, JSON objects as Python values
    files: dict[str, bytes]  # uploaded multipart parts by part name
    ok: bool = False
    result: Any = None
    error_code: int | None = None
    description: str | None = None

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """The text or caption as sent (with its HTML markup)."""
        return self.params.get("text", self.params.get("caption"))

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        markup = self.params.get("reply_markup")
        return markup.get("inline_keyboard", []) if isinstance(markup, dict) else []


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class _Fault:
    method: str
    error: ApiError
    times: int
    chat_id: int | None


@dataclass
class _Queued:
    update: dict[str, Any]
    redelivery: bool = False
    delivered: bool = False
    retry_at: float = 0.0  # webhook: not posted again before this (monotonic)


Params = dict[str, Any]
Files = dict[str, bytes]


# ----------------------------------------------------------------------------- the server


class FakeTelegramServer:
    """The fake Bot API. ``token``: if given, other tokens get 401. ``known_chats``: if given,
    other chats get "chat not found" (users who write to the bot are added); otherwise any
    positive id is a private chat and any negative one a group."""

    def __init__(self, token: str | None = None, *, known_chats: set[int] | None = None,
                 strict_html: bool = True, latency: float = 0.0,
                 enforce_limits: bool = False) -> None:
        self.token = token
        self.latency = latency  # seconds per request (not counting getUpdates' long wait)
        self.enforce_limits = enforce_limits
        self.too_many = 0  # 429s answered for exceeding the limits
        self._sent_times: list[float] = []  # monotonic times of accepted sending calls
        self._chat_times: dict[int, list[float]] = {}
        self.known_chats = set(known_chats) if known_chats is not None else None
        self.strict_html = strict_html
        self.calls: list[Call] = []
        table = json.loads(METHODS_FILE.read_text(encoding="utf-8"))
        self._methods: dict[str, dict[str, Any]] = {
            name: spec for name, spec in table.items() if not name.startswith("_")
        }
        self._canonical = {name.lower(): name for name in self._methods}
        self._queue: list[_Queued] = []
        self._pushed: dict[int, dict[str, Any]] = {}
        self._next_update_id = 1
        self._update_event = asyncio.Event()
        self._timeline: list[dict[str, Any] | Call] = []  # pushed updates and sending calls
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._sources: dict[tuple[int, int], tuple[Any, Any]] = {}  # raw text, parse_mode
        self._copies: dict[tuple[int, int], dict[str, Any]] = {}  # copyMessage returns an id
        self._last_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._users: dict[int, FakeUser] = {}
        self._open_callbacks: set[str] = set()
        self._faults: list[_Fault] = []
        self._hooks: list[tuple[str, Callable[[], object]]] = []
        self._blocked: set[int] = set()
        self.left_chats: set[int] = set()  # groups the bot left (leaveChat)
        # setMyCommands as Telegram keeps them: (scope type, chat_id, user_id, language) →
        # the command list
        self.commands: dict[tuple[str, int | None, int | None, str], list[dict[str, str]]] = {}
        self._counter = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # setWebhook's parameters while a webhook is set; (update_id, HTTP status or 0 when
        # unreachable) of every post; the delay before a failed post is retried.
        self.webhook: dict[str, Any] | None = None
        self.webhook_posts: list[tuple[int, int]] = []
        self.webhook_retry = 0.05
        # Each post on a new connection (several workers sharing the webhook's port: the
        # kernel spreads connections, not requests, among them).
        self.webhook_new_connections = False
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    # --- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._closing = False
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        await self._stop_webhook()
        self._update_event.set()  # release long-polling requests at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeTelegramServer is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": BOT_FIRST_NAME,
                "username": BOT_USERNAME}

    @staticmethod
    def deep_link(payload: str) -> str:
        return f"https://t.me/{BOT_USERNAME}?start={payload}"

    # --- incoming updates

    def push_update(self, update: dict[str, Any]) -> int:
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._pushed[update["update_id"]] = update
        self._queue.append(_Queued(update))
        self._timeline.append(update)
        self._update_event.set()
        return update["update_id"]

    @property
    def pending(self) -> int:
        """Updates not yet taken: not fetched by getUpdates, or not accepted by the webhook."""
        return sum(1 for q in self._queue if not q.delivered or self.webhook is not None)

    def redeliver(self, update_id: int) -> None:
        """Deliver an already pushed update once more, with the same update_id."""
        update = self._pushed[update_id]
        self._queue.append(_Queued(update, redelivery=True))
        self._timeline.append(update)
        self._update_event.set()

    def message(
        self,
        user: FakeUser,
        text: str | None = None,
        *,
        photo: bytes | None = None,
        document: tuple[str, bytes, str] | None = None,  # (file_name, content, mime_type)
        video: bytes | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        forward_from_chat: dict[str, Any] | None = None,
        forward_origin: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Push a message from ``user`` (private chat unless ``chat_id``); return the update."""
        self._users[user.id] = user
        chat = user.id if chat_id is None else chat_id
        if self.known_chats is not None:
            self.known_chats.add(chat)  # writing to the bot opens the chat
        msg = self._new_message(chat, user.to_api())
        if text is not None:
            msg["text"] = text
            if entities is None and text.startswith("/"):
                command = text.split()[0]
                entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        if entities:
            msg["entities" if text is not None else "caption_entities"] = entities
        if photo is not None:
            msg["photo"] = self._photo_sizes(self._store(photo, "photos", "jpg"))
        if document is not None:
            name, content, mime = document
            msg["document"] = self._document(self._store(content, "documents", name, name, mime))
        if video is not None:
            msg["video"] = self._video(self._store(video, "videos", "mp4", None, "video/mp4"))
        if caption is not None:
            msg["caption"] = caption
        if media_group_id is not None:
            msg["media_group_id"] = media_group_id
        if forward_from_chat is not None:
            forward_origin = {"type": "chat", "sender_chat": forward_from_chat, "date": msg["date"]}
            if forward_from_chat.get("type") == "channel":
                forward_origin = {"type": "channel", "chat": forward_from_chat, "message_id": 1,
                                  "date": msg["date"]}
        if forward_origin is not None:
            msg["forward_origin"] = forward_origin
        if reply_to_message_id is not None:
            replied = dict(self._messages[(chat, reply_to_message_id)])
            replied.pop("reply_to_message", None)
            msg["reply_to_message"] = replied
        update: dict[str, Any] = {"message": msg}
        self.push_update(update)
        return update

    def callback(self, user: FakeUser, message: dict[str, Any] | Call, data: str) -> dict[str, Any]:
        """Push a press on an inline button of ``message`` (a bot's Message dict or its Call)."""
        if isinstance(message, Call):
            message = message.result[0] if isinstance(message.result, list) else message.result
        current = self._messages.get((message["chat"]["id"], message["message_id"]), message)
        self._counter += 1
        query_id = f"{user.id}{self._counter:06d}"
        self._open_callbacks.add(query_id)
        update: dict[str, Any] = {"callback_query": {
            "id": query_id, "from": user.to_api(), "message": current,
            "chat_instance": f"ci{current['chat']['id']}", "data": data,
        }}
        self.push_update(update)
        return update

    # --- fault injection

    def fail_next(self, method: str, *, error_code: int, description: str,
                  retry_after: int | None = None, times: int = 1,
                  chat_id: int | None = None, html: bool = False) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id`` if given) fail, undelivered.
        ``html``: answered by a "reverse proxy" with an HTML page (``description`` its title)."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        error = (ProxyError if html else ApiError)(error_code, description, retry_after)
        self._faults.append(_Fault(method.lower(), error, times, chat_id))

    def on_next(self, method: str, action: Callable[[], object]) -> None:
        """Run ``action`` when the next call of ``method`` arrives, before it is answered
        (something else happens at that very moment: another process locks the database)."""
        self._hooks.append((method.lower(), action))

    def block_user(self, chat_id: int) -> None:
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    # --- inspection

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_to(self, chat_id: int) -> list[Call]:
        return [c for c in self.calls if c.ok and c.method in SENDING and c.chat_id == chat_id]

    def last_sent(self, chat_id: int) -> Call | None:
        sent = self.sent_to(chat_id)
        return sent[-1] if sent else None

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Every update pushed so far (redeliveries once), in update_id order."""
        return [self._pushed[k] for k in sorted(self._pushed)]

    def reset_calls(self) -> None:
        self.calls.clear()

    def file_content(self, file_id: str) -> bytes:
        return self._files[file_id].content

    def transcript(self, names: dict[int, str] | None = None) -> list[str]:
        """Chronological human-readable lines: user messages and button presses, the bot's
        messages (with their buttons), edits and undelivered sends."""
        names = names or {}

        def name(chat_id: Any) -> str:
            known = self._users.get(chat_id) if isinstance(chat_id, int) else None
            return names.get(chat_id) or (known.first_name if known else str(chat_id))

        lines: list[str] = []
        for item in self._timeline:
            if isinstance(item, Call):
                lines.extend(self._describe_call(item, name))
            else:
                lines.extend(self._describe_update(item, name))
        return lines

    # --- HTTP layer

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = self._canonical.get(request.match_info["method"].lower(),
                                     request.match_info["method"])
        self._counter += 1
        call = Call(seq=self._counter, method=method, params={}, files={})
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        for hook in [h for h in self._hooks if h[0] == method.lower()][:1]:
            self._hooks.remove(hook)
            hook[1]()
        error: ApiError | None = None
        try:
            try:
                raw, call.files = await self._read_params(request)
            except ValueError:
                raise bad_request("can't parse request body") from None
            if self.token is not None and request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if method not in self._methods:
                raise ApiError(404, "Not Found")
            call.params = self._decode(method, raw)
            self._check_required(method, call.params)
            self._check_faults(method, call.params)
            if method != "getChat" and "chat_id" in call.params:
                self._check_chat(call.params["chat_id"])
            if self.enforce_limits and method in SENDING:
                self._check_rate(call.params.get("chat_id"))
            call.result = await self._dispatch(method, call.params, call.files)
            call.ok = True
        except ApiError as exc:
            error = exc
        except Exception as exc:  # a bug of the fake: make it visible to the client
            error = ApiError(500, f"Internal Server Error: fake: {exc!r}")
        if error is not None:
            call.error_code, call.description = error.code, error.description
        if method in SENDING or (call.ok and method.startswith("edit")):
            self._timeline.append(call)
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        if isinstance(error, ProxyError):
            return web.Response(text=error.page(), status=error.code, content_type="text/html")
        if error is not None:
            return web.json_response(error.payload(), status=error.code)
        return web.json_response({"ok": True, "result": call.result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if self.token is not None and request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        for stored in self._files.values():
            if stored.file_path == request.match_info["path"]:
                return web.Response(body=stored.content, content_type="application/octet-stream")
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _read_params(self, request: web.Request) -> tuple[Params, Files]:
        params: Params = dict(request.query)
        files: Files = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:  # multipart/form-data or application/x-www-form-urlencoded
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        files[key] = value.file.read()
                    else:
                        params[key] = value
        return params, files

    def _decode(self, method: str, raw: Params) -> Params:
        """Form fields are strings: turn them into the types of the method's parameters."""
        kinds = self._methods[method]["params"]
        params: Params = {}
        for key, value in raw.items():
            kind = kinds.get(key, "str")
            if isinstance(value, str):
                if kind in ("int", "int|str") and re.fullmatch(r"-?\d+", value):
                    value = int(value)
                elif kind == "float":
                    value = float(value)
                elif kind == "bool":
                    value = value.lower() in ("true", "1")
                elif kind == "json":
                    try:
                        value = json.loads(value)
                    except ValueError:
                        raise bad_request(f"can't parse {key} JSON object") from None
            params[key] = value
        return params

    def _check_required(self, method: str, params: Params) -> None:
        for key in self._methods[method]["required"]:
            if params.get(key) in (None, ""):
                raise bad_request("message text is empty" if key == "text" else f"{key} is empty")

    def _check_faults(self, method: str, params: Params) -> None:
        for fault in self._faults:
            if fault.method == method.lower() and fault.chat_id in (None, params.get("chat_id")):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                raise fault.error

    def _check_rate(self, chat_id: Any) -> None:
        """Telegram's limits for sending: 30 a second in all, one a second per chat, 20 a
        minute per group; beyond them a 429 with ``retry_after``."""
        now = time.monotonic()
        recent = self._sent_times = [t for t in self._sent_times if now - t < 1.0]
        in_chat = self._chat_times.get(chat_id, [])
        waits = []
        if len(recent) >= 30:
            waits.append(1.0 - (now - recent[0]))
        if in_chat and now - in_chat[-1] < 1.0:
            waits.append(1.0 - (now - in_chat[-1]))
        if isinstance(chat_id, int) and chat_id < 0:
            minute = [t for t in in_chat if now - t < 60.0]
            if len(minute) >= 20:
                waits.append(60.0 - (now - minute[0]))
        if waits:
            self.too_many += 1
            raise ApiError(429, f"Too Many Requests: retry after {math.ceil(max(waits))}",
                           retry_after=math.ceil(max(waits)))
        recent.append(now)
        self._chat_times[chat_id] = [t for t in in_chat if now - t < 60.0] + [now]

    def _check_chat(self, chat_id: Any) -> None:
        if not isinstance(chat_id, int) or chat_id == 0:
            raise bad_request("chat not found")
        if self.known_chats is not None and chat_id not in self.known_chats:
            raise bad_request("chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        if chat_id in self.left_chats:
            raise ApiError(403, KICKED.format(kind=self._chat(chat_id)["type"]))

    async def _dispatch(self, method: str, params: Params, files: Files) -> Any:
        handler = getattr(self, f"_api_{method}", None)
        if handler is not None:
            return await handler(params, files)
        if self._methods[method]["returns"] == "Boolean":
            return True  # sendChatAction, setMyDescription, ...: accepted and recorded
        raise ApiError(501, f"Not Implemented: the fake does not implement {method}")

    # --- helpers for messages and files

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
            return {"id": chat_id, "type": kind, "title": f"Группа {chat_id}"}
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        if known := self._users.get(chat_id):
            chat.update((k, v) for k, v in known.to_api().items()
                        if k in ("first_name", "last_name", "username"))
        return chat

    def _new_message(self, chat_id: int, sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        msg = {"message_id": message_id, "from": sender, "chat": self._chat(chat_id),
               "date": int(time.time()), **content}
        self._messages[(chat_id, message_id)] = msg
        return msg

    def _bot_message(self, p: Params, **content: Any) -> dict[str, Any]:
        markup = p.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            self._check_markup(markup)
            content["reply_markup"] = markup  # reply keyboards are not echoed by Telegram
        reply_to = (p.get("reply_parameters") or {}).get("message_id")
        if reply_to is not None:
            replied = self._messages.get((p["chat_id"], reply_to))
            if replied is None:
                raise bad_request("message to be replied not found")
            content["reply_to_message"] = {k: v for k, v in replied.items()
                                           if k != "reply_to_message"}
        return self._new_message(p["chat_id"], self.bot_user, **content)

    def _store(self, content: bytes, folder: str, file_name: str, name: str | None = None,
               mime: str | None = None) -> StoredFile:
        self._counter += 1
        n, ext = self._counter, file_name.rsplit(".", 1)[-1]
        stored = StoredFile(f"fake-{folder}-{n}", f"uniq{n}", content,
                            f"{folder}/file_{n}.{ext}", name, mime)
        self._files[stored.file_id] = stored
        return stored

    def _input_file(self, value: Any, files: Files, folder: str, ext: str) -> StoredFile:
        """An uploaded part (attach://name), a known file_id, or a URL (stored empty)."""
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part in files:
                return self._store(files[part], folder, ext)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self._store(b"", folder, ext)
        raise ApiError(400, WRONG_FILE)

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        thumb = self._store(stored.content, "photos", "jpg")
        size = len(stored.content)
        return [{"file_id": f.file_id, "file_unique_id": f.file_unique_id, "width": w,
                 "height": h, "file_size": size} for f, w, h in ((thumb, 90, 68),
                                                                 (stored, 1280, 960))]

    @classmethod
    def _video(cls, stored: StoredFile) -> dict[str, Any]:
        """A Video object: a document's fields plus the ones Telegram always gives."""
        return {**cls._document(stored), "width": 1280, "height": 720, "duration": 5}

    @staticmethod
    def _document(stored: StoredFile) -> dict[str, Any]:
        doc: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                               "file_size": len(stored.content)}
        if stored.file_name:
            doc["file_name"] = stored.file_name
        if stored.mime_type:
            doc["mime_type"] = stored.mime_type
        return doc

    def _text(self, text: Any, parse_mode: Any, *, caption: bool = False) -> str:
        """The visible text after parse_mode, checked against Telegram's limits."""
        text = "" if text is None else str(text)
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                text = parse_html(text, strict=self.strict_html)
            except ValueError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        text = text.strip()
        if caption and utf16_len(text) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        if not caption and not text:
            raise bad_request("message text is empty")
        if not caption and utf16_len(text) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return text

    def _caption(self, p: Params) -> dict[str, Any]:
        caption = self._text(p.get("caption"), p.get("parse_mode"), caption=True)
        return {"caption": caption} if caption else {}

    @staticmethod
    def _check_markup(markup: dict[str, Any]) -> None:
        buttons = [button for row in markup.get("inline_keyboard", []) for button in row]
        if len(buttons) > 100:
            raise bad_request("reply markup is too long")
        for button in buttons:
            if not str(button.get("text", "")).strip():
                raise bad_request("can't parse inline keyboard button: text must be non-empty")
            if all(button.get(key) in (None, "") for key in BUTTON_ACTIONS):
                raise bad_request("can't parse inline keyboard button: "
                                  "Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and len(str(data).encode("utf-8")) > 64:
                raise bad_request("BUTTON_DATA_INVALID")

    def _target(self, p: Params, action: str) -> tuple[tuple[int, int], dict[str, Any]]:
        key = (p.get("chat_id"), p.get("message_id"))
        if "inline_message_id" in p or key not in self._messages:
            raise bad_request(f"message to {action} not found")
        return key, self._messages[key]  # type: ignore[index]

    def _replace(self, old: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Store an edited copy (Call.result objects are never mutated)."""
        if isinstance(changes.get("reply_markup"), dict):
            self._check_markup(changes["reply_markup"])
        new = {**old, "edit_date": int(time.time())}
        for key, value in changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        self._messages[(old["chat"]["id"], old["message_id"])] = new
        return new

    # --- Bot API methods (canonical names; unimplemented methods returning True just succeed)

    async def _api_getMe(self, p: Params, files: Files) -> Any:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _api_getUpdates(self, p: Params, files: Files) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
        offset = p.get("offset") or 0
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while True:
            if offset > 0:  # confirm: forget updates below offset (a redelivery is sent once)
                self._queue = [q for q in self._queue if q.update["update_id"] >= offset
                               or (q.redelivery and not q.delivered)]
            elif offset < 0:
                self._queue = self._queue[offset:]
            batch = self._queue[:limit]
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                break
            self._update_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_event.wait(), remaining)
        for queued in batch:
            queued.delivered = True
        return [q.update for q in batch]

    async def _api_deleteWebhook(self, p: Params, files: Files) -> Any:
        if p.get("drop_pending_updates"):
            self._queue.clear()
        await self._stop_webhook()
        return True

    async def _api_setWebhook(self, p: Params, files: Files) -> Any:
        if not str(p["url"]).startswith(("http://", "https://")):  # http: a local Bot API
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                              "or 8443")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._queue.clear()
        self.webhook = {"url": p["url"], "secret_token": secret,
                        "max_connections": int(p.get("max_connections") or 40),
                        "allowed_updates": p.get("allowed_updates")}
        if self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver())
        self._update_event.set()
        return True

    async def _api_getWebhookInfo(self, p: Params, files: Files) -> Any:
        if self.webhook is None:
            return {"url": "", "has_custom_certificate": False,
                    "pending_update_count": len(self._queue)}
        info = {"url": self.webhook["url"], "has_custom_certificate": False,
                "pending_update_count": len(self._queue),
                "max_connections": self.webhook["max_connections"]}
        if self.webhook["allowed_updates"] is not None:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _stop_webhook(self) -> None:
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None

    async def _deliver(self) -> None:
        """Post queued updates to the webhook: a chat's next one after its previous one was
        accepted, different chats concurrently (up to max_connections)."""
        posting: dict[Any, asyncio.Task[None]] = {}  # chat → its post under way
        connector = aiohttp.TCPConnector(force_close=self.webhook_new_connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            while self.webhook is not None:
                self._update_event.clear()
                now, wait = time.monotonic(), 1.0
                heads: dict[Any, _Queued] = {}
                for queued in self._queue:
                    heads.setdefault(_chat_of(queued.update), queued)
                for chat, queued in heads.items():
                    if chat in posting or len(posting) >= self.webhook["max_connections"]:
                        continue
                    if queued.retry_at > now:
                        wait = min(wait, queued.retry_at - now)
                        continue
                    task = asyncio.create_task(self._post(session, queued))
                    posting[chat] = task
                    task.add_done_callback(lambda _, chat=chat: self._posted(posting, chat))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._update_event.wait(), wait)

    def _posted(self, posting: dict[Any, asyncio.Task[None]], chat: Any) -> None:
        posting.pop(chat, None)
        self._update_event.set()

    async def _post(self, session: aiohttp.ClientSession, queued: _Queued) -> None:
        hook = self.webhook
        assert hook is not None
        headers = ({"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]}
                   if hook["secret_token"] else {})
        try:
            async with session.post(hook["url"], json=queued.update, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=60)) as response:
                status, error = response.status, f"Wrong response from the webhook: " \
                                                 f"{response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as e:
            status, error = 0, f"Connection failed: {type(e).__name__}"
        self.webhook_posts.append((queued.update["update_id"], status))
        queued.delivered = True
        if 200 <= status < 300:
            with contextlib.suppress(ValueError):
                self._queue.remove(queued)
        else:
            self._webhook_error = (int(time.time()), error)
            queued.retry_at = time.monotonic() + self.webhook_retry

    async def _api_getChat(self, p: Params, files: Files) -> Any:
        self._check_chat(p["chat_id"])
        gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                 "gifts_from_channels")
        return {**self._chat(p["chat_id"]), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": dict.fromkeys(gifts, False)}

    async def _api_sendMessage(self, p: Params, files: Files) -> Any:
        msg = self._bot_message(p, text=self._text(p["text"], p.get("parse_mode")))
        self._sources[(p["chat_id"], msg["message_id"])] = (p["text"], p.get("parse_mode"))
        return msg

    async def _api_sendPhoto(self, p: Params, files: Files) -> Any:
        caption = self._caption(p)
        stored = self._input_file(p["photo"], files, "photos", "jpg")
        return self._bot_message(p, photo=self._photo_sizes(stored), **caption)

    async def _api_sendDocument(self, p: Params, files: Files) -> Any:
        caption = self._caption(p)
        stored = self._input_file(p["document"], files, "documents", "bin")
        return self._bot_message(p, document=self._document(stored), **caption)

    async def _api_sendVideo(self, p: Params, files: Files) -> Any:
        caption = self._caption(p)
        stored = self._input_file(p["video"], files, "videos", "mp4")
        return self._bot_message(p, video=self._video(stored), **caption)

    async def _api_sendMediaGroup(self, p: Params, files: Files) -> Any:
        media = p["media"]
        if not isinstance(media, list) or len(media) < 2:
            raise bad_request("media must include 2-10 items")
        if len(media) > 10:
            raise bad_request("too much messages to send as an album")
        kinds = {item.get("type") for item in media}
        if not kinds <= set(MEDIA_NAMES):
            raise bad_request("can't parse InputMedia: unsupported media type")
        for alone in ("document", "audio"):
            if alone in kinds and len(kinds) > 1:
                raise bad_request(f"{alone}s can't be mixed with other media types")
        contents = [self._caption(item) for item in media]
        ext = {"photo": "jpg", "video": "mp4"}
        stored = [self._input_file(item.get("media"), files, f"{item['type']}s",
                                   ext.get(item["type"], "bin")) for item in media]
        self._counter += 1
        group_id = f"1{self._counter:017d}"
        messages = []
        for item, content, file in zip(media, contents, stored, strict=True):
            kind = item["type"]
            content[kind] = (self._photo_sizes(file) if kind == "photo" else
                             self._video(file) if kind == "video" else self._document(file))
            messages.append(self._new_message(p["chat_id"], self.bot_user,
                                              media_group_id=group_id, **content))
        return messages

    def _copy_of(self, p: Params, action: str) -> dict[str, Any]:
        source = self._messages.get((p["from_chat_id"], p["message_id"]))
        if source is None:
            raise bad_request(f"message to {action} not found")
        return {k: v for k, v in source.items() if k in ("text", "caption", *MEDIA_NAMES)}

    async def _api_copyMessage(self, p: Params, files: Files) -> Any:
        content = self._copy_of(p, "copy")
        if "caption" in p:
            content.pop("caption", None)
            content.update(self._caption(p))
        msg = self._bot_message(p, **content)
        self._copies[(p["chat_id"], msg["message_id"])] = msg
        return {"message_id": msg["message_id"]}

    async def _api_forwardMessage(self, p: Params, files: Files) -> Any:
        content = self._copy_of(p, "forward")
        source = self._messages[(p["from_chat_id"], p["message_id"])]
        origin = {"type": "user", "sender_user": source["from"], "date": source["date"]}
        return self._new_message(p["chat_id"], self.bot_user, forward_origin=origin, **content)

    async def _api_editMessageText(self, p: Params, files: Files) -> Any:
        key, old = self._target(p, "edit")
        if old["from"].get("id") != BOT_ID:
            raise bad_request("message can't be edited")
        if "text" not in old:
            raise bad_request("there is no text in the message to edit")
        text = self._text(p["text"], p.get("parse_mode"))
        source = (p["text"], p.get("parse_mode"))
        if self._sources.get(key) == source and old.get("reply_markup") == p.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        self._sources[key] = source
        return self._replace(old, text=text, reply_markup=p.get("reply_markup"))

    async def _api_editMessageCaption(self, p: Params, files: Files) -> Any:
        _, old = self._target(p, "edit")
        if not any(kind in old for kind in MEDIA_NAMES):
            raise bad_request("there is no caption in the message to edit")
        caption = self._caption(p).get("caption")
        if old.get("caption") == caption and old.get("reply_markup") == p.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(old, caption=caption, reply_markup=p.get("reply_markup"))

    async def _api_editMessageReplyMarkup(self, p: Params, files: Files) -> Any:
        _, old = self._target(p, "edit")
        if old.get("reply_markup") == p.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(old, reply_markup=p.get("reply_markup"))

    async def _api_deleteMessage(self, p: Params, files: Files) -> Any:
        key, _ = self._target(p, "delete")
        del self._messages[key]
        return True

    async def _api_answerCallbackQuery(self, p: Params, files: Files) -> Any:
        if p["callback_query_id"] not in self._open_callbacks:
            raise ApiError(400, QUERY_TOO_OLD)
        if utf16_len(str(p.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(p["callback_query_id"])
        return True

    async def _api_leaveChat(self, p: Params, files: Files) -> Any:
        chat_id = p["chat_id"]
        if isinstance(chat_id, int) and chat_id > 0:
            raise bad_request("chat member status can't be changed in private chats")
        self.left_chats.add(chat_id)
        return True

    @staticmethod
    def _command_scope(p: Params) -> tuple[str, int | None, int | None, str]:
        scope = p.get("scope") or {"type": "default"}
        kind = scope.get("type") if isinstance(scope, dict) else None
        if kind not in COMMAND_SCOPES:
            raise bad_request("unsupported bot command scope type")
        for key in COMMAND_SCOPES[kind]:
            if not isinstance(scope.get(key), int):
                raise bad_request(f"{key} of the bot command scope must be an integer")
        return kind, scope.get("chat_id"), scope.get("user_id"), str(p.get("language_code") or "")

    async def _api_setMyCommands(self, p: Params, files: Files) -> Any:
        commands = p["commands"]
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand")
        for c in commands:
            if not isinstance(c, dict) or not COMMAND.match(str(c.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description") or "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._command_scope(p)] = commands
        return True

    async def _api_deleteMyCommands(self, p: Params, files: Files) -> Any:
        self.commands.pop(self._command_scope(p), None)
        return True

    async def _api_getFile(self, p: Params, files: Files) -> Any:
        stored = self._files.get(p["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content), "file_path": stored.file_path}

    # --- transcript rendering

    def _describe_update(self, update: dict[str, Any], name: Callable[[Any], str]) -> list[str]:
        if "callback_query" in update:
            query = update["callback_query"]
            label = query.get("data", "")
            for row in query["message"].get("reply_markup", {}).get("inline_keyboard", []):
                label = next((b["text"] for b in row if b.get("callback_data") == label), label)
            return [f"{name(query['from']['id'])} нажимает [{label}]"]
        msg = update.get("message")
        if msg is None:
            kinds = ", ".join(k for k in update if k != "update_id")
            return [f"(обновление {update['update_id']}: {kinds})"]
        who = name(msg["from"]["id"])
        if msg["chat"]["id"] != msg["from"]["id"]:
            who += f" в «{name(msg['chat']['id'])}»"
        return _indent(f"{who} → бот: ", _summary(msg))

    def _describe_call(self, call: Call, name: Callable[[Any], str]) -> list[str]:
        target = name(call.params.get("chat_id"))
        if not call.ok:
            return [f"бот ✗ {target}: {call.method} не доставлено — {call.description}"]
        head, msg = f"бот → {target}: ", call.result
        if call.method.startswith("edit"):
            head = f"бот ✎ {target} (правка #{call.result['message_id']}): "
            if call.method == "editMessageReplyMarkup":
                msg = {"text": "[кнопки изменены]" if call.buttons else "[кнопки убраны]"}
        elif call.method == "sendMediaGroup":
            kind = next(k for k in MEDIA_NAMES if k in call.result[0])
            msg = {"album": f"[{MEDIA_NAMES[kind]} ×{len(call.result)}]",
                   "caption": next((m["caption"] for m in call.result if "caption" in m), None)}
        elif call.method == "copyMessage":
            msg = self._copies[(call.params["chat_id"], call.result["message_id"])]
        lines = _indent(head, _summary(msg))
        lines.extend("    " + " ".join(f"[{b.get('text', '')}]" for b in row)
                     for row in call.buttons)
        return lines


def _chat_of(update: dict[str, Any]) -> Any:
    """The chat of a raw update (its lane of webhook delivery)."""
    if "message" in update:
        return update["message"]["chat"]["id"]
    if "callback_query" in update:
        query = update["callback_query"]
        return query["message"]["chat"]["id"] if "message" in query else query["from"]["id"]
    return ("update", update["update_id"])


def _summary(msg: dict[str, Any]) -> str:
    parts = [msg["album"]] if msg.get("album") else []
    parts += [f"[{MEDIA_NAMES[k]}]" for k in ("photo", "video", "audio") if msg.get(k)]
    if msg.get("document"):
        parts.append(f"[документ {msg['document'].get('file_name', '')}]".replace(" ]", "]"))
    if msg.get("forward_origin"):
        parts.append("[пересланное]")
    if msg.get("text") or msg.get("caption"):
        parts.append(msg.get("text") or msg["caption"])
    return " ".join(parts) or "(пусто)"


def _indent(head: str, body: str) -> list[str]:
    first, *rest = body.split("\n")
    return [head + first, *("    " + line for line in rest)]
