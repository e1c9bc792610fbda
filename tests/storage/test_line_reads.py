"""Heads kept from one read to the next (`storage/line_reads.py`), on a real Redis: a line
not written since is answered without its tickets, and any write to it (a commit here or on
another instance, the sweep's repair) makes the next read fresh."""

from __future__ import annotations

import re

import msgspec
import redis.asyncio as aioredis

from callcenter.domain.calls import CallState
from callcenter.domain.messages import Channel
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_context import ticket_of
from callcenter.domain.routing_index import Line, LineKind, lines_of, place_in_line
from callcenter.storage import keys
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import DecodeCache, DocumentStore, load_script
from callcenter.storage.line_reads import HEAD_KEPT_SECONDS, LineReads
from callcenter.storage.resp import RespClient
from callcenter.storage.waiting_lines import repair_arguments
from tests.storage.test_calls import queued
from tests.storage.test_waiting_lines import BILLING, NOW, repository


async def three_waiting(calls: CallRepository) -> None:
    for n in (1, 2, 3):
        await calls.commit(None, queued(f"c{n}"), (), event_id=None, now=NOW)


async def ids(calls: CallRepository | LineReads, length: int = 8) -> list[str]:
    reads = calls.reads if isinstance(calls, CallRepository) else calls
    return [t.call_id for t in (await reads.heads({BILLING: length}))[BILLING].tickets]


async def test_an_unmoved_line_is_answered_without_its_tickets(resp: RespClient) -> None:
    calls = repository(resp)
    await three_waiting(calls)
    first = (await calls.reads.heads({BILLING: 8}))[BILLING]
    assert [t.call_id for t in first.tickets] == ["c1", "c2", "c3"] and first.complete
    version = int(await resp.execute("HGET", keys.LINE_VERSIONS, BILLING.id))
    script_keys = [
        keys.WAITING,
        keys.LINES,
        keys.LINE_CHANGES,
        keys.LINE_VERSIONS,
        keys.LINES_EPOCH,
    ]
    script_keys.append(keys.line(BILLING.id))
    script, prefix = load_script("waiting_heads"), keys.call("")
    held = await resp.evalsha(script, script_keys, [prefix, BILLING.id, 8, version, "c1"])
    first_call = await resp.execute("HGET", keys.call("c1"), "d")
    assert held == [[3, 3, version, 1, first_call]]  # no tickets for the head held
    fresh = await resp.evalsha(script, script_keys, [prefix, BILLING.id, 8, 0, ""])
    assert fresh[0][:5] == [3, 3, version, 0, first_call] and len(fresh[0]) == 5 + 3
    # the repository sends the version it holds: Redis reads no ticket for it (HMGET is
    # what reads them), and the head held is handed out again, or the part asked for
    before = await ticket_reads(resp)
    again = (await calls.reads.heads({BILLING: 8}))[BILLING]
    shorter = (await calls.reads.heads({BILLING: 2}))[BILLING]
    assert await ticket_reads(resp) == before
    assert again.tickets == first.tickets and again.complete
    assert [t.call_id for t in shorter.tickets] == ["c1", "c2"] and not shorter.complete
    calls.reads.forget()
    await calls.reads.heads({BILLING: 8})
    assert await ticket_reads(resp) == before + 1  # dropped: read again


async def ticket_reads(resp: RespClient) -> int:
    """How often Redis ran HMGET (the heads script reads tickets with it)."""
    stats = (await resp.execute("INFO", "commandstats")).decode()
    found = re.search(r"cmdstat_hmget:calls=(\d+)", stats)
    return int(found.group(1)) if found else 0


async def test_a_call_leaving_its_line_on_another_instance_is_read_at_once(
    resp: RespClient,
) -> None:
    here, there = repository(resp), repository(resp)
    await three_waiting(there)
    assert await ids(here) == ["c1", "c2", "c3"]
    await end(there, "c2")
    assert await ids(here) == ["c1", "c3"]
    await there.commit(None, queued("c4"), (), event_id=None, now=NOW)
    assert await ids(here) == ["c1", "c3", "c4"]


async def test_a_member_the_repair_takes_out_is_read_at_once(resp: RespClient) -> None:
    calls = repository(resp)
    await three_waiting(calls)
    assert await ids(calls) == ["c1", "c2", "c3"]
    stored = await resp.execute("HGET", keys.WAITING, "c1")
    ticket = msgspec.json.decode(stored, type=Ticket)
    out = [(keys.line(BILLING.id), place_in_line(ticket), "c1", stored, BILLING.id)]
    touched, args = repair_arguments([], out)
    assert await resp.evalsha(load_script("lines_repair"), touched, args) == [0, 1]
    assert await ids(calls) == ["c2", "c3"]


