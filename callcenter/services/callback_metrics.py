"""Callbacks counted as they commit, whichever instance and path moved them: asked for,
each retried attempt, and the final outcome (answered, busy, no_answer, failed,
canceled); the wait from the callback's place in line to an agent accepting it."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.domain.agents import Agent
from callcenter.domain.callbacks import final_outcome
from callcenter.domain.calls import Call, CallState, DialOutcome, DialState
from callcenter.metrics import Metrics


class CallbackCounter:
    """A change listener (see repositories.ChangeListener) that keeps the callback metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def calls_changed(
        self,
        calls: Sequence[tuple[Call | None, Call]],
        agents: Sequence[tuple[Agent | None, Agent]],
    ) -> None:
        for before, after in calls:
            if after.callback is not None:
                self._count(before, after)

    def agent_changed(self, before: Agent | None, after: Agent | None) -> None:
        return None

    def _count(self, before: Call | None, after: Call) -> None:
        assert after.callback is not None
        total = self._metrics.callbacks_total
        was = before.callback if before is not None else None
        if was is None:
            total.labels(after.queue, "requested").inc()
        dial, old_dial = after.callback.dial, was.dial if was is not None else None
        if dial is not None and (old_dial is None or old_dial.id != dial.id):
            place = after.queued_at or after.created_at
            waited = max(0.0, (dial.created_at - place).total_seconds())
            self._metrics.callback_wait_seconds.observe(after.queue, waited)
        answered = dial is not None and dial.state is DialState.ANSWERED
        if answered and (old_dial is None or old_dial.state is not DialState.ANSWERED):
            total.labels(after.queue, str(DialOutcome.ANSWERED)).inc()
        if before is None or before.state is after.state:
            return
        if before.state is CallState.CONNECTED and after.state is CallState.QUEUED:
            total.labels(after.queue, "retried").inc()
        elif after.state is CallState.ENDED and after.outcome is not None:
            outcome = final_outcome(after)
            if outcome is not None and outcome != str(DialOutcome.ANSWERED):
                total.labels(after.queue, outcome).inc()
