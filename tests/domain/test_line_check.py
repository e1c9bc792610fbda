"""The waiting lines judged against the tickets: consistent lines have no finding; a task
missing from a line or from its arrivals, a member whose task is not waiting (or waits at
another place, or in another line), and an arrival of a task not waiting there are found."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from callcenter.domain.line_check import LineFindings, line_findings
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import lines_of, place_in_line

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def ticket(call_id: str, queue: str = "billing", priority: int = 0) -> Ticket:
    return Ticket(call_id=call_id, queue=queue, rule="default", priority=priority, queued_at=AT)


def stored(*tickets: Ticket) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The members and arrivals a commit writes for these tickets."""
    members: dict[str, set[str]] = {}
    arrivals: dict[str, set[str]] = {}
    for one in tickets:
        for line in lines_of(one):
            members.setdefault(line.id, set()).add(place_in_line(one))
        arrivals.setdefault(lines_of(one)[0].id, set()).add(one.call_id)
    return members, arrivals


def test_lines_as_a_commit_writes_them_have_no_finding() -> None:
    a, b = ticket("a"), ticket("b", queue="sales", priority=5)
    members, arrivals = stored(a, b)
    assert not line_findings({"a": a, "b": b}, members, arrivals)


def test_a_task_missing_from_a_line_or_its_arrivals_is_found() -> None:
    a, b = ticket("a"), ticket("b")
    members, arrivals = stored(a, b)
    members[lines_of(a)[1].id].discard(place_in_line(a))  # not in its rule's line
    arrivals[lines_of(b)[0].id].discard("b")
    assert line_findings({"a": a, "b": b}, members, arrivals) == LineFindings(["a", "b"])


def test_members_and_arrivals_that_should_not_be_there_are_found() -> None:
    a, gone = ticket("a"), ticket("gone")
    members, arrivals = stored(a, gone)
    moved = msgspec.structs.replace(a, priority=9)  # now waits at another place
    found = line_findings({"a": moved}, members, arrivals)
    queue_line, rule_line = (line.id for line in lines_of(a))
    assert found.missing == ["a"]
    assert sorted(found.stale) == sorted(
        (line, place_in_line(t)) for line in (queue_line, rule_line) for t in (a, gone)
    )
    assert found.stale_arrivals == [(queue_line, "gone")]


def test_a_member_in_a_line_that_is_not_its_own_is_stale() -> None:
    a = ticket("a")
    members, arrivals = stored(a)
    other = lines_of(ticket("x", queue="sales"))[0].id
    members[other] = {place_in_line(a)}
    arrivals[other] = {"a"}
    found = line_findings({"a": a}, members, arrivals)
    assert (found.missing, found.stale, found.stale_arrivals) == (
        [],
        [(other, place_in_line(a))],
        [(other, "a")],
    )
