"""Every queue's outlook now (calls and callbacks waiting, estimated wait, agents needed
against staffed), a waiting call's estimated wait by its place, and the minute history
the wallboard charts. One reading per answer: the waiting tickets (HSCAN pages), every agent,
and the queues' traffic of the last hour (one pipeline); the rest is one pass over each
(`domain/queue_outlook.py`, `domain/wait_estimate.py`, `domain/staffing.py`). An answer
for one queue reads only what that queue needs: a waiting call's own wait counts the calls
ahead of it from its queue's lines, and one queue's outlook reads that queue's tasks from
its lines (`storage/places.py`); both staff the queue from the agents of its first skill,
and keep its own traffic only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call, CallState
from callcenter.domain.channel_outlook import (
    channel_views,
    is_channel_key,
    text_loads,
    text_places,
)
from callcenter.domain.messages import TEXT_CHANNELS
from callcenter.domain.queue_outlook import (
    OutlookPoint,
    QueueOutlookView,
    Traffic,
    outlook_of,
    wait_of,
)
from callcenter.domain.queue_traffic import QueueTraffic, total, traffic_keys
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_context import ticket_of
from callcenter.domain.routing_rules import RoutingRules
from callcenter.domain.wait_estimate import (
    HandleTimes,
    PlacesInLine,
    Staffing,
    WaitingLine,
    available_members,
    staffing,
    staffing_by_queue,
    waiting_lines,
)
from callcenter.errors import NotFound
from callcenter.services.clock import Clock
from callcenter.services.rules_source import RulesSource
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.queue_activity import QueueActivityRepository

RECENT_MINUTES = 15  # arrival rate and service level: the last quarter of an hour
LONG_MINUTES = 60  # handle times: the last hour (enough calls to average)
HISTORY_MINUTES = 60  # the wallboard's charts
# `latest` takes the outlook the last tick kept when it is at most this old (ticks come
# every 5 s), and computes it otherwise
LATEST_MAX_AGE_SECONDS = 15.0
# A caller on hold asks for its wait every few seconds (`held_call_wait`), and each answer
# reads every waiting task and every agent: the asks of all the callers on hold share one
# reading, at most this old (an estimate a second old is as good to a caller)
HOLD_READING_SECONDS = 1.0
_NO_TRAFFIC = QueueTraffic()


@dataclass(frozen=True, slots=True)
class _Reading:
    now: datetime
    rules: RoutingRules
    tickets: list[Ticket]
    agents: list[Agent]
    minutes: list[dict[str, QueueTraffic]]  # oldest first, the current minute last

    def traffic(self) -> dict[str, Traffic]:
        """Every queue's traffic over the recent window and the long one, in one pass."""
        recent: dict[str, list[QueueTraffic]] = {}
        long: dict[str, list[QueueTraffic]] = {}
        for age, minute in enumerate(reversed(self.minutes)):
            for queue, counts in minute.items():
                long.setdefault(queue, []).append(counts)
                if age < RECENT_MINUTES:
                    recent.setdefault(queue, []).append(counts)
        return {
            queue: self._traffic(total(recent.get(queue, ())), total(parts))
            for queue, parts in long.items()
        }

    def _traffic(self, recent: QueueTraffic, long: QueueTraffic) -> Traffic:
        # the recent window: its full minutes and the current minute so far
        seconds = (RECENT_MINUTES - 1) * 60 + self.now.timestamp() % 60
        return Traffic(recent=recent, recent_seconds=seconds, long=long)

    def names(self, lines: dict[str, WaitingLine]) -> list[str]:
        """The configured queues, and any other queue a call waits in or had traffic in
        in the last hour."""
        busy = {key for minute in self.minutes for key in minute if not is_channel_key(key)}
        text = {t.queue for t in self.tickets if t.channel in TEXT_CHANNELS}
        return sorted(set(self.rules.queues) | set(lines) | busy | text)

    def all_outlooks(self) -> list[QueueOutlookView]:
        """The outlook of every queue `names` finds."""
        lines = waiting_lines(self.tickets, self.now)
        return self.outlooks(self.names(lines), lines)

    def outlook_of(self, name: str) -> QueueOutlookView | None:
        """The outlook of queue `name` (None: `names` does not find it)."""
        lines = waiting_lines(self.tickets, self.now)
        return self.outlooks([name], lines)[0] if name in self.names(lines) else None

    def outlooks(self, names: list[str], lines: dict[str, WaitingLine]) -> list[QueueOutlookView]:
        """The outlook of each of `names`, in one pass over the agents."""
        traffic = self.traffic()
        quiet = self._traffic(_NO_TRAFFIC, _NO_TRAFFIC)
        configs = {name: self.rules.queue(name) for name in names}
        handles = {name: HandleTimes.of(traffic.get(name, quiet).long) for name in names}
        members = available_members(self.agents, configs)
        loads = text_loads({a.id: a for serving in members.values() for a in serving}.values())
        serving = staffing_by_queue(members, handles, self.now)
        hour = {key: t.long for key, t in traffic.items() if is_channel_key(key)}
        places = text_places(self.tickets)
        return [
            outlook_of(
                configs[name],
                lines.get(name, WaitingLine()),
                serving[name],
                traffic.get(name, quiet),
                self.now,
                channel_views(
                    configs[name], places, [loads[a.id] for a in members[name]], hour, self.now
                ),
            )
            for name in names
        ]


