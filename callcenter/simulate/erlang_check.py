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
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from callcenter.metrics import bucket_label
from callcenter.simulate.command import scenario_path
from callcenter.simulate.distributions import Exponential
from callcenter.simulate.erlang import (
    Arrival,
    Prediction,
    erlang_a,
    erlang_c,
    erlang_c_decay,
    ideal_queue,
)
from callcenter.simulate.ledger import CallRecord, Outcome
from callcenter.simulate.runner import RunOptions, RunResult, Simulation
from callcenter.simulate.scenario import Poisson, Scenario
from callcenter.simulate.scenario_loader import load_scenario
from callcenter.simulate.server_process import TwilioAccount, server_process
from callcenter.storage.embedded import free_port

QUEUE = "erlang"
WAIT_HISTOGRAM = "callcenter_queue_wait_seconds"


@dataclass(frozen=True, slots=True)
class Figures:
    waited: float  # P(wait > threshold)
    mean_wait: float  # seconds, over every counted caller (abandoned: time until hanging up)
    abandoned: float = 0.0  # P(abandon)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.waited + other.waited,
            self.mean_wait + other.mean_wait,
            self.abandoned + other.abandoned,
        )

    def __sub__(self, other: Figures) -> Figures:
        return Figures(
            self.waited - other.waited,
            self.mean_wait - other.mean_wait,
            self.abandoned - other.abandoned,
        )


@dataclass(frozen=True, slots=True)
class Measurement:
    """One load point. `theory` is Erlang C (or A) at the nominal handle time;
    `busy_theory` the same at the agents' real busy time per call (the handle time plus
    the server's round trips, `overhead_seconds` on average). `replay` is the ideal queue
    on this run's calls with their nominal handle times, `busy_replay` with each call's
    measured busy time. `server` is what the server's documents say."""

    occupancy: float
    patience_mean: float | None
    agents: int
    handle_mean: float
    threshold: float
    calls: int  # counted (after the warm-up)
    arrival_rate: float  # realised, counted calls
    theory: Figures
    busy_theory: Figures
    erlang_c: Prediction  # for comparison when there is patience
    replay: Figures
    busy_replay: Figures
    server: Figures
    server_all_mean_wait: float  # every answered call of the run, warm-up included
    server_all_waited: float
    histogram_mean_wait: float | None  # the same calls, from the server's /metrics
    histogram_waited: float | None
    overhead_seconds: float

    @property
    def estimate(self) -> Figures:
        """The server's long-run figure: busy_theory + (server - busy_replay), this run's
        luck taken out (a control variate)."""
        return self.busy_theory + (self.server - self.busy_replay)

    def error(self, field: str) -> float:
        """Relative difference of the estimate from Erlang C (or A) at the nominal handle."""
        return _relative(getattr(self.estimate, field), getattr(self.theory, field))

    def busy_error(self, field: str) -> float:
        """The same against theory at the agents' real busy time."""
        return _relative(getattr(self.estimate, field), getattr(self.busy_theory, field))


def _relative(value: float, reference: float) -> float:
    return (value - reference) / reference if reference else 0.0


def at_load(scenario: Scenario, occupancy: float, patience_mean: float | None) -> Scenario:
    """The erlang scenario at `occupancy`, its callers hanging up after an exponential
    patience with `patience_mean` seconds (None: never)."""
    patience = Exponential(patience_mean) if patience_mean is not None else None
    queues = {
        name: dataclasses.replace(queue, patience=patience)
        for name, queue in scenario.queues.items()
    }
    return dataclasses.replace(scenario, queues=queues).with_load(occupancy=occupancy)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _answered_wait(document: dict[str, object]) -> float | None:
    """The server's queued_at -> answered_at."""
    queued, answered = document.get("queued_at"), document.get("answered_at")
    if isinstance(queued, str) and isinstance(answered, str):
        return max(0.0, (_time(answered) - _time(queued)).total_seconds())
    return None


def _server_wait(record: CallRecord, document: dict[str, object]) -> float:
    """Answered: the server's own wait. Abandoned: how long the caller held on, as the
    gateway saw it (the server's ended_at comes from Twilio's whole-second Timestamp, too
    coarse here)."""
    wait = _answered_wait(document) if record.outcome is Outcome.SERVED else None
    return wait if wait is not None else record.wait_seconds or 0.0


def _figures(waits: list[float], abandoned: list[bool], threshold: float) -> Figures:
    count = len(waits)
    return Figures(
        waited=sum(w > threshold for w, gone in zip(waits, abandoned, strict=True) if not gone)
        / count,
        mean_wait=statistics.fmean(waits),
        abandoned=sum(abandoned) / count,
    )


def _theory(
    agents: int, rate: float, handle: float, patience: float | None, threshold: float
) -> Figures:
    if patience is None:
        c = erlang_c(agents, rate, handle)
        decay = erlang_c_decay(agents, rate, handle)
        return Figures(c.probability_wait_longer(threshold, decay), c.mean_wait_seconds)
    a = erlang_a(agents, rate, handle, patience)
    return Figures(a.probability_of_wait, a.mean_wait_seconds, a.probability_of_abandon)


