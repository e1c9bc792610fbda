"""Signing keys every instance must agree on, made once and kept in Redis."""

from __future__ import annotations

import secrets

from callcenter.storage import keys
from callcenter.storage.documents import text
from callcenter.storage.resp import RespClient


async def shared_secret(client: RespClient, name: str) -> str:
    """The key called `name`: the one in Redis, or a new random one stored if none was."""
    key = keys.shared_secret(name)
    await client.execute("SET", key, secrets.token_hex(32), "NX")
    return text(await client.execute("GET", key))
