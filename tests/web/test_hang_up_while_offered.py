"""A caller who hangs up while their call is offered: the reserved agent is free at once,
and the offer's expiry timer, when it comes, finds nothing to do (it used to fail and
re-fire for ever, and the agent stayed reserved)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from callcenter.domain.timers import Timer, TimerKind
from callcenter.web.state import SERVICES
from tests.conftest import AppClient


async def test_the_offer_ends_with_the_call_and_frees_the_agent(
    client: AppClient, admin: dict[str, str]
) -> None:
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    await client.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=admin)
    created = {"type": "call.created", "event_id": "h1", "call_id": "h", "from": "+15550101010"}
    assert (await client.post("/v1/events", json=created, headers=admin)).status == 200

    async def call() -> dict[str, object]:
        got: dict[str, object] = await (await client.get("/v1/calls/h", headers=admin)).json()
        return got

    for _ in range(100):  # the dispatcher offers it within a moment
        if (await call())["state"] == "offered":
            break
        await asyncio.sleep(0.05)
    reservation = (await call())["reservation"]
    assert isinstance(reservation, dict)
    ended = {"type": "call.ended", "event_id": "h2", "call_id": "h"}
    assert (await client.post("/v1/events", json=ended, headers=admin)).status == 200

    gone = await call()
    assert (gone["state"], gone["outcome"], gone.get("reservation")) == ("ended", "abandoned", None)
    agent = await (await client.get("/v1/agents/ann", headers=admin)).json()
    assert (agent["activity"], agent["call_id"]) == ("idle", None)
    # the offer's timer comes due: nothing to do, no error, nothing changes
    timer = Timer(TimerKind.OFFER, "h", str(reservation["id"]), datetime.now(UTC))
    await client.app[SERVICES].routing.fire(timer)
    assert (await call())["state"] == "ended"
    assert (await (await client.get("/v1/agents/ann", headers=admin)).json())["activity"] == "idle"
    metrics = await (await client.get("/metrics")).text()
    assert 'task="timer_offer"' not in metrics
