"""The routing errors a run's callbacks are checked for, on ledgers written by hand: dials
against accepts and the queue's policy, and the fair order of callbacks and live callers;
and which rules let the order be checked at all."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from callcenter.simulate.callback_checks import callback_errors, fair_order_scope
from callcenter.simulate.command import load
from callcenter.simulate.ledger import CallbackAttempt, CallRecord, Ledger, Outcome
from callcenter.simulate.rules_summary import RuledQueue, RulesSummary, read_rules_summary
from callcenter.simulate.traffic import CallPlan
from tests.simulate.conftest import scenario

ORDERED = RuledQueue(
    ("billing",),
    10.0,
    callback_offer_after_seconds=0.0,
    callback_max_attempts=2,
    callback_retry_seconds=5.0,
    in_arrival_order=True,
)
RULES = RulesSummary({"billing": ORDERED})
BUSY, ANSWERED = "busy", "in-progress"


def _record(ledger: Ledger, index: int, placed_at: float) -> CallRecord:
    plan = CallPlan(
        index=index,
        call_sid=f"CA{index:032d}",
        at_seconds=placed_at,
        queue="billing",
        dialed="+18005550100",
        caller=f"+1555000{index:04d}",
        tier="standard",
        first_call=True,
        mood=None,
        clip_pick=0,
        handle_seconds=3.0,
        patience_seconds=None,
        think_seconds=0.5,
        wrap_up_seconds=0.5,
        takes_callback=True,
    )
    record = ledger.add(plan)
    record.placed_at = placed_at
    return record


def _served_callback(ledger: Ledger, index: int, placed_at: float) -> CallRecord:
    """A callback taken 2 s after arrival, offered to ann at 10 s, busy, offered again at
    20 s, answered."""
    record = _record(ledger, index, placed_at)
    record.callback_taken_at = placed_at + 2
    record.offers = [(10.0, "ann"), (20.0, "ann")]
    record.accepts = ["ann", "ann"]
    record.callback_attempts = [
        CallbackAttempt("ann", 10.5, BUSY),
        CallbackAttempt("ann", 20.5, ANSWERED),
    ]
    record.dialed_agent, record.connected_at = "ann", 21.0
    record.hung_up_at, record.outcome = 24.0, Outcome.SERVED
    return record


def _third_attempt(record: CallRecord) -> None:
    record.accepts.append("ann")
    record.callback_attempts.append(CallbackAttempt("ann", 30.0, ANSWERED))


def _given_up_early(record: CallRecord) -> None:
    record.outcome = Outcome.FAILED
    record.accepts.pop()
    record.callback_attempts.pop()


def test_a_callback_dialled_as_accepted_and_per_policy_is_clean() -> None:
    ledger = Ledger()
    _served_callback(ledger, 1, 1.0)
    failed = _record(ledger, 2, 2.0)
    failed.callback_taken_at = 4.0
    failed.accepts = ["bob", "ann"]
    failed.callback_attempts = [
        CallbackAttempt("bob", 5.0, BUSY),
        CallbackAttempt("ann", 11.0, "no-answer"),
    ]
    failed.outcome = Outcome.FAILED
    assert callback_errors(ledger, RULES) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda r: r.accepts.__setitem__(1, "bob"),
            "callback attempt 2 dialled for ann, but bob accepted it",
        ),
        (lambda r: r.accepts.pop(), "callback dialled 2 times, accepted 1"),
        (lambda r: r.accepts.append("bob"), "callback accepted by bob and never dialled"),
        (
            lambda r: setattr(r, "callback_taken_at", None),
            "a callback dialled for a caller who never took one",
        ),
        (
            lambda r: setattr(r.callback_attempts[0], "answer", ANSWERED),
            "callback dialled again after the customer answered",
        ),
        (
            lambda r: setattr(r, "dialed_agent", "bob"),
            "callback answered for ann, connected to bob",
        ),
        (
            lambda r: setattr(r.callback_attempts[1], "dialled_at", 13.0),
            "callback dialled again 2.5 s after an attempt, its queue waits 5 s",
        ),
        (_third_attempt, "callback dialled 3 times, its queue allows 2"),
        (_given_up_early, "callback given up after 1 of 2 attempts"),
    ],
)
def test_what_a_callback_must_not_do(change: Callable[[CallRecord], object], error: str) -> None:
    ledger = Ledger()
    record = _served_callback(ledger, 1, 1.0)
    change(record)
    assert f"{record.plan.call_sid}: {error}" in callback_errors(ledger, RULES)


def test_a_callback_offered_ahead_of_an_older_live_caller() -> None:
    ledger = Ledger()
    live = _record(ledger, 0, 0.0)  # placed before the callback's caller, holding on
    callback = _served_callback(ledger, 1, 1.5)
    live.connected_at, live.dialed_agent, live.offers = 25.0, "bob", [(24.0, "bob")]
    error = (
        f"{callback.plan.call_sid}: callback offered to ann at 10.0 s while "
        f"{live.plan.call_sid}, an older caller, waited without an offer"
    )
    assert error in callback_errors(ledger, RULES)
    # offered in the same dispatch as the callback: in order
    live.offers = [(10.1, "bob")]
    assert callback_errors(ledger, RULES) == []
    # hung up before the offer, or placed too close to the callback to tell: not checked
    live.offers, live.connected_at, live.hung_up_at = [], None, 9.0
    assert callback_errors(ledger, RULES) == []
    live.hung_up_at, live.placed_at = None, 1.0
    assert callback_errors(ledger, RULES) == []
    # rules that do not take calls strictly in arrival order: not checked
    live.placed_at = 0.0
    unordered = RulesSummary({"billing": dataclasses.replace(ORDERED, in_arrival_order=False)})
    assert (
        callback_errors(ledger, unordered) == [] and fair_order_scope(unordered, ["billing"]) == ()
    )


def test_which_rules_take_calls_in_arrival_order(tmp_path: Path) -> None:
    demo = load("demo").rules
    assert demo is not None and fair_order_scope(demo, ["billing", "support", "sales"]) == ()
    assert demo.queues["billing"].callback_offer_after_seconds == 20
    test_rules = scenario("callbacks").rules
    assert test_rules is not None and fair_order_scope(test_rules, ["billing"]) == ("billing",)
    base = "queues:\n  a: {skills: [x]}\n  b: {skills: [x]}\nrules:\n  - {name: a, queue: a}\n"
    for extra, ordered in [
        ("", ("a", "b")),
        ("  - {name: vip, queue: a, priority: 5}\n", ("b",)),
        ("  - {name: p, queue: b, prefer: last_agent}\n", ("a",)),
        ("  - {name: s, queue: a, steps: [{after: 0, require: {x: 3}}]}\n", ("b",)),
        ("  - {name: any, priority: 1}\n", ()),
        ("alerts:\n  - {name: up, mood_below: -0.5, actions: {raise_priority: 1}}\n", ()),
    ]:
        (tmp_path / "r.yaml").write_text(base + extra)
        assert fair_order_scope(read_rules_summary(tmp_path), ["a", "b"]) == ordered, extra
