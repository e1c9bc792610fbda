"""A check that the waiting lines hold exactly the queued calls of the `waiting` hash, each
at its place and in both of its lines, and in its queue line's arrivals at its arrival."""

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
    arrivals: dict[str, set[tuple[str, float]]] = {}
    for raw in waiting.values():
        ticket = msgspec.json.decode(raw, type=Ticket)
        for line in lines_of(ticket):
            expected.setdefault(keys.line(line.id), set()).add(place_in_line(ticket))
        at = (ticket.call_id, ticket.queued_at.timestamp())
        arrivals.setdefault(keys.arrivals(lines_of(ticket)[0].id), set()).add(at)
    found = {}
    async for key in client.scan_iter(match=keys.line("*")):
        members = {_text(m) for m in await client.zrange(key, 0, -1)}
        if members:
            found[_text(key)] = members
    assert found == expected
    found_arrivals: dict[str, set[tuple[str, float]]] = {}
    async for key in client.scan_iter(match=keys.arrivals("*")):
        scored = await client.zrange(key, 0, -1, withscores=True)
        if scored:
            found_arrivals[_text(key)] = {(_text(pair[0]), float(pair[1])) for pair in scored}
    assert found_arrivals == arrivals
    listed = {_text(m) for m in await client.smembers(keys.LINES)}
    assert {key.removeprefix(keys.line("")) for key in expected} <= listed
    return len(waiting)


def _text(value: object) -> str:
    assert isinstance(value, bytes)
    return value.decode()
