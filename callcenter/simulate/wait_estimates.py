"""The server's estimated wait against the real one: each call's estimate is read once,
right after it is placed (`estimated_wait_seconds` of GET /v1/calls/{id}: the wait a
Twilio caller hears announced on arrival), and its error measured over the live callers
who were answered (a callback's wait is not spent on hold)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.simulate.api import ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.ledger import CallRecord, Ledger, Outcome


async def read_arrival_estimate(api: ServerApi, ledger: Ledger, record: CallRecord) -> None:
    """Keep the call's estimated wait (None: the server gave none) and its state then."""
    try:
        document = await api.call(record.plan.call_sid)
    except (ServerRefused, ServerUnreachable):
        ledger.notes["wait estimates that could not be read"] += 1
        return
    if document is None:
        return
    record.arrival_state = str(document.get("state"))
    value = document.get("estimated_wait_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        record.arrival_estimate = float(value)


@dataclass(frozen=True, slots=True)
class EstimateError:
    calls: int  # answered live callers whose estimate was read at arrival
    mean_absolute_error: float  # seconds
    mean_error: float  # estimate - real wait: above 0, the estimates were long
    mean_wait: float  # their real wait, for scale
    without_estimate: int  # answered live callers with none (offered at once, or unknown)


def estimate_error(records: Sequence[CallRecord]) -> EstimateError | None:
    """The estimates at arrival against the real waits; None when no answered live
    caller had one."""
    answered = [r for r in records if r.outcome is Outcome.SERVED and not r.callback]
    pairs = [pair for r in answered if (pair := _estimate_and_wait(r)) is not None]
    if not pairs:
        return None
    errors = [estimate - wait for estimate, wait in pairs]
    return EstimateError(
        calls=len(pairs),
        mean_absolute_error=statistics.fmean(abs(e) for e in errors),
        mean_error=statistics.fmean(errors),
        mean_wait=statistics.fmean(wait for _, wait in pairs),
        without_estimate=len(answered) - len(pairs),
    )


def _estimate_and_wait(record: CallRecord) -> tuple[float, float] | None:
    wait = record.wait_seconds
    if record.arrival_estimate is None or wait is None:
        return None
    return record.arrival_estimate, wait
