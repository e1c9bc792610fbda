"""Websocket close codes of our own (the 4000-4999 private range), beside the standard
ones aiohttp names in WSCloseCode."""

from __future__ import annotations

CLOSE_UNAUTHORIZED = 4401  # no, a bad, a revoked or an expired token
CLOSE_FORBIDDEN = 4403  # a token whose role may not use this socket
CLOSE_NOT_FOUND = 4404  # a good token for what is gone (a chat past its retention)
