"""What one committed call change adds to its queue's traffic (the live figures behind the
estimated wait and the staffing), as a table, and the figures read from the sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.queue_traffic import QueueTraffic, traffic_of

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
THRESHOLD = 20.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def call(state: CallState, **fields: Any) -> Call:
    return Call(
        id="c1",
        gateway_call_id="c1",
        state=state,
        queue=fields.pop("queue", "billing"),
        created_at=T0,
        updated_at=fields.pop("updated_at", T0),
        last_event_at=T0,
        **fields,
    )


QUEUED = call(CallState.QUEUED, queued_at=at(0))
OFFERED = msgspec.structs.replace(QUEUED, state=CallState.OFFERED)
TALKING = call(CallState.CONNECTED, queued_at=at(0), answered_at=at(12), agent_id="a1")
WRAPPING = msgspec.structs.replace(
    TALKING, state=CallState.WRAP_UP, ended_at=at(192), outcome=Outcome.HANDLED
)
DONE = msgspec.structs.replace(WRAPPING, state=CallState.ENDED, updated_at=at(222))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, QUEUED, QueueTraffic(arrived=1)),
        (call(CallState.CREATED), QUEUED, QueueTraffic(arrived=1)),
        (OFFERED, QUEUED, QueueTraffic()),  # a rejected offer keeps its place
        (QUEUED, QUEUED, QueueTraffic()),  # a repeated commit
        (QUEUED, msgspec.structs.replace(QUEUED, queue="sales"), QueueTraffic(arrived=1)),
        (
            TALKING,
            msgspec.structs.replace(TALKING, state=CallState.QUEUED),
            QueueTraffic(arrived=1),
        ),
        (OFFERED, TALKING, QueueTraffic(answered=1, answered_in_sl=1)),  # after 12 s
        (
            OFFERED,
            msgspec.structs.replace(TALKING, answered_at=at(45)),
            QueueTraffic(answered=1),  # over the threshold
        ),
        (TALKING, WRAPPING, QueueTraffic()),  # hung up: the agent's work goes on
        (WRAPPING, DONE, QueueTraffic(handled=1, handle_seconds=210.0, talk_seconds=180.0)),
        (DONE, DONE, QueueTraffic()),  # ended already
        (
            QUEUED,
            msgspec.structs.replace(QUEUED, state=CallState.ENDED, outcome=Outcome.ABANDONED),
            QueueTraffic(abandoned=1),
        ),
        (
            QUEUED,
            msgspec.structs.replace(QUEUED, state=CallState.ENDED, outcome=Outcome.FAILED),
            QueueTraffic(),
        ),
    ],
)
def test_what_a_change_adds(before: Call | None, after: Call, expected: QueueTraffic) -> None:
    assert traffic_of(before, after, THRESHOLD) == expected


def test_a_call_handled_without_wrap_up_ends_from_connected() -> None:
    ended = msgspec.structs.replace(
        TALKING,
        state=CallState.ENDED,
        outcome=Outcome.HANDLED,
        ended_at=at(72),
        updated_at=at(72),
    )
    assert traffic_of(TALKING, ended, THRESHOLD) == QueueTraffic(
        handled=1, handle_seconds=60.0, talk_seconds=60.0
    )


def test_figures_from_the_sums() -> None:
    total = QueueTraffic(answered=3, answered_in_sl=2, abandoned=1).plus(
        QueueTraffic(handled=2, handle_seconds=400.0, talk_seconds=300.0, arrived=5)
    )
    assert total.service_level == 0.5
    assert (total.mean_handle_seconds, total.mean_talk_seconds) == (200.0, 150.0)
    assert total.arrived == 5 and not total.empty
    assert QueueTraffic().empty and QueueTraffic().service_level is None
    assert QueueTraffic().mean_handle_seconds is None
