"""What each committed change of a callback adds to its figures."""

from __future__ import annotations

from callcenter.domain.agents import Activity
from callcenter.domain.callback_figures import accepted_wait, counted_outcomes
from callcenter.domain.callbacks import cancel, dial_answered, dial_failed
from callcenter.domain.calls import CallState, DialOutcome
from tests.domain.test_call_lifecycle import at, make_agent, make_call
from tests.domain.test_callbacks import BILLING, dialling, waiting_callback


def test_each_step_of_a_callback_counts_once() -> None:
    live = make_call(CallState.QUEUED)
    asked = waiting_callback()
    assert counted_outcomes(live, asked) == ["requested"]
    assert counted_outcomes(asked, asked) == []
    first = dialling(asked)
    assert counted_outcomes(asked, first) == []
    retried, _ = dial_failed(first, None, DialOutcome.BUSY, at(130), BILLING)
    assert counted_outcomes(first, retried) == ["retried"]
    second = dialling(retried, attempt_at=300)
    answered = dial_answered(second, at(310), at(310))
    assert counted_outcomes(second, answered) == ["answered"]
    assert counted_outcomes(answered, answered) == []
    out, _ = dial_failed(second, None, DialOutcome.NO_ANSWER, at(330), BILLING)
    assert counted_outcomes(second, out) == ["no_answer"]
    canceled, _ = cancel(asked, make_agent("a1", Activity.IDLE), at(50))
    assert counted_outcomes(asked, canceled) == ["canceled"]


def test_the_wait_is_counted_when_an_attempt_starts() -> None:
    asked = waiting_callback()  # in line since at(0)
    first = dialling(asked, attempt_at=100)
    assert accepted_wait(asked, first) == 100.0
    assert accepted_wait(first, first) is None
    assert accepted_wait(None, asked) is None
