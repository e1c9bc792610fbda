"""A queue's outlook now: who is waiting, how long a new caller would wait, and how many
agents the queue needs against how many it has (`wait_estimate.py` and `staffing.py`
say how each figure is made), plus the minute point the wallboard's charts keep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from callcenter.domain.channel_outlook import ChannelView
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.domain.routing_rules import QueueConfig
from callcenter.domain.staffing import agents_needed
from callcenter.domain.wait_estimate import HandleTimes, Staffing, WaitingLine, wait_for_place


class QueueOutlookView(msgspec.Struct, frozen=True, kw_only=True):
    """One queue now. Rates and the service level are over the recent window, handle
    times over the long one (see the README: "Estimated wait", "Live staffing")."""

    name: str
    calls_waiting: int  # callers holding in the queue (offers ringing not included)
    callbacks_waiting: int
    oldest_callback_wait_seconds: float | None  # since its place in line
    estimated_wait_seconds: float | None  # for a caller arriving now (None: unknown)
    arrivals_per_minute: float
    mean_handle_seconds: float | None  # talk + wrap-up
    service_level: float | None  # answered within the threshold, of answered + abandoned
    service_level_seconds: float
    service_level_target: float
    agents_staffed: int  # available, with the queue's skills, busy or not
    agents_ready: int  # of those, idle now
    agents_needed: int | None  # Erlang C, to meet the target (None: unknown or over cap)
    staffing_gap: int | None  # needed - staffed: above 0 the queue is short
    channels: list[ChannelView] = msgspec.field(default_factory=list)  # chat, sms, email


class OutlookPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One minute of a queue's history, as the wallboard charts it."""

    minute: datetime  # the start of the minute (UTC)
    waiting: int
    service_level: float | None
    needed: int | None
    staffed: int
    gap: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """A queue's traffic over the recent window (`recent_seconds` long) and a longer one."""

    recent: QueueTraffic
    recent_seconds: float
    long: QueueTraffic


def outlook_of(
    queue: QueueConfig,
    line: WaitingLine,
    serving: Staffing,
    traffic: Traffic,
    now: datetime,
    channels: list[ChannelView] | None = None,
) -> QueueOutlookView:
    """The queue's figures from its waiting line, its agents (`staffing` at the handle
    times of `traffic.long`) and its traffic."""
    handle = HandleTimes.of(traffic.long)
    rate = traffic.recent.arrived / traffic.recent_seconds if traffic.recent_seconds > 0 else 0.0
    mean_handle = handle.handle_seconds if handle is not None else None
    needed = needed_now(queue, rate, mean_handle)
    oldest = line.oldest_callback_at
    return QueueOutlookView(
        name=queue.name,
        calls_waiting=line.calls,
        callbacks_waiting=line.callbacks,
        oldest_callback_wait_seconds=(
            max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
        ),
        estimated_wait_seconds=wait_for_place(
            line.ahead_of_new_call, serving.remaining, mean_handle
        ),
        arrivals_per_minute=rate * 60,
        mean_handle_seconds=mean_handle,
        service_level=traffic.recent.service_level,
        service_level_seconds=queue.service_level_seconds,
        service_level_target=queue.service_level_target,
        agents_staffed=serving.staffed,
        agents_ready=serving.ready,
        agents_needed=needed,
        staffing_gap=needed - serving.staffed if needed is not None else None,
        channels=channels or [],
    )


def needed_now(queue: QueueConfig, arrival_rate: float, mean_handle: float | None) -> int | None:
    """Erlang C's agents for the queue's target (0 without arrivals; None when the handle
    time is unknown while calls arrive)."""
    if arrival_rate <= 0:
        return 0
    if mean_handle is None or mean_handle <= 0:
        return None
    return agents_needed(
        arrival_rate, mean_handle, queue.service_level_seconds, queue.service_level_target
    )


def wait_of(
    ahead: int, serving: Staffing, handle: HandleTimes | None, held_for: float = 0.0
) -> float | None:
    """A waiting call's estimate by its place (`ahead` calls before it); a callback held
    back for `held_for` more seconds waits at least that long."""
    wait = wait_for_place(
        ahead, serving.remaining, handle.handle_seconds if handle is not None else None
    )
    return max(wait, held_for) if wait is not None else None


def point_of(view: QueueOutlookView, minute: datetime) -> OutlookPoint:
    return OutlookPoint(
        minute=minute,
        waiting=view.calls_waiting,
        service_level=view.service_level,
        needed=view.agents_needed,
        staffed=view.agents_staffed,
        gap=view.staffing_gap,
    )
