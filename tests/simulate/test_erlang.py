"""The queueing-theory check through a real server (opt-in: RUN_ERLANG_CHECK=1, about
20 minutes): one queue, 10 agents, Poisson arrivals, exponential 8 s calls, longest idle.
The probability of waiting and the mean wait must match Erlang C within 10 % at loads 0.7
and 0.9; with impatient callers, abandonment must move as Erlang A says. See bench/erlang.py
for the same runs as a table, and callcenter/simulate/erlang_check.py for why the measured
figures are estimated with the ideal queue replayed on the same calls."""

from __future__ import annotations

import os

import pytest

from callcenter.simulate.erlang_check import LoadPoint, run_points

pytestmark = [
    pytest.mark.erlang,
    pytest.mark.skipif(
        os.environ.get("RUN_ERLANG_CHECK") != "1",
        reason="opt-in: RUN_ERLANG_CHECK=1 runs the queueing-theory check (~20 min)",
    ),
]
SECONDS = 240.0
TOLERANCE = 0.10


@pytest.mark.timeout(3600)
async def test_waits_match_erlang_c_and_abandonment_follows_erlang_a() -> None:
    measured = await run_points(
        [
            LoadPoint(0.7),
            LoadPoint(0.9),
            LoadPoint(0.7, patience_mean=16.0),
            LoadPoint(0.9, patience_mean=16.0),
        ],
        seconds=SECONDS,
        say=print,
    )
    for m in measured[:2]:
        print(m)
        assert m.calls > 150
        # the server's round trips stay a small part of each call
        assert m.overhead_seconds < 0.01 * m.handle_mean
        # the server's long-run figures against Erlang C, at the nominal handle time and
        # at the agents' real busy time
        for field in ("waited", "mean_wait"):
            assert abs(m.error(field)) <= TOLERANCE, (field, m.estimate, m.theory)
            assert abs(m.busy_error(field)) <= TOLERANCE, (field, m.estimate, m.busy_theory)
        # the server routes as the ideal queue does on the same calls: what is left after
        # the run's luck is a few per cent
        assert m.server.mean_wait == pytest.approx(m.busy_replay.mean_wait, rel=0.15, abs=0.05)
        # its wait histogram holds exactly the waits its call documents hold
        assert m.histogram_mean_wait == pytest.approx(m.server_all_mean_wait, rel=1e-3)
        if m.histogram_waited is not None:
            assert m.histogram_waited == pytest.approx(m.server_all_waited, abs=1e-3)
    light, heavy = measured[2:]
    for m in (light, heavy):
        print(m)
        assert m.patience_mean is not None
        assert m.server.abandoned > 0
        assert abs(m.error("abandoned")) <= 0.25
        # impatience shortens the waits, as Erlang A says it does
        assert m.estimate.mean_wait < m.erlang_c.mean_wait_seconds
    # more load, more callers give up: in theory, in the estimate and in the raw count
    assert light.theory.abandoned < heavy.theory.abandoned
    assert light.estimate.abandoned < heavy.estimate.abandoned
    assert light.server.abandoned < heavy.server.abandoned
