"""Recorded-format Twilio webhooks, status callbacks and Media Streams messages, mapped."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    AnyCallEvent,
    CallAnswered,
    CallCreated,
    CallDtmf,
    CallEnded,
    CallEvent,
    CallRinging,
    EndReason,
    event_type,
)
from callcenter.errors import InvalidInput
from callcenter.gateways.twilio.events import gather_event, status_event
from callcenter.media.twilio_stream import (
    StreamConnected,
    StreamDtmf,
    StreamMark,
    StreamMedia,
    StreamStart,
    StreamStop,
    decode_stream_message,
    stream_dtmf_event,
)
from tests.conftest import FIXTURES

TWILIO = FIXTURES / "twilio"
CALL_SID = "CA5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e"
AGENT_LEG_SID = "CA9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"


def form(name: str) -> dict[str, str]:
    body = (TWILIO / f"{name}.form").read_text().strip()
    return dict(parse_qsl(body, keep_blank_values=True))


def stream_fixture(name: str) -> bytes:
    return (TWILIO / f"stream_{name}.json").read_bytes()


def round_trips(event: CallEvent) -> None:
    """The event satisfies the canonical schema (lengths, patterns) of POST /v1/events."""
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=AnyCallEvent)
    assert decoded == event


def test_the_voice_webhook_creates_the_call() -> None:
    event = status_event(form("voice_webhook"))
    assert isinstance(event, CallCreated)
    assert event.event_id == f"twilio:{CALL_SID}:ringing:voice"
    assert event.call_id == CALL_SID
    assert (event.from_, event.to) == ("+12125550199", "+14155550100")
    assert event.direction is Direction.INBOUND
    assert event.occurred_at is None  # the voice webhook carries no Timestamp
    assert event.attributes == {
        "caller_name": "DOE JANE",
        "from_country": "US",
        "from_state": "NY",
        "from_city": "NEW YORK",
    }
    round_trips(event)


@pytest.mark.parametrize(
    ("status", "kind", "end_reason"),
    [
        ("queued", "call.created", None),
        ("initiated", "call.created", None),
        ("ringing", "call.ringing", None),
        ("in-progress", "call.answered", None),
        ("completed", "call.ended", EndReason.NORMAL),
        ("busy", "call.ended", EndReason.BUSY),
        ("no-answer", "call.ended", EndReason.NO_ANSWER),
        ("canceled", "call.ended", EndReason.CANCELED),
        ("failed", "call.ended", EndReason.FAILED),
    ],
)
def test_status_callbacks_map_to_canonical_events(
    status: str, kind: str, end_reason: EndReason | None
) -> None:
    recorded = form(f"status_{status}")
    event = status_event(recorded)
    assert event is not None
    assert event_type(event) == kind
    assert event.call_id == CALL_SID
    assert event.event_id == f"twilio:{CALL_SID}:{status}:{recorded['SequenceNumber']}"
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None
    assert event.from_ == "+12125550199"
    if end_reason is not None:
        assert isinstance(event, CallEnded)
        assert event.end_reason is end_reason
        assert event.attributes["call_duration_seconds"] == int(recorded["CallDuration"])
    round_trips(event)


def test_timestamps_and_directions() -> None:
    event = status_event(form("status_completed"))
    assert event is not None
    assert event.occurred_at == datetime(2024, 3, 5, 17, 36, 2, tzinfo=UTC)
    assert event.direction is Direction.INBOUND
    outbound = status_event(form("status_initiated"))
    assert outbound is not None and outbound.direction is Direction.OUTBOUND
    zoned = status_event({**form("status_ringing"), "Timestamp": "Tue, 05 Mar 2024 12:33:11 -0500"})
    assert zoned is not None and zoned.occurred_at == datetime(2024, 3, 5, 17, 33, 11, tzinfo=UTC)
    assert zoned.occurred_at.utcoffset() == timedelta(0)
    unknown_zone = status_event(
        {**form("status_ringing"), "Timestamp": "5 Mar 2024 17:33:11 -0000"}
    )
    assert unknown_zone is not None
    assert unknown_zone.occurred_at == datetime(2024, 3, 5, 17, 33, 11, tzinfo=UTC)


def test_a_retried_callback_keeps_its_event_id_and_a_new_one_does_not() -> None:
    first = status_event(form("status_ringing"))
    retry = status_event(form("status_ringing"))
    later = status_event({**form("status_ringing"), "SequenceNumber": "2"})
    assert first is not None and retry is not None and later is not None
    assert first.event_id == retry.event_id != later.event_id
    # "01" and "1" are the same sequence number
    padded = status_event({**form("status_ringing"), "SequenceNumber": "01"})
    assert padded is not None and padded.event_id == first.event_id


def test_the_agent_leg_reports_on_the_callers_call() -> None:
    ringing = status_event(form("agent_leg_ringing"))
    answered = status_event(form("agent_leg_in-progress"))
    assert isinstance(ringing, CallRinging)
    assert isinstance(answered, CallAnswered)
    for event in (ringing, answered):
        assert event.call_id == CALL_SID
        assert event.attributes == {"agent_leg_sid": AGENT_LEG_SID}
        assert event.from_ is None and event.to is None  # the agent's device, not the caller
        assert event.event_id.startswith(f"twilio:{AGENT_LEG_SID}:")
        round_trips(event)
    assert answered.event_id != ringing.event_id
    # the agent hanging up or not answering does not end the caller's call
    assert status_event(form("agent_leg_no-answer")) is None
    assert status_event(form("agent_leg_completed")) is None


def test_gather_digits_become_dtmf() -> None:
    event = gather_event(form("gather_digits"), step="main-menu")
    assert isinstance(event, CallDtmf)
    assert event.digits == "2#"
    assert event.call_id == CALL_SID
    assert event.event_id == f"twilio:{CALL_SID}:dtmf:main-menu:2#"
    elsewhere = gather_event(form("gather_digits"), step="survey")
    assert elsewhere is not None and elsewhere.event_id != event.event_id
    round_trips(event)
    assert gather_event(form("gather_timeout")) is None


@pytest.mark.parametrize(
    ("fixture", "change", "pointer"),
    [
        ("status_completed", {"CallSid": ""}, "/CallSid"),
        ("status_completed", {"CallSid": "CA123"}, "/CallSid"),
        ("status_completed", {"CallSid": "XX5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e"}, "/CallSid"),
        ("status_completed", {"CallStatus": ""}, "/CallStatus"),
        ("status_completed", {"CallStatus": "answered"}, "/CallStatus"),
        ("status_completed", {"Timestamp": "yesterday"}, "/Timestamp"),
        ("status_completed", {"Timestamp": "2024-03-05T17:36:02Z"}, "/Timestamp"),
        ("status_completed", {"Timestamp": "Tue, 05 Mar 2024 25:00:00 +0000"}, "/Timestamp"),
        ("status_completed", {"Timestamp": "31 Dec 9999 23:59:59 -2359"}, "/Timestamp"),
        ("status_completed", {"SequenceNumber": "-1"}, "/SequenceNumber"),
        ("status_completed", {"SequenceNumber": "\u0661"}, "/SequenceNumber"),
        ("status_completed", {"CallDuration": "1.5"}, "/CallDuration"),
        ("status_completed", {"Direction": "sideways"}, "/Direction"),
        ("status_completed", {"From": "+1" * 200}, "/From"),
        ("status_completed", {"To": "x" * 257}, "/To"),
        ("agent_leg_ringing", {"ParentCallSid": "CAnothex"}, "/ParentCallSid"),
        ("agent_leg_ringing", {"CallStatus": "paused"}, "/CallStatus"),
    ],
)
def test_bad_status_callbacks_point_at_the_field(
    fixture: str, change: dict[str, str], pointer: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        status_event({**form(fixture), **change})
    assert caught.value.pointer == pointer


def test_a_missing_field_is_pointed_at() -> None:
    recorded = form("status_completed")
    del recorded["CallStatus"]
    with pytest.raises(InvalidInput) as caught:
        status_event(recorded)
    assert caught.value.pointer == "/CallStatus"


@pytest.mark.parametrize(
    ("change", "step", "pointer"),
    [
        ({"Digits": "12x"}, "menu", "/Digits"),
        ({"Digits": "1" * 65}, "menu", "/Digits"),
        ({"CallSid": "nope"}, "menu", "/CallSid"),
        ({}, "a/b", "/step"),
    ],
)
def test_bad_gathers_point_at_the_field(change: dict[str, str], step: str, pointer: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        gather_event({**form("gather_digits"), **change}, step=step)
    assert caught.value.pointer == pointer


# --- Media Streams ----------------------------------------------------------------------


def test_connected() -> None:
    message = decode_stream_message(stream_fixture("connected"))
    assert message == StreamConnected(protocol="Call", version="1.0.0")


def test_start() -> None:
    message = decode_stream_message(stream_fixture("start").decode())
    assert isinstance(message, StreamStart)
    assert message.sequence_number == 1
    assert message.stream_sid == message.start.stream_sid == STREAM_SID
    assert message.start.call_sid == CALL_SID
    assert message.start.tracks == ["inbound", "outbound"]
    assert message.start.custom_parameters == {"call_id": CALL_SID}
    media_format = message.start.media_format
    assert (media_format.encoding, media_format.sample_rate, media_format.channels) == (
        "audio/x-mulaw",
        8000,
        1,
    )


def test_media_payload_is_decoded_from_base64() -> None:
    raw = stream_fixture("media")
    message = decode_stream_message(raw)
    assert isinstance(message, StreamMedia)
    assert (message.sequence_number, message.media.chunk, message.media.timestamp) == (3, 2, 20)
    assert message.media.track == "inbound"
    assert message.media.payload == base64.b64decode(json.loads(raw)["media"]["payload"])
    assert len(message.media.payload) == 160  # 20 ms of 8 kHz mu-law


def test_dtmf_mark_stop() -> None:
    dtmf = decode_stream_message(stream_fixture("dtmf"))
    assert isinstance(dtmf, StreamDtmf)
    assert (dtmf.dtmf.track, dtmf.dtmf.digit, dtmf.sequence_number) == ("inbound_track", "1", 5)
    event = stream_dtmf_event(dtmf, CALL_SID)
    assert (event.call_id, event.digits) == (CALL_SID, "1")
    assert event.event_id == f"twilio:{STREAM_SID}:dtmf:5"
    round_trips(event)
    mark = decode_stream_message(stream_fixture("mark"))
    assert isinstance(mark, StreamMark) and mark.mark.name == "greeting-done"
    stop = decode_stream_message(stream_fixture("stop"))
    assert isinstance(stop, StreamStop)
    assert stop.stop.call_sid == CALL_SID and stop.sequence_number == 6


_DELETE = object()


def _edited(name: str, path: list[str], value: object) -> str:
    message = json.loads(stream_fixture(name))
    target = message
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(message)


@pytest.mark.parametrize(
    ("name", "path", "value", "pointer"),
    [
        ("media", ["media", "payload"], "not base64!", "/media/payload"),
        ("media", ["media", "track"], "sideways", "/media/track"),
        ("media", ["media", "chunk"], "two", "/media/chunk"),
        ("media", ["media", "timestamp"], "-5", "/media/timestamp"),
        ("media", ["sequenceNumber"], _DELETE, "/sequenceNumber"),
        ("start", ["start", "callSid"], _DELETE, "/start/callSid"),
        ("start", ["start", "callSid"], "CA../../x", "/start/callSid"),
        ("stop", ["streamSid"], "MZ1", "/streamSid"),
        ("start", ["start", "mediaFormat", "sampleRate"], "fast", "/start/mediaFormat/sampleRate"),
        ("start", ["start", "tracks"], ["inbound", 7], "/start/tracks/1"),
        ("dtmf", ["dtmf", "digit"], "12", "/dtmf/digit"),
        ("stop", ["stop"], [], "/stop"),
        ("mark", ["event"], "clear", "/event"),
        ("mark", ["event"], _DELETE, "/event"),
    ],
)
def test_bad_stream_messages_point_at_the_field(
    name: str, path: list[str], value: object, pointer: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_stream_message(_edited(name, path, value))
    assert caught.value.pointer == pointer


@pytest.mark.parametrize(
    "data",
    ["", "{", "[]", "null", '"start"', b"\xff\xfe", "\ud800", "{}", b"x" * 70_000],
)
def test_malformed_stream_messages(data: str | bytes) -> None:
    with pytest.raises(InvalidInput):
        decode_stream_message(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear"])


@given(data=st.text(st.characters(exclude_categories=())) | st.binary())
def test_arbitrary_input_raises_only_invalid_input(data: str | bytes) -> None:
    try:
        decode_stream_message(data)
    except InvalidInput:
        pass


@given(
    event=_events,
    fields=st.dictionaries(
        st.sampled_from(["sequenceNumber", "streamSid", "start", "media", "dtmf", "mark", "stop"]),
        _json_values,
    ),
)
def test_near_miss_messages_raise_only_invalid_input(event: str, fields: dict[str, object]) -> None:
    try:
        decode_stream_message(json.dumps({"event": event, **fields}))
    except InvalidInput as error:
        assert error.pointer == "" or error.pointer.startswith("/")
