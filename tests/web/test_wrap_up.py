"""POST /v1/calls/{id}/wrap-up: the agent's disposition and notes in the caller's history."""

from __future__ import annotations

from typing import Any

from tests.conftest import AppClient, TokenFactory

NUMBER = "+15559990000"


def call(call_id: str, agent_id: str, *, ended: bool) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "call.created", "event_id": f"{call_id}-1", "call_id": call_id, "from": NUMBER},
        {
            "type": "call.answered",
            "event_id": f"{call_id}-2",
            "call_id": call_id,
            "agent_id": agent_id,
        },
    ]
    if ended:
        events.append({"type": "call.ended", "event_id": f"{call_id}-3", "call_id": call_id})
    return events


async def test_the_agent_s_notes_land_in_the_callers_history(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    assert (
        await client.post("/v1/events", json=call("n1", "ann", ended=True), headers=admin)
    ).status == 200
    ann = await token_for("agent:ann")
    response = await client.post(
        "/v1/calls/n1/wrap-up",
        json={"disposition": "refund issued", "notes": "Promised a callback on Monday."},
        headers=ann,
    )
    assert response.status == 200, await response.text()
    caller = await (await client.get(f"/v1/callers/{NUMBER}", headers=admin)).json()
    entry = caller["history"]["recent"][0]
    assert (entry["call_id"], entry["disposition"], entry["notes"]) == (
        "n1",
        "refund issued",
        "Promised a callback on Monday.",
    )


async def test_wrap_up_before_the_end_is_a_conflict_and_others_are_refused(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    for agent in ("ann", "bob"):
        await client.put(f"/v1/agents/{agent}", json={"name": agent, "skills": {}}, headers=admin)
    await client.post("/v1/events", json=call("n2", "ann", ended=False), headers=admin)
    early = await client.post(
        "/v1/calls/n2/wrap-up", json={"disposition": "x"}, headers=await token_for("agent:ann")
    )
    assert early.status == 409
    assert "has not ended" in (await early.json())["detail"]
    other = await client.post(
        "/v1/calls/n2/wrap-up", json={"disposition": "x"}, headers=await token_for("agent:bob")
    )
    assert other.status == 403
    bad = await client.post(
        "/v1/calls/n2/wrap-up", json={"disposition": "", "extra": 1}, headers=admin
    )
    assert bad.status == 422
