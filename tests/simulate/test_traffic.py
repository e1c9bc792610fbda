"""The planned calls: reproducible from the seed, with the rates, shares and mixes the
scenario asks for."""

from __future__ import annotations

import dataclasses
import itertools
import statistics

import pytest

from callcenter.simulate.command import load
from callcenter.simulate.traffic import PLANNED_ATTEMPTS, CallbackAnswer, caller_number, plan_calls
from tests.simulate.conftest import scenario


def test_the_same_seed_gives_the_same_calls_and_another_seed_others() -> None:
    demo = dataclasses.replace(load("demo"), duration_seconds=600)
    first = list(plan_calls(demo, "run-a"))
    again = list(plan_calls(demo, "run-b"))
    strip = [dataclasses.replace(p, call_sid="") for p in first]
    assert strip == [dataclasses.replace(p, call_sid="") for p in again]
    assert {p.call_sid for p in first}.isdisjoint({p.call_sid for p in again})  # new ids per run
    other = list(plan_calls(dataclasses.replace(demo, seed=demo.seed + 1), "run-a"))
    assert [p.at_seconds for p in other] != [p.at_seconds for p in first]


def test_poisson_arrivals_shares_and_mixes() -> None:
    demo = dataclasses.replace(load("demo"), duration_seconds=None)
    calls = list(itertools.islice(plan_calls(demo, "x"), 4000))
    gaps = [b.at_seconds - a.at_seconds for a, b in itertools.pairwise(calls)]
    assert statistics.fmean(gaps) == pytest.approx(12.0, rel=0.05)  # 5 a minute
    assert statistics.stdev(gaps) == pytest.approx(12.0, rel=0.08)  # exponential: sd = mean
    shares = {q: sum(c.queue == q for c in calls) / len(calls) for q in demo.queues}
    assert shares == pytest.approx({"billing": 0.45, "support": 0.35, "sales": 0.2}, abs=0.03)
    speaking = [c for c in calls if c.mood is not None]
    assert len(speaking) / len(calls) == pytest.approx(0.6, abs=0.03)
    angry = sum(c.mood == "angry" for c in speaking) / len(speaking)
    assert angry == pytest.approx(0.2, abs=0.03)
    sales = [c.handle_seconds for c in calls if c.queue == "sales"]
    others = [c.handle_seconds for c in calls if c.queue != "sales"]
    assert statistics.fmean(sales) == pytest.approx(60, rel=0.1)
    assert statistics.fmean(others) == pytest.approx(40, rel=0.06)
    patience = [c.patience_seconds for c in calls if c.patience_seconds is not None]
    assert len(patience) == len(calls) and statistics.fmean(patience) == pytest.approx(
        120, rel=0.08
    )
    assert all(c.dialed == demo.queues[c.queue].number for c in calls)


def test_repeat_callers_keep_their_tier_and_new_ones_are_flagged() -> None:
    demo = dataclasses.replace(load("demo"), duration_seconds=None)
    calls = list(itertools.islice(plan_calls(demo, "x"), 2000))
    tiers: dict[str, str] = {}
    for call in calls:
        assert call.first_call == (call.caller not in tiers)
        assert tiers.setdefault(call.caller, call.tier) == call.tier
    repeats = sum(not c.first_call for c in calls) / len(calls)
    assert repeats > 0.2  # repeat_share 0.2, plus numbers the population draws twice
    assert all(c.caller.startswith("+1555") and len(c.caller) == 12 for c in calls)
    assert caller_number(42) == "+15550000042"


def test_arrivals_stop_at_the_duration_and_a_trace_replays_exactly() -> None:
    erlang = load("erlang")
    calls = list(plan_calls(erlang, "x"))
    assert calls and calls[-1].at_seconds <= erlang.duration_seconds  # type: ignore[operator]
    assert all(c.patience_seconds is None and c.mood is None for c in calls)
    trace = scenario("trace")
    replayed = list(plan_calls(trace, "x"))
    assert [(c.at_seconds, c.queue, c.handle_seconds, c.patience_seconds) for c in replayed] == [
        (0.5, "billing", 3.0, None),
        (1.0, "billing", 2.0, 0.5),
        (1.2, "support", 2.0, None),
        (4.0, "billing", 1.0, None),
    ]
    assert [c.first_call for c in replayed] == [True, True, True, False]


def test_callback_draws_follow_the_shares_and_change_nothing_else() -> None:
    demo = dataclasses.replace(load("demo"), duration_seconds=None)
    calls = list(itertools.islice(plan_calls(demo, "x"), 4000))
    assert sum(c.takes_callback for c in calls) / len(calls) == pytest.approx(0.3, abs=0.03)
    answers = [a for c in calls for a in c.callback_answers]
    assert len(answers) == len(calls) * PLANNED_ATTEMPTS
    shares = {kind: answers.count(kind) / len(answers) for kind in CallbackAnswer}
    assert shares == pytest.approx(
        {
            CallbackAnswer.ANSWERED: 0.85,
            CallbackAnswer.BUSY: 0.075,
            CallbackAnswer.NO_ANSWER: 0.075,
        },
        abs=0.01,
    )
    queues = {
        name: dataclasses.replace(q, callback_share=0.0, callback_answer_share=1.0)
        for name, q in demo.queues.items()
    }
    without = list(
        itertools.islice(plan_calls(dataclasses.replace(demo, queues=queues), "x"), 4000)
    )
    assert not any(c.takes_callback for c in without)
    assert {a for c in without for a in c.callback_answers} == {CallbackAnswer.ANSWERED}
    assert [dataclasses.replace(c, takes_callback=False, callback_answers=()) for c in without] == [
        dataclasses.replace(c, takes_callback=False, callback_answers=()) for c in calls
    ]
