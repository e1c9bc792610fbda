"""Rule selection skips the rules whose condition tests another queue: over random rule
lists and calls, it chooses the same rule, with the same errors, as trying every rule in
order; and only plain tests of the call's queue are taken for such tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.routing_context import RuleMatch, first_match, rule_context, select_rule
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule
from callcenter.rules.cel_condition import CelCondition, only_queue
from tests.rules.test_loader import make_call, make_caller

NOW = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
HINTS = ("billing", "sales", "", "support")
SOURCES = (
    'call.queue == "billing"',
    "call.queue == 'sales'",
    'task.queue == "billing" && caller.tier == "vip"',
    'call.queue == "sales" && call.attributes.missing == "x"',  # fails when it is sales
    'call.queue == "support" && (caller.known || call.priority > 2)',
    'call.queue == "billing" || caller.tier == "vip"',
    'call.queue == "sales" && caller.known || call.priority > 2',
    'caller.tier == "vip"',
    'call.attributes.missing == "x"',  # fails on every call
    '"billing" == call.queue',
)


@pytest.mark.parametrize(
    ("source", "queue"),
    [
        ('call.queue == "billing"', "billing"),
        ("  task.queue=='sales'  ", "sales"),
        ('call.queue == "a" && caller.known', "a"),
        ('call.queue == "a" && (caller.known || call.priority > 2)', None),
        ('call.queue == "a" || caller.known', None),
        ('call.queue == "a" && caller.known || call.priority > 2', None),
        ('call.queue == "a" && caller.known ? true : false', None),
        ('call.queue == "a" &&', None),
        ('"a" == call.queue', None),
        ('call.queue == "a\\"b"', None),
        ('call.queue != "a"', None),
        ('call.queues == "a"', None),
    ],
)
def test_only_a_plain_test_of_the_queue_names_one(source: str, queue: str | None) -> None:
    assert only_queue(source) == queue


def reference(rules: RoutingRules, context: Any) -> tuple[Rule, RuleMatch]:
    """Every rule tried in order (what selection did before it skipped any)."""
    return first_match(rules.rules, rules, context)


CONDITIONS = {source: CelCondition(source) for source in SOURCES}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(SOURCES), min_size=1, max_size=8),
    st.sampled_from(HINTS),
    st.sampled_from(["vip", "standard"]),
    st.integers(0, 4),
)
def test_selection_chooses_as_trying_every_rule(
    sources: list[str], hint: str, tier: str, priority: int
) -> None:
    rules = RoutingRules(
        queues={name: QueueConfig(name=name) for name in ("billing", "sales", "support")},
        rules=(
            *(Rule(name=f"r{i}", when=CONDITIONS[s]) for i, s in enumerate(sources)),
            Rule(name="default"),
        ),
    )
    call = make_call(queue_hint=hint or None, priority=priority)
    caller = make_caller(tier=tier)
    expected = reference(rules, rule_context(call, caller, NOW))
    assert select_rule(rules, rule_context(call, caller, NOW)) == expected


def test_a_rule_for_another_queue_is_not_evaluated() -> None:
    class Counting:
        source = 'call.queue == "sales"'
        only_queue: str | None = "sales"
        asked = 0

        def matches(self, context: Any) -> bool:
            Counting.asked += 1
            return bool(context["call"]["queue"] == "sales")

    rules = RoutingRules(
        queues={"billing": QueueConfig(name="billing")},
        rules=(Rule(name="sales", when=Counting()), Rule(name="default")),
    )
    billing = rule_context(make_call(queue_hint="billing"), None, NOW)
    assert select_rule(rules, billing)[0].name == "default"
    assert Counting.asked == 0
    sales = rule_context(make_call(queue_hint="sales"), None, NOW)
    assert select_rule(rules, sales)[0].name == "sales"
    assert Counting.asked == 1