class QueueOutlook:
    def __init__(
        self,
        calls: CallRepository,
        agents: AgentRepository,
        activity: QueueActivityRepository,
        *,
        rules: RulesSource,
        clock: Clock,
        hold_reading_seconds: float = HOLD_READING_SECONDS,
    ) -> None:
        self._calls = calls
        self._agents = agents
        self._activity = activity
        self._rules = rules
        self._clock = clock
        self._hold_reading_seconds = hold_reading_seconds
        self._held: tuple[float, _Answers] | None = None  # (monotonic start, answers)
        self._reading: asyncio.Future[_Answers] | None = None  # the shared read under way

    async def _read(
        self, now: datetime, waiting: Awaitable[list[Ticket]], queue: str | None = None
    ) -> _Reading:
        """A reading at `now` of the waiting tasks `waiting` reads (every one, one queue's
        or none), the agents (every one, or only those who may serve `queue`) and the last
        hour of traffic (every queue's, or only `queue`'s), all at once."""
        agents = self._agents.all() if queue is None else self._staff_of(queue)
        tickets, staff, minutes = await asyncio.gather(
            waiting, agents, self._activity.minutes(now, LONG_MINUTES)
        )
        if queue is not None:  # every queue's hour of traffic is a pass longer than the rest
            minutes = _traffic_of(queue, minutes)
        return _Reading(
            now=now, rules=self._rules.current, tickets=tickets, agents=staff, minutes=minutes
        )

    async def _staff_of(self, queue: str) -> list[Agent]:
        """The agents who may serve `queue`: those with the first skill it names (its
        staffing counts no one else: `queue_members.serves`), or every agent when it
        names none."""
        skills = self._rules.current.queue(queue).skills
        return await (self._agents.with_skill(skills[0]) if skills else self._agents.all())

    async def _shared_answers(self) -> _Answers:
        """Answers from a reading begun at most `hold_reading_seconds` ago; callers that ask
        while one is being read wait for that one."""
        held = self._held
        if held is not None and time.monotonic() - held[0] <= self._hold_reading_seconds:
            return held[1]
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read_and_keep())
            self._reading.add_done_callback(_retrieve)
        # shielded: a caller that gives up does not cancel the others' reading
        return await asyncio.shield(self._reading)

    async def _read_and_keep(self) -> _Answers:
        started = time.monotonic()
        reading = await self._read(self._clock.now(), self._calls.waiting())
        # sorting every waiting call into its line is pure work: off the event loop
        answers = await asyncio.to_thread(_Answers.shared, reading)
        self._held = (started, answers)
        return answers

    async def queues(self) -> list[QueueOutlookView]:
        """Every queue's outlook now, by name. Raises StorageUnavailable."""
        reading = await self._read(self._clock.now(), self._calls.waiting())
        # pure work over data nothing changes, in a worker thread: with hundreds of
        # queues and thousands of agents it takes a fraction of a second, and the event
        # loop keeps serving meanwhile (the interpreter switches threads every 5 ms)
        return await asyncio.to_thread(reading.all_outlooks)

    async def latest(self) -> list[QueueOutlookView]:
        """Every queue's outlook as the last outlook tick kept it (computed once for every
        instance, at most LATEST_MAX_AGE_SECONDS old), else computed now: what scrapes
        report. Raises StorageUnavailable."""
        stored = await self._activity.board()
        if stored is not None:
            age = (self._clock.now() - stored.at).total_seconds()
            if 0 <= age <= LATEST_MAX_AGE_SECONDS:
                return stored.queues
        return await self.queues()

    async def queue(self, name: str) -> QueueOutlookView:
        """One queue's outlook now. Raises NotFound for a queue that is not configured and
        had no call in the last hour, StorageUnavailable."""
        # only this queue's waiting tasks, read from its lines, and the agents who may
        # serve it: the reading answers for this queue alone
        reading = await self._read(self._clock.now(), self._calls.places.waiting_in(name), name)
        found = await asyncio.to_thread(reading.outlook_of, name)  # a pass over the agents
        if found is None:
            raise NotFound("queue", name)
        return found

    async def call_wait(self, call: Call) -> float | None:
        """Seconds `call` should still wait, by its place in line; None unless it is queued
        (or when it cannot be told). Raises StorageUnavailable."""
        if call.state is not CallState.QUEUED:
            return None
        # the calls ahead counted from the queue's lines, not from every waiting task; the
        # staffing is a pass over the agents: off the event loop, as `queues`
        now = self._clock.now()
        ticket = ticket_of(call)
        # no tickets read, and only the agents who may serve the call's queue: this
        # reading answers for this call only (its staffing and traffic); it is not one to
        # work out queue outlooks from
        ahead, reading = await asyncio.gather(
            self._calls.places.calls_ahead(ticket, now),
            self._read(now, _none_waiting(), call.queue),
        )
        return await asyncio.to_thread(_Answers.counted(reading, ahead).wait_of, call)

    async def held_call_wait(self, call: Call) -> float | None:
        """`call_wait` for a caller on hold, from a reading shared with the other callers
        on hold (`HOLD_READING_SECONDS`). Raises StorageUnavailable."""
        if call.state is not CallState.QUEUED:
            return None
        return (await self._shared_answers()).wait_of(call)

    async def history(self, queues: list[str]) -> dict[str, list[OutlookPoint]]:
        """The stored minute points of the last hour of each of `queues` (oldest first)."""
        points = await self._activity.points(self._clock.now(), HISTORY_MINUTES)
        return {name: points.get(name, []) for name in queues}


