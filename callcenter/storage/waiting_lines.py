"""The waiting lines as a commit writes them (every write bumps the line's version; a task
joining or changing in it also its change count), and as the invariant sweep reads and
repairs them: every ticket, every line's members and every queue line's arrivals, read in
chunks (HSCAN / ZSCAN, so that a long backlog never blocks Redis for one long command), and
repairs that hold only if the ticket is still as read (lua/lines_repair.lua)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import msgspec

from callcenter.domain.calls import Call, CallState
from callcenter.domain.line_check import LineFindings
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_context import ticket_of
from callcenter.domain.routing_index import Line, LineKind, call_in, lines_of, place_in_line
from callcenter.domain.timers import dispatch_due
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, DocumentStore, load_script
from callcenter.storage.resp import Arg, RespClient
from callcenter.storage.timers import schedule

SCAN_COUNT = 1000
_TICKET = msgspec.json.Decoder(Ticket)
_ENCODER = msgspec.json.Encoder()


@dataclass(slots=True)
class LineSnapshot:
    """What one sweep read: tickets (as stored, and decoded) by call id, members by line
    id, the call ids of each queue line's arrivals."""

    stored: dict[str, bytes] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    arrivals: dict[str, set[str]] = field(default_factory=dict)


class WaitingLinesRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self._repair = load_script("lines_repair")

    async def snapshot(self) -> LineSnapshot:
        """Read the tickets first, then the lines: a call that joined in between stands in
        a line without a ticket read, which a repair checks again before acting."""
        found = LineSnapshot()
        for call_id, body in (await scan_items(self._store.client, "HSCAN", keys.WAITING)).items():
            found.stored[call_id] = body
            found.tickets[call_id] = _TICKET.decode(body)
        line_ids = await self._store.client.execute("SMEMBERS", keys.LINES)
        lines = [line for raw in cast(list[bytes], line_ids) if (line := Line.parse(raw.decode()))]
        queue_lines = [line for line in lines if line.kind is LineKind.QUEUE]
        scanned = await self._scan_many(
            [keys.line(line.id) for line in lines]
            + [keys.arrivals(line.id) for line in queue_lines]
        )
        found.members = {line.id: set(scanned[keys.line(line.id)]) for line in lines}
        found.arrivals = {line.id: set(scanned[keys.arrivals(line.id)]) for line in queue_lines}
        return found

    async def repair(self, snapshot: LineSnapshot, findings: LineFindings) -> tuple[int, int]:
        """Put back the missing, take out the stale; (members put back, taken out)."""
        back = [(c, snapshot.stored[c], snapshot.tickets[c]) for c in findings.missing]
        out = [
            (
                keys.line(line_id) if member != call_id else keys.arrivals(line_id),
                member,
                call_id,
                snapshot.stored.get(call_id, b""),
                line_id,
            )
            for line_id, member, call_id in _stale(findings)
        ]
        if not back and not out:
            return 0, 0
        touched, args = repair_arguments(back, out)
        reply = await self._store.client.evalsha(self._repair, touched, args)
        added, removed = cast(list[int], reply)
        return int(added), int(removed)

    async def _scan_many(self, sorted_sets: list[str]) -> dict[str, dict[str, bytes]]:
        """Every member of each sorted set, by ZSCAN, the sets' pages pipelined (most lines
        fit in one page: a round trip for all of them)."""
        found: dict[str, dict[str, bytes]] = {key: {} for key in sorted_sets}
        cursors: dict[str, int] = dict.fromkeys(sorted_sets, 0)
        while cursors:
            pending = list(cursors)
            replies = await self._store.client.pipeline(
                [("ZSCAN", key, cursors[key], "COUNT", SCAN_COUNT) for key in pending]
            )
            for key, reply in zip(pending, replies, strict=True):
                cursors[key] = _take(reply, found[key])
            cursors = {key: cursor for key, cursor in cursors.items() if cursor != 0}
        return found


