"""Schemathesis hooks for test_schemathesis.py (the CLI loads this file by path).

Two constraints are relative to the server's clock, which JSON Schema cannot state (the
document says so in words): an event's `occurred_at` older than the dedupe window is
refused as a replay, and a callback's `not_before` must lie within the next 30 days.
Generated times outside those windows are moved inside before sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

EVENTS_PATH = "/v1/events"
CALLBACKS_PATH = "/v1/callbacks"
SCHEDULE_AHEAD = timedelta(days=29)
# inside the server's 24 h window, with room for a slow run
OLDEST = timedelta(hours=23)


def _too_old(value: object, now: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False  # not a time Python reads: let the server judge it
    return when.tzinfo is not None and when < now - OLDEST


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext, case: schemathesis.Case[Any], kwargs: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    if case.operation.path == CALLBACKS_PATH:
        _schedule_within_window(case.body, now)
    if case.operation.path != EVENTS_PATH:
        return
    body = case.body
    for event in body if isinstance(body, list) else [body]:
        if isinstance(event, dict) and _too_old(event.get("occurred_at"), now):
            event["occurred_at"] = now.isoformat()


def _schedule_within_window(body: object, now: datetime) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("not_before"), str):
        return
    try:
        when = datetime.fromisoformat(body["not_before"])
    except ValueError:
        return  # not a time Python reads: let the server judge it
    if when.tzinfo is not None and not now < when < now + SCHEDULE_AHEAD:
        body["not_before"] = (now + timedelta(hours=1)).isoformat()
