"""The text section of a scenario (channels, shares and rates, messages, moods) and the
agents' capacity: good files load with the defaults filled in, every mistake is reported at
its line; the plan of conversations follows the seed and the shares."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from callcenter.simulate.command import describe, load
from callcenter.simulate.distributions import Constant, Exponential, Uniform
from callcenter.simulate.scenario import DEFAULT_CAPACITY, Poisson, Scenario
from callcenter.simulate.scenario_loader import load_scenario
from callcenter.simulate.text_traffic import PHRASES, TextPlan, plan_texts
from callcenter.simulate.traffic import plan_calls
from tests.simulate.test_scenario import problems

TEXTS = """\
seed: 4
duration_seconds: 600
arrivals:
  poisson: {per_minute: 30}
handle_seconds: 30
queues:
  billing: {}
  support: {}
text:
  queue: support
  channels:
    chat: {share: 0.25, patience_seconds: {exponential: {mean: 60}}}
    sms: {per_minute: 2, queue: billing, patience_seconds: null}
    email: {per_hour: 30, handle_seconds: 120}
  messages: {low: 1, high: 3}
  think_seconds: {uniform: {low: 5, high: 10}}
  patience_seconds: 90
  handle_seconds: 45
  replies: 2
  moods: {angry: 1, neutral: 3}
agents:
  capacity: {chat: 2}
  roster:
    - {id: "a-{n}", count: 2, skills: {billing: 3, support: 3}}
    - {id: texter, skills: {support: 2}, capacity: {voice: 0, chat: 4, email: 0}}
