"""Where a resident's message came from: the sources a coordinator picks from, and the
source a link gives away by its address.

The source's key selects the deadline policy through the config's ``[sla.sources]``
(``vk = "incident_management"``, ``pos = "pos"``, …); its label is in ``templates/texts.toml``
``[sources]``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["PICKABLE", "source_from_url"]

# What the coordinator is offered for a message registered by hand, in this order.
PICKABLE = (
    "vk",
    "ok",
    "telegram",
    "incident_management",
    "pos",
    "kuzbass_online",
    "governor",
    "phone",
    "other",
)

# Host (or a parent domain of it) → source.
_HOSTS = {
    "vk.com": "vk",
    "vk.ru": "vk",
    "m.vk.com": "vk",
    "vkontakte.ru": "vk",
    "ok.ru": "ok",
    "odnoklassniki.ru": "ok",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "telegram.org": "telegram",
    "pos.gosuslugi.ru": "pos",
    "kuzbass-online.ru": "kuzbass_online",
    "кузбасс-онлайн.рф": "kuzbass_online",
    "xn----7sbbaazuatxpyidedi7gqh.xn--p1ai": "kuzbass_online",
}


def source_from_url(url: str | None) -> str | None:
    """The source a link points to (``https://vk.com/wall-1_7`` → ``vk``), or None when the
    address is not one of the known platforms."""
    if not url:
        return None
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if host.startswith("www."):
        host = host[4:]
    while host:
        if host in _HOSTS:
            return _HOSTS[host]
        _, dot, host = host.partition(".")
        if not dot:
            break
    return None
