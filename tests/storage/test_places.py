"""A waiting call's place counted from its queue's lines (`storage/places.py`), on a real
Redis, against the definition (`wait_estimate.calls_ahead` over every waiting task): random
backlogs of calls, callbacks (due, held back, unscheduled) and text tasks in three queues,
at priorities that tie and cross, with arrivals that tie to the microsecond; and calls that
changed since they were read."""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec
import pytest

from callcenter.domain.calls import Call, Callback, CallState
from callcenter.domain.messages import Channel
from callcenter.domain.routing_context import ticket_of
from callcenter.domain.wait_estimate import calls_ahead
from callcenter.storage import places
from callcenter.storage.calls import CallRepository
from callcenter.storage.places import COUNTED
from callcenter.storage.resp import RespClient
from tests.storage.test_waiting_lines import NOW, repository

QUEUES = ("billing", "sales", "vip:line")  # a name with ':' too
PRIORITIES = (-3, 0, 0, 0, 5, 10)
TEXT = {Channel.CHAT, Channel.SMS, Channel.EMAIL}


def random_call(pick: random.Random, n: int) -> Call:
    queued_at = NOW - timedelta(seconds=pick.choice((5, 5, 30, 90, 600)) + pick.random())
    kind = pick.choice(("voice", "voice", "voice", "callback", "callback", "chat", "sms", "email"))
    callback = None
    if kind == "callback":
        held = pick.choice((None, -60.0, 300.0))
        callback = Callback(
            number="+15550001111",
            requested_at=queued_at,
            source="api",
            not_before=NOW + timedelta(seconds=held) if held is not None else None,
        )
    return Call(
        id=f"c{n:03d}",
        gateway_call_id=f"c{n:03d}",
        state=CallState.QUEUED,
        queue=pick.choice(QUEUES),
        created_at=queued_at,
        updated_at=queued_at,
        last_event_at=queued_at,
        priority=pick.choice(PRIORITIES),
        queued_at=queued_at,
        callback=callback,
        channel=Channel(kind) if kind in TEXT else Channel.VOICE,
    )


async def backlog(calls: CallRepository, pick: random.Random, count: int) -> list[Call]:
    made = [random_call(pick, n) for n in range(count)]
    for call in made[: count // 4]:  # some arrive in the same microsecond as another
        twin = pick.choice(made)
        made[made.index(call)] = msgspec.structs.replace(call, queued_at=twin.queued_at)
    for call in made:
        await calls.commit(None, call, (), event_id=None, now=NOW)
    return made


async def fresh_backlog(
    resp: RespClient, seed: int
) -> tuple[CallRepository, random.Random, list[Call]]:
    """An empty store, then a random backlog of 80 tasks made from `seed`."""
    await resp.execute("FLUSHDB")
    calls, pick = repository(resp), random.Random(seed)
    return calls, pick, await backlog(calls, pick, 80)


async def test_the_calls_ahead_counted_from_the_lines_are_those_of_the_definition(
    resp: RespClient,
) -> None:
    for seed in range(6):
        calls, pick, made = await fresh_backlog(resp, seed)
        tickets = await calls.waiting()
        assert len(tickets) == len(made)
        counts = []
        for call in made:
            ticket = ticket_of(call)
            expected = calls_ahead(ticket, tickets, NOW)
            assert await calls.places.calls_ahead(ticket, NOW) == expected, (seed, call.id)
            counts.append(expected)
        assert max(counts) > 10 and 0 in counts  # the backlogs are not trivial
        # a call that changed since it was read (its priority, its queue): where it stands
        # as stored is not ahead of itself
        for call in pick.sample(made, 10):
            moved = msgspec.structs.replace(
                ticket_of(call), priority=call.priority + pick.choice((-7, 7)), queue="billing"
            )
            expected = calls_ahead(moved, tickets, NOW)
            assert await calls.places.calls_ahead(moved, NOW) == expected, (seed, call.id)


def test_every_channel_counted_ahead_is_counted_from_a_line() -> None:
    """The definition counts every channel but text ones: a new one must be counted here."""
    assert set(COUNTED) == set(Channel) - TEXT


async def test_a_queues_waiting_tasks_read_from_its_lines_are_those_among_every_waiting_task(
    resp: RespClient,
) -> None:
    for seed in range(3):
        calls, _, _ = await fresh_backlog(resp, seed)
        every = await calls.waiting()
        for queue in (*QUEUES, "vip", "nowhere"):
            read = await calls.places.waiting_in(queue)
            expected = [t for t in every if t.queue == queue]
            assert sorted(read, key=lambda t: t.call_id) == sorted(
                expected, key=lambda t: t.call_id
            ), (seed, queue)
        assert {t.channel for t in every} == set(Channel)  # every channel was read


async def test_a_queue_holding_more_tasks_than_one_read_takes_is_read_whole(
    resp: RespClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(places, "TICKETS_PER_READ", 7)
    calls, pick = repository(resp), random.Random(11)
    await backlog(calls, pick, 60)
    every = await calls.waiting()
    read = await calls.places.waiting_in("billing")
    assert len(read) > 2 * places.TICKETS_PER_READ
    assert sorted(t.call_id for t in read) == sorted(
        t.call_id for t in every if t.queue == "billing"
    )