async def test_a_line_written_without_a_version_is_read_again_in_time_or_when_told(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    """As an instance of an older version writes: the held head is trusted for
    `HEAD_KEPT_SECONDS` at most, and dropped when a pass finds a decided call gone."""
    await three_waiting(repository(resp))
    moment = [0.0]
    reads = LineReads(DocumentStore(resp), DecodeCache(Ticket), clock=lambda: moment[0])
    assert await ids(reads) == ["c1", "c2", "c3"]
    await redis_client.zrem(keys.line(BILLING.id), await member_of(redis_client, "c1"))
    moment[0] = HEAD_KEPT_SECONDS - 0.1
    assert await ids(reads) == ["c1", "c2", "c3"]  # still the head held
    moment[0] = HEAD_KEPT_SECONDS
    assert await ids(reads) == ["c2", "c3"]
    await redis_client.zrem(keys.line(BILLING.id), await member_of(redis_client, "c2"))
    assert await ids(reads) == ["c2", "c3"]
    reads.forget()
    assert await ids(reads) == ["c3"]


async def member_of(client: aioredis.Redis, call_id: str) -> str:
    """The call's member in its lines, taken out below as an older instance would: with
    no version bumped."""
    stored = await client.hget(keys.WAITING, call_id)
    assert stored is not None
    return place_in_line(msgspec.json.decode(stored, type=Ticket))


async def test_the_first_call_of_each_line_read_comes_with_its_head(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    """The call a pass most often decides on needs no round trip of its own: the heads
    script sends the document of each line's first call, held head or not. It is taken
    once (by the pass that read it); the claim still checks it has not changed since."""
    calls = repository(resp)
    await three_waiting(calls)
    for _ in range(2):  # a fresh head, then one held
        await calls.reads.heads({BILLING: 8})
        assert set(calls.reads.take_first_calls()) == {"c1"}
    await calls.reads.heads({BILLING: 8})
    first = await calls.get("c1")
    assert first is not None
    changed = msgspec.structs.replace(first, priority=7, version=first.version + 1)
    await redis_client.hset(keys.call("c1"), "d", msgspec.json.encode(changed))
    decided = await calls.get_decided(["c2", "c1"])
    assert [call.id if call else None for call in decided] == ["c2", "c1"]
    assert decided[1] == first  # as the heads read it, not as written since
    assert await calls.get_decided(["c1"]) == [changed]  # taken: read from Redis
    await calls.reads.heads({BILLING: 8})
    await calls.reads.lines()  # the next pass begins: what the last one read is dropped
    assert calls.reads.take_first_calls() == {}


SALES = Line(LineKind.QUEUE, Channel.VOICE, "sales")


async def test_the_set_of_lines_is_sent_only_when_it_changed(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    """Every change to the set of lines counts (a commit adding a line, the heads script
    dropping an empty one, the repair putting one back); the ids are sent again only then,
    or when the set held is `HEAD_KEPT_SECONDS` old (a line added by an older instance)."""
    here, there = repository(resp), repository(resp)
    await three_waiting(there)
    assert BILLING in await here.reads.lines()
    count = int(await redis_client.get(keys.LINES_EPOCH) or 0)
    line_ids = load_script("line_ids")
    assert await resp.evalsha(line_ids, [keys.LINES, keys.LINES_EPOCH], [count]) == [count]
    await there.commit(None, queued("c9", queue="sales"), (), event_id=None, now=NOW)
    assert SALES in await here.reads.lines()  # added on another instance
    await end(there, "c9")
    await there.reads.heads({SALES: 8})  # found empty: leaves the set
    assert SALES not in await here.reads.lines()
    await there.commit(None, queued("c10", queue="sales"), (), event_id=None, now=NOW)
    assert SALES in await here.reads.lines()  # back


async def test_a_line_the_repair_puts_back_is_in_the_set_at_once(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    calls = repository(resp)
    await three_waiting(calls)
    stored = await redis_client.hget(keys.WAITING, "c1")
    assert isinstance(stored, bytes)
    await redis_client.delete(keys.LINES)  # lost, and counted: the repair puts it back
    await redis_client.incr(keys.LINES_EPOCH)
    assert BILLING not in await calls.reads.lines()
    ticket = msgspec.json.decode(stored, type=Ticket)
    touched, args = repair_arguments([("c1", stored, ticket)], [])
    assert (await resp.evalsha(load_script("lines_repair"), touched, args))[0] == 1
    assert BILLING in await calls.reads.lines()


async def test_a_line_added_without_a_count_is_read_in_time(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    await three_waiting(repository(resp))
    moment = [0.0]
    reads = LineReads(DocumentStore(resp), DecodeCache(Ticket), clock=lambda: moment[0])
    assert set(await reads.lines()) == {BILLING, lines_of(ticket_of_c1())[1]}
    await redis_client.sadd(keys.LINES, SALES.id)  # as an older instance: not counted
    moment[0] = HEAD_KEPT_SECONDS - 0.1
    assert SALES not in await reads.lines()
    moment[0] = HEAD_KEPT_SECONDS
    assert SALES in await reads.lines()


def ticket_of_c1() -> Ticket:
    return ticket_of(queued("c1"))


async def end(calls: CallRepository, call_id: str) -> None:
    stored = await calls.get(call_id)
    assert stored is not None
    ended = msgspec.structs.replace(stored, state=CallState.ENDED)
    await calls.commit(stored, ended, (), event_id=None, now=NOW)
