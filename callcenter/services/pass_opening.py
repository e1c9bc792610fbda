"""A dispatch pass's first read, as one pipeline: the ready agents, the waiting lines with
the change counts (and the tasks that made them) of those the parking watches, and the heads of the
lines of the agents freed on this instance (`freed_agents.py`): a pass for an agent just
freed reads them next, one round trip later otherwise. The dispatcher may send it with
its taking of the dispatch turn, in the same round trip."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callcenter.domain.agents import Agent
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import Head, Line, LineSet, lines_to_read
from callcenter.domain.routing_rules import RoutingRules
from callcenter.services.freed_agents import FreedAgents
from callcenter.storage.agents import AgentRepository
from callcenter.storage.joint_reads import Read
from callcenter.storage.line_reads import Counted, LineReads

FIRST_HEAD_LENGTH = 8  # tasks read from the head of each line first


@dataclass(frozen=True, slots=True)
class Opening:
    """What a pass's first read found, and under which rules."""

    rules: RoutingRules
    started: float  # `time.perf_counter()` when the read was made
    agents: list[Agent]  # ready
    found: LineSet  # the lines that may have calls
    counts: dict[Line, int]  # the change counts of the lines asked about
    early: dict[Line, Head]  # heads of the lines of the agents freed here
    joined: Mapping[Line, Ticket]  # of the lines asked about, the task that made the count

    def early_heads(self, lengths: Mapping[Line, int]) -> dict[Line, Head]:
        """Of the heads read early, those that answer a read of `lengths` (they hold
        `FIRST_HEAD_LENGTH` tasks, or the whole line)."""
        early = self.early
        return {
            line: head
            for line, length in lengths.items()
            if (head := early.get(line)) is not None
            and (head.complete or length <= FIRST_HEAD_LENGTH)
        }


class PassOpenings:
    def __init__(
        self, agents: AgentRepository, lines: LineReads, freed: FreedAgents | None
    ) -> None:
        self._agents = agents
        self._lines = lines
        self._freed = freed

    def read(self, rules: RoutingRules, counted: Sequence[Line]) -> Read[Opening]:
        """The first read of a pass under `rules`, with the change counts of `counted`."""
        started = time.perf_counter()
        agents = self._agents.ready_read(on_voice=rules.text_during_voice)
        read = agents.joined(self._lines.lines_read(counted)).joined(
            self._lines.heads_read(self._freed_lines(rules))
        )

        def opening(found: tuple[tuple[list[Agent], Counted], dict[Line, Head]]) -> Opening:
            (ready, (lines, counts, joined)), early = found
            return Opening(rules, started, ready, lines, counts, early, joined)

        return read.mapped(opening)

    def _freed_lines(self, rules: RoutingRules) -> dict[Line, int]:
        """The heads to read: of the lines the agents freed here since the last pass could
        serve (as the last read found the lines)."""
        freed = self._freed.take() if self._freed is not None else []
        if not freed:
            return {}
        lines = lines_to_read(self._lines.last_lines(), freed, rules)
        return dict.fromkeys(lines, FIRST_HEAD_LENGTH)
