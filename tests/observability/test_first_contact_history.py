"""First-contact resolution over days of history: a call back to the same queue within 7
days makes the earlier call unresolved (a call about another queue does not). The calls are
dated days back, as an operator importing history would send them: that server accepts
gateway times 30 days back (by default, times are clamped to within 300 s of the server's
clock and a day-old event is refused)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.settings import Settings
from tests.conftest import AppClient
from tests.observability.conftest import event, make_agents, post_events, sample, scrape

MONTH = 30 * 86_400


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The usual test server, taking gateway times up to 30 days back."""
    return dataclasses.replace(
        settings, event_clock_tolerance_seconds=MONTH, dedupe_window_seconds=MONTH
    )


async def test_a_call_back_within_7_days_makes_the_first_call_unresolved(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await make_agents(client, admin, "a1")
    caller = "+15550000009"
    days = timedelta(days=1)

    def at(days_ago: float) -> str:
        return (datetime.now(UTC) - days_ago * days).isoformat()

    def handled(call_id: str, queue: str, days_ago: float) -> list[dict[str, Any]]:
        return [
            event(
                "call.created",
                f"{call_id}-1",
                call_id,
                queue=queue,
                occurred_at=at(days_ago),
                **{"from": caller},
            ),
            event("call.answered", f"{call_id}-2", call_id, agent_id="a1"),
            event("call.ended", f"{call_id}-3", call_id),
        ]

    async def finish(*events: dict[str, Any]) -> None:
        await post_events(client, gateway, *events)
        response = await client.post("/v1/agents/a1/wrap-up/done", headers=admin)
        assert response.status == 200

    await finish(*handled("old", "sales", 20))  # more than 7 days before the next one
    await finish(*handled("first", "billing", 5))
    text = await scrape(client)
    assert sample(text, "callcenter_unresolved_calls_total", queue="sales") is None
    assert sample(text, "callcenter_unresolved_calls_total", queue="billing") is None
    await finish(*handled("elsewhere", "sales", 4.5))  # another matter: no repeat
    await finish(*handled("again", "billing", 1))  # 4 days after "first"
    # a repeat that is abandoned still says the first call did not solve the problem
    await post_events(
        client,
        gateway,
        event("call.created", "late-1", "late", queue="billing", **{"from": caller}),
        event("call.ended", "late-2", "late"),
    )
    # a duplicate delivery of an end counts nothing again
    await post_events(client, gateway, event("call.ended", "late-2", "late"))
    text = await scrape(client)
    assert sample(text, "callcenter_unresolved_calls_total", queue="billing") == 2
    assert sample(text, "callcenter_unresolved_calls_total", queue="sales") is None
    history = await (await client.get(f"/v1/callers/{caller}", headers=admin)).json()
    flags = {item["call_id"]: item["unresolved"] for item in history["history"]["recent"]}
    assert flags == {"late": False, "again": True, "elsewhere": False, "first": True, "old": False}
