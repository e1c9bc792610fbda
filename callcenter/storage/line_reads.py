"""The waiting lines as dispatch passes read them: which lines have tasks (with their change
counts and the tasks whose joining made them, see `domain/parking`), and the heads of lines.

Heads are kept from one pass to the next. Every write to a line bumps its version (in the
commit and repair scripts), and the heads script is told the version of the head held: when
the line has not moved since, Redis sends its length and counts but no tickets, and the head
held is handed out again. Most of a pass's lines have not moved since the last pass read
them, so a pass mostly reads numbers. A head is trusted for `HEAD_KEPT_SECONDS` at most: a
line written without a version (by an instance of an older version, during an upgrade) is
read again by then."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import Head, Line, LineSet
from callcenter.storage import keys
from callcenter.storage.documents import DecodeCache, DocumentStore, load_script, text
from callcenter.storage.joint_reads import Read
from callcenter.storage.resp import Arg, Command

LINES_KEPT = 100_000  # parsed line ids kept, and lines whose heads are kept
HEAD_KEPT_SECONDS = 10.0

# the lines found, the change counts of those counted, and the tasks whose joining made them
# (see `lines_read`)
Counted = tuple[LineSet, dict[Line, int], Mapping[Line, Ticket]]


class _LastJoined(Mapping[Line, Ticket]):
    """Of the lines counted, the task whose joining made each count read, decoded when
    asked for (a pass asks for few of them). That task is kept with the count it made
    ("<count> <ticket>"): one kept with another count (the line moved between the two
    reads, or was counted by a write that kept no task) is not given."""

    __slots__ = ("_changes", "_tagged", "_tickets")

    def __init__(
        self,
        changes: Mapping[Line, int],
        tagged: Sequence[bytes | None],
        tickets: DecodeCache[Ticket],
    ) -> None:
        self._tagged = dict(zip(changes, tagged, strict=True))
        self._changes = changes
        self._tickets = tickets

    def __getitem__(self, line: Line) -> Ticket:
        value = self._tagged.get(line)
        if value is not None:
            made, _, raw = value.partition(b" ")
            if made.isdigit() and int(made) == self._changes[line]:
                return self._tickets.decode_all([raw])[0]
        raise KeyError(line)

    def __iter__(self) -> Iterator[Line]:
        return (line for line in self._tagged if line in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True, slots=True)
class _Held:
    """A head as read: the line's version then, how many members were asked for, when."""

    version: int
    length: int
    head: Head
    at: float

    def serves(self, length: int, now: float) -> bool:
        """Whether this head answers a read of `length` members, if the line has not moved:
        it holds at least as many, or the whole line; and it is recent enough."""
        return (self.head.complete or self.length >= length) and now - self.at < HEAD_KEPT_SECONDS


