"""The queue outlook as scrape-time gauges: what /v1/queues says, /metrics says after the
next outlook tick (every 5 s; a scrape reports the board that tick kept, the same on every
instance); an unknown figure is left out rather than made up."""

from __future__ import annotations

import pytest

from tests.conftest import AppClient
from tests.observability.conftest import sample, scrape
from tests.polling import eventually
from tests.web.test_queues_api import one_call_handled_one_ringing_one_waiting, read

TICK_SECONDS = 15  # three outlook ticks


async def test_the_outlook_gauges_match_the_api(client: AppClient, admin: dict[str, str]) -> None:
    await one_call_handled_one_ringing_one_waiting(client, admin)
    text, expected = "", {}

    async def ticked() -> bool:
        """The gauges of a tick against the API read now: the arrival rate (so the agents
        needed) moves as the minute's traffic is written, in short batches, and as the
        window's clock runs, so both are read afresh until a tick has caught up."""
        nonlocal text, expected
        text = await scrape(client)
        general = await read(client, "/v1/queues/general", admin)
        expected = {
            "callcenter_queue_estimated_wait_seconds": general["estimated_wait_seconds"],
            "callcenter_queue_agents_needed": general["agents_needed"],
            "callcenter_queue_agents_staffed": 1,
            "callcenter_queue_agents_ready": 0,
            "callcenter_callbacks_waiting": 0,
        }
        return all(
            sample(text, name, queue="general") == pytest.approx(value, abs=1e-6)
            for name, value in expected.items()
        )

    await eventually(ticked, seconds=TICK_SECONDS)
    assert expected["callcenter_queue_agents_needed"] >= 1  # the figures are not trivial
    assert expected["callcenter_queue_estimated_wait_seconds"] > 0
    # billing has agents' skills nobody has here, no traffic, nobody waiting: no estimate
    assert sample(text, "callcenter_queue_agents_staffed", queue="billing") == 0
    assert sample(text, "callcenter_queue_estimated_wait_seconds", queue="billing") is None
    assert sample(text, "callcenter_queue_agents_needed", queue="billing") == 0
    billing = await read(client, "/v1/queues/billing", admin)
    assert billing["estimated_wait_seconds"] is None and billing["agents_needed"] == 0