class _Answers:
    """Waits of queued calls from one reading. The queues' traffic and each queue's
    staffing are worked out once per reading. The calls ahead are counted from the
    queue's lines (`counted`: one answer, exact), or by binary search in the calls sorted
    into their lines once (`shared`: the answers of every caller on hold, who wait in many
    queues: every configured queue's available members are found at once, in one pass
    over the agents, not one pass per queue asked about)."""

    def __init__(
        self,
        reading: _Reading,
        ahead: Callable[[Ticket], int],
        members: Mapping[str, list[Agent]] | None = None,
    ) -> None:
        self._reading = reading
        self._ahead = ahead
        self._members = members or {}
        self._traffic = reading.traffic()
        self._serving: dict[str, tuple[HandleTimes | None, Staffing]] = {}

    @classmethod
    def counted(cls, reading: _Reading, ahead: int) -> _Answers:
        return cls(reading, lambda _: ahead)

    @classmethod
    def shared(cls, reading: _Reading) -> _Answers:
        members = available_members(reading.agents, reading.rules.queues)
        return cls(reading, PlacesInLine(reading.tickets, reading.now).ahead, members)

    def wait_of(self, call: Call) -> float | None:
        ticket, now = ticket_of(call), self._reading.now
        handle, serving = self._serving_of(call.queue)
        held = ticket.not_before
        held_for = max(0.0, (held - now).total_seconds()) if held is not None else 0.0
        return wait_of(self._ahead(ticket), serving, handle, held_for)

    def _serving_of(self, queue: str) -> tuple[HandleTimes | None, Staffing]:
        found = self._serving.get(queue)
        if found is None:
            reading, counted = self._reading, self._traffic.get(queue)
            handle = HandleTimes.of(counted.long) if counted is not None else None
            config = reading.rules.queue(queue)
            # the queue's members when known (an unconfigured queue's: among every agent)
            agents = self._members.get(queue, reading.agents)
            found = self._serving[queue] = (handle, staffing(agents, config, handle, reading.now))
        return found


def _traffic_of(
    queue: str, minutes: list[dict[str, QueueTraffic]]
) -> list[dict[str, QueueTraffic]]:
    """`queue`'s traffic alone (its callers' and its text channels') in each minute."""
    wanted = traffic_keys(queue)
    return [{key: minute[key] for key in wanted if key in minute} for minute in minutes]


async def _none_waiting() -> list[Ticket]:
    return []


def _retrieve(reading: asyncio.Future[_Answers]) -> None:
    """Mark a shared reading's failure as seen (its callers may all have gone)."""
    if not reading.cancelled():
        reading.exception()
