"""The figures of one Erlang check run (erlang_check.py says why they are what they are):
the server's own waits (its call documents; its wait histogram as a cross-check), Erlang C
(or A) at the nominal handle time and at the agents' real busy time, and the ideal queue
replayed on the run's very calls."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.utils import floatToGoString

from callcenter.domain.staffing import Prediction, erlang_a, erlang_c, erlang_c_decay
from callcenter.simulate.erlang import Arrival, ideal_queue
from callcenter.simulate.ledger import CallRecord, Outcome
from callcenter.simulate.runner import RunResult
from callcenter.simulate.scenario import Poisson, Scenario

QUEUE = "erlang"
WAIT_HISTOGRAM = "callcenter_queue_wait_seconds"


_go_float: Callable[[float], str] = floatToGoString  # untyped in prometheus_client


def bucket_label(bound: float) -> str:
    """The `le` label Prometheus clients give a bucket bound (20 -> "20.0")."""
    return _go_float(bound)


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


@dataclass(frozen=True, slots=True)
class _Calls:
    """A run's placed calls by arrival: all of them (the warm-up ones filled the queue as
    they did the server), the counted ones (after the warm-up), and the server's document
    of each."""

    every: list[CallRecord]
    counted: list[CallRecord]
    documents: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, result: RunResult) -> _Calls:
        """Raises ValueError if no call is counted or a call has no server document."""
        every = sorted(result.ledger.placed(), key=lambda r: r.plan.at_seconds)
        warm_up = result.scenario.warm_up_seconds
        counted = [r for r in every if r.plan.at_seconds >= warm_up]
        if not counted:
            raise ValueError("no call after the warm-up")
        missing = [r.plan.call_sid for r in every if r.plan.call_sid not in result.server_calls]
        if missing:
            raise ValueError(f"no server document for {len(missing)} calls, e.g. {missing[0]}")
        return cls(every, counted, result.server_calls)

    def document(self, record: CallRecord) -> dict[str, Any]:
        return self.documents[record.plan.call_sid]


def measure(result: RunResult, occupancy: float, patience_mean: float | None) -> Measurement:
    """Raises ValueError if the run counted no call or a call has no server document."""
    scenario = result.scenario
    queue = scenario.queues[QUEUE]
    agents = len(scenario.roster)
    handle_mean = queue.handle.mean
    threshold = queue.service_level_seconds
    calls = _Calls.of(result)
    overhead = _overhead(calls.counted)
    rate = _poisson_rate(scenario)
    nominal = {r.plan.call_sid: r.plan.handle_seconds for r in calls.every}
    answered = _answered_waits(calls)
    return Measurement(
        occupancy=occupancy,
        patience_mean=patience_mean,
        agents=agents,
        handle_mean=handle_mean,
        threshold=threshold,
        calls=len(calls.counted),
        arrival_rate=_arrival_rate(scenario, calls.counted, rate),
        theory=_theory(agents, rate, handle_mean, patience_mean, threshold),
        busy_theory=_theory(agents, rate, handle_mean + overhead, patience_mean, threshold),
        erlang_c=_erlang_c_or_overload(agents, rate, handle_mean),
        replay=_replay(calls, agents, nominal, threshold),
        busy_replay=_replay(calls, agents, _busy_times(calls.every, overhead), threshold),
        server=_server_figures(calls, threshold),
        server_all_mean_wait=_mean_or_zero(answered),
        server_all_waited=_share_above(answered, threshold),
        histogram_mean_wait=_histogram_mean(result),
        histogram_waited=_histogram_waited(result, threshold),
        overhead_seconds=overhead,
    )


def _poisson_rate(scenario: Scenario) -> float:
    assert isinstance(scenario.arrivals, Poisson)
    return scenario.arrivals.per_second


def _arrival_rate(scenario: Scenario, counted: list[CallRecord], nominal: float) -> float:
    """The realised rate of the counted calls (the nominal one for a run too short to say)."""
    end = scenario.duration_seconds or counted[-1].plan.at_seconds
    span = end - scenario.warm_up_seconds
    return len(counted) / span if span > 0 else nominal


def _erlang_c_or_overload(agents: int, rate: float, handle_mean: float) -> Prediction:
    """Erlang C, or every caller waiting forever at a load it cannot take."""
    if rate * handle_mean < agents:
        return erlang_c(agents, rate, handle_mean)
    return Prediction(1.0, float("inf"))


def _busy_times(records: list[CallRecord], overhead: float) -> dict[str, float]:
    """How long each call kept its agent, offer to wrap-up done, as the simulator timed it;
    the handle time plus the mean overhead for a call it did not time."""
    return {r.plan.call_sid: _busy_time(r, overhead) for r in records}


def _busy_time(record: CallRecord, overhead: float) -> float:
    if record.agent_free_at is not None and record.offered_at is not None:
        return record.agent_free_at - record.offered_at
    return record.plan.handle_seconds + overhead


def _server_figures(calls: _Calls, threshold: float) -> Figures:
    return _figures(
        [_server_wait(r, calls.document(r)) for r in calls.counted],
        [r.outcome is Outcome.ABANDONED for r in calls.counted],
        threshold,
    )


def _answered_waits(calls: _Calls) -> list[float]:
    """The server's wait of every answered call of the run, warm-up included."""
    waits = [_answered_wait(calls.document(r)) for r in calls.every if r.outcome is Outcome.SERVED]
    return [w for w in waits if w is not None]


def _mean_or_zero(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _share_above(waits: list[float], threshold: float) -> float:
    return sum(w > threshold for w in waits) / len(waits) if waits else 0.0


def _replay(calls: _Calls, agents: int, service: dict[str, float], threshold: float) -> Figures:
    """The ideal queue over every call of the run (the warm-up ones fill it as they did
    the server), each call served for `service[call]`; figures over the counted ones."""
    waits = ideal_queue(
        [
            Arrival(r.plan.at_seconds, service[r.plan.call_sid], r.plan.patience_seconds)
            for r in calls.every
        ],
        agents,
    )
    by_call = dict(zip((r.plan.call_sid for r in calls.every), waits, strict=True))
    chosen = [by_call[r.plan.call_sid] for r in calls.counted]
    return _figures(
        [
            w if w is not None else (r.plan.patience_seconds or 0.0)
            for w, r in zip(chosen, calls.counted, strict=True)
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
