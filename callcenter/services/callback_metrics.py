"""Callbacks counted as they commit, whichever instance and path moved them: asked for,
each retried attempt, and the final outcome (answered, busy, no_answer, failed,
canceled); the wait from the callback's place in line to an agent accepting it."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.domain.agents import Agent
from callcenter.domain.callback_figures import accepted_wait, counted_outcomes
from callcenter.domain.calls import Call
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
            if after.callback is None:
                continue
            for outcome in counted_outcomes(before, after):
                self._metrics.callbacks_total.labels(after.queue, outcome).inc()
            waited = accepted_wait(before, after)
            if waited is not None:
                self._metrics.callback_wait_seconds.observe(after.queue, waited)

    def agent_changed(self, before: Agent | None, after: Agent | None) -> None:
        return None
