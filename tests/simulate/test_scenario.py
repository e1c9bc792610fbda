"""Scenario files: the shipped ones load; every mistake is reported as file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.simulate.command import load, shipped_scenarios
from callcenter.simulate.distributions import Constant, Exponential, Lognormal, Uniform
from callcenter.simulate.scenario import Poisson, ScenarioInvalid, Trace
from callcenter.simulate.scenario_loader import load_scenario
from tests.simulate.conftest import SCENARIOS

GOOD = """\
seed: 4
arrivals:
  poisson: {per_minute: 30}
handle_seconds: {exponential: {mean: 30}}
patience_seconds: {uniform: {low: 10, high: 20}}
queues:
  billing: {share: 2}
  support: {patience_seconds: null, handle_seconds: 12}
agents:
  think_seconds: {lognormal: {mean: 2, sd: 1}}
  roster:
    - {id: "a-{n}", count: 3, skills: {billing: 3}}
    - {id: solo, skills: {support: 2}}
"""


def problems(tmp_path: Path, text: str, name: str = "s.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(path)
    return [p.replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def test_the_shipped_scenarios_load() -> None:
    assert {"demo", "erlang"} <= set(shipped_scenarios())
    demo = load("demo")
    assert demo.rules is not None and set(demo.queues) <= set(demo.rules.queues)
    assert isinstance(demo.arrivals, Poisson) and demo.arrivals.per_second == pytest.approx(5 / 60)
    erlang = load("erlang")
    assert isinstance(erlang.arrivals, Poisson) and erlang.arrivals.occupancy == 0.9
    # occupancy 0.9 of 10 agents with 8 s calls: 1.125 calls a second
    assert erlang.arrivals.per_second == pytest.approx(0.9 * 10 / 8)


def test_a_scenario_with_every_kind_of_duration(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    scenario = load_scenario(path)
    assert [a.id for a in scenario.roster] == ["a-1", "a-2", "a-3", "solo"]
    billing, support = scenario.queues["billing"], scenario.queues["support"]
    assert billing.handle == Exponential(30) and billing.patience == Uniform(10, 20)
    assert support.handle == Constant(12) and support.patience is None
    assert scenario.think == Lognormal(2, 1)
    assert billing.number != support.number
    assert scenario.gateway == "twilio" and scenario.rules is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\narrivals: [\n", "s.yaml:3: bad YAML"),
        (
            GOOD.replace("seed: 4", "seed: 4\nspeed: 9"),
            "s.yaml:2: Object contains unknown field `speed`",
        ),
        (GOOD.replace("{per_minute: 30}", "{per_minute: -1}"), "s.yaml:3: Expected `float` > 0.0"),
        (
            GOOD.replace("{per_minute: 30}", "{per_minute: 3, per_hour: 9}"),
            "s.yaml:3: poisson needs exactly one",
        ),
        (GOOD.replace("{share: 2}", "{share: lots}"), "s.yaml:7: Expected `float`, got `str`"),
        (
            GOOD.replace("{mean: 30}}", "{mean: 30}, constant: 4}"),
            "s.yaml:4: a duration is a number",
        ),
        (
            GOOD.replace("low: 10, high: 20", "low: 30, high: 20"),
            "s.yaml:5: uniform needs low <= high",
        ),
        (
            GOOD.replace('"a-{n}", count: 3', "a-x, count: 3"),
            "s.yaml:12: an entry with count > 1 needs {n}",
        ),
        (GOOD.replace("id: solo", "id: a-2"), "s.yaml:13: agent 'a-2' is in the roster twice"),
        (
            GOOD.replace("billing: {share: 2}", "billing: {share: 0}").replace(
                "support: {patience", "support: {share: 0, patience"
            ),
            "s.yaml:6: every queue has share 0",
        ),
        (
            GOOD.replace("  roster:\n", "  roster: []\n  x:\n"),
            "s.yaml:11: Expected `array` of length >= 1",
        ),
    ],
)
def test_mistakes_are_reported_with_their_line(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(expected) for p in found), found


def test_a_trace_and_its_mistakes(tmp_path: Path) -> None:
    text = GOOD.replace("  poisson: {per_minute: 30}", "  trace: calls.csv")
    (tmp_path / "calls.csv").write_text(
        "at_seconds,queue,handle_seconds,patience_seconds,caller,mood\n"
        "0.5,billing,30,,+15550001111,angry\n"
        "1.5,support,20,5,,\n"
    )
    path = tmp_path / "t.yaml"
    path.write_text(text)
    scenario = load_scenario(path)
    assert isinstance(scenario.arrivals, Trace)
    assert [(c.queue, c.patience_seconds, c.mood) for c in scenario.arrivals.calls] == [
        ("billing", None, "angry"),
        ("support", 5.0, None),
    ]
    (tmp_path / "calls.csv").write_text(
        "at_seconds,queue,handle_seconds\n2,billing,30\n1,billing,30\n3,sales,x\n4,billing\n"
    )
    assert problems(tmp_path, text, "t.yaml") == [
        "calls.csv:3: at_seconds 1 is before the previous call's 2",
        "calls.csv:4: handle_seconds 'x' is not a number",
        "calls.csv:5: expected 3 fields",
    ]
    (tmp_path / "calls.csv").write_text("at,queue\n")
    assert problems(tmp_path, text, "t.yaml") == [
        "calls.csv:1: missing column(s) at_seconds, handle_seconds "
        "(need at_seconds, queue, handle_seconds)"
    ]
    (tmp_path / "calls.csv").write_text("at_seconds,queue,handle_seconds\n1,sales,3\n")
    assert problems(tmp_path, text, "t.yaml") == [
        "calls.csv:2: queue 'sales' is not in the scenario's queues"
    ]


def test_rules_are_checked_against_the_scenario(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "queues:\n  billing: {skills: [billing]}\n  support: {skills: [support]}\n"
        "rules:\n  - name: all\n    queue: billing\n"
    )
    text = "rules: rules\n" + GOOD.replace("{support: 2}", "{sales: 2}").replace(
        "  support: {patience", "  sales: {}\n  support: {patience"
    )
    found = problems(tmp_path, text)
    assert found == [
        "s.yaml:9: queue 'sales' is not in the rules (rules)",
        "s.yaml:10: no agent in the roster has every skill of queue 'support' (support): "
        "its calls would never be answered",
    ]
    (rules / "r.yaml").write_text("rules:\n  - name: all\n    when: 'nope ==='\n")
    found = problems(tmp_path, text)
    assert any(p.startswith("rules/r.yaml:3: bad condition") for p in found), found


def test_a_missing_file() -> None:
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(SCENARIOS / "absent.yaml")
    assert str(caught.value).endswith(
        "absent.yaml:1: cannot read: [Errno 2] No such file or directory: "
        f"'{SCENARIOS / 'absent.yaml'}'"
    )
