"""The simulator as a PBX: it serves the PBX's interface (the loopback Asterisk's ARI, or
the loopback FreeSWITCH's event socket) and a real server process, started pointing at it,
controls every call: callers held, agents' legs originated and bridged, hang-ups. Every
call ends served or abandoned, nothing is misrouted, each served caller was bridged with
the agent who accepted, and the server's documents and metrics agree with what the
simulated PBX saw."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from callcenter.simulate.asterisk_gateway import AsteriskGateway
from callcenter.simulate.freeswitch_gateway import FreeswitchGateway
from callcenter.simulate.ledger import Ledger, Outcome
from callcenter.simulate.runner import Simulation
from callcenter.simulate.server_process import free_port
from callcenter.simulate.traffic import plan_calls
from tests.simulate.conftest import ServerFactory, scenario

SECRET = "pbx-secret"


def asterisk(port: int) -> tuple[dict[str, str], dict[str, Any]]:
    server = {"asterisk_ari_url": f"http://127.0.0.1:{port}", "asterisk_ari_password": SECRET}
    return server, {"ari_port": port, "ari_password": SECRET}


def freeswitch(port: int) -> tuple[dict[str, str], dict[str, Any]]:
    server = {
        "freeswitch_esl_host": "127.0.0.1",
        "freeswitch_esl_port": str(port),
        "freeswitch_esl_password": SECRET,
    }
    return server, {"esl_port": port, "esl_password": SECRET}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("gateway", ["asterisk", "freeswitch"])
async def test_pbx_traffic(start_server: ServerFactory, gateway: str) -> None:
    run = dataclasses.replace(scenario("generic"), gateway=gateway)
    assert run.rules_dir is not None
    server_settings, options = (asterisk if gateway == "asterisk" else freeswitch)(free_port())
    async with start_server(run.rules_dir, **server_settings) as server:
        result = await Simulation(run, server.options(speech=False, **options)).run(asyncio.Event())
    placed = result.ledger.placed()
    assert len(placed) == len(list(plan_calls(run, "check"))) >= 5
    assert {r.outcome for r in placed} == {Outcome.SERVED, Outcome.ABANDONED}
    served = [r for r in placed if r.outcome is Outcome.SERVED]
    assert all(r.dialed_agent is not None and r.dialed_agent == r.accepted_by for r in served)
    assert result.checks is not None and [c for c in result.checks if not c.ok] == []
    created = f"callcenter_events_total{{dialect={gateway},type=call.created"
    assert any(c.what.startswith(created) for c in result.checks if c.got is not None)
    assert result.ok, (result.ledger.routing_errors, result.ledger.failures, result.server_problems)


def test_an_unbridged_caller_names_the_settings_that_point_the_server_here() -> None:
    ari = AsteriskGateway(
        Ledger(),
        host="127.0.0.1",
        port=8088,
        app="callcenter",
        username="callcenter",
        password=SECRET,
        on_connect=lambda call, agent: None,
    )
    esl = FreeswitchGateway(
        Ledger(), host="127.0.0.1", port=8021, password=SECRET, on_connect=lambda c, a: None
    )
    assert ari.missing_connect.endswith("CALLCENTER_ASTERISK_ARI_URL=http://127.0.0.1:8088")
    assert esl.missing_connect.endswith(
        "CALLCENTER_FREESWITCH_ESL_HOST=127.0.0.1 CALLCENTER_FREESWITCH_ESL_PORT=8021"
    )
    assert "<Dial>" not in ari.missing_connect + esl.missing_connect
