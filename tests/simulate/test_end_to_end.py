"""The simulator against a real server process (real Redis, real PocketSphinx, the shipped
audio clips streamed in real time): every call ends served or abandoned, nothing is
misrouted, the server's documents and metrics agree with what the gateway and agents saw,
and the angry callers raise alerts."""

from __future__ import annotations

import asyncio
import time

import pytest

from callcenter.simulate.ledger import Outcome
from callcenter.simulate.report import summary
from callcenter.simulate.runner import Simulation
from callcenter.simulate.traffic import plan_calls
from tests.simulate.conftest import ServerFactory, scenario

SECRET = "generic-webhook-secret"


@pytest.mark.timeout(240)
async def test_twilio_traffic_with_speech(start_server: ServerFactory) -> None:
    e2e = scenario("e2e")
    assert e2e.rules_dir is not None
    planned = list(plan_calls(e2e, "check"))
    angry = [p for p in planned if p.mood == "angry"]
    assert len(planned) >= 8 and len(angry) >= 4, "the seed no longer gives a useful plan"
    async with start_server(e2e.rules_dir, speech_engine="pocketsphinx") as server:
        began = time.monotonic()
        simulation = Simulation(e2e, server.options())
        result = await simulation.run(asyncio.Event())
    print(f"run took {time.monotonic() - began:.0f} s")
    print(
        "\n".join(
            summary(
                e2e, result.ledger, elapsed=result.elapsed, interrupted=False, checks=result.checks
            )
        )
    )
    ledger = result.ledger
    placed = ledger.placed()
    assert len(placed) == len(planned)
    assert not result.unfinished
    outcomes = {r.outcome for r in placed}
    assert outcomes <= {Outcome.SERVED, Outcome.ABANDONED} and Outcome.SERVED in outcomes
    assert ledger.routing_errors == [] and ledger.failures == [], (
        ledger.routing_errors,
        ledger.failures,
    )
    assert result.server_problems == []
    # the server's own counts of this run equal ours, check by check
    assert result.checks is not None
    compared = {c.what: c for c in result.checks if c.got is not None}
    assert any(w.startswith("callcenter_calls_total{") for w in compared)
    assert any(
        w.startswith("callcenter_events_total{dialect=twilio,type=call.created}") for w in compared
    )
    assert [c for c in result.checks if not c.ok] == []
    assert len(result.server_calls) == len(placed)
    # angry callers who got to speak raised mood alerts
    heard_angry = [r for r in placed if r.spoke and r.plan.mood == "angry"]
    assert heard_angry, "no angry caller was answered"
    assert ledger.alerts["upset"] >= 1, (ledger.alerts, [r.alerts for r in heard_angry])
    assert all(r.plan.mood == "angry" for r in placed if "upset" in r.alerts)
    assert result.ok


@pytest.mark.timeout(120)
async def test_generic_dialect_signed_and_quick_hang_ups(start_server: ServerFactory) -> None:
    generic = scenario("generic")
    assert generic.rules_dir is not None
    async with start_server(generic.rules_dir, webhook_secret=SECRET) as server:
        options = server.options(speech=False, webhook_secret=SECRET)
        result = await Simulation(generic, options).run(asyncio.Event())
    placed = result.ledger.placed()
    assert len(placed) == len(list(plan_calls(generic, "check"))) >= 5
    assert {r.outcome for r in placed} == {Outcome.SERVED, Outcome.ABANDONED}
    events = result.ledger.events
    assert events["call.created", "applied"] == len(placed)
    assert events["call.ended", "applied"] == len(placed)
    # the gateway reports the answer after the agent accepted: already known, so stale
    served = sum(r.outcome is Outcome.SERVED for r in placed)
    assert sum(n for (kind, _), n in events.items() if kind == "call.answered") == served
    assert result.checks is not None and [c for c in result.checks if not c.ok] == []
    assert result.ok, (result.ledger.routing_errors, result.ledger.failures, result.server_problems)


@pytest.mark.timeout(120)
async def test_a_replayed_trace(start_server: ServerFactory) -> None:
    trace = scenario("trace")
    assert trace.rules_dir is not None
    async with start_server(trace.rules_dir) as server:
        result = await Simulation(trace, server.options(speech=False)).run(asyncio.Event())
    by_caller = {r.plan.index: r for r in result.ledger.placed()}
    assert [r.plan.caller for r in by_caller.values()] == [
        "+15550001111",
        "+15550002222",
        "+15550003333",
        "+15550001111",
    ]
    assert by_caller[1].outcome is Outcome.ABANDONED  # 0.5 s of patience, Ann busy
    assert [by_caller[i].outcome for i in (0, 2, 3)] == [Outcome.SERVED] * 3
    assert by_caller[0].dialed_agent == "trace-ann" and by_caller[2].dialed_agent == "trace-bob"
    talk = by_caller[0].talk_seconds
    assert talk is not None and 2.9 <= talk <= 3.5
    assert result.ok, (result.ledger.routing_errors, result.ledger.failures, result.server_problems)
