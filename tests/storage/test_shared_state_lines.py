"""The scrape's callers waiting come from the waiting lines: per queue the callers queued
(voice and callbacks together) plus those ringing an agent, the oldest place in line among
them, and text tasks apart per channel, in a real Redis, through the real commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from callcenter.domain.calls import Call, Callback, CallState, Reservation, waiting
from callcenter.domain.messages import Channel
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient
from callcenter.storage.shared_state import SharedStateReader

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def queued(
    call_id: str,
    minutes_ago: int,
    queue: str = "billing",
    *,
    channel: Channel = Channel.VOICE,
    callback: Callback | None = None,
) -> Call:
    at = NOW - timedelta(minutes=minutes_ago)
    return waiting(
        call_id,
        queue=queue,
        customer="+15550001111",
        caller_key=None,
        now=NOW,
        queued_at=at,
        channel=channel,
        callback=callback,
    )


async def test_callers_waiting_per_queue_from_the_lines(resp: RespClient) -> None:
    calls = CallRepository(
        DocumentStore(resp), retention=timedelta(days=1), dedupe_window=timedelta(hours=1)
    )
    callback = Callback(number="+15550002222", requested_at=NOW, source="api")
    ringing = queued("v4", 9)
    arrivals = [
        queued("v1", 3),
        queued("v2", 7),
        queued("cb1", 5, callback=callback),
        queued("t1", 20, channel=Channel.CHAT),
        queued("s1", 1, queue="sales"),
        ringing,
    ]
    for call in arrivals:
        await calls.commit(None, call, (), event_id=None, now=NOW)
    offered = msgspec.structs.replace(
        ringing,
        state=CallState.OFFERED,
        reservation=Reservation(id="r1", agent_id="a1", expires_at=NOW, offered_at=NOW),
    )
    await calls.commit(
        msgspec.structs.replace(ringing, version=1), offered, (), event_id=None, now=NOW
    )
    gone = queued("v3", 30)  # the oldest, but it left the queue
    await calls.commit(None, gone, (), event_id=None, now=NOW)
    ended = msgspec.structs.replace(gone, version=1, state=CallState.ENDED)
    await calls.commit(msgspec.structs.replace(gone, version=1), ended, (), event_id=None, now=NOW)

    state = await SharedStateReader(resp).read()
    billing = state.queues["billing"]
    assert billing.waiting == 4  # v1, v2, the callback, and v4 ringing an agent
    assert billing.oldest == NOW - timedelta(minutes=9)  # v4's place; v3 left
    assert state.queues["sales"].waiting == 1
    chat = state.tasks[("billing", "chat")]
    assert (chat.waiting, chat.oldest) == (1, NOW - timedelta(minutes=20))
