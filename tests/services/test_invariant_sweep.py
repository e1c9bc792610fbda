"""The invariant sweep inside the app on a real Redis: each inconsistency planted behind
the app's back (an agent reserved for nothing, a text task held for nothing, an offer past
its expiry whose timer was lost, a timer nobody took) is found, repaired and counted by
kind; a waiting call missing from its waiting lines is put back, a ghost in them taken
out; an agent missing from its skill sets is put back; a consistent state (an offer in
its time, an agent on a call) is left alone; one instance sweeps per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from callcenter.app_keys import REDIS, REPOSITORIES
from callcenter.domain.agents import Activity
from callcenter.domain.calls import CallState
from callcenter.domain.timers import Timer, TimerKind
from callcenter.storage import keys
from callcenter.storage.timers import member_of
from callcenter.web.state import METRICS, SERVICES
from tests.conftest import AppClient
from tests.web.test_routing_api import wait_for

LONG_AGO = datetime.now(UTC) - timedelta(minutes=5)


async def agent(client: AppClient, admin: dict[str, str], agent_id: str) -> None:
    body = {"name": agent_id.title(), "skills": {}}
    assert (await client.put(f"/v1/agents/{agent_id}", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    answer = await client.post(f"/v1/agents/{agent_id}/presence", json=presence, headers=admin)
    assert answer.status == 200


async def call_view(client: AppClient, admin: dict[str, str], call_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await (await client.get(f"/v1/calls/{call_id}", headers=admin)).json()
    return found


async def offered_call(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], call_id: str
) -> dict[str, Any]:
    """A new call, once offered (to the one available agent)."""
    event = {"type": "call.created", "event_id": f"{call_id}-1", "call_id": call_id}
    event["from"] = "+15550001234"
    assert (await client.post("/v1/events", json=event, headers=gateway)).status == 200
    return await wait_for(
        lambda: call_view(client, admin, call_id), lambda c: c["state"] == "offered"
    )


def repairs(client: AppClient, kind: str) -> float:
    value = client.app[METRICS].registry.get_sample_value(
        "callcenter_invariant_repairs_total", {"kind": kind}
    )
    return value or 0.0


async def test_an_agent_reserved_or_holding_a_task_for_nothing_is_freed(
    client: AppClient, admin: dict[str, str]
) -> None:
    await agent(client, admin, "ann")
    agents = client.app[REPOSITORIES].agents
    stored = await agents.get("ann")
    assert stored is not None and stored.activity is Activity.IDLE
    broken = msgspec.structs.replace(
        stored,
        activity=Activity.RESERVED,
        activity_since=LONG_AGO,
        call_id="ghost-call",
        tasks={"ghost-chat": "chat"},
    )
    await agents.save(stored, broken, datetime.now(UTC))

    found = await client.app[SERVICES].sweep.sweep()
    assert sorted(f.kind for f in found) == [
        "agent_reserved_without_offer",
        "task_held_without_offer",
    ]
    fixed = await agents.get("ann")
    assert fixed is not None
    assert (fixed.activity, fixed.call_id, fixed.tasks) == (Activity.IDLE, None, {})
    assert repairs(client, "agent_reserved_without_offer") == 1
    assert repairs(client, "task_held_without_offer") == 1
    assert await client.app[SERVICES].sweep.sweep() == []  # nothing left to repair


async def test_an_offer_past_its_expiry_whose_timer_was_lost_expires(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await agent(client, admin, "bo")
    offered = await offered_call(client, admin, gateway, "x")
    reservation = offered["reservation"]["id"]
    # behind the app's back: the offer's timer is lost and its expiry long past
    redis = client.app[REDIS]
    timer = Timer(TimerKind.OFFER, "x", reservation, LONG_AGO)
    assert await redis.execute("ZREM", keys.TIMERS, member_of(timer)) == 1
    calls = client.app[REPOSITORIES].calls
    stored = await calls.get("x")
    assert stored is not None and stored.reservation is not None
    late = msgspec.structs.replace(
        stored,
        reservation=msgspec.structs.replace(stored.reservation, expires_at=LONG_AGO),
    )
    await calls.commit(stored, late, (), event_id=None, now=datetime.now(UTC))

    found = await client.app[SERVICES].sweep.sweep()
    assert [(f.kind, f.subject, f.ref) for f in found] == [("offer_past_expiry", "x", reservation)]
    again = await call_view(client, admin, "x")
    assert (again.get("reservation") or {}).get("id") != reservation  # taken back
    assert repairs(client, "offer_past_expiry") == 1


async def test_a_timer_nobody_took_is_fired(client: AppClient, admin: dict[str, str]) -> None:
    redis = client.app[REDIS]
    stale = member_of(Timer(TimerKind.STEP, "gone-call", "0", LONG_AGO))
    await redis.execute("ZADD", keys.TIMERS, LONG_AGO.timestamp(), stale)
    found = await client.app[SERVICES].sweep.sweep()
    assert [(f.kind, f.subject) for f in found] == [("timer_overdue", stale)]
    assert await redis.execute("ZSCORE", keys.TIMERS, stale) is None
    assert repairs(client, "timer_overdue") == 1


async def test_a_consistent_state_is_left_alone(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await agent(client, admin, "cy")
    offered = await offered_call(client, admin, gateway, "y")
    assert await client.app[SERVICES].sweep.sweep() == []  # an offer in its time
    accept = f"/v1/reservations/{offered['reservation']['id']}/accept"
    assert (await client.post(accept, headers=admin)).status == 200
    assert (await call_view(client, admin, "y"))["state"] == CallState.CONNECTED
    assert await client.app[SERVICES].sweep.sweep() == []


async def test_a_waiting_call_missing_from_its_lines_is_put_back_and_a_ghost_taken_out(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    """Routing reads the waiting lines, not every waiting call: a call missing from them
    would wait unseen. The sweep puts it back (and it is offered), and takes out a member
    whose call is not waiting."""
    event = {"type": "call.created", "event_id": "lost-1", "call_id": "lost", "queue": "q1"}
    assert (await client.post("/v1/events", json=event, headers=gateway)).status == 200
    await wait_for(lambda: call_view(client, admin, "lost"), lambda c: c["state"] == "queued")
    redis = client.app[REDIS]
    lines = [k.decode() for k in await redis.execute("KEYS", keys.line("*"))]
    assert len(lines) == 2
    member = (await redis.execute("ZRANGE", lines[0], 0, -1))[0]
    for line in lines:  # behind the app's back: the call leaves its lines, a ghost joins
        await redis.execute("ZREM", line, member)
        await redis.execute("ZADD", line, 0, member.replace(b"lost", b"ghost"))

    assert await client.app[SERVICES].sweep.sweep() == []  # the other findings: none
    assert repairs(client, "waiting_line_missing") == 1
    assert repairs(client, "waiting_line_stale") == 2
    for line in lines:
        assert await redis.execute("ZRANGE", line, 0, -1) == [member]
    await agent(client, admin, "dee")  # the call is seen again: offered
    await wait_for(lambda: call_view(client, admin, "lost"), lambda c: c["state"] == "offered")
    await client.app[SERVICES].sweep.sweep()
    assert repairs(client, "waiting_line_missing") == 1  # nothing more to repair


async def test_an_agent_missing_from_its_skill_sets_is_put_back(
    client: AppClient, admin: dict[str, str]
) -> None:
    """A queue's staffing reads the agents of its first skill: an agent an older version
    wrote (its skills changed there) would be missing from a set, and from the staffing."""
    body = {"name": "Sky", "skills": {"billing": 2, "sales": 1}}
    assert (await client.put("/v1/agents/sky", json=body, headers=admin)).status == 201
    redis = client.app[REDIS]
    await redis.execute("SREM", keys.skill("billing"), "sky")  # behind the app's back
    assert await client.app[SERVICES].sweep.sweep() == []
    assert repairs(client, "skill_set_missing") == 1
    for skill in ("billing", "sales"):
        assert await redis.execute("SMEMBERS", keys.skill(skill)) == [b"sky"]
    await client.app[SERVICES].sweep.sweep()
    assert repairs(client, "skill_set_missing") == 1  # nothing more to repair


async def test_one_instance_sweeps_per_period(client: AppClient) -> None:
    timers = client.app[REPOSITORIES].timers
    assert await timers.take_sweep_turn("one", 30) is True
    assert await timers.take_sweep_turn("two", 30) is False
