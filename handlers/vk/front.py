"""The VK chat of the community as the app runs it: long poll, event handling, one HTTP
session for the long poll and for downloading files."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from aiohttp_socks import ProxyConnector

from bot.usecases import UseCases
from bot.vk_client import LOOPBACK_HOSTS, VkClient
from handlers.invites import invite_links
from handlers.vk.chat import SettleLater, VkChat
from handlers.vk.longpoll import CURSOR, WAIT, BotsLongPoll


class VkFrontEnd:
    def __init__(self, app: UseCases, client: VkClient, group_id: int, *,
                 settle_later: SettleLater, telegram_username: str | None,
                 api_base: str | None = None, proxy: str | None = None) -> None:
        # The configured proxy ([vk] proxy); else environment proxies for VK itself, never
        # for a server on loopback (the test fake).
        host = urlsplit(api_base).hostname if api_base else None
        if proxy:
            self.http = aiohttp.ClientSession(connector=ProxyConnector.from_url(proxy))
        else:
            self.http = aiohttp.ClientSession(trust_env=host not in LOOPBACK_HOSTS)
        self.chat = VkChat(app, client, self.http, settle_later=settle_later,
                           invite_link=invite_links(app, telegram_username))
        cursor = app.gate.cursor(CURSOR, str(abs(group_id)))
        self.longpoll = BotsLongPoll(client, group_id, self.http, cursor, self.chat.handle)

    async def start(self) -> None:
        await self.longpoll.start()

    async def poll_once(self, wait: int = 0) -> int:
        return await self.longpoll.poll_once(wait)

    async def run(self, wait: int = WAIT) -> None:
        await self.longpoll.run(wait)

    async def close(self) -> None:
        await self.http.close()
