"""Proxies (issue 9 item 4): ``[telegram] proxy`` and ``[vk] proxy`` really carry the
requests, through a tiny HTTP proxy on loopback; bad proxy URLs are refused by the config."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.config import ConfigError, load_config
from bot.vk_client import VkClient, make_session
from fakes.telegram import FakeTelegramServer
from fakes.vk import FakeVkServer
from tests.harness import COORDINATOR, Clock, Harness, load, write_config


class TinyProxy:
    """An HTTP proxy: ``CONNECT host:port`` tunnels (aiohttp-socks) and absolute-form
    requests (``requests`` for http:// URLs). ``seen`` records (method, target)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> TinyProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        first, _, rest = head.partition(b"\r\n")
        method, target, version = first.decode().split(" ", 2)
        self.seen.append((method, target))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            url = urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            path = url.path + (f"?{url.query}" if url.query else "")
            up_writer.write(f"{method} {path} {version}\r\n".encode() + rest)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[TinyProxy]:
    async with TinyProxy() as p:
        yield p


async def test_telegram_requests_go_through_the_configured_proxy(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock, proxy: TinyProxy) -> None:
    path = write_config(tmp_path, server)
    text = path.read_text(encoding="utf-8").replace(
        "[telegram]\n", f'[telegram]\nproxy = "{proxy.url}"\n', 1)
    path.write_text(text, encoding="utf-8")
    h = Harness(server, load(path), clock)
    await h.start()  # getMe
    try:
        await h.say(COORDINATOR, "/help")  # getUpdates, sendMessage
    finally:
        await h.close()
    target = server.api_base.removeprefix("http://")
    assert ("CONNECT", target) in proxy.seen
    assert server.calls_to("getMe") and server.sent_to(COORDINATOR.id)


async def test_without_a_proxy_nothing_goes_through_it(
        server: FakeTelegramServer, tmp_path: Path, clock: Clock, proxy: TinyProxy) -> None:
    h = Harness(server, load(write_config(tmp_path, server)), clock)
    await h.start()
    await h.close()
    assert proxy.seen == []


async def test_vk_requests_go_through_the_configured_proxy(proxy: TinyProxy) -> None:
    async with FakeVkServer(tokens={"service-token-for-proxy": "service"}) as vk:
        vk.add_post(-77, "Пост")
        client = VkClient("service-token-for-proxy", vk.api_base, rps=math.inf,
                          proxy=proxy.url)
        try:
            wall = await client.call("wall.get", owner_id=-77, count=5)
        finally:
            client.api.http.close()
    assert wall["count"] == 1
    assert [(m, t.split("?")[0]) for m, t in proxy.seen] == [
        ("POST", f"{vk.api_base}/method/wall.get")]


def test_socks_proxies_use_remote_name_resolution_for_vk() -> None:
    session = make_session(proxy="socks5://user:pw@127.0.0.1:1080")
    assert session.proxies == {"http": "socks5h://user:pw@127.0.0.1:1080",
                               "https": "socks5h://user:pw@127.0.0.1:1080"}
    assert session.trust_env is False


@pytest.mark.parametrize(("section", "value", "expected"), [
    ("telegram", "ftp://127.0.0.1:21", "telegram.proxy: expected a proxy URL starting with "
                                       "http://, socks5://, socks4://, got ftp://"),
    ("telegram", "127.0.0.1:1080", "telegram.proxy: expected a proxy URL starting with"),
    ("vk", "socks5://proxy.example", "vk.proxy: expected host and port"),
])
def test_a_bad_proxy_url_is_refused_by_the_config(tmp_path: Path, section: str, value: str,
                                                  expected: str) -> None:
    path = tmp_path / "otklik.toml"
    path.write_text(f'timezone = "Asia/Novokuznetsk"\n[{section}]\nproxy = "{value}"\n'
                    '[[departments]]\nkey = "roads"\nname = "Дороги"\n'
                    '[[categories]]\nkey = "roads"\nname = "Дороги"\nblock = "Дороги"\n'
                    'department = "roads"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: {expected}" in str(caught.value)


async def test_the_vk_long_poll_goes_through_the_configured_proxy(
        server: FakeTelegramServer, tmp_path: Path, proxy: TinyProxy) -> None:
    from fakes.vk import GROUP_ID
    from tests.harness import make_clock
    from tests.test_vk_chat import CONFIG as VK_CONFIG
    from tests.test_vk_chat import VK_TOKEN

    async with FakeVkServer(tokens={VK_TOKEN: "group"}) as vk:
        path = tmp_path / "otklik.toml"
        text = VK_CONFIG.format(token="123456:TEST-token", api_base=server.api_base,
                                vk_token=VK_TOKEN, group_id=GROUP_ID, vk_api_base=vk.api_base)
        path.write_text(text.replace("[vk]\n", f'[vk]\nproxy = "{proxy.url}"\n', 1),
                        encoding="utf-8")
        h = Harness(server, load(path), make_clock())
        app = await h.start()
        try:
            await app.poll_vk_once()
        finally:
            await h.close()
    vk_target = vk.api_base.removeprefix("http://")
    methods = {m for m, t in proxy.seen if vk_target in t}
    assert methods == {"POST", "CONNECT"}  # API calls (requests) and the long poll (aiohttp)
