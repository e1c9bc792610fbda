"""L16 websockets: the first text frame of each sender (recorded shapes under
tests/fixtures/l16/), binary frame validation, and fuzzing where only InvalidInput escapes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.errors import InvalidInput
from callcenter.media.frames import Track
from callcenter.media.l16 import (
    MAX_METADATA_BYTES,
    SUBPROTOCOLS,
    L16Source,
    L16Stream,
    StreamMetadata,
    decode_metadata,
)
from tests.conftest import FIXTURES

L16 = FIXTURES / "l16"


def fixture(name: str) -> str:
    return (L16 / name).read_text()


def fixture_json(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(fixture(name))
    return document


FORK_ID = "6a1b5c0e-3f2d-4b8e-9c7a-2d4e6f8a0b1c"
JAMBONZ_ID = "b5e39996-bd2f-4bda-b928-355147186a2a"
VONAGE_ID = "63f61863-4a51-4f6b-86e1-46edebcf9356"

DECODED = [
    (
        "mod_audio_fork.json",
        "audio.drachtio.org",
        StreamMetadata(FORK_ID, Track.CALLER, 16000, L16Source.MOD_AUDIO_FORK),
    ),
    (
        "mod_audio_fork.json",
        "audiostream.drachtio.org",
        StreamMetadata(FORK_ID, Track.CALLER, 16000, L16Source.MOD_AUDIO_FORK),
    ),
    (
        "jambonz_listen.json",
        "audio.jambonz.org",
        StreamMetadata(JAMBONZ_ID, Track.CALLER, 8000, L16Source.JAMBONZ),
    ),
    (
        "jambonz_listen.json",
        None,
        StreamMetadata(JAMBONZ_ID, Track.CALLER, 8000, L16Source.JAMBONZ),
    ),
    (
        "jambonz_listen_mixed_16k.json",
        "audio.jambonz.org",
        StreamMetadata(
            "9fb35c28-9688-4531-943c-e280b04f3adf", Track.MIXED, 16000, L16Source.JAMBONZ
        ),
    ),
    (
        "vonage_connected.json",
        None,
        StreamMetadata(VONAGE_ID, Track.CALLER, 16000, L16Source.VONAGE),
    ),
    (
        "vonage_connected_8k_agent.json",
        None,
        StreamMetadata("aaaaaaaa-4a51-4f6b-86e1-46edebcf9356", Track.AGENT, 8000, L16Source.VONAGE),
    ),
    ("generic.json", None, StreamMetadata("call-42", Track.AGENT, 8000, L16Source.GENERIC)),
]


@pytest.mark.parametrize(("name", "subprotocol", "expected"), DECODED)
def test_each_sender_shape_decodes(
    name: str, subprotocol: str | None, expected: StreamMetadata
) -> None:
    assert decode_metadata(fixture(name), subprotocol=subprotocol) == expected
    assert decode_metadata(fixture(name).encode(), subprotocol=subprotocol) == expected


def test_mod_audio_fork_needs_its_subprotocol() -> None:
    """Its metadata is free-form, so nothing in it may be taken for a discriminator."""
    with pytest.raises(InvalidInput, match="cannot tell the metadata shape") as raised:
        decode_metadata(fixture("mod_audio_fork.json"))
    assert "audio.drachtio.org" in raised.value.reason


def test_the_subprotocol_wins_over_the_members() -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_metadata(fixture("jambonz_listen.json"), subprotocol="audio.drachtio.org")
    assert raised.value.pointer == "/callid"
    assert raised.value.reason.startswith("mod_audio_fork metadata:")


def test_unknown_subprotocol_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"unsupported websocket subprotocol 'audio\.other'"):
        decode_metadata(fixture("generic.json"), subprotocol="audio.other")


def test_known_subprotocols_are_published_for_the_websocket_handshake() -> None:
    assert set(SUBPROTOCOLS) == {
        "audio.drachtio.org",
        "audiostream.drachtio.org",
        "audio.jambonz.org",
    }


def changed(name: str, **changes: Any) -> str:
    document = fixture_json(name)
    for key, value in changes.items():
        if value is None:
            document.pop(key.replace("_dash_", "-"), None)
        else:
            document[key.replace("_dash_", "-")] = value
    return json.dumps(document)


INVALID = [
    ("jambonz stereo", changed("jambonz_listen.json", mixType="stereo"), None, "/mixType"),
    ("jambonz 24 kHz", changed("jambonz_listen.json", sampleRate=24000), None, "/sampleRate"),
    ("jambonz no rate", changed("jambonz_listen.json", sampleRate=None), None, "/sampleRate"),
    ("jambonz empty sid", changed("jambonz_listen.json", callSid=""), None, "/callSid"),
    ("jambonz sid type", changed("jambonz_listen.json", callSid=7), None, "/callSid"),
    (
        "fork rate as text",
        changed("mod_audio_fork.json", sampleRate="16k"),
        "audio.drachtio.org",
        "/sampleRate",
    ),
    (
        "fork no rate",
        changed("mod_audio_fork.json", sampleRate=None),
        "audio.drachtio.org",
        "/sampleRate",
    ),
    (
        "vonage mu-law",
        changed("vonage_connected.json", content_dash_type="audio/pcmu;rate=8000"),
        None,
        "/content-type",
    ),
    (
        "vonage 44.1 kHz",
        changed("vonage_connected.json", content_dash_type="audio/l16;rate=44100"),
        None,
        "/content-type",
    ),
    (
        "vonage no rate",
        changed("vonage_connected.json", content_dash_type="audio/l16"),
        None,
        "/content-type",
    ),
    (
        "vonage other event",
        changed("vonage_connected.json", event="websocket:cleared"),
        None,
        "/event",
    ),
    ("vonage no call id", changed("vonage_connected.json", call_id=None), None, "/call_id"),
    ("generic track", changed("generic.json", track="both"), None, "/track"),
    ("generic rate text", changed("generic.json", sample_rate="8000"), None, "/sample_rate"),
    ("generic long id", changed("generic.json", call_id="x" * 129), None, "/call_id"),
    ("not json", "callid=1", None, ""),
    ("array", "[1, 2]", None, ""),
    ("empty", "", None, ""),
    ("no discriminator", '{"sample_rate": 8000}', None, ""),
    ("deep nesting", '{"call_id": ' + "[" * 5000 + "]" * 5000 + "}", None, ""),
    ("huge number", '{"call_id": 1e999999}', None, ""),
    ("too big", json.dumps({"call_id": "c", "pad": "x" * MAX_METADATA_BYTES}), None, ""),
]


@pytest.mark.parametrize(
    ("text", "subprotocol", "pointer"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_metadata_names_the_field(text: str, subprotocol: str | None, pointer: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        decode_metadata(text, subprotocol=subprotocol)
    assert raised.value.pointer == pointer
    assert raised.value.reason


# --- binary frames --------------------------------------------------------------------

META_8K = StreamMetadata("c1", Track.CALLER, 8000, L16Source.GENERIC)
META_16K = StreamMetadata("c2", Track.MIXED, 16000, L16Source.JAMBONZ)


def test_generated_audio_becomes_ordered_frames() -> None:
    t = np.arange(16000) / 16000
    pcm = (np.sin(2 * np.pi * 220 * t) * 9000).astype("<i2").tobytes()  # one second
    stream = L16Stream(META_16K)

    frames = [stream.frame(pcm[i : i + 640]) for i in range(0, len(pcm), 640)]

    assert [f.sequence for f in frames] == list(range(50))
    assert b"".join(f.pcm for f in frames) == pcm
    assert {(f.call_id, f.track, f.sample_rate) for f in frames} == {("c2", Track.MIXED, 16000)}
    assert stream.frames_accepted == 50


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty audio frame"),
        (bytes(321), "not whole 16-bit samples"),
        (bytes(8002), "exceeds the limit of 8000"),  # half a second at 8 kHz
    ],
)
def test_bad_frames_are_refused_without_using_a_sequence_number(data: bytes, message: str) -> None:
    stream = L16Stream(META_8K)
    with pytest.raises(InvalidInput, match=message):
        stream.frame(data)
    assert stream.frame(bytes(320)).sequence == 0


def test_frame_limit_is_per_rate_and_configurable() -> None:
    assert L16Stream(META_16K).max_frame_bytes == 16000
    small = L16Stream(META_8K, max_frame_bytes=640)
    assert small.frame(bytes(640)).pcm == bytes(640)
    with pytest.raises(InvalidInput, match="exceeds the limit of 640"):
        small.frame(bytes(642))
    with pytest.raises(ValueError, match="at least one sample"):
        L16Stream(META_8K, max_frame_bytes=1)


# --- fuzzing ----------------------------------------------------------------------------

KNOWN_KEYS = [
    "callid",
    "callSid",
    "call_id",
    "event",
    "content-type",
    "sampleRate",
    "sample_rate",
    "mixType",
    "track",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(
        [
            "websocket:connected",
            "audio/l16;rate=16000",
            "audio/l16 ; RATE=8000",
            "mono",
            "stereo",
            "caller",
            "",
        ]
    )
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)
subprotocols = st.sampled_from([None, *SUBPROTOCOLS, "audio.unknown"])


@given(document=json_values, subprotocol=subprotocols)
@settings(max_examples=500, deadline=None)
def test_any_json_decodes_or_raises_invalid_input(
    document: object, subprotocol: str | None
) -> None:
    try:
        metadata = decode_metadata(json.dumps(document), subprotocol=subprotocol)
    except InvalidInput as error:
        assert error.reason
        assert error.pointer == "" or error.pointer.startswith("/")
    else:
        assert metadata.sample_rate in (8000, 16000)
        assert isinstance(metadata.track, Track)
        assert 1 <= len(metadata.call_id) <= 128


@given(raw=st.binary(max_size=300) | st.text(max_size=300), subprotocol=subprotocols)
@settings(max_examples=300, deadline=None)
def test_any_bytes_decode_or_raise_invalid_input(raw: bytes | str, subprotocol: str | None) -> None:
    try:
        decode_metadata(raw, subprotocol=subprotocol)
    except InvalidInput:
        pass


@given(frames=st.lists(st.binary(max_size=9000), max_size=20))
@settings(max_examples=200, deadline=None)
def test_binary_frames_are_accepted_or_refused_with_invalid_input(frames: list[bytes]) -> None:
    stream = L16Stream(META_8K)
    accepted = []
    for data in frames:
        try:
            accepted.append(stream.frame(data))
        except InvalidInput:
            assert not data or len(data) % 2 or len(data) > stream.max_frame_bytes
    assert [f.sequence for f in accepted] == list(range(len(accepted)))
    assert all(len(f.pcm) % 2 == 0 and 0 < len(f.pcm) <= 8000 for f in accepted)
