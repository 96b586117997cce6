"""A fake VK API on loopback, for tests and for the offline demo.

Point the real vk_api at it (:mod:`bot.vk_client` redirects vk_api's fixed API host)::

    async with FakeVkServer(tokens={"grp": "group", "svc": "service", "usr": "user"}) as vk:
        post = vk.add_post(-5, "Яма у школы", from_id=1001)
        vk.add_comment(-5, post["id"], "И у нас тоже", from_id=1002)
        client = VkClient("svc", api_base=vk.api_base, rps=math.inf)
        answer = await client.call("wall.getComments", owner_id=-5, post_id=post["id"])

It speaks API 5.199 as VK does: POST or GET ``/method/{name}`` with ``access_token`` and
``v``; answers ``{"response": ...}`` or VK's error object (HTTP 200 either way). It checks
the method (``vk_methods.json``, generated from VK's schema by ``gen_vk_methods.py``), the
token and its type (``access_token_type``), required parameters and their types, and models
walls with posts and threaded comments, wall photo uploads (``/upload/wall``), community
messages with keyboards and ``random_id`` dedupe, callback button events and the Bots Long
Poll (``/lp``); photos of incoming messages are served under ``/photos/``. Files the
community sends in messages are uploaded as VK does: photos through
``photos.getMessagesUploadServer`` → ``/upload/message`` → ``photos.saveMessagesPhoto``,
documents through ``docs.getMessagesUploadServer`` → ``/upload/doc`` → ``docs.save``
(served under ``/docs/``, as are documents residents send, made with :meth:`add_doc`).
Every API call is recorded in ``calls``; ``fail_next`` injects errors.

Tokens: ``tokens`` maps a token to ``"user"``, ``"group"`` or ``"service"``, optionally with
an id: ``"user:42"`` (default :data:`ADMIN_USER_ID`), ``"group:7"`` (default ``group_id``,
the community of the bot). Users of user tokens administer ``group_id``.

Choices where VK's answer is not documented (say so if you learn better):

- A deleted (or never existing) post: ``wall.getComments``/``wall.createComment`` answer
  error 15 "Access denied: post was deleted" (the message VK gives for deleted posts).
- Closed comments: ``wall.createComment`` → 213 "Access to status replies denied",
  ``wall.getComments`` → 212 "Access to post comments denied" (the codes VK's schema lists
  for these methods).
- A group-only method with a user token → 15 "Access denied: method is unavailable with
  user auth"; user/service methods with a group token → 27, group/user methods with a
  service token → 28 (VK's wording).
- Deliberate deviation: a ``v`` other than ``api_version`` is refused with error 8, so a
  client left at vk_api's default 5.92 fails loudly instead of getting other shapes.
- Upload servers for messages answer ``user_id`` 0 and ``group_id`` for a community
  token; photos and documents the community uploads belong to it (negative ``owner_id``).
  A user who forbade messages (:meth:`forbid_messages`) gets 901 from the upload servers
  too, as VK's schema lists for them.
- Not modelled: privacy of walls, bans, captcha, the 1-hour window of ``random_id``, access
  keys of photos, ``peer_ids`` beyond the basic answer, community tokens commenting on other
  communities' walls (allowed here). The long poll serves the bot's community only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

API_VERSION = "5.199"
GROUP_ID = 220000001  # the bot's community
GROUP_NAME = "МЦУ — Отклик"
ADMIN_USER_ID = 1000001  # the user behind user tokens (an admin of the bot's community)
MESSAGE_LIMIT = 4096
PAYLOAD_LIMIT = 255
LABEL_LIMIT = 40
SNACKBAR_LIMIT = 90
WALL_ALBUM_ID = -7  # VK's service album of wall photos
MESSAGE_ALBUM_ID = -3  # photos sent in messages
DEFAULT_AVATAR = "https://vk.com/images/community_{}.png"  # VK's picture for "no photo"
METHODS_FILE = Path(__file__).with_name("vk_methods.json")
TOKEN_TYPES = ("user", "group", "service")

# Descriptions of the error codes this fake produces or that tests inject (from errors.json).
ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    8: "Invalid request",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    18: "User was deleted or banned",
    27: "Group authorization failed",
    28: "Application authorization failed",
    29: "Rate limit reached",
    33: "Not implemented yet",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    118: "Invalid server",
    121: "Invalid hash",
    212: "Access to post comments denied",
    213: "Access to status replies denied",
    901: "Can't send messages for users without permission",
    911: "Keyboard format is invalid",
    914: "Message is too long",
    920: "Can't edit this kind of message",
}
DELETED_POST = "Access denied: post was deleted"
BUTTON_TYPES = frozenset({"text", "open_link", "location", "vkpay", "open_app", "callback",
                          "intent_subscribe", "intent_unsubscribe"})
LABELLED_BUTTONS = frozenset({"text", "open_link", "callback"})
BUTTON_COLORS = frozenset({"default", "secondary", "positive", "negative", "primary"})
CLIENT_INFO = {
    "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback",
                       "intent_subscribe", "intent_unsubscribe"],
    "keyboard": True, "inline_keyboard": True, "carousel": True, "lang_id": 0,
}
# (type, width, height) of the copies VK makes of a 1280×960 photo.
PHOTO_SIZES = (("s", 75, 56), ("m", 130, 98), ("x", 604, 453), ("y", 807, 605),
               ("z", 1280, 960))
_ATTACHMENT_RE = re.compile(r"(photo|video|audio|doc|wall|market|poll|link)(-?\d+)_(\d+)(_\w+)?")


class VkFault(Exception):
    """An error answer of the API: ``{"error": {"error_code": ..., "error_msg": ...}}``."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Unknown error occurred")
        super().__init__(f"[{code}] {self.message}")


def param_error(detail: str) -> VkFault:
    return VkFault(100, f"{ERROR_MESSAGES[100]}: {detail}")


def keyboard_error(detail: str) -> VkFault:
    return VkFault(911, f"{ERROR_MESSAGES[911]}: {detail}")


# ----------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Identity:
    """Who a token belongs to: ``kind`` is user/group/service, ``id`` the user or group id."""

    kind: str
    id: int

    @property
    def owner_id(self) -> int:
        """The id as the API writes an author: negative for a community."""
        return -self.id if self.kind == "group" else self.id


