"""A waiting call's place in its queue, counted from the queue's waiting lines: the calls
ahead of it without reading every waiting task (`wait_estimate.calls_ahead` passes over
them all). A line's members are in routing order (`routing_index.place_in_line`), so the
voice calls ahead are one count; callbacks ahead are read, since those held back until
later are not counted (only callbacks are held back: `calls.channel_of`). One queue's
waiting tasks are read from its lines too, not picked out of every waiting task."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from callcenter.domain.messages import Channel
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_index import Line, LineKind, call_in, place_in_line
from callcenter.domain.wait_estimate import calls_ahead
from callcenter.storage import keys
from callcenter.storage.documents import DecodeCache, DocumentStore, load_script

# tickets asked for per HMGET: a queue holding much of the backlog is read in several
# commands, so that Redis serves other clients in between
TICKETS_PER_READ = 1000

# The channels whose tasks are counted ahead of a call (`wait_estimate.in_line`): voice,
# counted from its line, and callbacks, read
COUNTED = (Channel.VOICE, Channel.CALLBACK)


class QueuePlaces:
    def __init__(self, store: DocumentStore, tickets: DecodeCache[Ticket]) -> None:
        self._store = store
        self._tickets = tickets
        self._script = load_script("calls_ahead")

    async def calls_ahead(self, ticket: Ticket, now: datetime) -> int:
        """`wait_estimate.calls_ahead(ticket, every waiting task, now)`, in one round trip:
        the calls of the ticket's queue ahead of it in routing order, callbacks held back
        past `now` left out (the call itself never counts, wherever it stands)."""
        voice, callback = (Line(LineKind.QUEUE, c, ticket.queue) for c in COUNTED)
        place = place_in_line(ticket)
        found = await self._store.client.evalsha(
            self._script,
            [keys.WAITING, keys.line(voice.id), keys.line(callback.id)],
            [place, ticket.call_id],
        )
        ahead = int(found[0]) - self._own_voice_place_ahead(found[1], ticket.queue, place)
        raw = [t for t in cast(list[bytes | None], found[2:]) if t]
        # the callbacks ahead, counted by the definition itself (held back ones left out)
        return ahead + calls_ahead(ticket, self._tickets.decode_all(raw), now)

    async def waiting_in(self, queue: str) -> list[Ticket]:
        """The tickets of `queue`'s waiting tasks, every channel (one line each), in two
        round trips: the lines' members, then their tickets (a task that left meanwhile is
        left out)."""
        client = self._store.client
        lines = [keys.line(Line(LineKind.QUEUE, channel, queue).id) for channel in Channel]
        members = await client.pipeline([("ZRANGE", line, 0, -1) for line in lines])
        ids = [call_in(m.decode()) for line in members for m in cast(list[bytes], line)]
        reads = [
            ("HMGET", keys.WAITING, *ids[at : at + TICKETS_PER_READ])
            for at in range(0, len(ids), TICKETS_PER_READ)
        ]
        found = await client.pipeline(reads)
        raw = [t for read in found for t in cast(list[bytes | None], read) if t]
        return self._tickets.decode_all(raw)

    def _own_voice_place_ahead(self, stored: bytes | None, queue: str, place: str) -> int:
        """1 when the call itself, as stored, stands in the queue's voice line ahead of
        `place` (it changed since it was read: it is not ahead of itself), else 0."""
        if not stored:
            return 0
        own = self._tickets.decode_all([stored])[0]
        counted = own.queue == queue and own.channel is Channel.VOICE
        return int(counted and place_in_line(own) < place)
