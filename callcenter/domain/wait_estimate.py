"""How long a waiting call will wait, from live state: the agents serving its queue, how far
each busy one is through its call, the queue's recent mean handle time, and the call's
place in line.

The model, kept simple enough to explain on a wallboard:
- the agents serving a queue are those with the queue's skills who are `available`
  (busy or not); each is free again after its *remaining* time: 0 when idle (or the rest
  of a missed-offer back-off), the mean handle time H when an offer is ringing, the rest
  of the mean talk time T plus the mean wrap-up (H - T) when on a call (at least a quarter
  of T once the call runs over), the rest of the mean wrap-up when in wrap-up; never more
  than H;
- the call with k calls ahead of it starts when the (k+1)-th agent frees up: the agents
  free up in order of their remaining time r₁ ≤ … ≤ r_N, and each then takes H per call,
  so the wait is r_(k mod N + 1) + ⌊k / N⌋ · H (about (k+1)·H/N when the agents are
  spread evenly through their calls);
- 0 when an agent is free and nobody is ahead; unknown (None) when no agent is staffed,
  or when busy agents are needed and no call was handled recently (H unknown).
Calls ahead are the queue's waiting calls at a higher priority, or at the same priority
and waiting longer (routing's order), leaving out callbacks held back until later."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import TEXT_CHANNELS, Channel
from callcenter.domain.queue_members import serves
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.domain.routing import Ticket, Urgency, urgency
from callcenter.domain.routing_rules import QueueConfig

# A call that runs over the mean talk time is expected to end within this share of it.
OVERDUE_SHARE = 0.25
UNKNOWN = math.inf  # the remaining time of a busy agent when no handle time is known


@dataclass(frozen=True, slots=True)
class HandleTimes:
    """A queue's recent means: handle (talk + wrap-up) and talk."""

    handle_seconds: float
    talk_seconds: float

    @property
    def wrap_up_seconds(self) -> float:
        return max(0.0, self.handle_seconds - self.talk_seconds)

    @classmethod
    def of(cls, traffic: QueueTraffic) -> HandleTimes | None:
        """The means of the calls `traffic` handled (None: it handled none)."""
        handle, talk = traffic.mean_handle_seconds, traffic.mean_talk_seconds
        if handle is None or talk is None:
            return None
        return cls(handle_seconds=handle, talk_seconds=min(talk, handle))


def remaining_seconds(agent: Agent, handle: HandleTimes | None, now: datetime) -> float | None:
    """Seconds until `agent` is free for a next call; None when it is not serving (away,
    on a break, offline), UNKNOWN when it is busy and no handle time is known."""
    if agent.presence is not Presence.AVAILABLE:
        return None
    return _left(agent.activity, _seconds_in(agent, now), handle)


def _seconds_in(agent: Agent, now: datetime) -> float:
    """Seconds in the current activity; for an idle agent, the back-off still to run."""
    if agent.activity is Activity.IDLE:
        blocked = agent.blocked_until
        return max(0.0, (blocked - now).total_seconds()) if blocked is not None else 0.0
    return max(0.0, (now - agent.activity_since).total_seconds())


def _left(activity: Activity, seconds: float, handle: HandleTimes | None) -> float:
    if activity is Activity.IDLE:
        return min(seconds, handle.handle_seconds) if handle is not None else seconds
    if handle is None:
        return UNKNOWN
    if activity is Activity.RESERVED:
        left = handle.handle_seconds
    elif activity is Activity.ON_CALL:
        talk = handle.talk_seconds
        left = max(talk - seconds, OVERDUE_SHARE * talk) + handle.wrap_up_seconds
    else:  # wrap-up
        left = max(0.0, handle.wrap_up_seconds - seconds)
    return min(left, handle.handle_seconds)


@dataclass(frozen=True, slots=True)
class Staffing:
    """The agents serving one queue now: each one's remaining time, in ascending order,
    and how many are ready (available and idle)."""

    remaining: tuple[float, ...]
    ready: int

    @property
    def staffed(self) -> int:
        return len(self.remaining)


def staffing(
    agents: Iterable[Agent], queue: QueueConfig, handle: HandleTimes | None, now: datetime
) -> Staffing:
    """Who serves `queue` (its skills, presence available) and when each is free."""
    members = [a for a in agents if a.presence is Presence.AVAILABLE and serves(a, queue)]
    return _staffing_of(members, handle, now)


def _staffing_of(members: Sequence[Agent], handle: HandleTimes | None, now: datetime) -> Staffing:
    """The staffing of a queue whose available members are `members`."""
    times = sorted(t for a in members if (t := remaining_seconds(a, handle, now)) is not None)
    return Staffing(remaining=tuple(times), ready=sum(a.eligible for a in members))


def staffing_by_queue(
    members: Mapping[str, Sequence[Agent]],
    handles: Mapping[str, HandleTimes | None],
    now: datetime,
) -> dict[str, Staffing]:
    """`staffing` of every queue, from its available members (`available_members`)."""
    return {name: _staffing_of(agents, handles.get(name), now) for name, agents in members.items()}


