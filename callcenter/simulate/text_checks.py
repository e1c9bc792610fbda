"""After a run, every offer an agent got against what it held then (holdings.py): never
beyond its capacity on the offer's channel (its own, capped by the queue's), never a text
task while it was on a call unless the queue allows text during voice, and, in a queue whose
rules take its work strictly in arrival order (no priorities, preferred agents, skill steps
or channel offsets), never while an older call or conversation of the queue waited without
an offer and the agent surely had room for it (one of the two a text task: a call passed
over for a call, or for a callback, is callback_checks.py's).

An offer is called wrong only if it is wrong whichever way the bounds of the holdings fall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.simulate.callback_checks import waiting_unoffered
from callcenter.simulate.holdings import VOICE, Span
from callcenter.simulate.ledger import CallRecord, Ledger, TextRecord
from callcenter.simulate.rules_summary import RulesSummary
from callcenter.simulate.scenario import AgentSpec, Scenario

SLACK = 0.25  # seconds: offers decided together are one dispatch
OLDER_BY = 1.0  # seconds: one arrived this much earlier reached the server first


@dataclass(frozen=True, slots=True)
class Waiting:
    """A call or conversation that may have been passed over."""

    item: str
    channel: str
    queue: str
    arrived: float
    record: CallRecord | TextRecord

    def unoffered_at(self, at: float) -> bool:
        """Surely waiting, and surely not offered to anyone, at `at`."""
        if isinstance(self.record, CallRecord):
            return waiting_unoffered(self.record, at)
        record = self.record
        ends = (record.leaving_at, record.closed_at)
        live = all(end is None or end > at + SLACK for end in ends) and self.arrived < at
        return live and not any(when <= at + SLACK for when, _ in record.offers)


def holding_errors(ledger: Ledger, scenario: Scenario) -> list[str]:
    """Every routing error in what the agents held."""
    rules = scenario.rules
    waiting = _waiting(ledger)
    errors: list[str] = []
    for agent in scenario.roster:
        spans = ledger.holdings.of(agent.id)
        for span in spans:
            errors += _held_errors(agent, span, spans, rules)
            errors += _passed_over(agent, span, spans, rules, waiting)
    return errors


def limit(agent: AgentSpec, channel: str, queue: str, rules: RulesSummary | None) -> int:
    """The most of `channel` the agent may hold when taking one from `queue`."""
    mine = agent.capacity.get(channel, 0)
    ruled = rules.queue(queue) if rules is not None else None
    cap = ruled.capacity.get(channel) if ruled is not None else None
    return mine if cap is None else min(mine, cap)


def _text_during_voice(queue: str, rules: RulesSummary | None) -> bool:
    ruled = rules.queue(queue) if rules is not None else None
    return ruled is not None and ruled.text_during_voice


def _held_errors(
    agent: AgentSpec, span: Span, spans: Sequence[Span], rules: RulesSummary | None
) -> list[str]:
    """The offer beyond the agent's capacity, or a text offer during a call."""
    found = [_over_capacity(agent, span, spans, rules), _during_call(agent, span, spans, rules)]
    return [error for error in found if error is not None]


def _over_capacity(
    agent: AgentSpec, span: Span, spans: Sequence[Span], rules: RulesSummary | None
) -> str | None:
    at = span.start
    held = [s for s in spans if s is not span and s.channel == span.channel]
    held = [s for s in held if s.surely_held(at, SLACK)]
    most = limit(agent, span.channel, span.queue, rules)
    if len(held) < most:
        return None
    named = f" ({', '.join(s.item for s in held[:3])})" if held else ""
    return (
        f"{span.item}: {span.channel} offered to {agent.id} at {at:.1f} s while it held "
        f"{len(held)}{named}: its {span.channel} capacity is {most}"
    )


def _during_call(
    agent: AgentSpec, span: Span, spans: Sequence[Span], rules: RulesSummary | None
) -> str | None:
    if span.channel == VOICE or _text_during_voice(span.queue, rules):
        return None
    at = span.start
    call = next((s for s in spans if s.channel == VOICE and s.surely_held(at, SLACK)), None)
    if call is None:
        return None
    return (
        f"{span.item}: {span.channel} offered to {agent.id} at {at:.1f} s while it was on "
        f"call {call.item} (queue {span.queue} takes no text during voice)"
    )


def _waiting(ledger: Ledger) -> list[Waiting]:
    calls = [
        Waiting(sid, VOICE, record.plan.queue, record.placed_at, record)
        for sid, record in ledger.calls.items()
        if record.placed_at is not None
    ]
    texts = [
        Waiting(record.task_id, record.plan.channel, record.plan.queue, record.opened_at, record)
        for record in ledger.opened()
        if record.task_id is not None and record.opened_at is not None
    ]
    return calls + texts


def _passed_over(
    agent: AgentSpec,
    span: Span,
    spans: Sequence[Span],
    rules: RulesSummary | None,
    waiting: Sequence[Waiting],
) -> list[str]:
    offered = _in_order(span, rules, waiting)
    if offered is None:
        return []
    for older in waiting:
        if _passed(older, offered, span) and _had_room(agent, older, span, spans, rules):
            return [
                f"{span.item}: {span.channel} offered to {agent.id} at {span.start:.1f} s "
                f"while {older.item}, an older {older.channel} of queue {span.queue}, waited "
                "without an offer and the agent had room for it"
            ]
    return []


def _in_order(span: Span, rules: RulesSummary | None, waiting: Sequence[Waiting]) -> Waiting | None:
    """What `span` offered, if it is a live call or a conversation of a queue that takes
    its work strictly in arrival order."""
    ruled = rules.queue(span.queue) if rules is not None else None
    if ruled is None or not ruled.in_arrival_order:
        return None
    offered = next((w for w in waiting if w.item == span.item), None)
    if offered is None or (isinstance(offered.record, CallRecord) and offered.record.callback):
        return None
    return offered


def _passed(older: Waiting, offered: Waiting, span: Span) -> bool:
    """`older` (not a call passed over for a call) waited unoffered when `span` was."""
    if VOICE == older.channel == offered.channel or older.queue != span.queue:
        return False
    return older.arrived < offered.arrived - OLDER_BY and older.unoffered_at(span.start)


def _had_room(
    agent: AgentSpec,
    older: Waiting,
    offered: Span,
    spans: Sequence[Span],
    rules: RulesSummary | None,
) -> bool:
    """Whether the agent surely had room for `older` when `offered` was decided."""
    at = offered.start
    others = [s for s in spans if s is not offered and s.maybe_held(at, SLACK)]
    same = sum(s.channel == older.channel for s in others)
    if same >= limit(agent, older.channel, older.queue, rules):
        return False
    on_call = any(s.channel == VOICE for s in others)
    if older.channel == VOICE:
        return not on_call
    return not on_call or _text_during_voice(older.queue, rules)
