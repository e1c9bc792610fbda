"""A check that the waiting lines hold exactly the queued calls of the `waiting` hash, each
at its place and in both of its lines."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import lines_of, place_in_line
from callcenter.storage import keys


async def assert_lines_match_waiting(client: aioredis.Redis) -> int:
    """Raise AssertionError on any difference; the number of queued calls checked."""
    waiting = await client.hgetall(keys.WAITING)
    expected: dict[str, set[str]] = {}
    for raw in waiting.values():
        ticket = msgspec.json.decode(raw, type=Ticket)
        for line in lines_of(ticket):
            expected.setdefault(keys.line(line.id), set()).add(place_in_line(ticket))
    found = {}
    async for key in client.scan_iter(match=keys.line("*")):
        members = {_text(m) for m in await client.zrange(key, 0, -1)}
        if members:
            found[_text(key)] = members
    assert found == expected
    listed = {_text(m) for m in await client.smembers(keys.LINES)}
    assert {key.removeprefix(keys.line("")) for key in expected} <= listed
    return len(waiting)


def _text(value: object) -> str:
    assert isinstance(value, bytes)
    return value.decode()
