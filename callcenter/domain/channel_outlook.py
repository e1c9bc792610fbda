"""A queue's text channels now, for the wallboard: per channel, the tasks waiting and the
oldest one's wait, the mean first response over the last hour, and the capacity the
queue's available agents hold against what they may hold."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import msgspec

from callcenter.domain import capacity
from callcenter.domain.agents import Agent
from callcenter.domain.messages import TEXT_CHANNELS, Channel
from callcenter.domain.queue_traffic import CHANNEL_SEPARATOR, QueueTraffic
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_rules import QueueConfig


class ChannelView(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    waiting: int  # queued (offers not accepted yet are the agents' `held`)
    oldest_wait_seconds: float | None
    first_response_seconds: float | None  # mean over the last hour (None: no reply yet)
    held: int  # tasks of the channel the queue's available agents hold
    capacity: int  # what those agents may hold at once (their own limits, the queue's cap)


def text_places(tickets: Iterable[Ticket]) -> dict[tuple[str, str], list[datetime]]:
    """The places in line of the waiting text tasks, by (queue, channel), in one pass."""
    places: dict[tuple[str, str], list[datetime]] = {}
    for ticket in tickets:
        if ticket.channel in TEXT_CHANNELS:
            places.setdefault((ticket.queue, ticket.channel), []).append(ticket.queued_at)
    return places


TEXT_ORDER = tuple(Channel(channel) for channel in sorted(TEXT_CHANNELS))
# an agent's (tasks held, own limit) on each channel of TEXT_ORDER
TextLoad = tuple[tuple[int, int], ...]


def text_loads(agents: Iterable[Agent]) -> dict[str, TextLoad]:
    """Each agent's `TextLoad`, by id: worked out once per outlook, as an agent serves
    several queues."""
    return {
        agent.id: tuple(
            (capacity.held(agent, channel), capacity.own_capacity(agent, channel))
            for channel in TEXT_ORDER
        )
        for agent in agents
    }


def channel_views(
    queue: QueueConfig,
    places: Mapping[tuple[str, str], list[datetime]],
    members: Sequence[TextLoad],
    traffic: Mapping[str, QueueTraffic],
    now: datetime,
) -> list[ChannelView]:
    """The text channels that have anything to show in `queue` (a task waiting, an agent
    who may take one, or replies in the last hour), in channel order. `places` are from
    `text_places`; `members` the loads of the queue's available agents (`text_loads` of
    `available_members`); `traffic` is the last hour's by traffic key (`queue/channel`)."""
    views = []
    for index, channel in enumerate(TEXT_ORDER):
        counted = traffic.get(f"{queue.name}{CHANNEL_SEPARATOR}{channel}")
        waiting = places.get((queue.name, channel), [])
        view = _view(queue, index, waiting, members, counted, now)
        if view.waiting or view.capacity or counted is not None:
            views.append(view)
    return views


def _view(
    queue: QueueConfig,
    index: int,
    places: list[datetime],
    members: Sequence[TextLoad],
    counted: QueueTraffic | None,
    now: datetime,
) -> ChannelView:
    channel = TEXT_ORDER[index]
    return ChannelView(
        channel=str(channel),
        waiting=len(places),
        oldest_wait_seconds=max(0.0, (now - min(places)).total_seconds()) if places else None,
        first_response_seconds=counted.mean_first_response_seconds if counted else None,
        held=sum(load[index][0] for load in members),
        capacity=sum(capacity.capped(load[index][1], channel, queue.capacity) for load in members),
    )


def is_channel_key(key: str) -> bool:
    """A traffic key of a queue's text channel (not a queue name)."""
    return CHANNEL_SEPARATOR in key
