"""Asterisk AudioSocket wire format: recorded sessions through the parser in any chunking,
protocol violations, and arbitrary input."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.media.audiosocket_protocol import (
    HEADER_BYTES,
    Audio,
    AudioSocketParser,
    Dtmf,
    Error,
    Frame,
    Hangup,
    Kind,
    ProtocolError,
    Uuid,
    encode_frame,
)
from tests.conftest import FIXTURES

ASTERISK = FIXTURES / "asterisk"
SESSION = (ASTERISK / "session.bin").read_bytes()
SESSION_SLIN16 = (ASTERISK / "session_slin16.bin").read_bytes()
CALL_UUID = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")
CALL_ID = str(CALL_UUID)


def parse_all(parser: AudioSocketParser, chunks: list[bytes]) -> list[Frame]:
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(parser.feed(chunk))
    return frames


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    """`data` cut into pieces of the given sizes (cycled), the last one taking the rest."""
    chunks, at, index = [], 0, 0
    while at < len(data):
        size = sizes[index % len(sizes)] if sizes else len(data)
        chunks.append(data[at : at + size])
        at += size
        index += 1
    return chunks


# --- the recorded sessions -------------------------------------------------------------


def test_fixtures_match_their_documented_generator(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ASTERISK / "make_sessions.py"), str(tmp_path)], check=True)
    assert (tmp_path / "session.bin").read_bytes() == SESSION
    assert (tmp_path / "session_slin16.bin").read_bytes() == SESSION_SLIN16


def test_recorded_session_parses_into_typed_frames() -> None:
    frames = parse_all(AudioSocketParser(), [SESSION])

    assert frames[0] == Uuid(CALL_UUID)
    assert [type(f).__name__ for f in frames[1:]] == ["Audio"] * 6 + ["Dtmf"] + ["Audio"] * 4 + [
        "Hangup"
    ]
    assert frames[7] == Dtmf("5")
    audio = [f for f in frames if isinstance(f, Audio)]
    assert {len(a.pcm) for a in audio} == {320}  # 20 ms at 8 kHz
    assert {a.sample_rate for a in audio} == {8000}
    pcm = np.frombuffer(b"".join(a.pcm for a in audio), dtype="<i2")
    assert pcm.size == 1600 and 7900 < int(np.abs(pcm).max()) <= 8000  # the 440 Hz sine


def test_slin16_session_is_audio_at_16khz() -> None:
    frames = parse_all(AudioSocketParser(), [SESSION_SLIN16])

    audio = [f for f in frames if isinstance(f, Audio)]
    assert len(audio) == 5
    assert {(len(a.pcm), a.sample_rate) for a in audio} == {(640, 16000)}
    assert isinstance(frames[-1], Hangup)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 320, 323, 1000, len(SESSION)])
def test_any_chunking_gives_the_same_frames(size: int) -> None:
    whole = parse_all(AudioSocketParser(), [SESSION])
    assert parse_all(AudioSocketParser(), chunked(SESSION, [size])) == whole


def test_partial_message_waits_for_the_rest() -> None:
    parser = AudioSocketParser()
    assert list(parser.feed(SESSION[:2])) == []
    assert list(parser.feed(SESSION[2:18])) == []  # header + 15 of the 16 UUID bytes
    assert list(parser.feed(SESSION[18:19])) == [Uuid(CALL_UUID)]
    assert parser.buffered_bytes == 0


def test_encode_frame_reproduces_the_recorded_bytes() -> None:
    frames = parse_all(AudioSocketParser(), [SESSION])
    encoded = []
    for frame in frames:
        if isinstance(frame, Uuid):
            encoded.append(encode_frame(Kind.UUID, frame.value.bytes))
        elif isinstance(frame, Audio):
            encoded.append(encode_frame(Kind.SLIN, frame.pcm))
        elif isinstance(frame, Dtmf):
            encoded.append(encode_frame(Kind.DTMF, frame.digit.encode()))
        else:
            encoded.append(encode_frame(Kind.HANGUP))
    assert b"".join(encoded) == SESSION
    assert encode_frame(Kind.HANGUP) == b"\x00\x00\x00"  # the protocol's own example
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(Kind.SLIN, bytes(70_000))
    with pytest.raises(ValueError, match="one byte"):
        encode_frame(256)


def test_error_frames_carry_their_code() -> None:
    uuid_message = encode_frame(Kind.UUID, CALL_UUID.bytes)
    assert parse_all(AudioSocketParser(), [uuid_message + encode_frame(Kind.ERROR, b"\x01")]) == [
        Uuid(CALL_UUID),
        Error(1),  # Asterisk: hangup of the calling party
    ]
    assert parse_all(AudioSocketParser(), [uuid_message + encode_frame(Kind.ERROR)])[1] == Error(
        None
    )


# --- protocol errors ------------------------------------------------------------------

UUID_MESSAGE = encode_frame(Kind.UUID, CALL_UUID.bytes)
PROTOCOL_VIOLATIONS = {
    "unknown kind": (UUID_MESSAGE + encode_frame(0x42, b"x"), "unknown message kind 0x42"),
    "audio before uuid": (encode_frame(Kind.SLIN, bytes(320)), "slin message before the UUID"),
    "dtmf before uuid": (encode_frame(Kind.DTMF, b"1"), "dtmf message before the UUID"),
    "short uuid": (encode_frame(Kind.UUID, bytes(15)), "UUID payload must be 16 bytes"),
    "second uuid": (UUID_MESSAGE + UUID_MESSAGE, "a second UUID"),
    "odd audio": (UUID_MESSAGE + encode_frame(Kind.SLIN, bytes(321)), "not whole samples"),
    "empty audio": (UUID_MESSAGE + encode_frame(Kind.SLIN), "not whole samples"),
    "bad dtmf": (UUID_MESSAGE + encode_frame(Kind.DTMF, b"x"), "DTMF payload"),
    "long dtmf": (UUID_MESSAGE + encode_frame(Kind.DTMF, b"12"), "DTMF payload"),
    "hangup payload": (UUID_MESSAGE + encode_frame(Kind.HANGUP, b"x"), "hangup message with"),
    "slin48": (UUID_MESSAGE + encode_frame(0x16, bytes(1920)), "0x16 is not supported"),
    "long error": (UUID_MESSAGE + encode_frame(Kind.ERROR, bytes(5)), "error code of 5 bytes"),
}


@pytest.mark.parametrize("case", PROTOCOL_VIOLATIONS)
def test_protocol_violations_raise_a_clear_protocol_error(case: str) -> None:
    data, message = PROTOCOL_VIOLATIONS[case]
    parser = AudioSocketParser()
    with pytest.raises(ProtocolError, match=message) as raised:
        parse_all(parser, [data])
    assert str(raised.value).startswith("AudioSocket protocol error: ")
    assert parser.finished and parser.buffered_bytes == 0
    with pytest.raises(ProtocolError, match="data after the stream ended"):
        parser.feed(b"\x00")


def test_oversized_payload_is_refused_from_its_header_alone() -> None:
    parser = AudioSocketParser(max_payload=640)
    header = bytes((Kind.SLIN,)) + (641).to_bytes(2, "big")
    with pytest.raises(ProtocolError, match="641 bytes exceeds the limit of 640"):
        parse_all(parser, [UUID_MESSAGE + header])  # no payload sent: nothing buffered


def test_frames_before_an_error_in_the_same_chunk_are_delivered() -> None:
    parser = AudioSocketParser()
    received: list[Frame] = []
    with pytest.raises(ProtocolError):
        for frame in parser.feed(UUID_MESSAGE + encode_frame(Kind.SLIN, bytes(4)) + b"\x42\0\0"):
            received.append(frame)
    assert received == [Uuid(CALL_UUID), Audio(bytes(4))]


def test_nothing_is_accepted_after_hangup() -> None:
    parser = AudioSocketParser()
    assert isinstance(parse_all(parser, [SESSION])[-1], Hangup)
    with pytest.raises(ProtocolError, match="after the stream ended \\(hangup\\)"):
        parser.feed(encode_frame(Kind.SLIN, bytes(2)))


# --- hypothesis: arbitrary input ------------------------------------------------------

valid_frames = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=160).map(lambda b: Audio(b + b if len(b) % 2 else b)),
        st.sampled_from(sorted("0123456789ABCD*#")).map(Dtmf),
        st.one_of(st.none(), st.integers(0, 255)).map(Error),
    ),
    max_size=30,
)


@given(data=st.binary(max_size=3000), sizes=st.lists(st.integers(1, 700), max_size=8))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_raise_only_protocol_error_and_stay_bounded(
    data: bytes, sizes: list[int]
) -> None:
    parser = AudioSocketParser(max_payload=640)
    try:
        for chunk in chunked(data, sizes):
            for _ in parser.feed(chunk):
                pass
            assert parser.buffered_bytes < HEADER_BYTES + 640
    except ProtocolError:
        assert parser.finished and parser.buffered_bytes == 0


@given(body=valid_frames, sizes=st.lists(st.integers(1, 400), max_size=8))
@settings(max_examples=200, deadline=None)
def test_any_valid_stream_round_trips_in_any_chunking(
    body: list[Audio | Dtmf | Error], sizes: list[int]
) -> None:
    wire = [UUID_MESSAGE]
    for frame in body:
        if isinstance(frame, Audio):
            wire.append(encode_frame(Kind.SLIN, frame.pcm))
        elif isinstance(frame, Dtmf):
            wire.append(encode_frame(Kind.DTMF, frame.digit.encode()))
        else:
            code = b"" if frame.code is None else bytes((frame.code,))
            wire.append(encode_frame(Kind.ERROR, code))
    wire.append(encode_frame(Kind.HANGUP))

    frames = parse_all(AudioSocketParser(), chunked(b"".join(wire), sizes))

    assert frames == [Uuid(CALL_UUID), *body, Hangup()]
