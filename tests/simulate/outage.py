"""A simulated run with something done to Redis in its middle, for the Sentinel and Cluster
runs: the outage waits for a sign that the run is well under way, runs in a thread, and
the run's result is checked as a clean run's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from callcenter.simulate.ledger import Ledger
from callcenter.simulate.run_result import RunResult
from callcenter.simulate.runner import Simulation
from callcenter.simulate.scenario import Scenario
from tests.simulate.conftest import Server

T = TypeVar("T")


async def run_through(
    server: Server,
    scenario: Scenario,
    under_way: Callable[[Ledger], bool],
    outage: Callable[[], T],
) -> tuple[RunResult, T]:
    """The run, with `outage()` once `under_way(ledger)` (within 90 s); both results.
    Raises AssertionError if the run ended first or did not get under way."""
    simulation = Simulation(scenario, server.options(speech=False))
    running = asyncio.create_task(simulation.run(asyncio.Event()))
    deadline = asyncio.get_running_loop().time() + 90
    while not under_way(simulation.ledger):
        assert not running.done(), "the run ended before it was under way"
        assert asyncio.get_running_loop().time() < deadline, "the run never got under way"
        await asyncio.sleep(0.2)
    done = await asyncio.to_thread(outage)
    return await running, done


def assert_clean(result: RunResult) -> None:
    """No routing error, request failure or server problem; every count equal."""
    ledger = result.ledger
    assert (ledger.routing_errors, ledger.failures, result.server_problems) == ([], [], [])
    assert result.checks is not None and [c for c in result.checks if not c.ok] == []
    assert result.ok
