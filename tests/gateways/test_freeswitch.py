"""FreeSWITCH Event Socket: the incremental parser and the event mapping, on ESL byte streams
in FreeSWITCH's wire format (tests/fixtures/freeswitch/, written by make_streams.py).

The client's live connection is not tested here: FreeSWITCH cannot be installed in this
environment and the project does not fake non-SaaS services. What the client does with each
message (`handle_message`) and its refusal to raise out of its task are tested."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from callcenter.domain.call_lifecycle import apply_call_event
from callcenter.domain.calls import Call, CallState, Direction, Outcome
from callcenter.domain.events import (
    CallAnswered,
    CallCreated,
    CallEnded,
    CallEvent,
    EndReason,
)
from callcenter.errors import Conflict, InvalidInput
from callcenter.gateways.freeswitch.client import SUBSCRIBED_EVENTS, EslClient, reconnect_delay
from callcenter.gateways.freeswitch.events import (
    DIALECT,
    decode_event_json,
    map_event_json,
    to_canonical,
)
from callcenter.gateways.freeswitch.parser import EslMessage, EslParser, MessageKind, ProtocolError
from callcenter.metrics import Metrics
from tests.conftest import FIXTURES

FREESWITCH = FIXTURES / "freeswitch"
CALLER = "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"
AGENT = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
BUSY = "3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
CANCELED = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"
START = datetime(2024, 3, 5, 17, 33, 10, tzinfo=UTC)
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def stream(name: str) -> bytes:
    return (FREESWITCH / name).read_bytes()


SESSION = b"".join(
    stream(name)
    for name in (
        "handshake.esl",
        "inbound_call.esl",
        "busy_call.esl",
        "canceled_call.esl",
        "disconnect_notice.esl",
    )
)


def parse(chunks: list[bytes], parser: EslParser | None = None) -> list[EslMessage]:
    parser = parser or EslParser()
    return [message for chunk in chunks for message in parser.feed(chunk)]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def documents(name: str) -> list[dict[str, object]]:
    return [
        decode_event_json(message.body)
        for message in parse([stream(name)])
        if message.kind is MessageKind.EVENT_JSON
    ]


def document(name: str, event_name: str, unique_id: str, **changes: Any) -> dict[str, object]:
    """The fixture event `event_name` of channel `unique_id`, with headers changed (None
    removes one)."""
    found = next(
        d
        for d in documents(name)
        if d["Event-Name"] == event_name and d.get("Unique-ID") == unique_id
    )
    for header, value in changes.items():
        header = header.replace("__", "-")
        if value is None:
            found.pop(header, None)
        else:
            found[header] = value
    return found


def bridge(**changes: Any) -> dict[str, object]:
    return document("inbound_call.esl", "CHANNEL_BRIDGE", CALLER, **changes)


def hangup(**changes: Any) -> dict[str, object]:
    return document("inbound_call.esl", "CHANNEL_HANGUP_COMPLETE", CALLER, **changes)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


# --- the recorded streams --------------------------------------------------------------


def test_fixtures_match_their_documented_generator(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(FREESWITCH / "make_streams.py"), str(tmp_path)], check=True)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in FREESWITCH.glob("*.esl"))
    for name in written:
        assert (tmp_path / name).read_bytes() == stream(name), name


def test_the_handshake_parses_into_typed_messages() -> None:
    messages = parse([stream("handshake.esl")])

    assert [m.kind for m in messages] == [
        MessageKind.AUTH_REQUEST,
        MessageKind.COMMAND_REPLY,
        MessageKind.COMMAND_REPLY,
    ]
    assert messages[0] == EslMessage(MessageKind.AUTH_REQUEST, {"Content-Type": "auth/request"})
    assert [m.reply_text for m in messages[1:]] == [
        "+OK accepted",
        "+OK event listener enabled json",
    ]


def test_a_rejected_password_is_a_reply_then_the_goodbye() -> None:
    messages = parse([stream("auth_rejected.esl")])

    assert [m.kind for m in messages] == [
        MessageKind.AUTH_REQUEST,
        MessageKind.COMMAND_REPLY,
        MessageKind.DISCONNECT_NOTICE,
    ]
    assert messages[1].reply_text == "-ERR invalid"
    assert messages[2].body == GOODBYE
    assert messages[2].headers["Content-Length"] == str(len(GOODBYE))


def test_a_whole_session_parses_message_by_message() -> None:
    messages = parse([SESSION])

    events = [m for m in messages if m.kind is MessageKind.EVENT_JSON]
    assert len(messages) == 3 + len(events) + 1
    assert messages[-1].kind is MessageKind.DISCONNECT_NOTICE
    assert [json.loads(m.body)["Event-Name"] for m in events] == [
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "HEARTBEAT",
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_BRIDGE",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_CREATE",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_CREATE",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    assert all(len(m.body) == int(m.headers["Content-Length"]) for m in events)


def test_content_length_counts_bytes_not_characters() -> None:
    created = next(d for d in documents("busy_call.esl") if d["Event-Name"] == "CHANNEL_CREATE")
    assert created["Caller-Caller-ID-Name"] == "Zo\u00eb Mart\u00edn"


def test_byte_by_byte_feeding_gives_the_same_messages() -> None:
    assert parse([SESSION[i : i + 1] for i in range(len(SESSION))]) == parse([SESSION])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(SESSION)), max_size=60))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    assert parse(split_at(SESSION, cuts)) == parse([SESSION])


# --- framing details and limits --------------------------------------------------------


def test_blank_lines_between_messages_are_tolerated() -> None:
    data = b"\n\nContent-Type: auth/request\n\n\nContent-Type: command/reply\nReply-Text: +OK\n\n"
    assert [m.kind for m in parse([data])] == [MessageKind.AUTH_REQUEST, MessageKind.COMMAND_REPLY]


def test_a_header_value_keeps_its_colons_and_an_empty_body_is_allowed() -> None:
    data = (
        b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: 7f4d\nJob-UUID: 7f4d\n\n"
        b"Content-Type: api/response\nContent-Length: 0\n\n"
    )
    reply, response = parse([data])
    assert reply.reply_text == "+OK Job-UUID: 7f4d"
    assert response == EslMessage(
        MessageKind.API_RESPONSE, {"Content-Type": "api/response", "Content-Length": "0"}, b""
    )


def test_limits_are_inclusive() -> None:
    parser = EslParser(max_header_bytes=64, max_body_bytes=5)
    head = b"Content-Type: api/response\nContent-Length: 5\n"
    padded = head + b"X: " + b"a" * (64 - len(head) - 5) + b"\n\n"
    assert len(padded) == 64

    (message,) = parse([padded + b"hello"], parser)

    assert message.body == b"hello"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Reply-Text: +OK\n\n", "without Content-Type"),
        (b"Content-Type: text/html\n\n", "unknown Content-Type"),
        (b"Content-Type: command/reply\nno colon here\n\n", "malformed header line"),
        (b"Content-Type: command/reply\nBad Name: x\n\n", "malformed header line"),
        (b"Content-Type: command/reply\n: x\n\n", "malformed header line"),
        (b"Content-Type: command/reply\nReply-Text: \xff\n\n", "not UTF-8"),
        (b"Content-Length: -1\nContent-Type: api/response\n\n", "not a byte count"),
        (b"Content-Length: 0x10\nContent-Type: api/response\n\n", "not a byte count"),
        (b"Content-Length: 9999999999999\nContent-Type: api/response\n\n", "not a byte count"),
        (b"Content-Length: 1025\nContent-Type: api/response\n\n", "exceeds 1024 bytes"),
        (b"X-Pad: " + b"a" * 600, "longer than 512 bytes"),
        (b"X-Pad: " + b"a" * 600 + b"\nContent-Type: auth/request\n\n", "longer than 512 bytes"),
    ],
)
def test_malformed_or_oversize_input_is_a_protocol_error(data: bytes, reason: str) -> None:
    parser = EslParser(max_header_bytes=512, max_body_bytes=1024)

    with pytest.raises(ProtocolError, match=reason) as raised:
        parse([data], parser)

    assert isinstance(raised.value, InvalidInput)
    assert parser.buffered_bytes == 0
    with pytest.raises(ProtocolError, match="already broken"):
        parser.feed(b"Content-Type: auth/request\n\n")


def test_good_messages_before_a_fault_are_still_yielded() -> None:
    parser = EslParser()
    received: list[EslMessage] = []

    with pytest.raises(ProtocolError):
        for message in parser.feed(stream("handshake.esl") + b"garbage\n\n"):
            received.append(message)

    assert [m.kind for m in received] == [MessageKind.AUTH_REQUEST] + [
        MessageKind.COMMAND_REPLY
    ] * 2


def test_parser_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_header_bytes"):
        EslParser(max_header_bytes=10)


FRAGMENTS = [
    b"Content-Type: auth/request\n",
    b"Content-Type: command/reply\n",
    b"Content-Type: text/event-json\n",
    b"Content-Type: text/disconnect-notice\n",
    b"Content-Length: 3\n",
    b"Content-Length: 200\n",
    b"Content-Length: 99999\n",
    b"Reply-Text: +OK accepted\n",
    b"\n",
    b"\n\n",
    b'{"Event-Name":"CHANNEL_CREATE"}',
    b": no name\n",
    b"\xff\xfe",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.one_of(st.binary(max_size=80), st.sampled_from(FRAGMENTS)), max_size=8).map(
            b"".join
        ),
        max_size=25,
    )
)
def test_arbitrary_bytes_raise_only_protocol_errors_and_buffers_stay_bounded(
    chunks: list[bytes],
) -> None:
    parser = EslParser(max_header_bytes=128, max_body_bytes=256)
    try:
        for chunk in chunks:
            for message in parser.feed(chunk):
                assert len(message.body) <= parser.max_body_bytes
            assert parser.buffered_bytes <= max(parser.max_header_bytes, parser.max_body_bytes)
    except ProtocolError:
        assert parser.buffered_bytes == 0


# --- mapping ---------------------------------------------------------------------------


def mapped(name: str) -> list[CallEvent | None]:
    return [to_canonical(d) for d in documents(name)]


def test_a_whole_inbound_call_maps_to_created_answered_ended() -> None:
    common: dict[str, Any] = {
        "call_id": CALLER,
        "from_": "+15551230000",
        "to": "+15559870000",
        "direction": Direction.INBOUND,
    }
    assert mapped("inbound_call.esl") == [
        CallCreated(
            event_id=f"freeswitch:{CALLER}:CHANNEL_CREATE:4711",
            occurred_at=START,
            attributes={"caller_name": "Ada Lovelace"},
            **common,
        ),
        None,  # the IVR answers the caller: no agent yet
        None,  # HEARTBEAT
        None,  # the agent's leg (outbound) is created
        None,  # and answered
        CallAnswered(
            event_id=f"freeswitch:{CALLER}:CHANNEL_BRIDGE:4811",
            occurred_at=at(27.05),
            agent_id="1001@default",
            attributes={"agent_leg_id": AGENT},
            **common,
        ),
        CallEnded(
            event_id=f"freeswitch:{CALLER}:CHANNEL_HANGUP_COMPLETE:4870",
            occurred_at=at(212.5),
            end_reason=EndReason.NORMAL,
            attributes={"hangup_cause": "NORMAL_CLEARING"},
            **common,
        ),
        None,  # the agent's leg ends too: not the caller's end
    ]


def test_a_busy_and_a_canceled_call() -> None:
    busy = mapped("busy_call.esl")
    canceled = mapped("canceled_call.esl")

    assert [type(e).__name__ for e in busy + canceled] == ["CallCreated", "CallEnded"] * 2
    assert busy[0] is not None and busy[0].attributes == {"caller_name": "Zo\u00eb Mart\u00edn"}
    assert canceled[0] is not None and canceled[0].attributes == {}
    assert isinstance(busy[1], CallEnded) and busy[1].end_reason is EndReason.BUSY
    assert busy[1].call_id == BUSY and busy[1].from_ == "+442079460000"
    assert isinstance(canceled[1], CallEnded) and canceled[1].end_reason is EndReason.CANCELED
    assert canceled[1].event_id == f"freeswitch:{CANCELED}:CHANNEL_HANGUP_COMPLETE:6004"


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("inbound_call.esl", Outcome.HANDLED),
        ("busy_call.esl", Outcome.FAILED),
        ("canceled_call.esl", Outcome.ABANDONED),
    ],
)
def test_the_mapped_calls_are_legal_for_the_call_state_machine(name: str, outcome: Outcome) -> None:
    call: Call | None = None
    for event in mapped(name):
        if event is not None:
            call = apply_call_event(call, {}, event, at(1000), default_queue="general").call
    assert call is not None
    assert call.state is CallState.ENDED and call.outcome is outcome


def test_the_same_event_twice_has_the_same_id() -> None:
    assert mapped("inbound_call.esl") == mapped("inbound_call.esl")
    ids = [e.event_id for e in mapped("inbound_call.esl") if e is not None]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("NORMAL_CLEARING", EndReason.NORMAL),
        ("NORMAL_UNSPECIFIED", EndReason.NORMAL),
        ("ATTENDED_TRANSFER", EndReason.NORMAL),
        ("MANAGER_REQUEST", EndReason.NORMAL),
        ("USER_BUSY", EndReason.BUSY),
        ("CALL_REJECTED", EndReason.BUSY),
        ("NO_ANSWER", EndReason.NO_ANSWER),
        ("NO_USER_RESPONSE", EndReason.NO_ANSWER),
        ("ORIGINATOR_CANCEL", EndReason.CANCELED),
        ("NORMAL_TEMPORARY_FAILURE", EndReason.FAILED),
        ("RECOVERY_ON_TIMER_EXPIRE", EndReason.FAILED),
        ("MEDIA_TIMEOUT", EndReason.FAILED),
        ("A_CAUSE_FROM_THE_FUTURE", EndReason.FAILED),
    ],
)
def test_hangup_causes_map_to_end_reasons(cause: str, reason: EndReason) -> None:
    event = to_canonical(hangup(Hangup__Cause=cause))

    assert isinstance(event, CallEnded)
    assert event.end_reason is reason and event.attributes == {"hangup_cause": cause}


def test_outbound_legs_and_unmapped_events_map_to_nothing() -> None:
    for event_name in ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"):
        assert to_canonical(document("inbound_call.esl", event_name, AGENT)) is None
    assert to_canonical(document("inbound_call.esl", "CHANNEL_ANSWER", CALLER)) is None
    assert to_canonical({"Event-Name": "HEARTBEAT"}) is None
    assert to_canonical({"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info"}) is None
    # a bridge fired on an outbound leg (uuid_bridge <agent> <caller>) is not the caller's
    assert to_canonical(bridge(Call__Direction="outbound")) is None


def test_the_agent_leg_comes_from_bridge_b_else_the_other_leg() -> None:
    other = to_canonical(bridge(Bridge__B__Unique__ID=None))
    neither = to_canonical(bridge(Bridge__B__Unique__ID=None, Other__Leg__Unique__ID=None))

    assert other is not None and other.attributes == {"agent_leg_id": AGENT}
    assert neither is not None and neither.attributes == {}


def test_the_agent_variable_is_configurable_and_optional() -> None:
    renamed = bridge(variable_cc_agent_id=None, variable_cc_agent="1002@default")

    assert to_canonical(renamed, agent_variable="cc_agent") == to_canonical(
        bridge(variable_cc_agent_id="1002@default")
    )
    anonymous = to_canonical(renamed)
    assert isinstance(anonymous, CallAnswered) and anonymous.agent_id is None
    assert to_canonical(bridge(variable_cc_agent_id="")) == anonymous


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        (bridge(Event__Name=None), "/Event-Name"),
        (bridge(Event__Name=7), "/Event-Name"),
        (bridge(Unique__ID=None), "/Unique-ID"),
        (bridge(Unique__ID="two words"), "/Unique-ID"),
        (bridge(Unique__ID="u" * 65), "/Unique-ID"),
        (bridge(Event__Sequence="12a"), "/Event-Sequence"),
        (bridge(Event__Date__Timestamp=1709659990000000), "/Event-Date-Timestamp"),
        (bridge(Event__Date__Timestamp="9" * 17), "/Event-Date-Timestamp"),
        (bridge(Call__Direction=None), "/Call-Direction"),
        (bridge(Call__Direction="sideways"), "/Call-Direction"),
        (bridge(Caller__Caller__ID__Number="9" * 257), "/Caller-Caller-ID-Number"),
        (bridge(Bridge__B__Unique__ID=["a", "b"]), "/Bridge-B-Unique-ID"),
        (bridge(variable_cc_agent_id="not an id!"), "/variable_cc_agent_id"),
        (bridge(variable_cc_agent_id=["1001@default", "x"]), "/variable_cc_agent_id"),
        (hangup(Hangup__Cause=None), "/Hangup-Cause"),
        (hangup(Hangup__Cause="normal clearing"), "/Hangup-Cause"),
    ],
)
def test_bad_headers_are_invalid_input_with_a_pointer(doc: dict[str, object], pointer: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        to_canonical(doc)
    assert raised.value.pointer == pointer


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"CHANNEL_CREATE"', b"\xff", b"[" * 5000])
def test_a_body_that_is_not_a_json_object_is_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        map_event_json(body)


HEADER_NAMES = [
    "Event-Name",
    "Unique-ID",
    "Event-Sequence",
    "Event-Date-Timestamp",
    "Call-Direction",
    "Hangup-Cause",
    "Bridge-B-Unique-ID",
    "Other-Leg-Unique-ID",
    "Caller-Caller-ID-Number",
    "variable_cc_agent_id",
]
VALUES = st.one_of(
    st.sampled_from(["CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "inbound"]),
    st.text(max_size=20),
    st.from_regex(r"[0-9]{1,18}", fullmatch=True),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=10)), VALUES))
def test_arbitrary_documents_map_or_raise_invalid_input(doc: dict[str, object]) -> None:
    try:
        event = to_canonical(doc)
    except InvalidInput as error:
        assert not isinstance(error, ProtocolError)
        return
    assert event is None or event.event_id.startswith("freeswitch:")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bodies_map_or_raise_invalid_input(body: bytes) -> None:
    try:
        map_event_json(body)
    except InvalidInput:
        pass


# --- the client, without a live FreeSWITCH ----------------------------------------------


class Recorder:
    def __init__(self, error: Exception | None = None) -> None:
        self.events: list[CallEvent] = []
        self.error = error

    async def __call__(self, event: CallEvent) -> None:
        self.events.append(event)
        if self.error is not None:
            raise self.error


def client_for(on_event: Recorder, metrics: Metrics, port: int = 8021, **options: Any) -> EslClient:
    return EslClient("127.0.0.1", port, "ClueCon-secret", on_event, metrics=metrics, **options)


def sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_handled_messages_reach_on_event_in_order() -> None:
    recorder = Recorder()
    client = client_for(recorder, Metrics(CollectorRegistry()))

    for message in parse([SESSION]):
        await client.handle_message(message)

    assert recorder.events == [
        e
        for name in ("inbound_call.esl", "busy_call.esl", "canceled_call.esl")
        for e in mapped(name)
        if e is not None
    ]


async def test_a_bad_event_is_counted_and_skipped() -> None:
    metrics = Metrics(CollectorRegistry())
    recorder = Recorder()
    client = client_for(recorder, metrics)
    body = json.dumps(bridge(Unique__ID="two words")).encode()

    await client.handle_message(EslMessage(MessageKind.EVENT_JSON, {}, body))

    assert recorder.events == []
    labels = {"dialect": DIALECT, "type": "unknown", "result": "invalid"}
    assert sample(metrics, "callcenter_events_total", labels) == 1


@pytest.mark.parametrize(("error", "counted"), [(Conflict("stale"), 0), (RuntimeError("x"), 1)])
async def test_errors_of_on_event_never_escape(error: Exception, counted: int) -> None:
    metrics = Metrics(CollectorRegistry())
    client = client_for(Recorder(error), metrics)

    for message in parse([stream("inbound_call.esl")]):
        await client.handle_message(message)

    assert (
        sample(metrics, "callcenter_task_errors_total", {"task": "freeswitch_esl"}) == 3 * counted
    )


def test_reconnect_delay_doubles_up_to_the_cap() -> None:
    assert [reconnect_delay(n, 0.5, 30.0) for n in (1, 2, 3, 4, 7, 8, 1000)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        30.0,
        30.0,
        30.0,
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"password": ""}, "password"),
        ({"password": "ClueCon\nevent plain ALL"}, "password"),
        ({"agent_variable": "cc agent"}, "agent_variable"),
        ({"port": 0}, "port"),
        ({"first_backoff_seconds": 5.0, "max_backoff_seconds": 1.0}, "backoffs"),
        ({"max_header_bytes": 1}, "max_header_bytes"),
    ],
)
def test_unusable_settings_are_refused(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"host": "127.0.0.1", "port": 8021, "password": "ClueCon"}
    arguments |= options
    with pytest.raises(ValueError, match=message) as raised:
        EslClient(on_event=Recorder(), metrics=Metrics(CollectorRegistry()), **arguments)
    assert "event plain" not in str(raised.value)


class AttemptCounter(logging.Handler):
    """Sets `third` once the client has logged three failed attempts."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.third = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.count >= 3:
            self.third.set()


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def attempts() -> Iterator[AttemptCounter]:
    logger = logging.getLogger("callcenter.gateways.freeswitch.client")
    counter = AttemptCounter()
    logger.addHandler(counter)
    yield counter
    logger.removeHandler(counter)


