"""What must hold between the waiting tasks (their tickets) and the waiting lines routing
reads (domain.routing_index): each waiting task stands in its queue's and its rule's line
at its place, and in its queue line's arrivals; nothing else stands in a line. A commit
writes them together, so these never fail in normal operation; the invariant sweep
(services.invariant_sweep) looks anyway, and repairs what it finds. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import call_in, lines_of, place_in_line


@dataclass(frozen=True, slots=True)
class LineFindings:
    """Tasks missing from a line they should stand in (call ids), and members standing in
    a line they should not: (line id, member), and (queue line id, call id) of arrivals."""

    missing: list[str] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    stale_arrivals: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.stale or self.stale_arrivals)


def line_findings(
    tickets: Mapping[str, Ticket],
    members: Mapping[str, Collection[str]],
    arrivals: Mapping[str, Collection[str]],
) -> LineFindings:
    """Judge the `tickets` of the waiting tasks (by call id) against the `members` of each
    line and the call ids in each queue line's `arrivals` (both by line id)."""
    expected: dict[str, set[str]] = {}  # line id → the members it should have
    expected_arrivals: dict[str, set[str]] = {}  # queue line id → the call ids
    for call_id, ticket in tickets.items():
        member = place_in_line(ticket)
        queue_line, rule_line = (line.id for line in lines_of(ticket))
        expected.setdefault(queue_line, set()).add(member)
        expected.setdefault(rule_line, set()).add(member)
        expected_arrivals.setdefault(queue_line, set()).add(call_id)
    missing: set[str] = set()
    stale: list[tuple[str, str]] = []
    for line_id in expected.keys() | members.keys():
        should, stands = expected.get(line_id, set()), set(members.get(line_id, ()))
        missing.update(call_in(member) for member in should - stands)
        stale += [(line_id, member) for member in sorted(stands - should)]
    stale_arrivals: list[tuple[str, str]] = []
    for line_id in expected_arrivals.keys() | arrivals.keys():
        should, stands = expected_arrivals.get(line_id, set()), set(arrivals.get(line_id, ()))
        missing.update(should - stands)
        stale_arrivals += [(line_id, call_id) for call_id in sorted(stands - should)]
    return LineFindings(sorted(missing), stale, stale_arrivals)
