"""The simulator as an Asterisk: it serves ARI (callcenter.simulate.fake_asterisk) and a
real server process, started with CALLCENTER_ASTERISK_ARI_URL pointing at it, runs every
call as an ARI application: callers held, agents' legs rung and bridged, hang-ups. Every
call ends served or abandoned, nothing is misrouted, and the server's documents and
metrics agree with what the simulated Asterisk saw."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from callcenter.simulate.ledger import Outcome
from callcenter.simulate.runner import Simulation
from callcenter.simulate.server_process import free_port
from callcenter.simulate.traffic import plan_calls
from tests.simulate.conftest import ServerFactory, scenario

PASSWORD = "ari-secret"


@pytest.mark.timeout(150)
async def test_asterisk_traffic_through_ari(start_server: ServerFactory) -> None:
    asterisk = dataclasses.replace(scenario("generic"), gateway="asterisk")
    assert asterisk.rules_dir is not None
    ari_port = free_port()
    async with start_server(
        asterisk.rules_dir,
        asterisk_ari_url=f"http://127.0.0.1:{ari_port}",
        asterisk_ari_password=PASSWORD,
    ) as server:
        options = server.options(speech=False, ari_port=ari_port, ari_password=PASSWORD)
        result = await Simulation(asterisk, options).run(asyncio.Event())
    placed = result.ledger.placed()
    assert len(placed) == len(list(plan_calls(asterisk, "check"))) >= 5
    assert {r.outcome for r in placed} == {Outcome.SERVED, Outcome.ABANDONED}
    served = [r for r in placed if r.outcome is Outcome.SERVED]
    # each served caller was bridged by the server with the leg of the agent who accepted
    assert all(r.dialed_agent is not None and r.dialed_agent == r.accepted_by for r in served)
    assert result.checks is not None and [c for c in result.checks if not c.ok] == []
    compared = {c.what for c in result.checks if c.got is not None}
    assert any(
        w.startswith("callcenter_events_total{dialect=asterisk,type=call.created") for w in compared
    )
    assert result.ok, (result.ledger.routing_errors, result.ledger.failures, result.server_problems)
