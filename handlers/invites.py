"""Invitation links: one token, a link for every platform Otklik works on.

An invitation is a one-time token; whoever opens the bot through its link (Telegram's
``?start=``, VK's ``vk.me`` link with ``ref``) or types ``/start TOKEN`` is bound to the
invited person on that platform. With Telegram alone the invitation is the bare Telegram
link, as always; with the VK community chat too, it lists both.
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup

from bot.usecases import UseCases


def telegram_link(username: str, token: str) -> str:
    return f"https://t.me/{username}?start={token}"


def vk_link(group_id: int, token: str) -> str:
    """The community's chat; VK hands ``ref`` to the bot with the next message."""
    return f"https://vk.me/club{abs(group_id)}?ref={token}"


def invite_links(app: UseCases, telegram_username: str | None) -> Callable[[str], str]:
    """The text that stands for ``link`` in the invitation, for a token."""

    def links(token: str) -> str:
        t = app.templates
        group_id = app.config.settings.vk.group_id
        tg = telegram_link(telegram_username, token) if telegram_username else ""
        vk = vk_link(group_id, token) if "vk" in app.notifier.channels and group_id else ""
        if tg and vk:
            # Rendered phrases are escaped already: Markup keeps them from a second escape.
            return Markup("\n").join([Markup(t.phrase("invite_link_telegram", link=tg)),
                                      Markup(t.phrase("invite_link_vk", link=vk, token=token))])
        return tg or vk or token

    return links
