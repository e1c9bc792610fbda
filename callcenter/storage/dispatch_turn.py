"""The dispatch turn in Redis: one instance at a time runs dispatch passes; a pass asked
for on another instance meanwhile is owed, and the holder runs it before letting go."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from enum import IntEnum

from callcenter.storage import keys
from callcenter.storage.documents import load_script
from callcenter.storage.joint_reads import Read
from callcenter.storage.resp import Arg, RespClient

TURN_SECONDS = 2.0  # a holder that stops answering (killed) loses the turn after this


class Taken(IntEnum):
    """What taking the turn found."""

    ELSEWHERE = 0  # another instance holds it: the pass is owed to it
    TAKEN = 1
    NOTHING_TO_PLAN = 2  # the sets a pass plans from are empty: nothing owed, nothing taken


class DispatchTurn:
    def __init__(self, client: RespClient, *, seconds: float = TURN_SECONDS) -> None:
        self._client = client
        self._script = load_script("dispatch_turn")
        self._id = secrets.token_hex(8)
        self._ms = int(seconds * 1000)

    async def take(self, *, unless_empty: Sequence[str] = ()) -> Taken:
        """Owe a pass and take the turn if no other instance holds it (this one may, after
        a pass that failed). ELSEWHERE: the holder runs the pass owed. NOTHING_TO_PLAN
        when every set in `unless_empty` (the ready agents) is empty."""
        return await self.take_read(unless_empty=unless_empty).run()

    def take_read(self, *, unless_empty: Sequence[str] = ()) -> Read[Taken]:
        """`take` as a command that may be sent with a pass's first read, in one pipeline
        (see `joint_reads`; should Redis have lost a script, only the commands that did
        not run are sent again)."""
        return self._script_read("take", extra_keys=unless_empty).mapped(Taken)

    async def finish(self, *, again: bool = False) -> bool:
        """After a pass: True when another is owed, by another instance meanwhile or by
        this one (`again`): the turn is kept and renewed, run it. False when the turn was
        given up (or had expired)."""
        return await self.finish_read(again=again).run()

    def finish_read(self, *, again: bool = False) -> Read[bool]:
        """`finish` as a command that may follow a claim in its round trip (see
        `DocumentStore.commit_then`; it runs once there: finishing twice is not finishing
        once)."""
        return self._script_read("finish", "1" if again else "0").mapped(bool)

    async def release(self) -> None:
        """Give the turn up now (stopping); a pass owed stays owed."""
        await self._script_read("release").run()

    def _script_read(
        self, operation: str, again: str = "0", extra_keys: Sequence[str] = ()
    ) -> Read[int]:
        """lua/dispatch_turn.lua's `operation` as one command, and its answer."""
        turn_keys = [keys.DISPATCH_TURN, keys.DISPATCH_OWED, *extra_keys]
        args: list[Arg] = [operation, self._id, self._ms, again]
        command = ("EVALSHA", self._script.sha, len(turn_keys), *turn_keys, *args)
        return Read(self._client, [command], [self._script], lambda found: int(found[0]))
