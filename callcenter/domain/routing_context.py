"""What routing rules see: the call, the caller (profile + history), the queue and now,
as plain values for condition expressions. Missing numbers are 0 and missing text is ""
so that rules never trip over an unknown caller."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from callcenter.domain.callers import CallerView
from callcenter.domain.calls import Call
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_rules import ConditionError, Prefer, RoutingRules, Rule


def rule_context(call: Call, caller: CallerView | None, now: datetime) -> dict[str, Any]:
    profile = caller.profile if caller else None
    history = caller.history if caller else None
    return {
        "call": {
            "id": call.id,
            "from": call.from_ or "",
            "to": call.to or "",
            "direction": str(call.direction),
            "queue": call.queue_hint or "",
            "priority": call.priority,
            "attributes": dict(call.attributes),
        },
        "caller": {
            "known": caller is not None,
            "name": (profile.name if profile else None) or "",
            "tier": (profile.tier if profile else None) or "",
            "tags": list(profile.tags) if profile else [],
            "account": dict(profile.account) if profile else {},
            "calls_total": history.calls_total if history else 0,
            "last_agent": (history.last_agent if history else None) or "",
            "last_queue": (history.last_queue if history else None) or "",
            "last_outcome": str(history.last_outcome or "") if history else "",
            "last_sentiment": (history.last_sentiment if history else None) or 0.0,
            "sentiment_ewma": (history.sentiment_ewma if history else None) or 0.0,
            "repeat_within_7d": caller.repeat_within_7d if caller else False,
        },
        "queue": call.queue_hint or "",
        "now": now,
    }


class RuleMatch(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    errors: list[str]  # conditions that could not be evaluated (treated as no match)


def select_rule(rules: RoutingRules, context: dict[str, Any]) -> tuple[Rule, RuleMatch]:
    """The first rule whose condition holds; the last rule (the default) otherwise."""
    errors: list[str] = []
    for rule in rules.rules:
        if rule.when is None:
            return rule, RuleMatch(rule=rule.name, errors=errors)
        try:
            if rule.when.matches(context):
                return rule, RuleMatch(rule=rule.name, errors=errors)
        except ConditionError as error:
            errors.append(f"{rule.name}: {error}")
    last = rules.rules[-1]
    return last, RuleMatch(rule=last.name, errors=errors)


def route(call: Call, rule: Rule, caller: CallerView | None) -> Call:
    """Apply the chosen rule: its queue, its priority (never lowering the call's own), the
    preferred agent."""
    prefer = None
    if rule.prefer is Prefer.LAST_AGENT and caller and caller.history.last_agent:
        prefer = caller.history.last_agent
    return msgspec.structs.replace(
        call,
        queue=rule.queue or call.queue,
        rule=rule.name,
        priority=max(call.priority, rule.priority),
        prefer_agent=prefer,
    )


def ticket_of(call: Call) -> Ticket:
    return Ticket(
        call_id=call.id,
        queue=call.queue,
        rule=call.rule or "",
        priority=call.priority,
        queued_at=call.queued_at or call.created_at,
        prefer_agent=call.prefer_agent,
        declined_by=call.declined_by,
    )
