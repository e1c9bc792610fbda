"""The simulator as a FreeSWITCH: it serves the event socket
(callcenter.simulate.fake_freeswitch) and a real server process, started with
CALLCENTER_FREESWITCH_ESL_HOST/_PORT pointing at it, follows and controls every call:
callers parked and held, agents' legs originated and bridged, hang-ups. Every call ends
served or abandoned, nothing is misrouted, and the server's documents and metrics agree
with what the simulated FreeSWITCH saw."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from callcenter.simulate.ledger import Outcome
from callcenter.simulate.runner import Simulation
from callcenter.simulate.server_process import free_port
from callcenter.simulate.traffic import plan_calls
from tests.simulate.conftest import ServerFactory, scenario

PASSWORD = "esl-secret"


@pytest.mark.timeout(150)
async def test_freeswitch_traffic_through_the_event_socket(start_server: ServerFactory) -> None:
    freeswitch = dataclasses.replace(scenario("generic"), gateway="freeswitch")
    assert freeswitch.rules_dir is not None
    esl_port = free_port()
    async with start_server(
        freeswitch.rules_dir,
        freeswitch_esl_host="127.0.0.1",
        freeswitch_esl_port=str(esl_port),
        freeswitch_esl_password=PASSWORD,
    ) as server:
        options = server.options(speech=False, esl_port=esl_port, esl_password=PASSWORD)
        result = await Simulation(freeswitch, options).run(asyncio.Event())
    placed = result.ledger.placed()
    assert len(placed) == len(list(plan_calls(freeswitch, "check"))) >= 5
    assert {r.outcome for r in placed} == {Outcome.SERVED, Outcome.ABANDONED}
    served = [r for r in placed if r.outcome is Outcome.SERVED]
    # each served caller was bridged by the server with the leg of the agent who accepted
    assert all(r.dialed_agent is not None and r.dialed_agent == r.accepted_by for r in served)
    assert result.checks is not None and [c for c in result.checks if not c.ok] == []
    compared = {c.what for c in result.checks if c.got is not None}
    assert any(
        w.startswith("callcenter_events_total{dialect=freeswitch,type=call.created")
        for w in compared
    )
    assert result.ok, (result.ledger.routing_errors, result.ledger.failures, result.server_problems)