"""


def _load(tmp_path: Path) -> Scenario:
    path = tmp_path / "texts.yaml"
    path.write_text(TEXTS)
    return load_scenario(path)


def test_a_text_section_with_every_kind_of_arrival(tmp_path: Path) -> None:
    scenario = _load(tmp_path)
    mix = scenario.text
    assert mix is not None
    channels = {
        name: (c.queue, c.share, round(c.per_second * 3600, 9), c.handle, c.patience)
        for name, c in mix.channels.items()
    }
    assert channels == {
        "chat": ("support", 0.25, 0.0, Constant(45), Exponential(60)),
        "sms": ("billing", 0.0, 120.0, Constant(45), None),
        "email": ("support", 0.0, 30.0, Constant(120), Constant(90)),
    }
    assert (mix.messages, mix.replies, mix.think) == ((1, 3), (2, 2), Uniform(5, 10))
    assert scenario.voice_share == 0.75
    # capacity: the entry's over the agents' over the server's defaults
    assert [a.capacity for a in scenario.roster[1:]] == [
        {**DEFAULT_CAPACITY, "chat": 2},
        {"voice": 0, "chat": 4, "sms": 3, "email": 0},
    ]
    assert "Poisson, 22.5 calls a minute, text: chat 7.5 a minute in support, sms 2 a " in (
        describe(scenario)
    )


def test_the_plan_splits_arrivals_by_share_and_follows_the_seed(tmp_path: Path) -> None:
    scenario = _load(tmp_path)
    texts = list(plan_texts(scenario))
    assert texts == list(plan_texts(scenario))
    assert [p.at_seconds for p in texts] == sorted(p.at_seconds for p in texts) and texts
    assert texts[-1].at_seconds <= 600
    counts = Counter(p.channel for p in texts)
    # a quarter of 30 a minute for ten minutes, 2 a minute, 30 an hour
    assert 50 <= counts["chat"] <= 100 and 10 <= counts["sms"] <= 35
    assert 1 <= counts["email"] <= 12
    calls = len(list(plan_calls(scenario, "x")))
    assert 185 <= calls <= 265  # three quarters of 300
    _check_plans(texts)
    # a scenario without text places more calls, and no conversation
    plain = dataclasses.replace(scenario, text=None)
    assert len(list(plan_calls(plain, "x"))) > calls
    assert list(plan_texts(plain)) == []


def _check_plans(texts: list[TextPlan]) -> None:
    for plan in texts:
        assert 1 <= len(plan.messages) <= 3 and len(plan.gaps) == len(plan.messages) - 1
        assert set(plan.messages) <= set(PHRASES[plan.mood])
        assert len(plan.replies) == (2 if plan.channel == "chat" else 0)
        assert plan.customer.endswith("@example.com") == (plan.channel == "email")
        assert (plan.patience_seconds is None) == (plan.channel == "sms")
    assert {p.mood for p in texts} == {"angry", "neutral"}


def test_the_shipped_demo_has_chats_and_agents_with_chat_capacity() -> None:
    demo = load("demo")
    assert demo.text is not None and "chat" in demo.text.channels
    assert demo.text.moods.get("angry", 0) > 0
    assert all(agent.capacity["chat"] >= 1 for agent in demo.roster)
    assert isinstance(demo.arrivals, Poisson)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("{share: 0.25, ", "{share: 0.25, per_minute: 1, "), "s.yaml:12: chat needs exactly one"),
        (("{per_hour: 30, ", "{"), "s.yaml:14: email needs exactly one of share"),
        (("{share: 0.25, ", "{share: 1.5, "), "s.yaml:12: Expected `float` <= 1.0"),
        (("    sms: {", "    fax: {"), "s.yaml:11: Invalid enum value 'fax'"),
        (("queue: billing,", "queue: sales,"), "s.yaml:13: queue 'sales' is neither"),
        (("  queue: support\n", "  queue: nowhere\n"), "s.yaml:10: queue 'nowhere' is neither"),
        (("{low: 1, high: 3}", "{low: 0, high: 3}"), "s.yaml:15: messages needs at least 1"),
        (("{low: 1, high: 3}", "{low: 3, high: 1}"), "s.yaml:15: messages needs low <= high"),
        (("replies: 2", "replies: -1"), "s.yaml:19: Expected `int` >= 0"),
        (("{angry: 1, neutral: 3}", "{angry: 0}"), "s.yaml:20: every mood has weight 0"),
        (("{angry: 1, neutral: 3}", "{sad: 1}"), "s.yaml:20: Invalid enum value 'sad'"),
        (("capacity: {chat: 2}", "capacity: {chat: 99}"), "s.yaml:22: Expected `int` <= 50"),
        (("capacity: {chat: 2}", "capacity: {fax: 1}"), "s.yaml:22: Invalid enum value 'fax'"),
        (
            ("    chat: {share", "    chat: {surprise: 1, share"),
            "s.yaml:12: Object contains unknown",
        ),
    ],
)
def test_text_mistakes_are_reported_with_their_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in TEXTS
    found = problems(tmp_path, TEXTS.replace(old, new, 1))
    assert any(p.startswith(expected) for p in found), found


def test_shares_need_poisson_arrivals_and_channels_need_agents(tmp_path: Path) -> None:
    (tmp_path / "calls.csv").write_text("at_seconds,queue,handle_seconds\n1,billing,30\n")
    traced = TEXTS.replace("  poisson: {per_minute: 30}", "  trace: calls.csv")
    assert problems(tmp_path, traced) == [
        "s.yaml:12: a share splits Poisson arrivals: with a trace, give chat a rate of its "
        "own (per_minute: N)"
    ]
    nobody = TEXTS.replace("capacity: {chat: 2}", "capacity: {chat: 0, email: 0}")
    nobody = nobody.replace("chat: 4, ", "")
    assert problems(tmp_path, nobody) == [
        "s.yaml:12: no agent in the roster has chat capacity: its customers would never be "
        "answered",
        "s.yaml:14: no agent in the roster has email capacity: its customers would never be "
        "answered",
    ]
    too_much = TEXTS.replace("{share: 0.25, ", "{share: 0.9, ").replace(
        "{per_minute: 2, ", "{share: 0.5, "
    )
    assert problems(tmp_path, too_much) == [
        "s.yaml:11: the text shares add up to 1.4: more than every arrival"
    ]
