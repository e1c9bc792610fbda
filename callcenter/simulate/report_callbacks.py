"""The summary's lines on callbacks (taken, dialled, attempts and how they went, how each
callback ended, where their order was checked) and on the wait estimate at arrival
against the real wait."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from callcenter.simulate.callback_checks import fair_order_scope
from callcenter.simulate.ledger import CallRecord, Outcome
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.traffic import CallbackAnswer
from callcenter.simulate.wait_estimates import estimate_error

ANSWER_WORDS = {
    CallbackAnswer.ANSWERED: "answered",
    CallbackAnswer.BUSY: "busy",
    CallbackAnswer.NO_ANSWER: "no answer",
}


def callback_lines(scenario: Scenario, records: Sequence[CallRecord]) -> list[str]:
    """Nothing when no caller of the scenario takes callbacks."""
    if not any(queue.callback_share > 0 for queue in scenario.queues.values()):
        return []
    if scenario.gateway != "twilio":
        return [f"callbacks: none (the simulated {scenario.gateway} gateway takes no callback)"]
    taken = [r for r in records if r.callback]
    if not taken:
        return ["callbacks: none taken (no caller who would take one was offered one)"]
    queues = sorted({r.plan.queue for r in taken}, key=list(scenario.queues).index)
    return [_counts(taken), "  " + _order_scope(scenario, queues)]


def _counts(taken: Sequence[CallRecord]) -> str:
    attempts = [a for r in taken for a in r.callback_attempts]
    answers = Counter(a.answer for a in attempts)
    how = ", ".join(f"{answers[k]} {word}" for k, word in ANSWER_WORDS.items() if answers[k])
    dialled = sum(bool(r.callback_attempts) for r in taken)
    line = f"callbacks: {len(taken)} taken, {dialled} dialled in {_count(len(attempts), 'attempt')}"
    return line + (f" ({how})" if how else "") + "; " + _endings(taken)


def _endings(taken: Sequence[CallRecord]) -> str:
    ended = Counter(r.outcome for r in taken)
    words = [
        f"{ended[Outcome.SERVED]} served",
        f"{ended[Outcome.FAILED]} failed after every attempt",
    ]
    if ended[Outcome.CANCELED]:
        words.append(f"{ended[Outcome.CANCELED]} canceled at the stop")
    if ended[None]:
        words.append(f"{ended[None]} not over")
    return ", ".join(words)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _order_scope(scenario: Scenario, queues: Sequence[str]) -> str:
    """Where the callbacks' fair order was checked, and why not elsewhere."""
    checked = fair_order_scope(scenario.rules, queues)
    unchecked = [q for q in queues if q not in checked]
    if not unchecked:
        return f"callbacks' fair order checked in {', '.join(checked)}"
    why = (
        "no rules named"
        if scenario.rules is None
        else "priorities, preferred agents, skill levels or overflow in their rules or alerts"
    )
    scope = f"checked in {', '.join(checked)}; " if checked else ""
    return f"callbacks' fair order {scope}not checked in {', '.join(unchecked)} ({why})"


def estimate_line(records: Sequence[CallRecord]) -> str:
    error = estimate_error(records)
    if error is None:
        return "wait estimate at arrival: no answered caller had one"
    line = (
        f"wait estimate at arrival: mean absolute error {error.mean_absolute_error:.1f} s over "
        f"{_count(error.calls, 'answered caller')} (their mean wait {error.mean_wait:.1f} s; "
        f"estimates {abs(error.mean_error):.1f} s {'long' if error.mean_error > 0 else 'short'}"
        " on average)"
    )
    if error.without_estimate:
        line += f"; {error.without_estimate} answered without one (offered at once, or unknown)"
    return line
