"""ARI events (recorded shapes, tests/fixtures/asterisk/ari_events/) decoded and mapped
onto canonical events: the caller's channel is the call, the agent's leg names its call
and agent, causes become end reasons, and a bad frame is a clear error naming its field."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from callcenter.domain.events import EndReason
from callcenter.errors import InvalidInput
from callcenter.gateways.asterisk.ari_events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    Ignored,
    StasisEnd,
    StasisStart,
    agent_failed,
    agent_leg_id,
    agent_leg_of,
    call_created,
    call_dtmf,
    call_ended,
    decode_event,
    end_reason,
)
from tests.conftest import FIXTURES

EVENTS = FIXTURES / "asterisk" / "ari_events"


def recorded(name: str) -> bytes:
    return (EVENTS / f"{name}.json").read_bytes()


def test_an_inbound_caller_is_a_new_call_with_its_variables() -> None:
    event = decode_event(recorded("stasis_start_inbound"))
    assert isinstance(event, StasisStart) and event.args == []
    created = call_created(event.channel, event.timestamp)
    assert created.call_id == event.channel.id
    assert created.event_id == f"asterisk:{event.channel.id}:created"
    assert (created.from_, created.to) == ("+15551230000", "+15559870000")
    assert created.queue == "billing"  # CC_QUEUE
    assert created.attributes["asterisk_context"] == "from-trunk"
    assert isinstance(created.occurred_at, datetime) and created.occurred_at.tzinfo is not None


def test_the_agent_leg_names_its_call_and_agent() -> None:
    event = decode_event(recorded("stasis_start_agent_leg"))
    assert isinstance(event, StasisStart)
    assert event.args[0] == "agent" and event.args[2] == "ann"
    leg = agent_leg_id("1733400000.17", "ann.smith@x", "0a1b2c3d")
    assert agent_leg_of(leg) == ("1733400000.17", "ann.smith@x")
    assert agent_leg_of("1733400000.17") is None
    assert agent_leg_of("cc-agent:broken") is None


def test_dtmf_and_the_end() -> None:
    dtmf = decode_event(recorded("channel_dtmf_received"))
    assert isinstance(dtmf, ChannelDtmfReceived)
    assert call_dtmf(dtmf).digits == "1"
    assert isinstance(decode_event(recorded("stasis_end")), StasisEnd)
    for name, reason in (
        ("channel_destroyed_normal", EndReason.NORMAL),
        ("channel_destroyed_busy", EndReason.BUSY),
        ("channel_destroyed_no_answer", EndReason.NO_ANSWER),
    ):
        destroyed = decode_event(recorded(name))
        assert isinstance(destroyed, ChannelDestroyed)
        ended = call_ended(destroyed.channel.id, destroyed.cause, destroyed.timestamp)
        assert ended.end_reason is reason, name
        assert ended.event_id == f"asterisk:{destroyed.channel.id}:ended"


def test_causes_and_a_failed_leg() -> None:
    assert end_reason(16) is EndReason.NORMAL and end_reason(34) is EndReason.FAILED
    failed = agent_failed("c1", "ann", "cc-agent:c1:ann:1", 16, None)
    assert failed.end_reason is EndReason.FAILED  # a leg that never talked did not end normally
    assert agent_failed("c1", "ann", "leg", 17, None).end_reason is EndReason.BUSY


def test_kinds_call_control_does_not_use_are_ignored() -> None:
    assert decode_event(recorded("channel_state_change_up")) == Ignored(type="ChannelStateChange")


def _with(name: str, **changes: Any) -> str:
    document = json.loads(recorded(name))
    document.update(changes)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("frame", "pointer"),
    [
        ("not json", ""),
        ('{"no": "type"}', "/type"),
        (_with("channel_dtmf_received", digit="12"), "/digit"),
        (_with("stasis_start_inbound", channel={"name": "no id"}), "/channel/id"),
    ],
)
def test_a_bad_frame_names_the_field(frame: str, pointer: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_event(frame)
    assert refused.value.pointer == pointer


def test_a_queue_a_canonical_event_cannot_carry_is_refused() -> None:
    event = decode_event(
        _with(
            "stasis_start_inbound",
            channel={
                **json.loads(recorded("stasis_start_inbound"))["channel"],
                "channelvars": {"CC_QUEUE": "no spaces allowed"},
            },
        )
    )
    assert isinstance(event, StasisStart)
    with pytest.raises(InvalidInput) as refused:
        call_created(event.channel, event.timestamp)
    assert refused.value.pointer == "/queue"
