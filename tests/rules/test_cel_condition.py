"""A call's rule context keeps the engine's conversion of its values for the next rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.routing_context import RuleContext, rule_context
from callcenter.domain.routing_rules import ConditionError
from callcenter.rules.cel_condition import CelCondition, fields_selected
from tests.rules.test_loader import make_call, make_caller

NOW = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)

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


def test_only_the_fields_a_condition_selects_are_converted_and_widened_on_demand() -> None:
    ctx = rule_context(make_call(), make_caller(tier="vip"), NOW)
    assert CelCondition('caller.tier == "vip"').matches(ctx) is True
    assert getattr(ctx.converted, "fields", None) == {"caller": {"tier"}}
    # a later condition needing another field widens the conversion; the first still holds
    assert CelCondition("caller.calls_total == 4 && caller.tier == 'vip'").matches(ctx) is True
    assert getattr(ctx.converted, "fields", None) == {"caller": {"tier", "calls_total"}}
    assert CelCondition('caller.tier == "vip"').matches(ctx) is True
    # a use other than selecting a field takes the whole map
    assert CelCondition("size(caller) == 12").matches(ctx) is True
    assert getattr(ctx.converted, "fields", None) == {"caller": None}


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ('call.queue == "x"', {"queue"}),
        ("call . queue == '' && has(call.attributes.ivr)", {"queue", "attributes"}),
        ('caller.tier == "vip" || call.priority > 1', {"priority"}),
        ("size(call) == 9", None),
        ('"queue" in call', None),
        ('call["queue"] == "x"', None),
        ("call.size() > 3", None),
        ("[1, 2].exists(call, call > 1)", None),
        ('call.queue == "call"', None),  # a literal that reads like the name: whole map
        ("has(caller.last_call) && caller.tier == 'a.call'", None),  # no `call` selected
        (
            'call.priority > 1 && .call.queue == "x"',
            {"priority", "queue"},
        ),  # `.call`: from the root
        ("[call.attributes].size() > 0 && call.to == ''", {"attributes", "to"}),
        ("caller.call.x == 1 && (call).to == ''", None),  # a field named call; (call) whole
        ("caller.call.x == 1 && call.to == ''", {"to"}),
    ],
)
def test_fields_selected_reads_only_plain_selections(source: str, fields: set[str] | None) -> None:
    assert fields_selected(source, "call") == (None if fields is None else frozenset(fields))


def test_a_macro_s_own_variable_is_left_to_the_engine() -> None:
    ctx = rule_context(make_call(), make_caller(tags=("vip", "b2b")), NOW)
    condition = CelCondition('caller.tags.exists(t, t == "vip")')
    assert condition.matches(ctx) is True
    assert condition.matches(dict(ctx)) is True
    with pytest.raises(ConditionError, match="Undefined variable or function: 'nosuch'"):
        CelCondition("nosuch == 1").matches(ctx)


# Parts of conditions over every name, with the uses that need a whole map (size, `in`,
# a method, indexing, a macro's own variable named like one), fields that are missing
# (an error, or false under has()) and literals that read like a name.
PARTS = (
    'call.queue == "billing"',
    "call.size() > 3",
    "size(call) == 9",
    '"queue" in call',
    'call["channel"] == "voice"',
    "has(call.attributes.ivr)",
    'has(call.attributes.ivr) && call.attributes.ivr == "1"',
    "call.priority >= 5",
    "call.nosuch == 1",
    "has(call.nosuch)",
    'task.channel == "voice"',
    "size(task) > 0",
    'caller.tier == "vip"',
    "caller.calls_total > 2",
    "has(caller.nosuch)",
    'caller.tags.exists(t, t == "vip")',
    "[1, 2].exists(call, call > 1)",
    'size(caller.account) == 0 || caller.account.plan == "gold"',
    '"call" == queue',
    'queue == "sales" && call.to != "caller.tier"',
    "now.getHours() >= 12",
)


def _answer(condition: CelCondition, context: dict[str, object]) -> bool | str:
    try:
        return condition.matches(context)
    except ConditionError as error:
        return f"error: {error}"


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(
        st.tuples(
            st.lists(st.sampled_from(PARTS), min_size=1, max_size=3),
            st.sampled_from((" && ", " || ")),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    hint=st.sampled_from((None, "billing", "sales")),
    ivr=st.sampled_from(({}, {"ivr": "1"}, {"ivr": "2"})),
    tier=st.sampled_from((None, "vip")),
    tags=st.sampled_from(((), ("vip",))),
    account=st.sampled_from(({}, {"plan": "gold"})),
)
def test_conditions_in_turn_over_one_context_answer_as_over_whole_values(
    rules: list[tuple[list[str], str, bool]],
    hint: str | None,
    ivr: dict[str, str | int | float | bool],
    tier: str | None,
    tags: tuple[str, ...],
    account: dict[str, str | int | float | bool],
) -> None:
    """However the conditions before it narrowed or widened the shared conversion, each
    answers (or fails) exactly as it does over a plain copy of the whole values."""
    call = make_call(queue_hint=hint, attributes=ivr)
    shared = rule_context(call, make_caller(tier=tier, tags=tags, account=account), NOW)
    for parts, joiner, negated in rules:
        source = joiner.join(f"({part})" for part in parts)
        condition = CelCondition(f"!({source})" if negated else source)
        assert _answer(condition, shared) == _answer(condition, dict(shared)), source
