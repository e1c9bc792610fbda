"""When an event happened, as the server takes it. A gateway's `occurred_at` decides queue
order, waits and timers, so it is trusted only within a tolerance of the server's clock:
earlier times are raised to `now - tolerance`, later ones lowered to `now` (the reported
value is kept in the call's attributes). An event older than the replay window (the event
dedupe window) is refused: it can only be a replay the dedupe marker no longer catches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import msgspec

from callcenter.domain.events import CallEvent
from callcenter.errors import InvalidInput

REPORTED_ATTRIBUTE = "reported_occurred_at"  # the gateway's own time, when it was clamped
E = TypeVar("E", bound=CallEvent)


@dataclass(frozen=True, slots=True)
class EventClock:
    tolerance: timedelta = timedelta(seconds=300)
    replay_window: timedelta = timedelta(days=1)


def at_server_time(event: E, now: datetime, clock: EventClock) -> E:
    """`event` with `occurred_at` clamped to [now - tolerance, now] (unchanged when it is
    within, or absent). Raises InvalidInput at /occurred_at for an event older than the
    replay window."""
    reported = event.occurred_at
    if reported is None:
        return event
    if reported < now - clock.replay_window:
        raise InvalidInput(
            f"occurred_at is older than the {_span(clock.replay_window)} replay window: "
            "a late replay is refused",
            "/occurred_at",
        )
    at = min(now, max(reported, now - clock.tolerance))
    if at == reported:
        return event
    attributes = {**event.attributes, REPORTED_ATTRIBUTE: reported.isoformat()}
    return msgspec.structs.replace(event, occurred_at=at, attributes=attributes)


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"
