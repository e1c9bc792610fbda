"""A queue's traffic over a stretch of time: calls that arrived, were answered (and how many
within the service-level threshold), abandoned, and handled (with their talk and handle
times: handle = talk + wrap-up). What one committed call change adds to it is
`traffic_of`; the live figures (arrival rate, mean handle time, recent service level) are
read from the sums."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.messages import TEXT_CHANNELS

CHANNEL_SEPARATOR = "/"  # queue names never hold it

_WAITING = frozenset({CallState.QUEUED, CallState.OFFERED})


class QueueTraffic(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Counts and sums only: never in a reference cycle, so the garbage collector need not
    track it (an outlook reads an hour of it for every queue: 30,000 at 500 queues)."""

    arrived: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    handled: int = 0
    handle_seconds: float = 0.0  # answer to the end of wrap-up, summed over `handled`
    talk_seconds: float = 0.0  # answer to hang-up, summed over `handled`
    # text tasks: the customer's first message to the agent's first reply
    first_responses: int = 0
    first_response_seconds: float = 0.0

    def plus(self, other: QueueTraffic) -> QueueTraffic:
        return total((self, other))

    @property
    def empty(self) -> bool:
        return self == _NONE

    @property
    def mean_handle_seconds(self) -> float | None:
        return self.handle_seconds / self.handled if self.handled else None

    @property
    def mean_talk_seconds(self) -> float | None:
        return self.talk_seconds / self.handled if self.handled else None

    @property
    def mean_first_response_seconds(self) -> float | None:
        return self.first_response_seconds / self.first_responses if self.first_responses else None

    @property
    def service_level(self) -> float | None:
        """Answered within the threshold, of the calls that left the queue answered or
        abandoned (None: none did)."""
        offered = self.answered + self.abandoned
        return self.answered_in_sl / offered if offered else None


_NONE = QueueTraffic()


def total(parts: Iterable[QueueTraffic]) -> QueueTraffic:
    """The sum of `parts` (one object made, however many parts)."""
    arrived = answered = answered_in_sl = abandoned = handled = responses = 0
    handle = talk = response = 0.0
    for part in parts:
        responses += part.first_responses
        response += part.first_response_seconds
        arrived += part.arrived
        answered += part.answered
        answered_in_sl += part.answered_in_sl
        abandoned += part.abandoned
        handled += part.handled
        handle += part.handle_seconds
        talk += part.talk_seconds
    return QueueTraffic(
        arrived=arrived,
        answered=answered,
        answered_in_sl=answered_in_sl,
        abandoned=abandoned,
        handled=handled,
        handle_seconds=handle,
        talk_seconds=talk,
        first_responses=responses,
        first_response_seconds=response,
    )


def _seconds(start: datetime | None, end: datetime | None) -> float:
    return max(0.0, (end - start).total_seconds()) if start and end else 0.0


def traffic_of(before: Call | None, after: Call, threshold_seconds: float) -> QueueTraffic:
    """What a committed change of a call (`before` → `after`) adds to its queue's traffic:
    - arrived: it joined the queue (from outside the queue, or moved from another queue);
    - answered: it was answered (and within `threshold_seconds` of its place in line);
    - abandoned: it ended abandoned;
    - handled: it ended handled: talk is answer → hang-up, handle is answer → the end of
      wrap-up (the change that ends the call)."""
    answered = after.answered_at is not None and (before is None or before.answered_at is None)
    wait = _seconds(after.queued_at or after.created_at, after.answered_at)
    ended = after.state is CallState.ENDED and (before is None or before.state is not after.state)
    handle, talk = _handled(after) if ended else (None, 0.0)
    responses, response_seconds = _first_response(before, after)
    return QueueTraffic(
        arrived=int(_arrived(before, after)),
        answered=int(answered),
        answered_in_sl=int(answered and wait <= threshold_seconds),
        abandoned=int(ended and after.outcome is Outcome.ABANDONED),
        handled=int(handle is not None),
        handle_seconds=handle or 0.0,
        talk_seconds=talk,
        first_responses=responses,
        first_response_seconds=response_seconds,
    )


def traffic_keys(queue: str) -> tuple[str, ...]:
    """Every key `queue`'s traffic is counted under (`traffic_key`): its callers', and each
    text channel's."""
    return (queue, *(f"{queue}{CHANNEL_SEPARATOR}{channel}" for channel in sorted(TEXT_CHANNELS)))


def traffic_key(call: Call) -> str:
    """Where a call's traffic is counted: its queue; a text task's under its queue and
    channel (`support/chat`), apart from the queue's callers."""
    if call.channel in TEXT_CHANNELS:
        return f"{call.queue}{CHANNEL_SEPARATOR}{call.channel}"
    return call.queue


def _first_response(before: Call | None, after: Call) -> tuple[int, float]:
    """(1, seconds to the agent's first reply) if this change is that reply, else (0, 0)."""
    conversation = after.conversation
    if conversation is None or conversation.first_response_at is None:
        return 0, 0.0
    earlier = before.conversation if before is not None else None
    if earlier is not None and earlier.first_response_at is not None:
        return 0, 0.0
    start = conversation.first_customer_at or after.created_at
    return 1, _seconds(start, conversation.first_response_at)


def _arrived(before: Call | None, after: Call) -> bool:
    if after.state is not CallState.QUEUED:
        return False
    return before is None or before.state not in _WAITING or before.queue != after.queue


def _handled(ended: Call) -> tuple[float | None, float]:
    """(handle, talk) seconds of a call that just ended handled; (None, 0) otherwise."""
    if ended.outcome is not Outcome.HANDLED or ended.answered_at is None:
        return None, 0.0
    handle = _seconds(ended.answered_at, ended.updated_at)
    return handle, min(handle, _seconds(ended.answered_at, ended.ended_at))
