"""jambonz: Jambonz-Signature verification and call webhooks (recorded bodies under
tests/fixtures/jambonz/) mapped onto canonical events."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    AnyCallEvent,
    CallAnswered,
    CallCreated,
    CallEnded,
    CallEvent,
    CallRinging,
    EndReason,
    event_type,
)
from callcenter.errors import InvalidInput, PayloadTooLarge, Unauthorized
from callcenter.gateways.jambonz.call_hook import (
    MAX_WEBHOOK_BYTES,
    CallStatus,
    decode_call_hook,
    map_call_webhook,
)
from callcenter.gateways.jambonz.signature import (
    SIGNATURE_HEADER,
    check_jambonz_signature,
    sign_jambonz,
)
from tests.conftest import FIXTURES

JAMBONZ = FIXTURES / "jambonz"
SECRET = "wh_secret_5d3f0e7c"
NOW = 1_732_300_000
RECEIVED_AT = datetime(2024, 11, 22, 18, 26, 40, tzinfo=UTC)


def body_of(name: str) -> bytes:
    return (JAMBONZ / name).read_bytes()


def with_changes(name: str, **changes: Any) -> bytes:
    document: dict[str, Any] = json.loads(body_of(name))
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return json.dumps(document).encode()


def jambonz_header(secret: str, timestamp: int, body: bytes) -> str:
    """The header as jambonz's feature server builds it (HMAC-SHA256 of "t.body", hex)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


# --- signature ------------------------------------------------------------------------


def test_a_jambonz_signed_body_is_accepted() -> None:
    body = body_of("call_hook_new_call.json")
    header = jambonz_header(SECRET, NOW - 5, body)

    digest = check_jambonz_signature(SECRET, header, body, NOW)

    assert header == f"t={NOW - 5},v1={digest}"
    assert sign_jambonz(SECRET, NOW - 5, body) == header
    assert SIGNATURE_HEADER == "Jambonz-Signature"


def test_rotation_uppercase_hex_and_other_schemes() -> None:
    body = body_of("call_status_completed.json")
    good = jambonz_header(SECRET, NOW, body).split(",")[1]
    old = jambonz_header("previous-secret", NOW, body).split(",")[1]
    header = f"t={NOW}, v0=legacy, {old}, {good.upper().replace('V1=', 'v1=')}"
    assert check_jambonz_signature(SECRET, header, body, NOW) == good[3:]


@pytest.mark.parametrize("age", [-300, 0, 299, 300])
def test_timestamps_within_the_tolerance_pass(age: int) -> None:
    body = b"{}"
    check_jambonz_signature(SECRET, jambonz_header(SECRET, NOW - age, body), body, NOW)


def signed(body: bytes = b'{"call_sid":"a"}', *, age: int = 0, secret: str = SECRET) -> str:
    return jambonz_header(secret, NOW - age, body)


REJECTED = [
    ("tampered body", SECRET, signed(), b'{"call_sid":"b"}', "does not match the body"),
    ("wrong secret", SECRET, signed(secret="guess"), b'{"call_sid":"a"}', "does not match"),
    ("old timestamp", SECRET, signed(age=301), b'{"call_sid":"a"}', "outside the 300 s window"),
    ("future timestamp", SECRET, signed(age=-301), b'{"call_sid":"a"}', "outside the 300 s"),
    ("no header", SECRET, None, b"{}", "missing Jambonz-Signature header"),
    ("empty header", SECRET, "", b"{}", "missing Jambonz-Signature header"),
    ("no secret", "", signed(), b'{"call_sid":"a"}', "no jambonz webhook secret"),
    ("bare digest", SECRET, "ab" * 32, b"{}", "expected t=<seconds>,v1=<hex>"),
    ("no timestamp", SECRET, "v1=" + "ab" * 32, b"{}", "needs one t=<Unix seconds>"),
    ("text timestamp", SECRET, "t=soon,v1=" + "ab" * 32, b"{}", "needs one t="),
    ("negative timestamp", SECRET, "t=-5,v1=" + "ab" * 32, b"{}", "needs one t="),
    ("two timestamps", SECRET, f"t={NOW},t={NOW},v1=" + "ab" * 32, b"{}", "needs one t="),
    ("unicode digits", SECRET, "t=\u0661\u0662,v1=" + "ab" * 32, b"{}", "needs one t="),
    ("400-digit timestamp", SECRET, "t=" + "9" * 400 + ",v1=" + "ab" * 32, b"{}", "Unix seconds"),
    ("no signature", SECRET, f"t={NOW}", b"{}", "needs v1=<64 hex digits>"),
    ("short signature", SECRET, f"t={NOW},v1=abc", b"{}", "needs v1=<64 hex digits>"),
    ("not hex", SECRET, f"t={NOW},v1=" + "zz" * 32, b"{}", "needs v1=<64 hex digits>"),
    ("huge header", SECRET, f"t={NOW}," + "v1=" + "a" * 2000, b"{}", "longer than 1024"),
]


