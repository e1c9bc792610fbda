"""Gateway timestamps against the server's clock: times within 300 s are taken as they are,
others are clamped (the reported value kept as an attribute), events older than the replay
window are refused; no time overflows the timers, in a batch or alone."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from callcenter.settings import Settings
from callcenter.storage import keys
from tests.conftest import FIXTURES, AppClient
from tests.polling import eventually

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rules with steps and a 4 s max wait on billing (overflow to general)."""
    return dataclasses.replace(settings, rules_dir=FIXTURES / "rules" / "routing")


def created(call_id: str, occurred_at: str | None = None, queue: str = "billing") -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "call.created",
        "event_id": f"{call_id}-c",
        "call_id": call_id,
        "queue": queue,
    }
    if occurred_at is not None:
        event["occurred_at"] = occurred_at
    return event


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


async def call_of(client: AppClient, call_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"/v1/calls/{call_id}", headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def seconds_ago(stamp: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


async def test_a_far_future_time_is_clamped_to_now_and_its_timers_fire(
    client: AppClient, gateway: dict[str, str], redis_client: Redis
) -> None:
    response = await client.post(
        "/v1/events", json=created("f1", "9999-12-31T23:59:59Z"), headers=gateway
    )
    assert response.status == 200, await response.text()
    call = await call_of(client, "f1", gateway)
    assert call["state"] == "queued" and -1 < seconds_ago(call["queued_at"]) < 5
    assert call["attributes"]["reported_occurred_at"].startswith("9999-12-31T23:59:59")
    timers = await redis_client.zrange(keys.TIMERS, 0, -1, withscores=True)
    due = [float(score) for _, score in cast(list[tuple[bytes, float]], timers)]
    assert due and max(due) < datetime.now(UTC).timestamp() + 10

    # the 4 s max wait overflows the call to general, as for any other call
    async def overflowed() -> bool:
        queue: str = (await call_of(client, "f1", gateway))["queue"]
        return queue == "general"

    await eventually(overflowed, seconds=15, every=0.1)


async def test_a_long_past_time_is_clamped_and_cannot_jump_the_queue_by_more(
    client: AppClient, gateway: dict[str, str]
) -> None:
    await client.post("/v1/events", json=created("early", ago(400)), headers=gateway)
    late = await client.post("/v1/events", json=created("late", ago(3600)), headers=gateway)
    assert late.status == 200, await late.text()
    early = await call_of(client, "early", gateway)
    claimed = await call_of(client, "late", gateway)
    assert 299 < seconds_ago(claimed["queued_at"]) < 305  # now - 300 s, not an hour ago
    assert seconds_ago(early["queued_at"]) == pytest.approx(
        seconds_ago(claimed["queued_at"]), abs=2
    )
    assert claimed["attributes"]["reported_occurred_at"]
    metrics = await (await client.get("/metrics")).text()
    longest = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('callcenter_queue_longest_wait_seconds{queue="billing"}')
    ]
    assert longest and longest[0] < 310  # the gauge read 849,717,191 s before
    assert 'callcenter_event_times_clamped_total{dialect="generic"} 2.0' in metrics


async def test_a_time_within_the_tolerance_is_kept_as_sent(
    client: AppClient, gateway: dict[str, str]
) -> None:
    sent = ago(200)
    await client.post("/v1/events", json=created("k1", sent), headers=gateway)
    call = await call_of(client, "k1", gateway)
    assert datetime.fromisoformat(call["queued_at"]) == datetime.fromisoformat(sent)
    assert "reported_occurred_at" not in call["attributes"]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "2000-01-01T00:00:00Z"])
async def test_an_event_older_than_the_replay_window_is_refused(
    client: AppClient, gateway: dict[str, str], stamp: str
) -> None:
    response = await client.post("/v1/events", json=created("old", stamp), headers=gateway)
    assert response.status == 422 and response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert problem["pointer"] == "/occurred_at" and "replay" in problem["detail"]
    missing = await client.get("/v1/calls/old", headers=gateway)
    assert missing.status == 404  # no phantom call
    metrics = await (await client.get("/metrics")).text()
    rejected = 'callcenter_events_total{dialect="generic",result="rejected",type="call.created"}'
    assert f"{rejected} 1.0" in metrics


async def test_a_batch_gives_each_event_its_result_whatever_its_time(
    client: AppClient, gateway: dict[str, str]
) -> None:
    batch = [
        created("b0"),
        created("b1", "9999-12-31T23:59:59Z"),
        created("b2", "0001-01-01T00:00:00Z"),
        created("b3", ago(8 * 86_400)),  # a replay after the calls' 7-day retention
        created("b4", ago(10)),
    ]
    response = await client.post("/v1/events", json=batch, headers=gateway)
    assert response.status == 207, await response.text()
    body = await response.json()
    assert (body["applied"], body["rejected"]) == (3, 2)
    results = {item["index"]: item for item in body["items"]}
    assert [results[i]["result"]["result"] for i in (0, 1, 4)] == ["applied"] * 3
    assert [results[i]["problem"]["pointer"] for i in (2, 3)] == [
        "/2/occurred_at",
        "/3/occurred_at",
    ]
