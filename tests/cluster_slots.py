"""A pytest plugin: every Lua script any test runs must touch the keys of one Redis
Cluster slot (a Cluster refuses a script whose keys span slots, whatever the client). The
server's client is wrapped for the whole session, so the check covers every script the
suite makes the app run, in every state the tests reach; a script that spans slots fails
the session (listed at its end), wherever the app caught the error."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from callcenter.storage.resp import Arg, Command, RespClient, Script
from callcenter.storage.slots import key_slot, one_slot

SPANNING: list[str] = []


def _check(keys: Sequence[Arg], where: str) -> None:
    texts = [key if isinstance(key, bytes | str) else str(key) for key in keys]
    if not one_slot(texts):
        slots = sorted({key_slot(key) for key in texts})
        SPANNING.append(f"{where}: keys {texts} span slots {slots}")


@pytest.fixture(autouse=True, scope="session")
def scripts_touch_one_slot() -> Iterator[None]:
    evalsha, with_scripts = RespClient.evalsha, RespClient.pipeline_with_scripts

    async def checked_evalsha(
        self: RespClient, script: Script, keys: Sequence[Arg], args: Sequence[Arg], **kw: Any
    ) -> Any:
        _check(keys, script.source.splitlines()[0][:60])
        return await evalsha(self, script, keys, args, **kw)

    async def checked_pipeline(
        self: RespClient, commands: Sequence[Command], scripts: Sequence[Script], **kw: Any
    ) -> list[Any]:
        for command in commands:
            if command[0] == "EVALSHA":
                count = int(command[2])
                _check(command[3 : 3 + count], "a pipelined EVALSHA")
        return await with_scripts(self, commands, scripts, **kw)

    RespClient.evalsha = checked_evalsha  # type: ignore[method-assign]
    RespClient.pipeline_with_scripts = checked_pipeline  # type: ignore[method-assign]
    yield
    RespClient.evalsha, RespClient.pipeline_with_scripts = evalsha, with_scripts  # type: ignore[method-assign]
    assert SPANNING == [], "\n".join(SPANNING)
