"""The dispatch turn in Redis: one instance at a time runs dispatch passes; a pass asked
for on another instance meanwhile is owed, and the holder runs it before letting go."""

from __future__ import annotations

import secrets

from callcenter.storage import keys
from callcenter.storage.documents import load_script
from callcenter.storage.resp import RespClient

TURN_SECONDS = 2.0  # a holder that stops answering (killed) loses the turn after this


class DispatchTurn:
    def __init__(self, client: RespClient, *, seconds: float = TURN_SECONDS) -> None:
        self._client = client
        self._script = load_script("dispatch_turn")
        self._id = secrets.token_hex(8)
        self._ms = int(seconds * 1000)

    async def take(self) -> bool:
        """Owe a pass and take the turn if no other instance holds it (this one may, after
        a pass that failed). False: the holder runs the pass owed."""
        return bool(await self._call("take"))

    async def finish(self, *, again: bool = False) -> bool:
        """After a pass: True when another is owed, by another instance meanwhile or by
        this one (`again`): the turn is kept and renewed, run it. False when the turn was
        given up (or had expired)."""
        return bool(await self._call("finish", "1" if again else "0"))

    async def release(self) -> None:
        """Give the turn up now (stopping); a pass owed stays owed."""
        await self._call("release")

    async def _call(self, operation: str, again: str = "0") -> int:
        found: int = await self._client.evalsha(
            self._script,
            [keys.DISPATCH_TURN, keys.DISPATCH_OWED],
            [operation, self._id, self._ms, again],
        )
        return found
