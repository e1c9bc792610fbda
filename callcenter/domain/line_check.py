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
    missing = [
        call_id for call_id, ticket in tickets.items() if not _placed(ticket, members, arrivals)
    ]
    stale = [
        (line_id, member)
        for line_id, standing in members.items()
        for member in standing
        if not _belongs(tickets, line_id, member)
    ]
    stale_arrivals = [
        (line_id, call_id)
        for line_id, waiting in arrivals.items()
        for call_id in waiting
        if call_id not in tickets or lines_of(tickets[call_id])[0].id != line_id
    ]
    return LineFindings(missing, stale, stale_arrivals)


def _placed(
    ticket: Ticket, members: Mapping[str, Collection[str]], arrivals: Mapping[str, Collection[str]]
) -> bool:
    """The task stands at its place in both its lines, and in its queue line's arrivals."""
    member = place_in_line(ticket)
    queue_line, rule_line = (line.id for line in lines_of(ticket))
    in_lines = member in members.get(queue_line, ()) and member in members.get(rule_line, ())
    return in_lines and ticket.call_id in arrivals.get(queue_line, ())


def _belongs(tickets: Mapping[str, Ticket], line_id: str, member: str) -> bool:
    ticket = tickets.get(call_in(member))
    if ticket is None or place_in_line(ticket) != member:
        return False
    return line_id in (line.id for line in lines_of(ticket))
