"""A real Prometheus server scrapes a live callcenter and evaluates the shipped recording
rules; PromQL over its HTTP API sees the calls the test posted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AppClient
from tests.observability.conftest import post_events
from tests.observability.prometheus import prometheus_server


@pytest.mark.slow
async def test_prometheus_scrapes_waiting_calls_and_evaluates_the_rules(
    client: AppClient, gateway: dict[str, str], tmp_path: Path
) -> None:
    target = f"127.0.0.1:{client.server.port}"
    async with prometheus_server(tmp_path, [target]) as prometheus:
        await prometheus.wait_for('up{job="callcenter"}', 1)
        await prometheus.wait_for('callcenter_queue_calls_waiting{queue="billing"}', 0)
        await post_events(
            client,
            gateway,
            *(
                {
                    "type": "call.created",
                    "event_id": f"e{i}",
                    "call_id": f"c{i}",
                    "queue": "billing",
                }
                for i in range(3)
            ),
            {"type": "call.created", "event_id": "e9", "call_id": "c9", "queue": "sales"},
        )
        (raw,) = await prometheus.wait_for('callcenter_queue_calls_waiting{queue="billing"}', 3)
        assert raw["metric"]["instance"] == target
        await prometheus.wait_for('queue:callcenter_calls_waiting:max{queue="billing"}', 3)
        await prometheus.wait_for('queue:callcenter_calls_waiting:max{queue="sales"}', 1)
        await prometheus.wait_for(
            'queue:callcenter_service_level_threshold_seconds:max{queue="support"}', 25
        )
