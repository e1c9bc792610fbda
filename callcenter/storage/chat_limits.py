"""Web chat limits every instance shares: new chats per client address and minute, and at
most one typing announcement a second per chat and author."""

from __future__ import annotations

from callcenter.storage import keys
from callcenter.storage.documents import load_script
from callcenter.storage.resp import RespClient

WINDOW_MS = 60_000


class ChatLimits:
    def __init__(self, client: RespClient) -> None:
        self._client = client
        self._starts = load_script("chat_starts")

    async def take_start(self, address: str, *, per_minute: int) -> float | None:
        """Count a new chat from `address`: None if it is within `per_minute`, else the
        seconds until the address may start one again."""
        allowed, wait_ms = await self._client.evalsha(
            self._starts, [keys.chat_starts(address)], [per_minute, WINDOW_MS]
        )
        return None if allowed else max(0, int(wait_ms)) / 1000

    async def first_typing(self, task_id: str, who: str, *, milliseconds: int) -> bool:
        """True for the first typing announcement of `who` in the chat within
        `milliseconds` (on any instance), False for the others."""
        taken = await self._client.execute(
            "SET", keys.chat_typing(task_id, who), "1", "NX", "PX", milliseconds
        )
        return taken is not None
