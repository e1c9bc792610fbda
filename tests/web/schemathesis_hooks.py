"""Schemathesis hooks for test_schemathesis.py (the CLI loads this file by path).

One constraint of POST /v1/events is relative to the server's clock, which JSON Schema
cannot state: an `occurred_at` older than the dedupe window is refused as a replay (the
document says so in words). Generated times that old are moved to now before sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

EVENTS_PATH = "/v1/events"
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
    if case.operation.path != EVENTS_PATH:
        return
    now = datetime.now(UTC)
    body = case.body
    for event in body if isinstance(body, list) else [body]:
        if isinstance(event, dict) and _too_old(event.get("occurred_at"), now):
            event["occurred_at"] = now.isoformat()