def available_members(
    agents: Iterable[Agent], queues: Mapping[str, QueueConfig]
) -> dict[str, list[Agent]]:
    """The available agents serving each of `queues`, in one pass over the agents: each
    is matched only against the queues that name one of its skills first (and those that
    name none), so the cost is the agents times the few queues each serves, not the agents
    times the queues."""
    index = _QueueIndex(queues)
    members: dict[str, list[Agent]] = {name: [] for name in queues}
    for agent in agents:
        if agent.presence is Presence.AVAILABLE:
            for queue in index.served_by(agent):
                members[queue].append(agent)
    return members


class _QueueIndex:
    """Queues by the first skill they name (and those naming none, served by anyone)."""

    def __init__(self, queues: Mapping[str, QueueConfig]) -> None:
        self.anyone = [name for name, queue in queues.items() if not queue.skills]
        self.by_first_skill: dict[str, list[QueueConfig]] = {}
        for queue in queues.values():
            if queue.skills:
                self.by_first_skill.setdefault(queue.skills[0], []).append(queue)

    def served_by(self, agent: Agent) -> list[str]:
        """The names of the queues whose skills `agent` has."""
        served = list(self.anyone)
        for skill in agent.skills:
            served.extend(q.name for q in self.by_first_skill.get(skill, ()) if serves(agent, q))
        return served


def wait_for_place(
    ahead: int, remaining: Sequence[float], mean_handle_seconds: float | None
) -> float | None:
    """The wait of a call with `ahead` calls before it, given the serving agents'
    remaining times in ascending order (each at most the mean handle time): the
    (ahead+1)-th time an agent frees up. None when it cannot be told (see the module).

    Raises ValueError for a negative `ahead`."""
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    if not remaining:
        return None
    rounds, index = divmod(ahead, len(remaining))
    first = remaining[index]
    if first == UNKNOWN:
        return None
    if rounds == 0:
        return first
    if mean_handle_seconds is None:
        return None
    # `first` is at most one handle time, so the cap changes nothing but a rounding error:
    # the next round's first place (at least the cap) is never told less than this one
    return min(first + rounds * mean_handle_seconds, (rounds + 1) * mean_handle_seconds)


def routable(ticket: Ticket, now: datetime) -> bool:
    """Not held back (a callback scheduled for later)."""
    return ticket.not_before is None or ticket.not_before <= now


def calls_ahead(ticket: Ticket, tickets: Iterable[Ticket], now: datetime) -> int:
    """How many of `tickets` come before `ticket` in its queue: same queue, routable now,
    ahead in routing's order (higher priority, then longer waiting)."""
    key = urgency(ticket)
    return sum(
        1
        for other in tickets
        if other.queue == ticket.queue
        and other.call_id != ticket.call_id
        and in_line(other, now)
        and urgency(other) < key
    )


def in_line(ticket: Ticket, now: datetime) -> bool:
    """Counted among the calls ahead: a call (not text: chats, SMS and emails wait for
    other capacity), routable now."""
    return ticket.channel not in TEXT_CHANNELS and routable(ticket, now)


class PlacesInLine:
    """Each queue's routable calls (not text) in routing order, sorted once, so that how
    many are ahead of a call is a binary search: `calls_ahead` is a pass over every
    ticket for each question."""

    def __init__(self, tickets: Iterable[Ticket], now: datetime) -> None:
        self._keys: dict[str, list[Urgency]] = {}
        self._own: dict[str, tuple[str, Urgency]] = {}  # by call id
        for ticket in tickets:
            if in_line(ticket, now):
                key = urgency(ticket)
                self._keys.setdefault(ticket.queue, []).append(key)
                self._own[ticket.call_id] = (ticket.queue, key)
        for keys in self._keys.values():
            keys.sort()

    def ahead(self, ticket: Ticket) -> int:
        """`calls_ahead(ticket, tickets, now)` for the tickets and time given: the call's
        own place as read does not count, even when it has moved since."""
        key = urgency(ticket)
        count = bisect_left(self._keys.get(ticket.queue, ()), key)
        own = self._own.get(ticket.call_id)
        if own is not None and own[0] == ticket.queue and own[1] < key:
            count -= 1
        return count


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingLine:
    """One queue's waiting tickets, counted: callers holding, callbacks (with the oldest
    one's request time) and the calls a new arrival would find ahead of it."""

    calls: int = 0
    callbacks: int = 0
    oldest_callback_at: datetime | None = None
    ahead_of_new_call: int = 0


def waiting_lines(tickets: Iterable[Ticket], now: datetime) -> dict[str, WaitingLine]:
    """Every queue's `WaitingLine`, in one pass over the tickets. A new arrival comes at
    priority 0: behind every routable call at priority 0 or higher."""
    counts: dict[str, list[int]] = {}
    oldest: dict[str, datetime] = {}
    for ticket in tickets:
        if ticket.channel in TEXT_CHANNELS:
            continue  # chats, SMS and emails wait for other capacity
        line = counts.setdefault(ticket.queue, [0, 0, 0])
        if ticket.channel is Channel.CALLBACK:
            line[1] += 1
            first = oldest.get(ticket.queue)
            if first is None or ticket.queued_at < first:
                oldest[ticket.queue] = ticket.queued_at
        else:
            line[0] += 1
        if ticket.priority >= 0 and routable(ticket, now):
            line[2] += 1
    return {
        queue: WaitingLine(
            calls=calls,
            callbacks=callbacks,
            oldest_callback_at=oldest.get(queue),
            ahead_of_new_call=ahead,
        )
        for queue, (calls, callbacks, ahead) in counts.items()
    }