@pytest.mark.parametrize(
    ("secret", "header", "body", "reason"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_bad_signatures_are_rejected_with_the_reason(
    secret: str, header: str | None, body: bytes, reason: str
) -> None:
    with pytest.raises(Unauthorized) as raised:
        check_jambonz_signature(secret, header, body, NOW)
    assert reason in str(raised.value)
    assert SECRET not in str(raised.value)


@given(header=st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_header_is_verified_or_unauthorized(header: str) -> None:
    with pytest.raises(Unauthorized):
        check_jambonz_signature(SECRET, header, b"{}", NOW)


# --- webhook mapping ------------------------------------------------------------------


def round_trips(event: CallEvent) -> None:
    """The event satisfies the canonical schema (as POST /v1/events would decode it)."""
    wire = msgspec.json.encode(event)
    assert msgspec.json.decode(wire, type=AnyCallEvent) == event
    assert json.loads(wire)["type"] == event_type(event)


def test_new_call_hook_becomes_call_created() -> None:
    event = map_call_webhook(body_of("call_hook_new_call.json"), received_at=RECEIVED_AT)

    assert event == CallCreated(
        event_id="jambonz:9fb35c28-9688-4531-943c-e280b04f3adf:trying",
        call_id="9fb35c28-9688-4531-943c-e280b04f3adf",
        occurred_at=RECEIVED_AT,
        from_="+15083084809",
        to="+15083728299",
        direction=Direction.INBOUND,
        attributes={"caller_name": "Jane Doe"},
    )
    round_trips(event)


def test_completed_status_becomes_a_normal_end() -> None:
    event = map_call_webhook(body_of("call_status_completed.json"), received_at=RECEIVED_AT)

    assert isinstance(event, CallEnded)
    assert event.end_reason is EndReason.NORMAL
    assert event.call_id == "b5e39996-bd2f-4bda-b928-355147186a2a"
    assert event.attributes == {"sip_status": 200, "sip_reason": "OK"}
    round_trips(event)


def test_caller_hanging_up_before_the_answer_is_canceled() -> None:
    event = map_call_webhook(
        body_of("call_status_caller_hung_up_early.json"), received_at=RECEIVED_AT
    )

    assert isinstance(event, CallEnded)
    assert event.end_reason is EndReason.CANCELED
    assert event.attributes == {"sip_status": 487, "sip_reason": "Request Terminated"}


def test_outbound_answer_keeps_a_sip_uri_destination() -> None:
    # a call of its own (placed through the REST API); the recording is a dial's leg
    body = with_changes("call_status_outbound_in_progress.json", parent_call_sid=None)
    event = map_call_webhook(body, received_at=RECEIVED_AT)

    assert isinstance(event, CallAnswered)
    assert event.direction is Direction.OUTBOUND
    assert event.to == "sip:+447777777777@1.1.1.1:5060"
    round_trips(event)


@pytest.mark.parametrize("status", [str(status) for status in CallStatus])
@pytest.mark.parametrize(
    "fixture", ["call_status_agent_leg.json", "call_status_outbound_in_progress.json"]
)
def test_a_leg_placed_for_another_call_is_not_a_call(fixture: str, status: str) -> None:
    """jambonz reports a dial's leg (to the agent) to the same status hook, with the
    caller's call as its parent: it must not become a call waiting for an agent."""
    body = with_changes(fixture, call_status=status)
    assert json.loads(body)["parent_call_sid"]
    assert map_call_webhook(body, received_at=RECEIVED_AT) is None


MAPPING = [
    # call_status, sip_status, canonical type, end reason
    ("trying", 100, CallCreated, None),
    ("ringing", 180, CallRinging, None),
    ("early-media", 183, CallRinging, None),
    ("completed", 200, CallEnded, EndReason.NORMAL),
    ("completed", 487, CallEnded, EndReason.NORMAL),  # answered, then ended: not canceled
    ("failed", 503, CallEnded, EndReason.FAILED),
    ("failed", 487, CallEnded, EndReason.CANCELED),
    ("busy", 486, CallEnded, EndReason.BUSY),
    ("no-answer", 480, CallEnded, EndReason.NO_ANSWER),
    ("no-answer", 487, CallEnded, EndReason.CANCELED),
]


@pytest.mark.parametrize(("status", "sip_status", "kind", "reason"), MAPPING)
def test_mapping_table(
    status: str, sip_status: int, kind: type[CallEvent], reason: EndReason | None
) -> None:
    body = with_changes("call_status_completed.json", call_status=status, sip_status=sip_status)

    event = map_call_webhook(body, received_at=RECEIVED_AT)

    assert type(event) is kind
    assert event.event_id == f"jambonz:b5e39996-bd2f-4bda-b928-355147186a2a:{status}"
    assert event.occurred_at == RECEIVED_AT
    assert (event.from_, event.to) == ("+441173185201", "+441303763875")
    if reason is not None:
        assert isinstance(event, CallEnded) and event.end_reason is reason
    round_trips(event)


def test_every_status_is_mapped_or_deliberately_ignored() -> None:
    mapped = {status for status, *_ in MAPPING}
    ignored = {"queued", "in-progress"}  # of an inbound call: see the test below
    assert mapped | ignored == {str(status) for status in CallStatus}
    for status in ignored:
        body = with_changes("call_status_completed.json", call_status=status)
        assert map_call_webhook(body, received_at=RECEIVED_AT) is None


@pytest.mark.parametrize("direction", ["inbound", None])
def test_an_inbound_caller_answered_by_jambonz_still_waits(direction: str | None) -> None:
    """jambonz answers an inbound call for its first verb that needs media (a greeting,
    the hold music): no agent has taken the call, so it must stay in line."""
    body = with_changes(
        "call_status_completed.json", call_status="in-progress", direction=direction
    )
    assert map_call_webhook(body, received_at=RECEIVED_AT) is None


def test_redelivery_gives_the_same_event_and_statuses_differ() -> None:
    body = body_of("call_status_completed.json")
    first = map_call_webhook(body, received_at=RECEIVED_AT)
    again = map_call_webhook(body, received_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert first is not None and again is not None
    assert first.event_id == again.event_id
    ids = {
        event.event_id
        for status, *_ in MAPPING
        if (
            event := map_call_webhook(
                with_changes("call_status_completed.json", call_status=status),
                received_at=RECEIVED_AT,
            )
        )
    }
    assert len(ids) == len({status for status, *_ in MAPPING})


def test_anonymous_caller_and_missing_fields_are_omitted() -> None:
    body = with_changes(
        "call_status_completed.json",
        **{"from": "", "to": None, "direction": None, "sip_status": None, "sip_reason": None},
    )
    event = map_call_webhook(body, received_at=RECEIVED_AT)
    assert event is not None
    assert (event.from_, event.to, event.direction, event.attributes) == (None, None, None, {})
    round_trips(event)


INVALID = [
    ("no call_sid", with_changes("call_status_completed.json", call_sid=None), "/call_sid"),
    ("empty call_sid", with_changes("call_status_completed.json", call_sid=""), "/call_sid"),
    ("long call_sid", with_changes("call_status_completed.json", call_sid="a" * 97), "/call_sid"),
    (
        "call_sid with a newline",
        with_changes("call_status_completed.json", call_sid="a\n"),
        "/call_sid",
    ),
    ("no status", with_changes("call_status_completed.json", call_status=None), "/call_status"),
    (
        "unknown status",
        with_changes("call_status_completed.json", call_status="on-hold"),
        "/call_status",
    ),
    (
        "bad direction",
        with_changes("call_status_completed.json", direction="sideways"),
        "/direction",
    ),
    ("sip status text", with_changes("call_status_completed.json", sip_status="OK"), "/sip_status"),
    ("sip status range", with_changes("call_status_completed.json", sip_status=99), "/sip_status"),
    ("from not text", with_changes("call_status_completed.json", **{"from": 15551230000}), "/from"),
    ("not json", b"call_sid=abc", ""),
    ("array", b"[]", ""),
    ("blank", b"  ", ""),
    ("deep nesting", b'{"sip": ' + b"[" * 5000 + b"]" * 5000 + b"}", ""),
]


@pytest.mark.parametrize(
    ("body", "pointer"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_webhooks_point_at_the_field(body: bytes, pointer: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_call_hook(body)
    assert raised.value.pointer == pointer
    assert raised.value.reason


def test_oversized_webhook_is_refused() -> None:
    body = with_changes("call_status_completed.json", pad="x" * MAX_WEBHOOK_BYTES)
    with pytest.raises(PayloadTooLarge):
        decode_call_hook(body)


hook_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from([*(str(s) for s in CallStatus), "inbound", "outbound", "+15551230000"]),
)


@given(
    document=st.dictionaries(
        st.sampled_from(
            ["call_sid", "call_status", "direction", "from", "to", "sip_status", "caller_name"]
        )
        | st.text(max_size=6),
        hook_values,
        max_size=8,
    )
)
@settings(max_examples=400, deadline=None)
def test_any_object_maps_or_raises_invalid_input(document: dict[str, Any]) -> None:
    try:
        event = map_call_webhook(json.dumps(document).encode(), received_at=RECEIVED_AT)
    except InvalidInput as error:
        assert error.pointer == "" or error.pointer.startswith("/")
    else:
        if event is not None:
            round_trips(event)
