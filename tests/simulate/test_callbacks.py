"""Callbacks in a simulator run against a real server process (Twilio dialect): callers on
hold take the callback the server offers, the server calls them back through the
simulated Twilio REST API, each attempt is answered as planned (or busy, or not answered,
and retried per the queue's policy), nothing is misrouted, and the summary reports the
callbacks and the wait estimate's error at arrival."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from callcenter.simulate.ledger import Outcome
from callcenter.simulate.report import summary_of
from callcenter.simulate.runner import Simulation
from callcenter.simulate.scenario import ScenarioInvalid
from callcenter.simulate.scenario_loader import load_scenario
from callcenter.simulate.traffic import CallbackAnswer, plan_calls
from callcenter.simulate.twilio_callbacks import ANSWERED
from callcenter.simulate.wait_estimates import estimate_error
from tests.simulate.conftest import SCENARIOS, ServerFactory, scenario

MAE = re.compile(r"wait estimate at arrival: mean absolute error (\d+\.\d) s over (\d+) ")


@pytest.mark.timeout(180)
async def test_callers_take_callbacks_and_are_called_back(start_server: ServerFactory) -> None:
    callbacks = scenario("callbacks")
    assert callbacks.rules_dir is not None
    planned = list(plan_calls(callbacks, "check"))
    takers = [p for p in planned if p.takes_callback]
    assert len(planned) >= 10 and len(takers) >= 5, "the seed no longer gives a useful plan"
    assert any(p.callback_answers[0] != CallbackAnswer.ANSWERED for p in takers)
    async with start_server(callbacks.rules_dir) as server:
        result = await Simulation(callbacks, server.options(speech=False)).run(asyncio.Event())
    lines = summary_of(result)
    print("\n".join(lines))
    ledger = result.ledger
    assert (ledger.routing_errors, ledger.failures, result.server_problems) == ([], [], [])
    taken = [r for r in ledger.placed() if r.callback]
    assert taken, "no caller took a callback"
    assert all(r.plan.takes_callback for r in taken)
    rules = callbacks.rules
    assert rules is not None
    policy = rules.queues["billing"]
    for record in taken:
        answers = [a.answer for a in record.callback_attempts]
        # answered as planned, attempt by attempt, until one is answered or none is left
        assert answers == list(record.plan.callback_answers[: len(answers)])
        assert answers, f"{record.plan.call_sid} was never called back"
        assert all(a != ANSWERED for a in answers[:-1])
        if answers[-1] == ANSWERED:
            assert record.outcome is Outcome.SERVED
            assert record.dialed_agent == record.callback_attempts[-1].agent
            assert record.connected_at is not None and record.talk_seconds is not None
        else:
            assert record.outcome is Outcome.FAILED
            assert len(answers) == policy.callback_max_attempts
        assert record.accepts == [a.agent for a in record.callback_attempts]
        document = result.server_calls[record.plan.call_sid]
        assert document["outcome"] == ("handled" if record.outcome is Outcome.SERVED else "failed")
    assert any(len(r.callback_attempts) > 1 for r in taken), "no callback was retried"
    # the server's counts, callbacks_total among them, equal ours
    assert result.checks is not None and [c for c in result.checks if not c.ok] == []
    assert any(c.what.startswith("callcenter_callbacks_total{") for c in result.checks)
    assert result.ok
    text = "\n".join(lines)
    assert f"callbacks: {len(taken)} taken" in text
    assert "callbacks' fair order checked in billing" in text
    error = estimate_error(ledger.placed())
    assert error is not None and error.calls >= 1
    shown = MAE.search(text)
    assert shown is not None, text
    assert float(shown.group(1)) == pytest.approx(error.mean_absolute_error, abs=0.05)


CALLBACK_SCENARIO = """\
gateway: {gateway}
rules: rules
callback_share: {share}
arrivals:
  poisson: {{per_minute: 30}}
handle_seconds: 5
queues:
  billing: {{callback_share: {queue_share}}}
  support: {{callback_answer_share: 0.5}}
agents:
  roster:
    - {{id: ann, skills: {{billing: 3, support: 3}}}}
"""
RULES = """\
queues:
  billing: {skills: [billing], callback_offer_after_seconds: 30}
  support: {skills: [support]}
rules:
  - name: all
    queue: billing
"""


def _problems(tmp_path: Path, **fields: object) -> list[str]:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(RULES)
    values = {"gateway": "twilio", "share": 0, "queue_share": 0.3, **fields}
    path = tmp_path / "s.yaml"
    path.write_text(CALLBACK_SCENARIO.format(**values))
    try:
        load_scenario(path)
    except ScenarioInvalid as error:
        return [p.replace(str(tmp_path) + "/", "") for p in error.problems]
    return []


def test_callback_settings_and_their_mistakes(tmp_path: Path) -> None:
    assert _problems(tmp_path) == []
    good = load_scenario(tmp_path / "s.yaml")
    billing, support = good.queues["billing"], good.queues["support"]
    assert (billing.callback_share, billing.callback_answer_share) == (0.3, 0.85)
    assert (support.callback_share, support.callback_answer_share) == (0.0, 0.5)
    assert _problems(tmp_path, share=1.5) == ["s.yaml:3: Expected `float` <= 1.0"]
    assert _problems(tmp_path, queue_share=-0.1) == ["s.yaml:8: Expected `float` >= 0.0"]
    assert _problems(tmp_path, gateway="generic") == [
        "s.yaml:8: callers take callbacks on the Twilio hold only: the simulated generic "
        "gateway takes none (set gateway: twilio, or callback_share: 0)"
    ]
    # support offers no callback on hold: its callers never take one, so a share given
    # there is a mistake, and a scenario-wide share must reach a queue that offers them
    assert _problems(tmp_path, share=0.2) == []
    moved = CALLBACK_SCENARIO.replace(
        "support: {{callback_answer_share: 0.5}}", "support: {{callback_share: 0.5}}"
    )
    path = tmp_path / "s.yaml"
    path.write_text(moved.format(gateway="twilio", share=0, queue_share=0))
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(path)
    assert [p.replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "s.yaml:9: queue 'support' offers no callback on hold (its rules set no "
        "callback_offer_after_seconds): nobody could take one"
    ]
    (tmp_path / "rules" / "r.yaml").write_text(
        RULES.replace(", callback_offer_after_seconds: 30", "")
    )
    path.write_text(CALLBACK_SCENARIO.format(gateway="twilio", share=0.2, queue_share=0))
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(path)
    assert [p.replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "s.yaml:3: no queue offers a callback on hold (no callback_offer_after_seconds in "
        "the rules rules): nobody could take one"
    ]


def test_the_callback_scenario_loads() -> None:
    loaded = load_scenario(SCENARIOS / "callbacks.yaml")
    assert loaded.queues["billing"].callback_share == 0.7
