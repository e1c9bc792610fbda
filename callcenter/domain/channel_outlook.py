"""A queue's text channels now, for the wallboard: per channel, the tasks waiting and the
oldest one's wait, the mean first response over the last hour, and the capacity the
queue's available agents hold against what they may hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from callcenter.domain import capacity
from callcenter.domain.agents import Agent, Presence
from callcenter.domain.messages import TEXT_CHANNELS
from callcenter.domain.queue_traffic import CHANNEL_SEPARATOR, QueueTraffic
from callcenter.domain.routing import Ticket, serves
from callcenter.domain.routing_rules import QueueConfig


class ChannelView(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    waiting: int  # queued (offers not accepted yet are the agents' `held`)
    oldest_wait_seconds: float | None
    first_response_seconds: float | None  # mean over the last hour (None: no reply yet)
    held: int  # tasks of the channel the queue's available agents hold
    capacity: int  # what those agents may hold at once (their own limits, the queue's cap)


def channel_views(
    queue: QueueConfig,
    tickets: Iterable[Ticket],
    agents: Sequence[Agent],
    traffic: dict[str, QueueTraffic],
    now: datetime,
) -> list[ChannelView]:
    """The text channels that have anything to show in `queue` (a task waiting, an agent
    who may take one, or replies in the last hour), in channel order. `traffic` is the
    last hour's traffic by traffic key (`queue/channel`)."""
    waiting: dict[str, list[datetime]] = {}
    for ticket in tickets:
        if ticket.queue == queue.name and ticket.channel in TEXT_CHANNELS:
            waiting.setdefault(ticket.channel, []).append(ticket.queued_at)
    members = [a for a in agents if a.presence is Presence.AVAILABLE and serves(a, queue)]
    views = []
    for channel in sorted(TEXT_CHANNELS):
        places = waiting.get(channel, [])
        held = sum(capacity.held(a, channel) for a in members)
        room = sum(capacity.limit(a, channel, queue.capacity) for a in members)
        counted = traffic.get(f"{queue.name}{CHANNEL_SEPARATOR}{channel}")
        if not places and not room and counted is None:
            continue
        views.append(
            ChannelView(
                channel=str(channel),
                waiting=len(places),
                oldest_wait_seconds=(
                    max(0.0, (now - min(places)).total_seconds()) if places else None
                ),
                first_response_seconds=counted.mean_first_response_seconds if counted else None,
                held=held,
                capacity=room,
            )
        )
    return views


def is_channel_key(key: str) -> bool:
    """A traffic key of a queue's text channel (not a queue name)."""
    return CHANNEL_SEPARATOR in key
