"""The queueing-theory check: the `erlang` scenario through a real server at a given
occupancy (optionally with impatient callers), measured from the server (its call
documents: queued_at -> answered_at; its wait histogram as a cross-check), set beside
Erlang C (or A) and beside the ideal queue replayed on the very same calls.

Why the replay: a run of a few minutes holds a few hundred waits, and waits are strongly
correlated (a busy spell delays many callers), so the mean of one run scatters by tens of
per cent around Erlang C however well the server routes. The ideal queue replayed on the
same arrivals, each call taking the agent as long as it really did on the server (handle
time plus round trips), scatters the same way; so server - replay is what the server's
routing adds, and `estimate` = theory + (server - replay) is the server's long-run
figure with most of the run's luck cancelled (a control variate). Raw figures are
reported beside it, and theory at both the nominal handle time and the real busy time."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from callcenter.simulate.command import scenario_path
from callcenter.simulate.distributions import Exponential
from callcenter.simulate.erlang_measure import Figures, Measurement, measure
from callcenter.simulate.runner import RunOptions, Simulation
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.scenario_loader import load_scenario
from callcenter.simulate.server_process import TwilioAccount, free_port, server_process

__all__ = ["Figures", "LoadPoint", "Measurement", "at_load", "measure", "run_points"]


def at_load(scenario: Scenario, occupancy: float, patience_mean: float | None) -> Scenario:
    """The erlang scenario at `occupancy`, its callers hanging up after an exponential
    patience with `patience_mean` seconds (None: never)."""
    patience = Exponential(patience_mean) if patience_mean is not None else None
    queues = {
        name: dataclasses.replace(queue, patience=patience)
        for name, queue in scenario.queues.items()
    }
    return dataclasses.replace(scenario, queues=queues).with_load(occupancy=occupancy)


@dataclass(frozen=True, slots=True)
class LoadPoint:
    occupancy: float
    patience_mean: float | None = None  # seconds; None: callers never hang up


async def run_points(
    points: Sequence[LoadPoint],
    *,
    seconds: float | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> list[Measurement]:
    """Start a server (embedded Redis in a temporary directory) and run the erlang
    scenario at each point in turn, `seconds` of arrivals each (default: the scenario's).

    Raises CallcenterError (ServerFailed, ServerRefused, ...) when a run cannot go on."""
    base = await asyncio.to_thread(load_scenario, scenario_path("erlang"))
    if seconds is not None:
        base = dataclasses.replace(base, duration_seconds=seconds)
    assert base.rules_dir is not None
    twilio = TwilioAccount.fresh()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    environ |= {
        "CALLCENTER_LOG_LEVEL": "WARNING",
        "CALLCENTER_PUBLIC_URL": url,
        **twilio.environment(),
    }
    measured = []
    with tempfile.TemporaryDirectory(prefix="erlang-") as data:
        async with server_process(
            port=port, rules_dir=base.rules_dir, environ=environ, say=say, data_dir=Path(data)
        ) as server:
            options = RunOptions(
                server_url=server.url,
                token=server.admin_token,
                public_url=url,
                twilio_account_sid=twilio.account_sid,
                twilio_auth_token=twilio.auth_token,
                twilio_api_port=twilio.api_port,
                speech=False,
            )
            for index, point in enumerate(points):
                # each point its own arrivals: runs with one seed would share their luck
                seeded = dataclasses.replace(base, seed=base.seed + index)
                scenario = at_load(seeded, point.occupancy, point.patience_mean)
                patience = f", patience {point.patience_mean:g} s" if point.patience_mean else ""
                say(f"occupancy {point.occupancy:g}{patience}: {scenario.duration_seconds:g} s")
                result = await Simulation(scenario, options).run(asyncio.Event())
                if not result.ok:
                    problems = result.ledger.routing_errors + result.ledger.failures
                    say(f"the run was not clean: {(problems + result.server_problems)[:3]}")
                measured.append(measure(result, point.occupancy, point.patience_mean))
    return measured
