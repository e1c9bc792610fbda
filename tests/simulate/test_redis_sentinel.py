"""The whole server behind Redis Sentinel (a real primary, replica and three sentinels)
through a failover in the middle of a simulated run: calls through the Twilio dialect,
chats over the widget's socket, SMS, agent bots taking offers and holding several
conversations. The run is as right as without a failover: no double booking or other
routing error, no request the simulator could not get through (the server's 503s during
the move are retried), every call and conversation accounted for and every server count
equal to the simulator's, no agent left stuck (the invariant sweep finds nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from tests.redis_topology import MASTER, SentinelSet, sentinel_set
from tests.simulate.conftest import ServerFactory, scenario
from tests.simulate.outage import assert_clean, run_through

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    with sentinel_set(tmp_path_factory.mktemp("sentinel")) as found:
        yield found


async def test_a_simulated_run_through_a_failover(
    start_server: ServerFactory, topology: SentinelSet
) -> None:
    texts = scenario("texts")
    assert texts.rules_dir is not None
    sentinels = topology.sentinel_setting
    async with start_server(
        texts.rules_dir,
        redis_sentinels=sentinels,
        redis_master_name=MASTER,
        invariant_sweep_seconds="2",  # sweeps all through the run
    ) as server:
        old = topology.primary_port()
        result, new = await run_through(
            server,
            texts,
            lambda ledger: any(r.hung_up_at is not None for r in ledger.calls.values()),
            topology.failover,
        )
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.running.url + "/metrics") as answer,
        ):
            metrics = await answer.text()
    assert new != old
    assert "callcenter_invariant_repairs_total{" not in metrics  # nothing ever repaired
    assert "callcenter_redis_up 1.0" in metrics
    assert_clean(result)
