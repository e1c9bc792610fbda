"""Waiting lines in a real Redis: heads come in routing order with their lines' lengths,
an empty line leaves the set of lines, and a store written before lines existed gets
them built once, without bringing back a call that left the queue meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import redis.asyncio as aioredis

from callcenter.domain.calls import CallState
from callcenter.domain.messages import Channel
from callcenter.domain.routing import Ticket, urgency
from callcenter.domain.routing_index import Line, LineKind, lines_of, place_in_line
from callcenter.storage import keys
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import DocumentStore, load_script
from callcenter.storage.resp import RespClient
from callcenter.storage.waiting_lines import repair_arguments
from tests.storage.test_calls import queued
from tests.waiting_lines import assert_lines_match_waiting

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BILLING = Line(LineKind.QUEUE, Channel.VOICE, "billing")


def repository(resp: RespClient) -> CallRepository:
    return CallRepository(
        DocumentStore(resp), retention=timedelta(days=1), dedupe_window=timedelta(hours=1)
    )


def ticket(n: int, priority: int = 0, queue: str = "billing") -> Ticket:
    return Ticket(
        call_id=f"c{n}",
        queue=queue,
        rule="default",
        priority=priority,
        queued_at=NOW - timedelta(seconds=n % 7),
    )


async def write_as_before_lines(client: aioredis.Redis, tickets: list[Ticket]) -> None:
    """What a store written before lines existed holds: the waiting hash alone."""
    for one in tickets:
        await client.hset(keys.WAITING, one.call_id, msgspec.json.encode(one))


async def test_lines_are_built_once_from_the_waiting_hash(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    tickets = [ticket(n, priority=n % 3, queue=("billing", "sales")[n % 2]) for n in range(20)]
    await write_as_before_lines(redis_client, tickets)
    calls = repository(resp)
    assert await calls.build_lines() == 20
    assert await assert_lines_match_waiting(redis_client) == 20
    await redis_client.hdel(keys.WAITING, "c0")  # left the queue after the build
    assert await calls.build_lines() == 0  # built already: nothing is added back
    lines = await calls.reads.lines()
    assert set(lines) == {line for t in tickets for line in lines_of(t)}


async def test_putting_back_skips_a_ticket_changed_since_it_was_read(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    """The build (and the sweep's repair) reads the hash, then adds in one script each
    ticket still as read; taking out a member likewise."""
    await write_as_before_lines(redis_client, [ticket(1)])
    stale = msgspec.json.encode(msgspec.structs.replace(ticket(1), priority=9))
    line = lines_of(ticket(1))
    arrivals = keys.arrivals(line[0].id)
    touched, args = repair_arguments([("c1", stale, ticket(1))], [])
    assert await resp.evalsha(load_script("lines_repair"), touched, args) == [0, 0]
    assert await redis_client.zcard(keys.line(line[0].id)) == 0
    assert await redis_client.zcard(arrivals) == 0
    member = place_in_line(ticket(1))
    await redis_client.zadd(keys.line(line[0].id), {member: 0})
    # read as not waiting: it is now
    out = [(keys.line(line[0].id), member, "c1", b"", line[0].id)]
    touched, args = repair_arguments([], out)
    assert await resp.evalsha(load_script("lines_repair"), touched, args) == [0, 0]
    assert await redis_client.zcard(keys.line(line[0].id)) == 1


async def test_heads_are_in_routing_order_and_know_their_line_is_longer(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    tickets = [ticket(n, priority=n % 4) for n in range(30)]
    await write_as_before_lines(redis_client, tickets)
    calls = repository(resp)
    await calls.build_lines()
    heads = await calls.reads.heads({BILLING: 8})
    expected = sorted(tickets, key=urgency)
    assert list(heads[BILLING].tickets) == expected[:8]
    assert not heads[BILLING].complete
    whole = await calls.reads.heads({BILLING: 30})
    assert list(whole[BILLING].tickets) == expected and whole[BILLING].complete
    assert [place_in_line(t) for t in expected] == sorted(place_in_line(t) for t in expected)


async def test_an_empty_line_leaves_the_set_of_lines(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    await write_as_before_lines(redis_client, [ticket(1)])
    calls = repository(resp)
    await calls.build_lines()
    assert BILLING in await calls.reads.lines()
    await redis_client.zrem(keys.line(BILLING.id), place_in_line(ticket(1)))
    heads = await calls.reads.heads({BILLING: 8})
    assert heads[BILLING].tickets == [] and heads[BILLING].complete
    assert BILLING not in await calls.reads.lines()


async def test_a_member_whose_ticket_is_gone_is_passed_over(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    await write_as_before_lines(redis_client, [ticket(1), ticket(2), ticket(3)])
    calls = repository(resp)
    await calls.build_lines()
    await redis_client.hdel(keys.WAITING, "c2")  # gone from the hash, still in its line
    heads = await calls.reads.heads({BILLING: 3})
    assert [t.call_id for t in heads[BILLING].tickets] == ["c3", "c1"]  # c3 waited longest
    assert heads[BILLING].complete


async def test_a_task_joining_or_changing_in_a_line_counts_as_its_change(
    resp: RespClient,
) -> None:
    """What parked agents watch (`domain/parking`): a task that joins a line, or changes
    there, counts; one that leaves does not (it makes nobody eligible). The heads read
    carries each line's count, atomically with its tasks."""
    calls = repository(resp)
    rule_line = lines_of(ticket(1))[1]
    found, counts = await calls.reads.lines_and_changes([BILLING, rule_line])
    assert (list(found), counts) == ([], [0, 0])
    waiting = queued("c1", rule="default")
    await calls.commit(None, waiting, (), event_id=None, now=NOW)
    found, counts = await calls.reads.lines_and_changes([BILLING, rule_line])
    assert set(found) == {BILLING, rule_line} and counts == [1, 1]
    stored = await calls.get("c1")
    assert stored is not None
    raised = msgspec.structs.replace(stored, priority=3)
    await calls.commit(stored, raised, (), event_id=None, now=NOW)
    heads = await calls.reads.heads({BILLING: 8, rule_line: 8})
    assert (heads[BILLING].changes, heads[rule_line].changes) == (2, 2)
    stored = await calls.get("c1")
    assert stored is not None
    ended = msgspec.structs.replace(stored, state=CallState.ENDED)
    await calls.commit(stored, ended, (), event_id=None, now=NOW)
    assert (await calls.reads.lines_and_changes([BILLING]))[1] == [2]


async def test_a_task_put_back_counts_as_a_change_of_its_lines(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    await write_as_before_lines(redis_client, [ticket(1)])
    calls = repository(resp)
    await calls.build_lines()
    _, counts = await calls.reads.lines_and_changes(list(lines_of(ticket(1))))
    assert counts == [1, 1]


async def test_a_line_keeps_the_task_whose_joining_made_its_count(resp: RespClient) -> None:
    """The task parked agents look at instead of reading the line (`domain/parking`):
    the task that last joined or changed in the line, kept with the count it made."""
    calls = repository(resp)
    rule_line = lines_of(ticket(1))[1]
    for n in (1, 2):
        await calls.commit(None, queued(f"c{n}", rule="default"), (), event_id=None, now=NOW)
    _, counts, joined = await calls.reads.lines_read([BILLING, rule_line]).run()
    assert counts == {BILLING: 2, rule_line: 2}
    assert {line: t.call_id for line, t in joined.items()} == {BILLING: "c2", rule_line: "c2"}
    stored = await calls.get("c1")
    assert stored is not None
    await calls.commit(
        stored, msgspec.structs.replace(stored, priority=3), (), event_id=None, now=NOW
    )
    _, counts, joined = await calls.reads.lines_read([BILLING]).run()
    assert counts == {BILLING: 3} and (joined[BILLING].call_id, joined[BILLING].priority) == (
        "c1",
        3,
    )
    stored = await calls.get("c2")
    assert stored is not None
    ended = msgspec.structs.replace(stored, state=CallState.ENDED)
    await calls.commit(stored, ended, (), event_id=None, now=NOW)  # leaving counts not
    _, counts, joined = await calls.reads.lines_read([BILLING]).run()
    assert counts == {BILLING: 3} and joined[BILLING].call_id == "c1"


async def test_a_count_moved_by_a_write_that_kept_no_task_gives_none(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    """The sweep's repair (and an instance of an older version) count a line's change
    without keeping the task: the task kept is then not the one that made the count,
    and is not given (the line is read instead)."""
    calls = repository(resp)
    await calls.commit(None, queued("c1", rule="default"), (), event_id=None, now=NOW)
    _, _, joined = await calls.reads.lines_read([BILLING]).run()
    assert joined[BILLING].call_id == "c1"
    await redis_client.hincrby(keys.LINE_CHANGES, BILLING.id, 1)
    _, counts, joined = await calls.reads.lines_read([BILLING]).run()
    assert counts == {BILLING: 2} and joined == {}