def repair_arguments(
    back: Sequence[tuple[str, bytes, Ticket]], out: Sequence[tuple[str, str, str, bytes, str]]
) -> tuple[list[str], list[Arg]]:
    """KEYS and ARGV of lua/lines_repair.lua: `back`, the calls to put back in their lines
    (call id, ticket as read, ticket); `out`, the members to take out (key, member, call
    id, the call's ticket as read or b"" when it was not waiting, the id of the line the
    key is of)."""
    key_index: dict[str, int] = {}

    def index(key: str) -> int:
        return key_index.setdefault(key, 6 + len(key_index))

    args: list[Arg] = [len(back)]
    for call_id, stored, ticket in back:
        args += [call_id, stored, place_in_line(ticket)]
        for line in lines_of(ticket):
            args += [index(keys.line(line.id)), line.id]
        args += [index(keys.arrivals(lines_of(ticket)[0].id)), ticket.queued_at.timestamp()]
    for key, member, call_id, stored, line_id in out:
        args += [index(key), member, call_id, stored, line_id]
    return [
        keys.WAITING,
        keys.LINES,
        keys.LINE_CHANGES,
        keys.LINE_VERSIONS,
        keys.LINES_EPOCH,
        *key_index,
    ], args


async def scan_items(client: RespClient, command: str, key: str) -> dict[str, bytes]:
    """Every field (HSCAN) or member (ZSCAN) of `key`, with its value or score, a page of
    about SCAN_COUNT at a time: Redis serves other clients between the pages. Not one
    instant's snapshot: an item written during the read is as its page saw it."""
    found: dict[str, bytes] = {}
    cursor: Arg = 0
    while True:
        reply = await client.execute(command, key, cursor, "COUNT", SCAN_COUNT)
        cursor = _take(reply, found)
        if cursor == 0:
            return found


def _take(reply: object, into: dict[str, bytes]) -> int:
    """A SCAN page's items into `into`; its next cursor (0: done)."""
    cursor, items = cast(tuple[bytes, list[bytes]], reply)
    into.update((k.decode(), v) for k, v in zip(items[::2], items[1::2], strict=True))
    return int(cursor)


def _stale(findings: LineFindings) -> Collection[tuple[str, str, str]]:
    """(line id, member, call id): a line member's call is in the member; an arrival's
    member is the call id."""
    return [(line, member, call_in(member)) for line, member in findings.stale] + [
        (line, call_id, call_id) for line, call_id in findings.stale_arrivals
    ]


def index_waiting(plan: CommitPlan, old: Call | None, new: Call, now: datetime) -> None:
    """A call that joins the queue wakes the dispatcher; a waiting call's ticket (and its
    place in its lines) is kept current; a call that leaves the queue loses them."""
    was = ticket_of(old) if old is not None and old.state is CallState.QUEUED else None
    if new.state is CallState.QUEUED:
        ticket = ticket_of(new)
        if was is None:
            schedule(plan, dispatch_due(now))
        elif was == ticket:
            return  # still waiting in the same place: nothing to rewrite
        else:
            _leave_lines(plan, was)
        encoded = _ENCODER.encode(ticket)
        plan.hset(keys.WAITING, new.id, encoded)
        member = place_in_line(ticket)
        for line in lines_of(ticket):
            plan.zadd(keys.line(line.id), 0, member)
            plan.sadd(keys.LINES, line.id, counted_in=keys.LINES_EPOCH)
            # a task joined (or changed in) the line: agents parked on it look again (at
            # this task alone when it is the only one, kept with the count it made); one
            # leaving makes nobody eligible, so that is not counted (the version is)
            plan.hincrby(keys.LINE_CHANGES, line.id, tagged=(keys.LINE_JOINED, encoded))
            plan.hincrby(keys.LINE_VERSIONS, line.id)
        queue_line = lines_of(ticket)[0].id
        plan.zadd(keys.arrivals(queue_line), ticket.queued_at.timestamp(), ticket.call_id)
    elif was is not None:
        plan.hdel(keys.WAITING, new.id)
        _leave_lines(plan, was)


def _leave_lines(plan: CommitPlan, ticket: Ticket) -> None:
    member = place_in_line(ticket)
    for line in lines_of(ticket):
        plan.zrem(keys.line(line.id), member)
        plan.hincrby(keys.LINE_VERSIONS, line.id)
    plan.zrem(keys.arrivals(lines_of(ticket)[0].id), ticket.call_id)
