"""The summary's lines on text conversations: one per channel (opened, handled, abandoned,
the wait for an agent, first responses, messages each way, angry customers and their
alerts), then what the agents' offers were checked against."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from callcenter.simulate.ledger import Ledger, TextRecord
from callcenter.simulate.rules_summary import RulesSummary
from callcenter.simulate.scenario import TEXT_CHANNELS, Scenario
from callcenter.simulate.text_traffic import arrival_rate

NO_SENDER = {"sms": "SMS", "email": "mail"}


def describe_texts(scenario: Scenario) -> str:
    """What text customers a checked scenario has: `text: chat 2 a minute in support`."""
    if scenario.text is None:
        return "no text customers"
    return "text: " + ", ".join(
        f"{c.channel} {arrival_rate(scenario, c) * 60:.3g} a minute in {c.queue}"
        for c in scenario.text.channels.values()
    )


def counted_texts(scenario: Scenario, ledger: Ledger) -> list[TextRecord]:
    """The conversations the figures count: opened after the warm-up."""
    return [r for r in ledger.opened() if r.plan.at_seconds >= scenario.warm_up_seconds]


def text_lines(scenario: Scenario, ledger: Ledger) -> list[str]:
    """Nothing when the scenario has no text customers."""
    if scenario.text is None:
        return []
    records = counted_texts(scenario, ledger)
    lines = [
        _channel_line(channel, [r for r in records if r.plan.channel == channel])
        for channel in TEXT_CHANNELS
        if channel in scenario.text.channels
    ]
    return [*lines, "  " + _checked(scenario, ledger)]


def _channel_line(channel: str, records: Sequence[TextRecord]) -> str:
    parts = [_endings(channel, records), _times(records), _messages(channel, records)]
    angry = [r for r in records if r.plan.mood == "angry"]
    if angry:
        parts.append(f"angry customers {len(angry)}, with an alert: {_alerted(angry)}")
    return "; ".join(part for part in parts if part)


def _endings(channel: str, records: Sequence[TextRecord]) -> str:
    outcomes = Counter(r.outcome for r in records)
    line = (
        f"{channel}: {len(records)} opened, {outcomes['handled']} handled, "
        f"{outcomes['abandoned']} abandoned"
    )
    line += f", {outcomes[None]} still open" if outcomes[None] else ""
    stopped = sum(r.left_at_stop for r in records)
    return line + (f"; {stopped} were closed by their customer at the stop" if stopped else "")


def _times(records: Sequence[TextRecord]) -> str:
    waits = [w for r in records if (w := r.wait_seconds) is not None]
    firsts = [f for r in records if (f := r.first_response_seconds) is not None]
    parts = [f"accepted after {_mean(waits)} on average"] if waits else []
    if firsts:
        parts.append(f"first response {_mean(firsts)} on average ({len(firsts)} answered)")
    return "; ".join(parts)


def _messages(channel: str, records: Sequence[TextRecord]) -> str:
    written = sum(len(r.customer_messages) for r in records)
    replies = sum(len(r.replies) for r in records)
    line = f"{written} customer messages, {replies} replies"
    if channel == "chat":
        seen = sum(len(r.replies_seen) for r in records)
        line += f" ({seen} shown in the customer's chat window{_delay(records)})"
    if channel in NO_SENDER:
        line += f" (worked without replying: no {NO_SENDER[channel]} sender in a simulation)"
    return line


def _delay(records: Sequence[TextRecord]) -> str:
    """How long a reply took from the agent's post to the customer's window, on average."""
    delays = [
        max(0.0, seen - taken)
        for r in records
        for taken, seen in zip(r.replies, r.replies_seen, strict=False)
    ]
    return (
        f", {statistics.fmean(delays) * 1000:.0f} ms after the agent's post was answered"
        if delays
        else ""
    )


def _alerted(records: Sequence[TextRecord]) -> int:
    return sum(bool(r.alerts) for r in records)


def _mean(values: Sequence[float]) -> str:
    return f"{statistics.fmean(values):.1f} s"


def _checked(scenario: Scenario, ledger: Ledger) -> str:
    """What the agents' offers were checked against (text_checks.py)."""
    offers = sum(len(ledger.holdings.of(agent.id)) for agent in scenario.roster)
    line = f"{offers} offers checked against each agent's capacity and calls"
    names = list(scenario.queues)
    queues = sorted(
        {r.plan.queue for r in ledger.opened()},
        key=lambda q: (names.index(q) if q in names else len(names), q),
    )
    return line + _order_scope(scenario.rules, queues) if queues else line


def _order_scope(rules: RulesSummary | None, queues: Sequence[str]) -> str:
    in_order = [q for q in queues if rules and (ruled := rules.queue(q)) and ruled.in_arrival_order]
    if len(in_order) == len(queues):
        return f"; arrival order across channels checked in {', '.join(queues)}"
    others = [q for q in queues if q not in in_order]
    why = "no rules named" if rules is None else "priorities, preferred agents or skill steps"
    scope = f"checked in {', '.join(in_order)}, " if in_order else ""
    return f"; arrival order across channels {scope}not checked in {', '.join(others)} ({why})"
