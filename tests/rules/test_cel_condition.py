"""A call's rule context keeps the engine's conversion of its values for the next rule."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain.routing_context import RuleContext, rule_context
from callcenter.rules.cel_condition import CelCondition
from tests.rules.test_loader import make_call, make_caller

SOURCES = (
    'caller.tier == "vip" || caller.sentiment_ewma < -0.4',
    'call.queue == "billing"',
    'has(call.attributes.ivr) && call.attributes.ivr == "1"',
    'task.channel == "voice" && now.getHours() >= 12',
    'queue == "billing" && caller.known',
)


def test_conditions_over_one_context_agree_with_a_plain_copy() -> None:
    now = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    conditions = [CelCondition(source) for source in SOURCES]
    seen: set[bool] = set()
    for call, caller in [
        (make_call(queue_hint="billing", attributes={"ivr": "1"}), make_caller(tier="vip")),
        (make_call(queue_hint="sales"), None),
        (make_call(attributes={"ivr": "2"}), make_caller(sentiment_ewma=-0.6)),
    ]:
        shared = rule_context(call, caller, now)
        answers = [condition.matches(shared) for condition in conditions]
        plain = [condition.matches(dict(shared)) for condition in conditions]
        assert answers == plain
        seen.update(answers)
    assert seen == {True, False}


def test_only_the_names_a_condition_uses_are_converted() -> None:
    ctx = rule_context(make_call(), make_caller(), datetime(2026, 1, 5, 12, tzinfo=UTC))
    assert isinstance(ctx, RuleContext)
    assert CelCondition('caller.tier == "vip"').matches(ctx) is False
    assert getattr(ctx.converted, "names", None) == {"caller"}
    assert CelCondition('call.queue == ""').matches(ctx) is True
    assert getattr(ctx.converted, "names", None) == {"caller", "call"}