async def test_an_unreachable_switch_is_retried_until_stop(
    refusing_port: int, attempts: AttemptCounter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="callcenter.gateways.freeswitch.client")
    client = client_for(
        Recorder(),
        Metrics(CollectorRegistry()),
        port=refusing_port,
        first_backoff_seconds=0.01,
        max_backoff_seconds=0.02,
    )
    client.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            client.start()
        async with asyncio.timeout(5):
            await attempts.third.wait()
    finally:
        await client.stop()
    await client.stop()

    assert not client.connected and client.failures >= 3
    assert "unreachable" in caplog.text and "reconnecting" in caplog.text
    assert "ClueCon-secret" not in caplog.text


def test_the_subscription_covers_every_mapped_event() -> None:
    assert set(SUBSCRIBED_EVENTS) >= {"CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE"}
    assert "CHANNEL_ANSWER" not in SUBSCRIBED_EVENTS  # maps to nothing: not worth the traffic


def test_a_queue_carried_by_the_new_channel_is_the_calls_queue() -> None:
    created = to_canonical(
        document("inbound_call.esl", "CHANNEL_CREATE", CALLER, variable_cc_queue="billing")
    )
    plain = to_canonical(document("inbound_call.esl", "CHANNEL_CREATE", CALLER))
    assert created is not None and created.queue == "billing"
    assert plain is not None and plain.queue is None
    with pytest.raises(InvalidInput) as refused:
        to_canonical(
            document("inbound_call.esl", "CHANNEL_CREATE", CALLER, variable_cc_queue="no spaces")
        )
    assert refused.value.pointer == "/variable_cc_queue"


def test_with_call_control_a_call_is_created_when_the_dialplan_parks_it() -> None:
    """The create is no call yet; the park is, with the queue the dialplan set, and under
    one event id however often the leg parks."""
    created = document("inbound_call.esl", "CHANNEL_CREATE", CALLER)
    assert to_canonical(created, created_on="CHANNEL_PARK") is None
    parks = [
        document(
            "inbound_call.esl",
            "CHANNEL_CREATE",
            CALLER,
            Event__Name="CHANNEL_PARK",
            Event__Sequence=sequence,
            variable_cc_queue="billing",
        )
        for sequence in ("4712", "4790")
    ]
    first, again = (to_canonical(park, created_on="CHANNEL_PARK") for park in parks)
    assert isinstance(first, CallCreated) and isinstance(again, CallCreated)
    assert (first.call_id, first.queue) == (CALLER, "billing")
    assert first.event_id == again.event_id == f"freeswitch:{CALLER}:created"
    assert to_canonical(parks[0]) is None  # event following: the create is the call