def measure(result: RunResult, occupancy: float, patience_mean: float | None) -> Measurement:
    """Raises ValueError if the run counted no call or a call has no server document."""
    scenario = result.scenario
    queue = scenario.queues[QUEUE]
    agents = len(scenario.roster)
    handle_mean = queue.handle.mean
    threshold = queue.service_level_seconds
    records = sorted(result.ledger.placed(), key=lambda r: r.plan.at_seconds)
    counted = [r for r in records if r.plan.at_seconds >= scenario.warm_up_seconds]
    if not counted:
        raise ValueError("no call after the warm-up")
    missing = [r.plan.call_sid for r in records if r.plan.call_sid not in result.server_calls]
    if missing:
        raise ValueError(f"no server document for {len(missing)} calls, e.g. {missing[0]}")
    overhead = _overhead(counted)
    nominal = {r.plan.call_sid: r.plan.handle_seconds for r in records}
    measured = {
        r.plan.call_sid: (
            r.agent_free_at - r.offered_at
            if r.agent_free_at is not None and r.offered_at is not None
            else r.plan.handle_seconds + overhead
        )
        for r in records
    }
    replay = _replay(records, counted, agents, nominal, threshold)
    busy_replay = _replay(records, counted, agents, measured, threshold)
    server = _figures(
        [_server_wait(r, result.server_calls[r.plan.call_sid]) for r in counted],
        [r.outcome is Outcome.ABANDONED for r in counted],
        threshold,
    )
    answered = [
        w
        for r in records
        if r.outcome is Outcome.SERVED
        and (w := _answered_wait(result.server_calls[r.plan.call_sid])) is not None
    ]
    assert isinstance(scenario.arrivals, Poisson)
    rate = scenario.arrivals.per_second
    span = (scenario.duration_seconds or counted[-1].plan.at_seconds) - scenario.warm_up_seconds
    c = erlang_c(agents, rate, handle_mean) if rate * handle_mean < agents else None
    return Measurement(
        occupancy=occupancy,
        patience_mean=patience_mean,
        agents=agents,
        handle_mean=handle_mean,
        threshold=threshold,
        calls=len(counted),
        arrival_rate=len(counted) / span if span > 0 else rate,
        theory=_theory(agents, rate, handle_mean, patience_mean, threshold),
        busy_theory=_theory(agents, rate, handle_mean + overhead, patience_mean, threshold),
        erlang_c=c or Prediction(1.0, float("inf")),
        replay=replay,
        busy_replay=busy_replay,
        server=server,
        server_all_mean_wait=statistics.fmean(answered) if answered else 0.0,
        server_all_waited=sum(w > threshold for w in answered) / len(answered) if answered else 0.0,
        histogram_mean_wait=_histogram_mean(result),
        histogram_waited=_histogram_waited(result, threshold),
        overhead_seconds=overhead,
    )


def _replay(
    records: list[CallRecord],
    counted: list[CallRecord],
    agents: int,
    service: dict[str, float],
    threshold: float,
) -> Figures:
    """The ideal queue over every call of the run (the warm-up ones fill it as they did
    the server), each call served for `service[call]`; figures over the counted ones."""
    waits = ideal_queue(
        [
            Arrival(r.plan.at_seconds, service[r.plan.call_sid], r.plan.patience_seconds)
            for r in records
        ],
        agents,
    )
    by_call = dict(zip((r.plan.call_sid for r in records), waits, strict=True))
    chosen = [by_call[r.plan.call_sid] for r in counted]
    return _figures(
        [
            w if w is not None else (r.plan.patience_seconds or 0.0)
            for w, r in zip(chosen, counted, strict=True)
        ],
        [w is None for w in chosen],
        threshold,
    )


def _histogram_mean(result: RunResult) -> float | None:
    before, after = result.metrics_before, result.metrics_after
    if before is None or after is None or not after.has(f"{WAIT_HISTOGRAM}_count"):
        return None
    count = after.total(f"{WAIT_HISTOGRAM}_count", queue=QUEUE) - before.total(
        f"{WAIT_HISTOGRAM}_count", queue=QUEUE
    )
    total = after.total(f"{WAIT_HISTOGRAM}_sum", queue=QUEUE) - before.total(
        f"{WAIT_HISTOGRAM}_sum", queue=QUEUE
    )
    return total / count if count else None


def _histogram_waited(result: RunResult, threshold: float) -> float | None:
    """Answered calls above the bucket at `threshold` (the queue's service level, which
    the server makes a bucket), over the whole run."""
    before, after = result.metrics_before, result.metrics_after
    if before is None or after is None:
        return None
    bucket = {"queue": QUEUE, "le": bucket_label(threshold)}
    name = f"{WAIT_HISTOGRAM}_bucket"
    if not any(n == name and set(bucket.items()) <= labels for n, labels in after.values):
        return None
    count = after.total(f"{WAIT_HISTOGRAM}_count", queue=QUEUE) - before.total(
        f"{WAIT_HISTOGRAM}_count", queue=QUEUE
    )
    within = after.total(name, **bucket) - before.total(name, **bucket)
    return 1 - within / count if count else None


def _overhead(records: list[CallRecord]) -> float:
    """Mean agent time per answered call beyond its handle time: from the offer reaching
    the bot to the bot's wrap-up done, as the simulator timed it."""
    extra = [
        (r.agent_free_at - r.offered_at) - r.plan.handle_seconds
        for r in records
        if r.offered_at is not None and r.agent_free_at is not None and r.outcome is Outcome.SERVED
    ]
    return statistics.fmean(extra) if extra else 0.0


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
    base = load_scenario(scenario_path("erlang"))
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
