"""A sample call to evaluate conditions against when rules are checked."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain.calls import Call, CallState


def probe_call() -> Call:
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    return Call(
        id="probe",
        gateway_call_id="probe",
        state=CallState.QUEUED,
        queue="probe",
        created_at=at,
        updated_at=at,
        last_event_at=at,
        from_="+15550000000",
        to="+15550000001",
    )
