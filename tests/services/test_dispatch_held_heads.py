"""Heads held between passes (`storage/line_reads.py`) in the dispatcher, on a real Redis:
a line written without a version (as an instance of an older version writes, during an
upgrade) can leave a pass deciding on a call that has gone. The claim finds it gone, the
dispatcher drops every head it holds, and the next pass offers the call that is there."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from callcenter.domain.calls import CallState
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import lines_of, place_in_line
from callcenter.storage import keys
from callcenter.storage.resp import RespClient
from tests.services.test_dispatch_parking import Desk


async def end_as_an_older_instance(client: aioredis.Redis, call_id: str) -> None:
    """The call ends, and leaves its lines, with no line version bumped."""
    stored = await client.hget(keys.WAITING, call_id)
    assert isinstance(stored, bytes)
    ticket = msgspec.json.decode(stored, type=Ticket)
    for line in lines_of(ticket):
        await client.zrem(keys.line(line.id), place_in_line(ticket))
    await client.hdel(keys.WAITING, call_id)
    document = await client.hget(keys.call(call_id), "d")
    assert isinstance(document, bytes)
    ended = msgspec.json.decode(document)
    ended["state"] = str(CallState.ENDED)
    await client.hset(keys.call(call_id), "d", msgspec.json.encode(ended))


async def test_a_call_gone_from_a_held_head_is_not_offered_and_the_next_is(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    desk = Desk(resp)
    await desk.queue("c1", rule="easy")
    await desk.queue("c2", rule="easy")
    assert await desk.dispatcher.run_pass() == 0  # nobody ready: nothing read
    await desk.ready_agent(level=5)
    await desk.calls.reads.heads(
        {line: 8 for line in await desk.calls.reads.lines()}
    )  # held: c1, c2
    await end_as_an_older_instance(redis_client, "c1")
    assert await desk.dispatcher.run_pass() == 0  # decided on c1, found it ended
    assert not await desk.offered_to_ann("c2")
    assert await desk.dispatcher.run_pass() == 1
    assert await desk.offered_to_ann("c2")
    decision = await desk.calls.decision("c2")
    assert decision is not None and decision.call_id == "c2"
    first = await desk.calls.get("c1")
    assert first is not None and first.state is CallState.ENDED and first.reservation is None
