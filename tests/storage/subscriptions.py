"""Following a client's subscription in a test: its items arrive in a queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callcenter.storage.resp import RespClient
from callcenter.storage.subscription import Subscribed


@asynccontextmanager
async def following(
    client: RespClient, channel: str
) -> AsyncIterator[asyncio.Queue[bytes | Subscribed]]:
    """The items of `client.subscribe(channel)`, in a queue, until the context ends."""
    items: asyncio.Queue[bytes | Subscribed] = asyncio.Queue()

    async def listen() -> None:
        async for item in client.subscribe(channel):
            items.put_nowait(item)

    listening = asyncio.create_task(listen())
    try:
        yield items
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
