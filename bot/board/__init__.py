"""The read-only web board for those who oversee the work (curator, head of the МЦУ,
coordinators, block owners, admins), served on ``[http] listen`` next to ``/healthz``.

``/board`` in the chat sends a one-time link (:mod:`bot.board.sessions`); the pages are in
:mod:`bot.board.routes`, their data in :mod:`bot.board.queries`, their templates in
``templates/board/``.
"""

from __future__ import annotations

from bot.board.routes import Board
from bot.board.sessions import LINK_TTL, SESSION_TTL, Sessions, may_use_board

__all__ = ["LINK_TTL", "SESSION_TTL", "Board", "Sessions", "board_url", "may_use_board"]


def board_url(public_url: str, listen: str) -> str | None:
    """Where the board is reached from a browser: ``[http] public_url``, else the address
    of ``[http] listen`` itself; None when there is no HTTP server."""
    if public_url:
        return public_url.rstrip("/")
    if listen:
        host, _, port = listen.rpartition(":")
        if host in ("0.0.0.0", "::", "[::]", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}"
    return None
