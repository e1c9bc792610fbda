"""What routing rules see: the call, the caller (profile + history), the queue and now,
as plain values for condition expressions. Missing numbers are 0 and missing text is ""
so that rules never trip over an unknown caller."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from callcenter.domain.callers import CallerView
from callcenter.domain.calls import Call, channel_of
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_rules import ConditionError, Prefer, RoutingRules, Rule


class RuleContext(dict[str, Any]):
    """The names rule conditions may use, as plain values, for one call. `converted` is
    the condition engine's own form of the names it has needed so far, kept so that the
    rules after the first need not convert them again (converting is most of a
    condition's cost). The context is not changed once made."""

    __slots__ = ("converted",)

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.converted: object = None


def rule_context(call: Call, caller: CallerView | None, now: datetime) -> RuleContext:
    """The names a rule condition may use: `call` (also as `task`), `caller`, `queue` and
    `now`."""
    fields = _call_fields(call)
    return RuleContext(
        {
            "call": fields,
            "task": fields,
            "caller": _caller_fields(caller) if caller else _unknown_caller(),
            "queue": call.queue_hint or "",
            "now": now,
        }
    )


def _call_fields(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "from": call.from_ or "",
        "to": call.to or "",
        "direction": str(call.direction),
        "queue": call.queue_hint or "",
        "priority": call.priority,
        "attributes": dict(call.attributes),
        "channel": str(channel_of(call)),
        "subject": (call.conversation.subject or "") if call.conversation else "",
    }


def _caller_fields(caller: CallerView) -> dict[str, Any]:
    profile, history = caller.profile, caller.history
    return {
        "known": True,
        "name": profile.name or "",
        "tier": profile.tier or "",
        "tags": list(profile.tags),
        "account": dict(profile.account),
        "calls_total": history.calls_total,
        "last_agent": history.last_agent or "",
        "last_queue": history.last_queue or "",
        "last_outcome": str(history.last_outcome or ""),
        "last_sentiment": history.last_sentiment or 0.0,
        "sentiment_ewma": history.sentiment_ewma or 0.0,
        "repeat_within_7d": caller.repeat_within_7d,
    }


def _unknown_caller() -> dict[str, Any]:
    """The same names as `_caller_fields`, for a caller we know nothing about (a fresh
    dict every time: a context is the caller's to keep)."""
    return {
        "known": False,
        "name": "",
        "tier": "",
        "tags": [],
        "account": {},
        "calls_total": 0,
        "last_agent": "",
        "last_queue": "",
        "last_outcome": "",
        "last_sentiment": 0.0,
        "sentiment_ewma": 0.0,
        "repeat_within_7d": False,
    }


class RuleMatch(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    errors: list[str]  # conditions that could not be evaluated (treated as no match)


def select_rule(rules: RoutingRules, context: dict[str, Any]) -> tuple[Rule, RuleMatch]:
    """The first rule whose condition holds; the last rule (the default) otherwise. Rules
    whose condition tests another queue are not tried (`RoutingRules.rules_for`)."""
    return first_match(rules.rules_for(context["call"]["queue"]), rules, context)


def first_match(
    candidates: Iterable[Rule], rules: RoutingRules, context: dict[str, Any]
) -> tuple[Rule, RuleMatch]:
    """The first of `candidates` whose condition holds (the conditions that fail to
    evaluate are listed); the last of `rules` (the default) otherwise."""
    errors: list[str] = []
    for rule in candidates:
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
        not_before=call.callback.not_before if call.callback else None,
        channel=channel_of(call),
    )
