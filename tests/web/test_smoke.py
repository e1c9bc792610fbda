from __future__ import annotations

from tests.conftest import AppClient


async def test_health_is_open(client: AppClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok"}


async def test_call_flow_updates_caller_history(
    client: AppClient, gateway: dict[str, str], admin: dict[str, str]
) -> None:
    put = await client.put(
        "/v1/agents/a1", json={"name": "Ann", "skills": {"billing": 4}}, headers=admin
    )
    assert put.status == 201, await put.text()
    events = [
        {
            "type": "call.created",
            "event_id": "e1",
            "call_id": "c1",
            "from": "+1 555 123 0000",
            "to": "+15559870000",
            "queue": "billing",
        },
        {"type": "call.answered", "event_id": "e2", "call_id": "c1", "agent_id": "a1"},
        {"type": "call.ended", "event_id": "e3", "call_id": "c1"},
    ]
    response = await client.post("/v1/events", json=events, headers=gateway)
    body = await response.json()
    assert response.status == 200, body
    assert [item["result"]["state"] for item in body["items"]] == ["queued", "connected", "wrap_up"]
    agent = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert agent["activity"] == "wrap_up"
    assert agent["calls_today"] == 1
    caller = await (await client.get("/v1/callers/+15551230000", headers=admin)).json()
    assert caller["history"]["calls_total"] == 1
    assert caller["history"]["last_agent"] == "a1"
    assert caller["history"]["last_outcome"] == "handled"
