"""The waiting lines a dispatch pass reads instead of every waiting task.

Each waiting task stands in two lines: its queue's and its rule's, each per channel, kept in
routing order (priority, then arrival, then id; a channel's offset is the same for a whole
line). A pass reads the heads of the lines its ready agents could serve, and
`plan_from_heads` decides exactly as `plan_assignments` would over every waiting task, or
asks for longer heads when the ones read cannot settle it. The cost of a pass follows the
ready agents and the lines' heads, not the backlog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from callcenter.domain.agents import Agent
from callcenter.domain.messages import Channel
from callcenter.domain.routing import Decision, Ticket, plan_with_free, serves, urgency
from callcenter.domain.routing_rules import RoutingRules

PRIORITY_BASE = 10**11  # a member's priority field: PRIORITY_BASE - priority, 12 digits
_PRIORITY_DIGITS = 12
_TIME_DIGITS = 17  # microseconds since 1970
_ID_AT = _PRIORITY_DIGITS + _TIME_DIGITS


class LineKind(StrEnum):
    QUEUE = "q"
    RULE = "r"


@dataclass(frozen=True, slots=True, order=True)
class Line:
    """One line: the waiting tasks of a queue (or of a rule) on one channel."""

    kind: LineKind
    channel: Channel
    name: str

    @property
    def id(self) -> str:
        """How the line is named in storage (the channel has no ':'; the name may)."""
        return f"{self.kind}:{self.channel}:{self.name}"

    @classmethod
    def parse(cls, line_id: str) -> Line | None:
        kind, _, rest = line_id.partition(":")
        channel, _, name = rest.partition(":")
        if kind not in {k.value for k in LineKind} or channel not in set(Channel):
            return None
        return cls(LineKind(kind), Channel(channel), name)


def lines_of(ticket: Ticket) -> tuple[Line, Line]:
    """The lines a waiting task stands in: its queue's and its rule's, on its channel."""
    return (
        Line(LineKind.QUEUE, ticket.channel, ticket.queue),
        Line(LineKind.RULE, ticket.channel, ticket.rule),
    )


def place_in_line(ticket: Ticket) -> str:
    """The task's member in its lines: byte order is routing order within a line (higher
    priority, then earlier arrival, then id), exactly, whatever the priority."""
    priority = min(max(PRIORITY_BASE - ticket.priority, 0), 10**_PRIORITY_DIGITS - 1)
    micros = round(ticket.queued_at.timestamp() * 1_000_000)
    return f"{priority:0{_PRIORITY_DIGITS}d}{micros:0{_TIME_DIGITS}d}{ticket.call_id}"


def call_in(member: str) -> str:
    """The call id of a line member."""
    return member[_ID_AT:]


def lines_to_read(
    lines: Iterable[Line], agents: Sequence[Agent], rules: RoutingRules
) -> list[Line]:
    """Of the lines with tasks, those some of `agents` could take a task from: the lines of
    queues one of them serves (an unknown queue has no skills: anyone serves it), and the
    lines of rules whose steps reach into such a queue."""
    served = _served_queues(agents, rules)

    def reachable(queue: str) -> bool:
        return queue in served or (bool(agents) and queue not in rules.queues)

    wanted = []
    for line in lines:
        if line.kind is LineKind.QUEUE:
            wanted.append(reachable(line.name))
            continue
        rule = rules.rule(line.name) if line.name in rules.widening_rules else None
        also = {q for step in rule.steps for q in step.also_queues} if rule else set()
        wanted.append(any(reachable(q) for q in also))
    return sorted(line for line, keep in zip(lines, wanted, strict=True) if keep)


def _served_queues(agents: Sequence[Agent], rules: RoutingRules) -> set[str]:
    """The configured queues at least one of `agents` serves."""
    by_skill: dict[str, list[str]] = {}
    open_to_all = []
    for name, queue in rules.queues.items():
        if not queue.skills:
            open_to_all.append(name)
        for skill in queue.skills:
            by_skill.setdefault(skill, []).append(name)
    served = set(open_to_all) if agents else set()
    for agent in agents:
        for skill in agent.skills:
            served.update(q for q in by_skill.get(skill, ()) if serves(agent, rules.queues[q]))
    return served


@dataclass(frozen=True, slots=True)
class Head:
    """The first tasks of a line, in line order, and whether they are all of it."""

    tickets: Sequence[Ticket]
    complete: bool


def plan_from_heads(
    heads: Mapping[Line, Head], agents: Sequence[Agent], rules: RoutingRules, now: datetime
) -> list[Decision] | None:
    """The decisions `plan_assignments` would make over every waiting task that the lines
    read hold, or None when longer heads are needed to be sure.

    Every task more urgent than the cut (the least urgent task read of any line not read
    to its end) has been read, and the greedy pass decides tasks in urgency order, so its
    decisions up to the cut are final. Past the cut it would only go on with agents still
    free: when none is, the decisions are complete."""
    offsets = rules.channel_priority
    read = {t.call_id: t for head in heads.values() for t in head.tickets}
    partial = [head for head in heads.values() if not head.complete]
    if not partial:
        return plan_with_free(list(read.values()), agents, rules, now)[0]
    if any(not head.tickets for head in partial):
        return None
    cut = min(urgency(head.tickets[-1], offsets) for head in partial)
    settled = [t for t in read.values() if urgency(t, offsets) <= cut]
    decisions, free = plan_with_free(settled, agents, rules, now)
    return None if free else decisions