@dataclass
class Call:
    """One recorded API request and its outcome."""

    seq: int
    method: str
    params: dict[str, Any]  # decoded (ints, bools), without access_token
    token_type: str | None = None
    ok: bool = False
    result: Any = None
    error_code: int | None = None
    error_msg: str | None = None


@dataclass
class Upload:
    """A photo POSTed to an upload URL, waiting for ``photos.saveWallPhoto``."""

    key: str
    server: int
    user_id: int
    group_id: int | None
    content: bytes
    hash: str
    saved: bool = False
    target: str = "wall"  # "message": for photos.saveMessagesPhoto


@dataclass
class _Fault:
    method: str
    error: VkFault
    times: int


@dataclass
class _Wall:
    posts: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by post id
    deleted: set[int] = field(default_factory=set)
    closed: set[int] = field(default_factory=set)
    guids: dict[tuple[int, str], int] = field(default_factory=dict)
    next_id: int = 1  # posts and comments of a wall share one sequence, as on VK


Params = dict[str, Any]


# ----------------------------------------------------------------------------- the server


class FakeVkServer:
    """The fake VK API; see the module docstring."""

    def __init__(self, tokens: dict[str, str], *, group_id: int = GROUP_ID,
                 group_name: str = GROUP_NAME, api_version: str = API_VERSION,
                 clock: Callable[[], float] = time.time) -> None:
        self.group_id = group_id
        self.api_version = api_version
        self.clock = clock
        self.tokens = {token: _parse_identity(spec, group_id) for token, spec in tokens.items()}
        table = json.loads(METHODS_FILE.read_text(encoding="utf-8"))
        self._methods: dict[str, dict[str, Any]] = {
            name: spec for name, spec in table.items() if not name.startswith("_")
        }
        self.calls: list[Call] = []
        self.uploads: list[Upload] = []
        self.event_answers: list[dict[str, Any]] = []
        self.longpoll_requests = 0
        self._groups: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._admins: dict[int, set[int]] = {}
        self._walls: dict[int, _Wall] = {}
        self._photos: dict[tuple[int, int], dict[str, Any]] = {}
        self._photo_content: dict[tuple[int, int], bytes] = {}
        self._next_photo_id = 457239001
        self._docs: dict[tuple[int, int], dict[str, Any]] = {}
        self._doc_content: dict[tuple[int, int], bytes] = {}
        self._doc_uploads: dict[str, tuple[int, str, bytes]] = {}  # file → (uid, name, bytes)
        self._next_doc_id = 650000001
        self._messages: list[dict[str, Any]] = []  # every message of the community, both ways
        self._random_ids: dict[tuple[int, int], dict[str, Any]] = {}
        self._cmids: dict[int, int] = {}
        self._next_message_id = 1
        self._no_messages: set[int] = set()
        self._open_events: dict[str, tuple[int, int]] = {}
        self._events: list[dict[str, Any]] = []
        self._first_ts = 1
        self._lp_key = secrets.token_hex(20)
        self._lp_failures: list[int] = []
        self._lp_wakeup = asyncio.Event()
        self._faults: list[_Fault] = []
        self._upload_servers = itertools.count(1)
        self._counter = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.add_group(group_id, group_name, screen_name=f"club{group_id}")
        for identity in self.tokens.values():
            if identity.kind == "user":
                self.add_user(identity.id, "Администратор", "МЦУ", admin_of=(group_id,))

    # --- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/method/{name}", self._handle_method)
        app.router.add_post("/upload/wall", self._handle_upload)
        app.router.add_post("/upload/message", self._handle_upload)
        app.router.add_post("/upload/doc", self._handle_doc_upload)
        app.router.add_get("/docs/{key}", self._handle_doc)
        app.router.add_get("/photos/{key}/{size}.jpg", self._handle_photo)
        app.router.add_get("/lp", self._handle_longpoll)
        self._closing = False
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._wake_longpoll()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVkServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeVkServer is not started")
        return f"http://127.0.0.1:{self._port}"

    # --- builders: communities, users, walls

    def add_group(self, group_id: int, name: str, *, screen_name: str | None = None,
                  type: str = "page") -> dict[str, Any]:
        """Register community ``group_id`` (positive) with an empty wall."""
        group = {"id": group_id, "name": name, "screen_name": screen_name or f"public{group_id}",
                 "is_closed": 0, "type": type, "photo_50": DEFAULT_AVATAR.format(50),
                 "photo_100": DEFAULT_AVATAR.format(100), "photo_200": DEFAULT_AVATAR.format(200)}
        self._groups[group_id] = group
        self._walls.setdefault(-group_id, _Wall())
        return group

    def add_user(self, user_id: int, first_name: str, last_name: str = "", *,
                 admin_of: tuple[int, ...] = ()) -> dict[str, Any]:
        user = {"id": user_id, "first_name": first_name, "last_name": last_name,
                "can_access_closed": True, "is_closed": False}
        self._users[user_id] = user
        self._walls.setdefault(user_id, _Wall())
        for group_id in admin_of:
            self._admins.setdefault(group_id, set()).add(user_id)
        return user

    def add_post(self, owner_id: int, text: str, *, from_id: int | None = None,
                 date: int | None = None, attachments: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
        """A post on the wall of ``owner_id`` (negative: a community); by the owner unless
        ``from_id`` (a post suggested by a resident and published keeps its author)."""
        wall = self._wall(owner_id, create=True)
        author = owner_id if from_id is None else from_id
        self._ensure_author(author)
        post_id = self._next_wall_id(wall)
        post = {
            "id": post_id, "owner_id": owner_id, "from_id": author,
            "date": self._now() if date is None else date, "text": text, "post_type": "post",
            "attachments": list(attachments or []), "marked_as_ads": 0, "is_favorite": False,
            "comments": {"can_post": 1, "can_view": 1, "count": 0, "groups_can_post": True},
            "likes": {"can_like": 1, "count": 0, "user_likes": 0, "can_publish": 1},
            "reposts": {"count": 0, "user_reposted": 0}, "views": {"count": 1},
            "hash": secrets.token_hex(8),
        }
        if author != owner_id and owner_id < 0:
            post["signer_id"] = author
        wall.posts[post_id] = post
        wall.comments[post_id] = []
        return post

    def add_comment(self, owner_id: int, post_id: int, text: str, from_id: int, *,
                    reply_to_comment: int | None = None, date: int | None = None,
                    attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A comment by ``from_id`` (a resident, or ``-group_id``), as if posted on VK."""
        wall = self._wall(owner_id)
        if post_id not in wall.posts:
            raise KeyError(f"no post {owner_id}_{post_id}")
        self._ensure_author(from_id)
        return self._new_comment(wall, owner_id, post_id, from_id, text,
                                 reply_to_comment, list(attachments or []), date)

    def delete_post(self, owner_id: int, post_id: int) -> None:
        self._wall(owner_id).deleted.add(post_id)

    def close_comments(self, owner_id: int, post_id: int) -> None:
        self._wall(owner_id).closed.add(post_id)
        self._wall(owner_id).posts[post_id]["comments"]["can_post"] = 0

    def open_comments(self, owner_id: int, post_id: int) -> None:
        self._wall(owner_id).closed.discard(post_id)
        self._wall(owner_id).posts[post_id]["comments"]["can_post"] = 1

    def forbid_messages(self, user_id: int) -> None:
        """The user has not allowed messages from the community: ``messages.send`` → 901."""
        self._no_messages.add(user_id)

    def allow_messages(self, user_id: int) -> None:
        self._no_messages.discard(user_id)

    # --- builders: long poll events

    def push_event(self, type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Queue a Bots Long Poll event of ``type`` with ``obj``; return the event."""
        event = {"group_id": self.group_id, "type": type, "event_id": secrets.token_hex(20),
                 "v": self.api_version, "object": obj}
        self._events.append(event)
        self._wake_longpoll()
        return event

    def push_message_new(self, from_id: int, text: str = "",
                         attachments: list[bytes | dict[str, Any]] | None = None, *,
                         payload: dict[str, Any] | None = None, peer_id: int | None = None,
                         ref: str | None = None, ref_source: str | None = None
                         ) -> dict[str, Any]:
        """A message from user ``from_id`` to the community. ``attachments``: photo bytes
        (served under ``/photos/``, with ``sizes`` as VK gives them) or ready attachment
        dicts (:meth:`add_doc`). ``payload``: the payload of the text button pressed, if
        any. ``ref``/``ref_source``: the parameters of the ``vk.me`` link the user came by
        (VK passes them with the first message after following the link)."""
        self._ensure_author(from_id)
        peer = from_id if peer_id is None else peer_id
        items = [item if isinstance(item, dict)
                 else {"type": "photo", "photo": self._store_photo(from_id, MESSAGE_ALBUM_ID,
                                                                   item)}
                 for item in attachments or []]
        message = self._new_message(peer, from_id, text, out=0, attachments=items)
        if ref is not None:
            message["ref"] = ref
        if ref_source is not None:
            message["ref_source"] = ref_source
        if payload is not None:
            message["payload"] = json.dumps(payload, ensure_ascii=False)
        return self.push_event("message_new", {"message": message,
                                               "client_info": dict(CLIENT_INFO)})

    def push_message_event(self, user_id: int, payload: dict[str, Any], *,
                           peer_id: int | None = None,
                           conversation_message_id: int | None = None) -> dict[str, Any]:
        """A press on a callback button: by default on the latest message of the community to
        the peer whose keyboard has a button with this payload (else the latest one)."""
        self._ensure_author(user_id)
        peer = user_id if peer_id is None else peer_id
        if conversation_message_id is None:
            conversation_message_id = self._message_with_button(peer, payload)
        event_id = secrets.token_hex(6)
        self._open_events[event_id] = (user_id, peer)
        obj = {"user_id": user_id, "peer_id": peer, "event_id": event_id, "payload": payload,
               "conversation_message_id": conversation_message_id}
        return self.push_event("message_event", obj)

    def add_doc(self, owner_id: int, title: str, content: bytes) -> dict[str, Any]:
        """A document of ``owner_id`` (served under ``/docs/``), as the attachment dict of a
        message: ``{"type": "doc", "doc": {...}}``."""
        return {"type": "doc", "doc": self._store_doc(owner_id, title, content)}

    def fail_longpoll(self, failed: int) -> None:
        """The next long poll request answers ``{"failed": failed}`` (1: ts lost, with the
        new ts; 2: key expired; 3: key and ts lost). 2 and 3 issue a new key."""
        if failed not in (1, 2, 3):
            raise ValueError("failed is 1, 2 or 3")
        self._lp_failures.append(failed)
        self._wake_longpoll()

    # --- fault injection

    def fail_next(self, method: str, error_code: int, error_msg: str | None = None, *,
                  times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (with a valid token) fail with the error."""
        self._faults.append(_Fault(method, VkFault(error_code, error_msg), times))

    # --- inspection

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages_to(self, peer_id: int) -> list[dict[str, Any]]:
        """The community's messages to ``peer_id``, as they are now (after edits)."""
        return [m for m in self._messages if m["peer_id"] == peer_id and m["out"] == 1]

    def comments(self, owner_id: int, post_id: int) -> list[dict[str, Any]]:
        """Every comment of the post (threads included), oldest first."""
        return list(self._wall(owner_id).comments.get(post_id, []))

    def posts(self, owner_id: int) -> list[dict[str, Any]]:
        wall = self._wall(owner_id)
        return [p for i, p in sorted(wall.posts.items()) if i not in wall.deleted]

    def doc_content(self, attachment: str) -> bytes:
        """The bytes behind ``doc{owner_id}_{id}`` (an uploaded or incoming document)."""
        m = _ATTACHMENT_RE.fullmatch(attachment)
        if m is None or m[1] != "doc":
            raise KeyError(attachment)
        return self._doc_content[(int(m[2]), int(m[3]))]

    def photo_content(self, attachment: str) -> bytes:
        """The bytes behind ``photo{owner_id}_{id}`` (an uploaded or incoming photo)."""
        m = _ATTACHMENT_RE.fullmatch(attachment)
        if m is None or m[1] != "photo":
            raise KeyError(attachment)
        return self._photo_content[(int(m[2]), int(m[3]))]

    def reset_calls(self) -> None:
        self.calls.clear()

    # --- HTTP layer

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["name"]
        raw = await self._read_params(request)
        token = raw.pop("access_token", None)
        auth = request.headers.get("Authorization", "")
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        self._counter += 1
        call = Call(seq=self._counter, method=method, params=dict(raw))
        self.calls.append(call)
        try:
            identity = self._authorize(method, raw, token)
            call.token_type = identity.kind
            self._check_faults(method)
            call.params = self._decode(method, raw)
            self._check_required(method, call.params)
            handler = getattr(self, "_api_" + method.replace(".", "_"), None)
            if handler is None:
                raise VkFault(33, f"{ERROR_MESSAGES[33]}: the fake does not implement {method}")
            call.result = handler(call.params, identity)
            call.ok = True
        except VkFault as exc:
            call.error_code, call.error_msg = exc.code, exc.message
        except Exception as exc:  # a bug of the fake: show it to the client
            call.error_code, call.error_msg = 1, f"{ERROR_MESSAGES[1]}: fake: {exc!r}"
        if call.ok:
            return web.json_response({"response": call.result})
        request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
        request_params += [{"key": k, "value": str(v)} for k, v in raw.items()]
        return web.json_response({"error": {"error_code": call.error_code,
                                            "error_msg": call.error_msg,
                                            "request_params": request_params}})

    async def _read_params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, str):
                    params[key] = value  # a repeated key keeps its last value
        return params

    def _authorize(self, method: str, raw: dict[str, str], token: str | None) -> Identity:
        spec = self._methods.get(method)
        if spec is None:
            raise VkFault(3, f"{ERROR_MESSAGES[3]}")
        version = raw.get("v")
        if not version:
            raise VkFault(8, "Invalid request: v (version) is required")
        if version != self.api_version:
            raise VkFault(8, f"Invalid request: this fake serves v={self.api_version} only, "
                             f"got v={version}")
        if not token:
            raise VkFault(5, "User authorization failed: no access_token passed.")
        identity = self.tokens.get(token)
        if identity is None:
            raise VkFault(5, "User authorization failed: invalid access_token (4).")
        allowed = spec["token"]
        if identity.kind not in allowed:
            if identity.kind == "group":
                raise VkFault(27, "Group authorization failed: method is unavailable with "
                                  "group auth.")
            if identity.kind == "service":
                raise VkFault(28, "Application authorization failed: method is unavailable "
                                  "with service token.")
            raise VkFault(15, "Access denied: method is unavailable with user auth")
        return identity

    def _check_faults(self, method: str) -> None:
        for fault in self._faults:
            if fault.method == method:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                raise fault.error

    def _decode(self, method: str, raw: dict[str, str]) -> Params:
        kinds = self._methods[method]["params"]
        params: Params = {}
        for key, value in raw.items():
            kind = kinds.get(key, "str")
            if key == "v":
                params[key] = value
            elif kind == "int" or (kind == "int|str" and re.fullmatch(r"-?\d+", value)):
                if not re.fullmatch(r"-?\d+", value.strip()):
                    raise param_error(f"{key} not integer")
                params[key] = int(value)
            elif kind == "float":
                try:
                    params[key] = float(value)
                except ValueError:
                    raise param_error(f"{key} not number") from None
            elif kind == "bool":
                params[key] = value.strip().lower() in ("1", "true")
            elif kind == "list":
                params[key] = [item.strip() for item in value.split(",") if item.strip()]
            else:
                params[key] = value
        return params

    def _check_required(self, method: str, params: Params) -> None:
        for key in self._methods[method]["required"]:
            if params.get(key) in (None, "", []):
                raise param_error(f"{key} is missing")

    async def _handle_upload(self, request: web.Request) -> web.Response:
        server = int(request.query.get("srv", "0"))
        form = await request.post()
        part = form.get("photo")
        content = part.file.read() if isinstance(part, web.FileField) else None
        if content is None:  # VK answers so when the "photo" field is missing
            return web.json_response({"server": server, "photo": "[]", "hash": ""})
        key = secrets.token_hex(16)
        digest = hashlib.md5(key.encode() + content).hexdigest()
        gid = request.query.get("gid")
        upload = Upload(key, server, int(request.query.get("uid", "0")),
                        int(gid) if gid else None, content, digest,
                        target="message" if request.path == "/upload/message" else "wall")
        self.uploads.append(upload)
        photo = json.dumps([{"markers_restarted": True, "photo": key, "sizes": [],
                             "latitude": 0, "longitude": 0, "kid": secrets.token_hex(16)}])
        return web.json_response({"server": server, "photo": photo, "hash": digest})

    async def _handle_doc_upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        part = form.get("file")
        if not isinstance(part, web.FileField):
            return web.json_response({"error": "no_file", "error_descr": "file is missing"})
        key = secrets.token_hex(24)
        self._doc_uploads[key] = (int(request.query.get("uid", "0")), part.filename or "file",
                                  part.file.read())
        return web.json_response({"file": key})

    async def _handle_doc(self, request: web.Request) -> web.Response:
        return _serve(self._doc_content, request, "application/octet-stream")

    async def _handle_photo(self, request: web.Request) -> web.Response:
        return _serve(self._photo_content, request, "image/jpeg")

    async def _handle_longpoll(self, request: web.Request) -> web.Response:
        self.longpoll_requests += 1
        query = request.query
        if self._lp_failures:
            return self._longpoll_failure()
        if query.get("act") != "a_check" or query.get("key") != self._lp_key:
            return web.json_response({"failed": 2})
        try:
            ts = int(query.get("ts", ""))
        except ValueError:
            return web.json_response({"failed": 1, "ts": str(self._next_ts)})
        if not self._first_ts <= ts <= self._next_ts:
            return web.json_response({"failed": 1, "ts": str(self._next_ts)})
        wait_arg = query.get("wait", "25")
        wait = min(max(int(wait_arg), 0), 90) if wait_arg.isdigit() else 25
        deadline = asyncio.get_running_loop().time() + wait
        while ts == self._next_ts and not self._closing and not self._lp_failures:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            wakeup = self._lp_wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)
        if self._lp_failures and ts == self._next_ts:
            return self._longpoll_failure()
        updates = self._events[ts - self._first_ts:]
        return web.json_response({"ts": str(self._next_ts), "updates": updates})

    def _longpoll_failure(self) -> web.Response:
        failed = self._lp_failures.pop(0)
        if failed in (2, 3):
            self._lp_key = secrets.token_hex(20)
        body: dict[str, Any] = {"failed": failed}
        if failed == 1:
            body["ts"] = str(self._next_ts)
        return web.json_response(body)

    @property
    def _next_ts(self) -> int:
        return self._first_ts + len(self._events)

    def _wake_longpoll(self) -> None:
        self._lp_wakeup.set()
        self._lp_wakeup = asyncio.Event()

    # --- helpers

    def _now(self) -> int:
        return int(self.clock())

    def _wall(self, owner_id: int, *, create: bool = False) -> _Wall:
        wall = self._walls.get(owner_id)
        if wall is None:
            if not create:
                raise KeyError(f"no wall {owner_id}")
            self._ensure_author(owner_id)
            wall = self._walls[owner_id]
        return wall

    def _ensure_author(self, owner_id: int) -> None:
        """Residents and communities appear as they are first used (placeholder names)."""
        if owner_id < 0 and -owner_id not in self._groups:
            self.add_group(-owner_id, f"Сообщество {-owner_id}")
        elif owner_id > 0 and owner_id not in self._users:
            self.add_user(owner_id, "Житель", str(owner_id))

    @staticmethod
    def _next_wall_id(wall: _Wall) -> int:
        wall.next_id += 1
        return wall.next_id - 1

    def _new_comment(self, wall: _Wall, owner_id: int, post_id: int, from_id: int, text: str,
                     reply_to: int | None, attachments: list[dict[str, Any]],
                     date: int | None = None) -> dict[str, Any]:
        comments = wall.comments[post_id]
        comment: dict[str, Any] = {
            "id": self._next_wall_id(wall), "from_id": from_id,
            "date": self._now() if date is None else date, "text": text,
            "post_id": post_id, "owner_id": owner_id, "parents_stack": [],
        }
        if attachments:
            comment["attachments"] = attachments
        if reply_to:
            replied = next((c for c in comments if c["id"] == reply_to), None)
            if replied is None:
                raise param_error("reply_to_comment is invalid")
            comment["parents_stack"] = replied["parents_stack"] or [replied["id"]]
            comment["reply_to_user"] = replied["from_id"]
            comment["reply_to_comment"] = reply_to
        comments.append(comment)
        wall.posts[post_id]["comments"]["count"] = len(comments)
        return comment

    def _post(self, owner_id: int, post_id: int) -> tuple[_Wall, dict[str, Any]]:
        wall = self._walls.get(owner_id)
        if wall is None or post_id not in wall.posts or post_id in wall.deleted:
            raise VkFault(15, DELETED_POST)
        return wall, wall.posts[post_id]

    def _owner_of(self, params: Params, identity: Identity) -> int:
        owner = params.get("owner_id")
        if owner is None and params.get("domain") not in (None, ""):
            owner = self._resolve_domain(params["domain"])
        if owner is None:
            if identity.kind != "user":
                raise param_error("owner_id is undefined")
            owner = identity.id
        if owner not in self._walls:
            raise param_error("owner_id is incorrect")
        return owner

    def _resolve_domain(self, domain: Any) -> int:
        if isinstance(domain, int):
            return domain
        m = re.fullmatch(r"(?:club|public|event)(\d+)|id(\d+)", domain)
        if m:
            return -int(m[1]) if m[1] else int(m[2])
        for group in self._groups.values():
            if group["screen_name"] == domain:
                return -group["id"]
        raise param_error("domain is invalid")

    def _extended(self, owner_ids: set[int]) -> dict[str, list[dict[str, Any]]]:
        return {"profiles": [self._users[i] for i in sorted(owner_ids) if i in self._users],
                "groups": [self._groups[-i] for i in sorted(owner_ids) if -i in self._groups]}

    def _store_photo(self, owner_id: int, album_id: int, content: bytes, *,
                     user_id: int | None = None) -> dict[str, Any]:
        photo_id = self._next_photo_id
        self._next_photo_id += 1
        base = f"{self.api_base}/photos/{owner_id}_{photo_id}"
        photo: dict[str, Any] = {
            "album_id": album_id, "date": self._now(), "id": photo_id, "owner_id": owner_id,
            "access_key": secrets.token_hex(9), "has_tags": False, "text": "",
            "sizes": [{"height": h, "type": t, "width": w, "url": f"{base}/{t}.jpg"}
                      for t, w, h in PHOTO_SIZES],
            "orig_photo": {"height": 960, "type": "base", "width": 1280,
                           "url": f"{base}/base.jpg"},
            "web_view_token": secrets.token_hex(10),
        }
        if user_id is not None:
            photo["user_id"] = user_id
        self._photos[(owner_id, photo_id)] = photo
        self._photo_content[(owner_id, photo_id)] = content
        return photo

    def _attachments(self, refs: list[str]) -> list[dict[str, Any]]:
        """Attachment objects for ``photo-1_2`` references (other kinds pass as they are)."""
        out = []
        for ref in refs:
            m = _ATTACHMENT_RE.fullmatch(ref)
            if m is None:
                raise param_error(f"attachment {ref} is invalid")
            kind, owner, item = m[1], int(m[2]), int(m[3])
            if kind == "photo":
                photo = self._photos.get((owner, item))
                if photo is None:
                    raise param_error(f"attachment {ref} is invalid")
                out.append({"type": "photo", "photo": photo})
            elif kind == "doc" and (owner, item) in self._docs:
                out.append({"type": "doc", "doc": self._docs[(owner, item)]})
            else:
                out.append({"type": kind, kind: {"owner_id": owner, "id": item}})
        return out

    def _store_doc(self, owner_id: int, title: str, content: bytes) -> dict[str, Any]:
        doc_id = self._next_doc_id
        self._next_doc_id += 1
        ext = title.rpartition(".")[2].lower() if "." in title else ""
        doc = {"id": doc_id, "owner_id": owner_id, "title": title, "size": len(content),
               "ext": ext, "date": self._now(), "type": 1 if ext in ("pdf", "doc", "docx",
                                                                    "txt") else 8,
               "url": f"{self.api_base}/docs/{owner_id}_{doc_id}",
               "access_key": secrets.token_hex(9)}
        self._docs[(owner_id, doc_id)] = doc
        self._doc_content[(owner_id, doc_id)] = content
        return doc

    def _new_message(self, peer_id: int, from_id: int, text: str, *, out: int,
                     attachments: list[dict[str, Any]], random_id: int = 0,
                     keyboard: dict[str, Any] | None = None) -> dict[str, Any]:
        self._cmids[peer_id] = self._cmids.get(peer_id, 0) + 1
        message: dict[str, Any] = {
            "date": self._now(), "from_id": from_id, "id": self._next_message_id, "out": out,
            "version": self._next_message_id, "attachments": attachments,
            "conversation_message_id": self._cmids[peer_id], "fwd_messages": [],
            "important": False, "is_hidden": False, "peer_id": peer_id,
            "random_id": random_id, "text": text,
        }
        if keyboard is not None:
            message["keyboard"] = keyboard
        self._next_message_id += 1
        self._messages.append(message)
        return message

    def _message_with_button(self, peer_id: int, payload: dict[str, Any]) -> int:
        sent = self.messages_to(peer_id)
        for message in reversed(sent):
            for row in (message.get("keyboard") or {}).get("buttons", []):
                for button in row:
                    action = button.get("action", {})
                    pressed = _loads(action.get("payload")) == payload
                    if action.get("type") == "callback" and pressed:
                        return message["conversation_message_id"]
        return sent[-1]["conversation_message_id"] if sent else 0

    def _check_text(self, text: str) -> None:
        if len(text) > MESSAGE_LIMIT:
            raise VkFault(914)

    def _check_keyboard(self, raw: str, identity: Identity) -> dict[str, Any]:
        try:
            keyboard = json.loads(raw)
        except ValueError:
            raise keyboard_error("invalid JSON") from None
        if not isinstance(keyboard, dict) or not isinstance(keyboard.get("buttons"), list):
            raise keyboard_error("buttons is required")
        rows = keyboard["buttons"]
        inline = bool(keyboard.get("inline"))
        max_rows, max_buttons = (6, 10) if inline else (10, 40)
        if len(rows) > max_rows:
            raise keyboard_error(f"too many rows (max {max_rows})")
        if sum(len(row) for row in rows if isinstance(row, list)) > max_buttons:
            raise keyboard_error(f"too many buttons (max {max_buttons})")
        for row in rows:
            if not isinstance(row, list):
                raise keyboard_error("a row must be an array")
            if len(row) > 5:
                raise keyboard_error("too many buttons in a row (max 5)")
            for button in row:
                self._check_button(button)
        keyboard.setdefault("one_time", False)
        keyboard["author_id"] = identity.owner_id
        return keyboard

    @staticmethod
    def _check_button(button: Any) -> None:
        action = button.get("action") if isinstance(button, dict) else None
        if not isinstance(action, dict) or action.get("type") not in BUTTON_TYPES:
            raise keyboard_error("action.type is invalid")
        kind = action["type"]
        if kind in LABELLED_BUTTONS:
            label = action.get("label")
            if not isinstance(label, str) or not label:
                raise keyboard_error("action.label is required")
            if len(label) > LABEL_LIMIT:
                raise keyboard_error(f"action.label is too long (max {LABEL_LIMIT})")
        payload = action.get("payload")
        if payload is not None:
            if not isinstance(payload, str):
                raise keyboard_error("action.payload must be a string")
            if len(payload) > PAYLOAD_LIMIT:
                raise keyboard_error(f"payload is too long (max {PAYLOAD_LIMIT})")
            if _loads(payload) is None:
                raise keyboard_error("payload must be a JSON object string")
        color = button.get("color")
        if color is not None and (kind not in ("text", "callback") or color not in BUTTON_COLORS):
            raise keyboard_error("color is invalid")

    # --- methods: wall

    def _api_wall_get(self, p: Params, me: Identity) -> Any:
        owner = self._owner_of(p, me)
        wall = self._walls[owner]
        posts = [post for i, post in sorted(wall.posts.items(), reverse=True)
                 if i not in wall.deleted]
        flt = p.get("filter", "all")
        if flt == "owner":
            posts = [post for post in posts if post["from_id"] == owner]
        elif flt == "others":
            posts = [post for post in posts if post["from_id"] != owner]
        offset, count = max(p.get("offset", 0), 0), min(max(p.get("count", 20), 0), 100)
        items = posts[offset:offset + count]
        answer: dict[str, Any] = {"count": len(posts), "items": items}
        if p.get("extended"):
            answer.update(self._extended({post["from_id"] for post in items} | {owner}))
        return answer

    def _api_wall_getById(self, p: Params, me: Identity) -> Any:
        items = []
        for ref in p["posts"]:
            m = re.fullmatch(r"(-?\d+)_(\d+)", ref)
            if m is None:
                raise param_error("posts is invalid")
            wall = self._walls.get(int(m[1]))
            post_id = int(m[2])
            if wall is not None and post_id in wall.posts and post_id not in wall.deleted:
                items.append(wall.posts[post_id])
        answer: dict[str, Any] = {"items": items}
        if p.get("extended"):
            answer.update(self._extended({post["from_id"] for post in items}
                                         | {post["owner_id"] for post in items}))
        return answer

    def _api_wall_getComments(self, p: Params, me: Identity) -> Any:
        owner = self._owner_of(p, me)
        wall, _ = self._post(owner, p["post_id"])
        if p["post_id"] in wall.closed:
            raise VkFault(212)
        everything = wall.comments[p["post_id"]]
        parent = p.get("comment_id")
        if parent:
            if not any(c["id"] == parent for c in everything):
                raise param_error("comment_id is invalid")
            level = [c for c in everything if parent in c["parents_stack"]]
        else:
            level = [c for c in everything if not c["parents_stack"]]
        descending = p.get("sort") == "desc"
        level = sorted(level, key=lambda c: c["id"], reverse=descending)
        start = 0
        if p.get("start_comment_id"):
            first = p["start_comment_id"]
            start = next((i for i, c in enumerate(level)
                          if (c["id"] <= first if descending else c["id"] >= first)), len(level))
        offset, count = max(p.get("offset", 0), 0), min(max(p.get("count", 10), 0), 100)
        begin = start + offset
        thread_items = min(max(p.get("thread_items_count", 0), 0), 10)
        items = [self._comment_view(c, everything, thread_items, real_offset=begin + n)
                 for n, c in enumerate(level[begin:begin + count])]
        answer: dict[str, Any] = {"count": len(everything), "items": items,
                                  "current_level_count": len(level), "can_post": True,
                                  "show_reply_button": True, "groups_can_post": True}
        if p.get("extended"):
            authors = {c["from_id"] for c in items}
            authors |= {t["from_id"] for c in items for t in c.get("thread", {}).get("items", [])}
            answer.update(self._extended(authors))
        return answer

    def _comment_view(self, comment: dict[str, Any], everything: list[dict[str, Any]],
                      thread_items: int, *, real_offset: int) -> dict[str, Any]:
        view = dict(comment)
        view["likes"] = {"can_like": 1, "count": 0, "user_likes": 0, "can_publish": 1}
        if comment["parents_stack"]:
            return view
        replies = [c for c in everything if comment["id"] in c["parents_stack"]]
        view["thread"] = {"count": len(replies), "can_post": True, "show_reply_button": True,
                          "groups_can_post": True}
        if thread_items:
            view["thread"]["items"] = [dict(c) for c in replies[:thread_items]]
        if real_offset:
            view["real_offset"] = real_offset
        return view

    def _api_wall_createComment(self, p: Params, me: Identity) -> Any:
        owner = p.get("owner_id", me.owner_id if me.kind == "user" else -me.id)
        wall, _ = self._post(owner, p["post_id"])
        if p["post_id"] in wall.closed:
            raise VkFault(213)
        text = p.get("message", "")
        refs = p.get("attachments") or []
        if not text and not refs:
            raise param_error("message is empty or invalid")
        if me.kind == "group":
            author = -me.id
        elif p.get("from_group"):
            if me.id not in self._admins.get(p["from_group"], set()):
                raise VkFault(15, "Access denied: you are not an admin of this community")
            author = -p["from_group"]
        else:
            author = me.id
        guid = p.get("guid")
        if guid and (p["post_id"], guid) in wall.guids:
            existing = wall.guids[(p["post_id"], guid)]
            stack = next(c["parents_stack"] for c in wall.comments[p["post_id"]]
                         if c["id"] == existing)
            return {"comment_id": existing, "parents_stack": stack}
        comment = self._new_comment(wall, owner, p["post_id"], author, text,
                                    p.get("reply_to_comment"), self._attachments(refs))
        if guid:
            wall.guids[(p["post_id"], guid)] = comment["id"]
        return {"comment_id": comment["id"], "parents_stack": comment["parents_stack"]}

    # --- methods: photos

    def _api_photos_getWallUploadServer(self, p: Params, me: Identity) -> Any:
        group_id = p.get("group_id")
        server = next(self._upload_servers)
        url = f"{self.api_base}/upload/wall?srv={server}&uid={me.id}"
        if group_id:
            url += f"&gid={abs(group_id)}"
        return {"album_id": WALL_ALBUM_ID, "upload_url": url, "user_id": me.id}

    def _api_photos_saveWallPhoto(self, p: Params, me: Identity) -> Any:
        try:
            keys = [item["photo"] for item in json.loads(p["photo"])]
        except (ValueError, TypeError, KeyError):
            keys = []
        uploads = [u for u in self.uploads if u.key in keys and not u.saved]
        if not keys or len(uploads) != len(keys):
            raise param_error("photos_list is invalid")
        group_id = abs(p["group_id"]) if p.get("group_id") else None
        saved = []
        for upload in uploads:
            if p.get("server") != upload.server or upload.user_id != me.id:
                raise VkFault(118)
            if p.get("hash") != upload.hash:
                raise VkFault(121)
            if group_id != upload.group_id:
                raise param_error("group_id is invalid")
            upload.saved = True
            owner = -group_id if group_id else me.id
            saved.append(self._store_photo(owner, WALL_ALBUM_ID, upload.content,
                                           user_id=100 if group_id else me.id))
            if p.get("caption"):
                saved[-1]["text"] = p["caption"]
        return saved

    # --- methods: files sent in messages

    def _api_photos_getMessagesUploadServer(self, p: Params, me: Identity) -> Any:
        if p.get("peer_id") in self._no_messages:
            raise VkFault(901)
        server = next(self._upload_servers)
        url = f"{self.api_base}/upload/message?srv={server}&uid={me.id}"
        return {"album_id": MESSAGE_ALBUM_ID, "upload_url": url,
                "user_id": 0 if me.kind == "group" else me.id,
                "group_id": me.id if me.kind == "group" else 0}

    def _api_photos_saveMessagesPhoto(self, p: Params, me: Identity) -> Any:
        try:
            keys = [item["photo"] for item in json.loads(p["photo"])]
        except (ValueError, TypeError, KeyError):
            keys = []
        uploads = [u for u in self.uploads if u.key in keys and not u.saved]
        if not keys or len(uploads) != len(keys) or any(u.target != "message" for u in uploads):
            raise param_error("photo is invalid")
        saved = []
        for upload in uploads:
            if p.get("server") != upload.server or upload.user_id != me.id:
                raise VkFault(118)
            if p.get("hash") != upload.hash:
                raise VkFault(121)
            upload.saved = True
            saved.append(self._store_photo(me.owner_id, MESSAGE_ALBUM_ID, upload.content))
        return saved

    def _api_docs_getMessagesUploadServer(self, p: Params, me: Identity) -> Any:
        if p.get("type", "doc") not in ("doc", "audio_message", "graffiti"):
            raise param_error("type is invalid")
        if p.get("peer_id") in self._no_messages:
            raise VkFault(901)
        return {"upload_url": f"{self.api_base}/upload/doc?uid={me.id}"}

    def _api_docs_save(self, p: Params, me: Identity) -> Any:
        upload = self._doc_uploads.pop(p["file"], None)
        if upload is None or upload[0] != me.id:
            raise param_error("file is invalid")
        _, name, content = upload
        return {"type": "doc", "doc": self._store_doc(me.owner_id, p.get("title") or name,
                                                      content)}

    # --- methods: groups and users

    def _api_groups_getById(self, p: Params, me: Identity) -> Any:
        refs: list[Any] = list(p.get("group_ids") or [])
        if p.get("group_id"):
            refs.append(str(p["group_id"]))
        if not refs:
            if me.kind != "group":
                raise param_error("group_ids is undefined")
            refs = [str(me.id)]
        groups = []
        for ref in refs:
            group_id = abs(int(ref)) if re.fullmatch(r"-?\d+", ref) else \
                -self._resolve_domain(ref)
            if group_id not in self._groups:
                raise param_error("group_ids is invalid")
            groups.append(self._groups[group_id])
        return {"groups": groups, "profiles": []}

    def _api_users_get(self, p: Params, me: Identity) -> Any:
        refs = list(p.get("user_ids") or [])
        if not refs:
            return [self._users[me.id]] if me.kind == "user" else []
        users = []
        for ref in refs:
            user_id = int(ref) if ref.isdigit() else self._resolve_domain(ref)
            if user_id <= 0:
                raise VkFault(113)
            self._ensure_author(user_id)
            users.append(self._users[user_id])
        return users

    # --- methods: messages

    def _api_messages_send(self, p: Params, me: Identity) -> Any:
        peers = [p[k] for k in ("peer_id", "user_id") if p.get(k)][:1]
        if not peers and p.get("chat_id"):
            peers = [2000000000 + p["chat_id"]]
        many = "peer_ids" in p and not peers
        if many:
            peers = [int(x) for x in p["peer_ids"] if re.fullmatch(r"-?\d+", x)]
        if not peers:
            raise param_error("peer_id is missing")
        text = p.get("message", "")
        refs = [r.strip() for r in p.get("attachment", "").split(",") if r.strip()]
        if not text and not refs and not p.get("sticker_id"):
            raise param_error("message is empty or invalid")
        self._check_text(text)
        keyboard = self._check_keyboard(p["keyboard"], me) if p.get("keyboard") else None
        attachments = self._attachments(refs)
        sent = []
        for peer in peers:
            if peer in self._no_messages:
                raise VkFault(901)
            key = (me.owner_id, p["random_id"])
            message = self._random_ids.get(key) if p["random_id"] else None
            if message is None or message["peer_id"] != peer:
                message = self._new_message(peer, me.owner_id, text, out=1,
                                            attachments=attachments,
                                            random_id=p["random_id"], keyboard=keyboard)
                if p["random_id"]:
                    self._random_ids[key] = message
            sent.append(message)
        if many:
            return [{"peer_id": m["peer_id"], "message_id": m["id"],
                     "conversation_message_id": m["conversation_message_id"]} for m in sent]
        return sent[0]["id"]

    def _api_messages_edit(self, p: Params, me: Identity) -> Any:
        cmid = p.get("conversation_message_id") or p.get("cmid")
        message = next((m for m in self._messages if m["peer_id"] == p["peer_id"] and (
            m["id"] == p.get("message_id") if p.get("message_id")
            else m["conversation_message_id"] == cmid)), None)
        if message is None:
            raise param_error("message_id is undefined")
        if message["from_id"] != me.owner_id:
            raise VkFault(920)
        if "message" in p:
            self._check_text(p["message"])
        keyboard = self._check_keyboard(p["keyboard"], me) if p.get("keyboard") else None
        if "attachment" in p:
            refs = [r.strip() for r in p["attachment"].split(",") if r.strip()]
            message["attachments"] = self._attachments(refs)
        if "message" in p:
            message["text"] = p["message"]
        if "keyboard" in p:
            message.pop("keyboard", None)
            if keyboard is not None:
                message["keyboard"] = keyboard
        message["update_time"] = self._now()
        return 1

    def _api_messages_sendMessageEventAnswer(self, p: Params, me: Identity) -> Any:
        opened = self._open_events.get(p["event_id"])
        if opened != (p["user_id"], p["peer_id"]):
            raise param_error("event_id is invalid")
        data = None
        if p.get("event_data"):
            data = _loads(p["event_data"])
            kind = (data or {}).get("type")
            if kind not in ("show_snackbar", "open_link", "open_app"):
                raise param_error("event_data is invalid")
            if kind == "show_snackbar" and not 0 < len(data.get("text", "")) <= SNACKBAR_LIMIT:
                raise param_error(f"event_data.text must be 1..{SNACKBAR_LIMIT} characters")
        del self._open_events[p["event_id"]]
        self.event_answers.append({"event_id": p["event_id"], "user_id": p["user_id"],
                                   "peer_id": p["peer_id"], "event_data": data})
        return 1

    def _api_groups_getLongPollServer(self, p: Params, me: Identity) -> Any:
        group_id = abs(p["group_id"])
        allowed = group_id == me.id if me.kind == "group" else \
            me.id in self._admins.get(group_id, set())
        if not allowed or group_id != self.group_id:
            raise VkFault(15, "Access denied: no access to this group")
        return {"key": self._lp_key, "server": f"{self.api_base}/lp", "ts": str(self._next_ts)}


def _serve(files: dict[tuple[int, int], bytes], request: web.Request,
           content_type: str) -> web.Response:
    """A stored file by its ``{owner}_{id}`` key, or 404."""
    owner, _, item_id = request.match_info["key"].partition("_")
    try:
        content = files[(int(owner), int(item_id))]
    except (KeyError, ValueError):
        raise web.HTTPNotFound() from None
    return web.Response(body=content, content_type=content_type)


def _parse_identity(spec: str, group_id: int) -> Identity:
    kind, _, number = spec.partition(":")
    if kind not in TOKEN_TYPES:
        raise ValueError(f"token type must be one of {TOKEN_TYPES}, not {spec!r}")
    if number:
        return Identity(kind, int(number))
    return Identity(kind, {"user": ADMIN_USER_ID, "group": group_id, "service": 0}[kind])


def _loads(value: Any) -> Any:
    """A JSON object from a string, None if it is not one."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