class LineReads:
    def __init__(
        self,
        store: DocumentStore,
        tickets: DecodeCache[Ticket],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._tickets = tickets
        self._script = load_script("waiting_heads")
        self._line_ids = load_script("line_ids")
        self._ids_held = (0, 0.0)  # the change count of the line set held, when read
        self._clock = clock
        self._lines: dict[bytes, Line | None] = {}  # line ids as stored, parsed
        self._last_lines: tuple[list[bytes], LineSet] = ([], LineSet(()))  # as last read
        self._held: dict[Line, _Held] = {}
        # the documents of the first calls of the lines read since they were last taken
        self._first_calls: dict[str, bytes] = {}

    async def lines(self) -> LineSet:
        """The waiting lines that may have calls."""
        return (await self.lines_read(()).run())[0]

    async def lines_and_changes(self, counted: Sequence[Line]) -> tuple[LineSet, list[int]]:
        """The waiting lines that may have calls, and the change counts of `counted` (0
        for a line never counted), in one round trip."""
        found, changes, _ = await self.lines_read(counted).run()
        return found, [changes[line] for line in counted]

    def lines_read(self, counted: Sequence[Line]) -> Read[Counted]:
        """`lines_and_changes` as a read that may be sent with others (see
        `joint_reads`), the counts by line (`counted` names each line once); with, for
        each line of `counted` whose count was last moved by a task joining it, that
        task."""
        line_keys, held = self._line_ids_args()
        commands: list[Command] = [
            ("EVALSHA", self._line_ids.sha, len(line_keys), *line_keys, *held)
        ]
        if counted:
            ids = [line.id for line in counted]
            commands += [("HMGET", keys.LINE_CHANGES, *ids), ("HMGET", keys.LINE_JOINED, *ids)]

        def parse(replies: Sequence[Any]) -> Counted:
            if not counted:
                return self._lines_from(replies[0], held), {}, {}
            changes = {
                line: int(count or 0) for line, count in zip(counted, replies[1], strict=True)
            }
            joined = _LastJoined(changes, replies[2], self._tickets)
            return self._lines_from(replies[0], held), changes, joined

        return Read(self._store.client, commands, [self._line_ids], parse)

    def _line_ids_args(self) -> tuple[list[Arg], list[Arg]]:
        """KEYS and ARGV of lua/line_ids.lua: the set's change count held, if recent."""
        count, at = self._ids_held
        return [keys.LINES, keys.LINES_EPOCH], [
            count if self._clock() - at < HEAD_KEPT_SECONDS else 0
        ]

    def _lines_from(self, reply: list[Any], held: list[Arg]) -> LineSet:
        """The lines a reply of lua/line_ids.lua names (those held, when it says so). A
        pass starts with this read: first calls read before are dropped."""
        self._first_calls = {}
        count = int(reply[0])
        if count > 0 and count == held[0]:
            return self._last_lines[1]
        self._ids_held = (count, self._clock())
        return self._parse_lines(reply[1:])

    def _parse_lines(self, found: list[bytes]) -> LineSet:
        """The lines named; the set read last time when the ids are the same."""
        if found == self._last_lines[0]:
            return self._last_lines[1]
        known = self._lines
        if len(known) > LINES_KEPT:
            known.clear()
        lines = []
        for raw in found:
            line = known.get(raw)
            if line is None:
                line = known[raw] = Line.parse(text(raw))
            if line is not None:
                lines.append(line)
        self._last_lines = (found, LineSet(lines))
        return self._last_lines[1]

    async def heads(self, lengths: Mapping[Line, int]) -> dict[Line, Head]:
        """The first tickets of each line (as many as its length), in line order, in one
        round trip; the tickets of a line not moved since it was last read are not sent."""
        return await self.heads_read(lengths).run()

    def heads_read(self, lengths: Mapping[Line, int]) -> Read[dict[Line, Head]]:
        """`heads` as a read that may be sent with others (see `joint_reads`); no
        command when `lengths` is empty."""
        if not lengths:
            return Read(self._store.client, (), (), lambda replies: {})
        now = self._clock()
        lines = list(lengths)
        held = [self._held.get(line) for line in lines]
        args: list[Arg] = [keys.call("")]
        for line, kept in zip(lines, held, strict=True):
            if kept is not None and kept.head.tickets and kept.serves(lengths[line], now):
                args += [line.id, lengths[line], kept.version, kept.head.tickets[0].call_id]
            else:
                args += [line.id, lengths[line], 0, ""]
        line_keys = [keys.line(line.id) for line in lines]
        read: list[Arg] = [keys.WAITING, keys.LINES, keys.LINE_CHANGES, keys.LINE_VERSIONS]
        read += [keys.LINES_EPOCH, *line_keys]
        command = ("EVALSHA", self._script.sha, len(read), *read, *args)

        def parse(replies: Sequence[Any]) -> dict[Line, Head]:
            return {
                line: self._head(line, lengths[line], reply, kept, now)
                for line, reply, kept in zip(lines, replies[0], held, strict=True)
            }

        return Read(self._store.client, [command], [self._script], parse)

    def last_lines(self) -> LineSet:
        """The waiting lines as the last read of them found them."""
        return self._last_lines[1]

    def _head(
        self, line: Line, length: int, reply: list[object], kept: _Held | None, now: float
    ) -> Head:
        """The head a reply gives (a held one when Redis says it is current); kept for the
        next read when it has a version and every ticket was found."""
        size, changes, version, same = cast(list[int], reply[:4])
        complete = size <= length
        if same and kept is not None:
            self._keep_first(kept.head, reply[4])
            return Head(kept.head.tickets[:length], complete, changes)
        raw = cast(list[bytes | None], reply[5:])
        head = Head(self._tickets.decode_all([t for t in raw if t]), complete, changes)
        if raw and raw[0]:
            self._keep_first(head, reply[4])
        if version > 0 and all(raw):
            if len(self._held) >= LINES_KEPT:
                self._held.clear()
            self._held[line] = _Held(version, length, head, now)
        else:
            self._held.pop(line, None)
        return head

    def _keep_first(self, head: Head, document: object) -> None:
        if head.tickets and isinstance(document, bytes):
            if len(self._first_calls) >= LINES_KEPT:
                self._first_calls.clear()
            self._first_calls[head.tickets[0].call_id] = document

    def take_first_calls(self) -> dict[str, bytes]:
        """The documents (as stored) of the first calls of the lines read since the last
        take (and since this pass read the set of lines), by call id; they are as they were
        when their lines were read (a claim still checks they have not changed since)."""
        taken, self._first_calls = self._first_calls, {}
        return taken

    def forget(self) -> None:
        """Read every line's head again next time (a decided call was not as its line
        said)."""
        self._held.clear()
