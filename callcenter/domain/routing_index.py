"""The waiting lines a dispatch pass reads instead of every waiting task.

Each waiting task stands in two lines: its queue's and its rule's, each per channel, kept in
routing order (priority, then arrival, then id; a channel's offset is the same for a whole
line). A pass reads the heads of the lines its ready agents could serve, and
`plan_from_heads` decides exactly as `plan_assignments` would over every waiting task, or
asks for longer heads when the ones read cannot settle it. The cost of a pass follows the
ready agents and the lines' heads, not the backlog."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from callcenter.domain.agents import Agent
from callcenter.domain.messages import Channel
from callcenter.domain.routing import Decision, Ticket, Urgency, plan_in_order, urgency
from callcenter.domain.routing_rules import RoutingRules

PRIORITY_BASE = 10**11  # a member's priority field: PRIORITY_BASE - priority, 12 digits
_PRIORITY_DIGITS = 12
_TIME_DIGITS = 17  # microseconds since 1970
_ID_AT = _PRIORITY_DIGITS + _TIME_DIGITS
AGENT_LINES_KEPT = 50_000  # skill sets whose lines a line set keeps


class LineKind(StrEnum):
    QUEUE = "q"
    RULE = "r"


@dataclass(frozen=True, slots=True, order=True)
class Line:
    """One line: the waiting tasks of a queue (or of a rule) on one channel. Lines are
    looked up in sets and maps many times a pass, so the id and hash are made once."""

    kind: LineKind
    channel: Channel
    name: str
    # how the line is named in storage (the channel has no ':'; the name may)
    id: str = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        line_id = f"{self.kind}:{self.channel}:{self.name}"
        object.__setattr__(self, "id", line_id)
        object.__setattr__(self, "_hash", hash(line_id))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Line) and self.id == other.id)

    @staticmethod
    @lru_cache(maxsize=65_536)
    def parse(line_id: str) -> Line | None:
        """The line a storage id names (None: not a line id); ids repeat, so answers are
        kept."""
        kind, _, rest = line_id.partition(":")
        channel, _, name = rest.partition(":")
        if kind not in {k.value for k in LineKind} or channel not in set(Channel):
            return None
        return Line(LineKind(kind), Channel(channel), name)


def lines_of(ticket: Ticket) -> tuple[Line, Line]:
    """The lines a waiting task stands in: its queue's and its rule's, on its channel."""
    return _lines(ticket.channel, ticket.queue, ticket.rule)


@lru_cache(maxsize=65_536)
def _lines(channel: Channel, queue: str, rule: str) -> tuple[Line, Line]:
    # made once per queue, rule and channel: every commit of a waiting task asks
    return (Line(LineKind.QUEUE, channel, queue), Line(LineKind.RULE, channel, rule))


def place_in_line(ticket: Ticket) -> str:
    """The task's member in its lines: byte order is routing order within a line (higher
    priority, then earlier arrival, then id), exactly, whatever the priority."""
    priority = min(max(PRIORITY_BASE - ticket.priority, 0), 10**_PRIORITY_DIGITS - 1)
    micros = round(ticket.queued_at.timestamp() * 1_000_000)
    return f"{priority:0{_PRIORITY_DIGITS}d}{micros:0{_TIME_DIGITS}d}{ticket.call_id}"


def call_in(member: str) -> str:
    """The call id of a line member."""
    return member[_ID_AT:]


class LineSet(Collection[Line]):
    """Lines found with tasks, indexed by the queue or rule they are of. The lines are
    many (two per queue and channel) and seldom change, while each pass asks which of them
    its agents could serve: storage hands out the same set until it changes, so the index
    is made once."""

    __slots__ = ("_by_skills", "_members", "_queues", "_rules", "_unknown")

    def __init__(self, lines: Iterable[Line]) -> None:
        self._members = frozenset(lines)
        self._queues: dict[str, list[Line]] = {}
        self._rules: dict[str, list[Line]] = {}
        self._unknown: tuple[Mapping[str, object], list[str]] | None = None
        # an agent's lines, by the rules and the names of its skills (all they depend on)
        self._by_skills: tuple[RoutingRules, dict[frozenset[str], list[Line]]] | None = None
        for line in self._members:
            by_name = self._queues if line.kind is LineKind.QUEUE else self._rules
            by_name.setdefault(line.name, []).append(line)

    def __iter__(self) -> Iterator[Line]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, line: object) -> bool:
        return line in self._members

    @property
    def members(self) -> frozenset[Line]:
        return self._members

    def of(self, queues: Iterable[str], rules: Iterable[str]) -> list[Line]:
        """The lines of these queues and these rules."""
        found = [line for name in queues for line in self._queues.get(name, ())]
        found.extend(line for name in rules for line in self._rules.get(name, ()))
        return found

    def of_agent(self, agent: Agent, rules: RoutingRules) -> list[Line]:
        """`lines_to_read` of this set for one agent, kept while asked with the same rules
        (parked agents are asked about every pass)."""
        if self._by_skills is None or self._by_skills[0] is not rules:
            self._by_skills = (rules, {})
        kept = self._by_skills[1]
        skills = frozenset(agent.skills)
        found = kept.get(skills)
        if found is None:
            if len(kept) >= AGENT_LINES_KEPT:
                kept.clear()
            found = kept[skills] = _lines_to_read(self, [agent], rules)
        return list(found)

    def unknown_queues(self, known: Mapping[str, object]) -> list[str]:
        """The queues of lines not among the `known` ones (the answer is kept while asked
        with the same `known`: the rules' queues)."""
        if self._unknown is None or self._unknown[0] is not known:
            self._unknown = (known, [name for name in self._queues if name not in known])
        return self._unknown[1]


def lines_to_read(
    lines: Iterable[Line], agents: Sequence[Agent], rules: RoutingRules
) -> list[Line]:
    """Of the lines with tasks, those some of `agents` could take a task from: the lines of
    queues one of them serves (an unknown queue has no skills: anyone serves it), and the
    lines of rules whose steps reach into such a queue."""
    if not agents:
        return []
    if isinstance(lines, LineSet):
        if len(agents) == 1:
            return lines.of_agent(agents[0], rules)
        return _lines_to_read(lines, agents, rules)
    # a few lines (those of a pass's heads): each is looked at
    served, reaching = _reach(agents, rules)
    known = rules.queues
    return sorted(
        {
            line
            for line in lines
            if (
                line.name in reaching
                if line.kind is LineKind.RULE
                else line.name in served or line.name not in known
            )
        }
    )


def _lines_to_read(found: LineSet, agents: Sequence[Agent], rules: RoutingRules) -> list[Line]:
    served, reaching = _reach(agents, rules)
    queues = served.union(found.unknown_queues(rules.queues))
    return sorted(found.of(queues, reaching))


def _reach(agents: Sequence[Agent], rules: RoutingRules) -> tuple[frozenset[str], frozenset[str]]:
    """The configured queues at least one of `agents` serves, and the rules whose steps
    reach into such a queue (or into one not configured: anyone serves it)."""
    if len(agents) == 1:
        return rules.reach(frozenset(agents[0].skills))
    served: set[str] = set()
    reaching: set[str] = set()
    for agent in agents:
        queues, widening = rules.reach(frozenset(agent.skills))
        served.update(queues)
        reaching.update(widening)
    return frozenset(served), frozenset(reaching)


@dataclass(frozen=True, slots=True)
class Head:
    """The first tasks of a line, in line order, whether they are all of it, and the
    line's change count when read (see `parking`)."""

    tickets: Sequence[Ticket]
    complete: bool
    changes: int = 0


@dataclass(frozen=True, slots=True)
class HeadsPlan:
    """What the heads read settle: every decision (`decisions`, and in `free` the agents
    they leave with room), or not yet (None): then the lines in `read_on` must be read
    further, and `free` passed to the next try."""

    decisions: list[Decision] | None
    free: Sequence[Agent]
    read_on: Sequence[Line] = ()


def plan_from_heads(
    heads: Mapping[Line, Head],
    agents: Sequence[Agent],
    rules: RoutingRules,
    now: datetime,
    *,
    free: Sequence[Agent] | None = None,
    nearest: bool = False,
) -> HeadsPlan:
    """The decisions `plan_assignments` would make over every waiting task of the lines
    read, or which lines to read further to be sure. `free`: the agents the last try left
    free (None on the first). `nearest`: name only the lines that set the cut among those
    to read further (see below), not all of them.

    The cut: of the lines not read to their end that one of the `free` agents could serve,
    the most urgent of their last tasks read. Every task up to the cut that such an agent
    could take has been read, and every other agent was full before the last cut, so the
    greedy pass decides exactly up to the cut. Past it, it goes on with the agents it left
    free at the cut: when none is, or none of their lines has more, the decisions over the
    tasks read are complete.

    Reading on only the lines that set the cut moves it past them, and often settles the
    pass without reading the others to their end: an agent that may take none of the
    first tasks of one line (a high-priority queue's, where its skill is below the first
    step's level) need not read every line it could serve. Each try then names fewer
    lines, so a caller that reads what is named to its end asks `nearest` on its first
    try only, and is settled within two."""
    unfinished = _unfinished(heads)
    candidates = agents if free is None else free
    bounding = lines_to_read(unfinished, candidates, rules)
    if any(not heads[line].tickets for line in bounding):
        return HeadsPlan(None, candidates, bounding)  # a line with more gave nothing
    cut = _cut(heads, bounding, rules) if bounding else None
    read = _in_order(heads, rules.channel_priority)
    decisions, at_cut, left = plan_in_order(read, agents, rules, now, cut)
    more = lines_to_read(unfinished, at_cut, rules) if bounding and at_cut else []
    if not more:
        return HeadsPlan(decisions, left)
    return HeadsPlan(None, at_cut, _nearest(heads, more, rules) if nearest else more)


def _unfinished(heads: Mapping[Line, Head]) -> list[Line]:
    return [line for line, head in heads.items() if not head.complete]


def _cut(heads: Mapping[Line, Head], bounding: Sequence[Line], rules: RoutingRules) -> Urgency:
    """Of the last tasks read of the `bounding` lines, the most urgent: every task up to it
    in any of these lines has been read."""
    return min(urgency(heads[line].tickets[-1], rules.channel_priority) for line in bounding)


def _nearest(heads: Mapping[Line, Head], lines: Sequence[Line], rules: RoutingRules) -> list[Line]:
    """Those of `lines` whose last task read is the most urgent of their last tasks: the
    ones that set the cut of the next try (a task stands in two lines: both, then)."""
    offsets = rules.channel_priority
    last = {line: urgency(heads[line].tickets[-1], offsets) for line in lines}
    cut = min(last.values())
    return [line for line in lines if last[line] == cut]


def _in_order(
    heads: Mapping[Line, Head], offsets: Mapping[str, int]
) -> Iterator[tuple[Urgency, Ticket]]:
    """The tasks read, each once (a task stands in two lines), in urgency order, with their
    urgency: a line is in that order already (see `place_in_line`; a channel's offset is the
    same for a whole line), so the lines are merged, and only as far as the pass takes
    them. (`heapq.merge`'s way, with each task's urgency worked out once, inline: the
    reference's decisions across channel offsets check it is `urgency`.)"""
    heap: list[list[Any]] = []
    for order, (line, head) in enumerate(heads.items()):
        if head.tickets:
            shift = offsets.get(line.channel, 0)
            first = head.tickets[0]
            key = (-(first.priority + shift), first.queued_at, first.call_id)
            # [urgency, tie-break (a task in two lines), task, next, tasks, channel's offset]
            heap.append([key, order, first, 1, head.tickets, shift])
    heapq.heapify(heap)
    seen: set[str] = set()
    while heap:
        entry = heap[0]
        key, _, ticket, at, tickets, shift = entry
        if ticket.call_id not in seen:
            seen.add(ticket.call_id)
            yield key, ticket
        if at < len(tickets):
            following = tickets[at]
            entry[0] = (-(following.priority + shift), following.queued_at, following.call_id)
            entry[2], entry[3] = following, at + 1
            heapq.heapreplace(heap, entry)
        else:
            heapq.heappop(heap)
