"""Asterisk AudioSocket: recorded sessions through the parser in any chunking, and the
session handler on a real loopback TCP server fed by a client writing real frames."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pytest
from blockbuster import blockbuster_ctx
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.media.audiosocket import (
    HEADER_BYTES,
    Audio,
    AudioSocketHandler,
    AudioSocketParser,
    ControlFrame,
    Dtmf,
    Error,
    ErrorCode,
    Frame,
    Hangup,
    Kind,
    ProtocolError,
    SessionEnd,
    Uuid,
    encode_frame,
)
from callcenter.media.frames import AudioFrame, Track
from callcenter.metrics import Metrics
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


def sine_pcm(samples: int, rate: int = 8000, hz: float = 300.0) -> bytes:
    t = np.arange(samples) / rate
    return (np.sin(2 * np.pi * hz * t) * 6000).astype("<i2").tobytes()


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


# --- the session handler on a real loopback server ------------------------------------


@dataclass
class RecordingSink:
    """A FrameSink that records every call, in order."""

    calls: list[tuple[str, object]] = field(default_factory=list)
    got_frame: asyncio.Event = field(default_factory=asyncio.Event)

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        self.calls.append(("open", (call_id, track, sample_rate)))

    def frame(self, frame: AudioFrame) -> None:
        self.calls.append(("frame", frame))
        self.got_frame.set()

    def close_leg(self, call_id: str, track: Track) -> None:
        self.calls.append(("close", (call_id, track)))

    @property
    def frames(self) -> list[AudioFrame]:
        return [f for kind, f in self.calls if kind == "frame" and isinstance(f, AudioFrame)]

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)


@dataclass
class Server:
    host: str
    port: int
    sink: RecordingSink
    events: list[tuple[str, ControlFrame]]
    ends: asyncio.Queue[SessionEnd]
    handler: AudioSocketHandler

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)


class Serve(Protocol):
    def __call__(
        self,
        sink: RecordingSink | None = None,
        *,
        read_timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> Awaitable[Server]: ...


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`await serve(...)` -> an AudioSocketHandler on a real 127.0.0.1 server. Any blocking
    call our code makes on the event loop meanwhile fails the test."""
    servers: list[asyncio.Server] = []
    handlers: list[AudioSocketHandler] = []

    async def start(
        sink: RecordingSink | None = None,
        *,
        read_timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> Server:
        recording = sink or RecordingSink()
        events: list[tuple[str, ControlFrame]] = []
        ends: asyncio.Queue[SessionEnd] = asyncio.Queue()
        handler = AudioSocketHandler(
            recording,
            on_event=lambda call_id, frame: events.append((call_id, frame)),
            read_timeout=read_timeout,
            metrics=metrics,
        )

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            ends.put_nowait(await handler(reader, writer))

        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        servers.append(server)
        handlers.append(handler)
        host, port = server.sockets[0].getsockname()[:2]
        return Server(host, port, recording, events, ends, handler)

    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield start
    for handler in handlers:
        await handler.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, seed: int) -> None:
    """Write like a network would deliver: random piece sizes, with pauses."""
    rng = random.Random(seed)
    at = 0
    while at < len(data):
        size = rng.choice([1, 3, 50, 320, 323, 700])
        writer.write(data[at : at + size])
        await writer.drain()
        at += size
        if rng.random() < 0.3:
            await asyncio.sleep(0.001)


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        return await reader.read()


async def test_recorded_session_reaches_the_sink_in_order(serve: Serve) -> None:
    server: Server = await serve()
    reader, writer = await server.connect()

    await write_in_pieces(writer, SESSION, seed=1)

    assert await read_to_eof(reader) == b""  # closed by the server after the hangup
    writer.close()
    assert await server.ends.get() == SessionEnd.HANGUP
    expected = [f for f in parse_all(AudioSocketParser(), [SESSION]) if isinstance(f, Audio)]
    sink = server.sink
    assert sink.calls[0] == ("open", (CALL_ID, Track.CALLER, 8000))
    assert sink.calls[-1] == ("close", (CALL_ID, Track.CALLER))
    assert [f.pcm for f in sink.frames] == [a.pcm for a in expected]
    assert [f.sequence for f in sink.frames] == list(range(10))
    assert {(f.call_id, f.track, f.sample_rate) for f in sink.frames} == {
        (CALL_ID, Track.CALLER, 8000)
    }
    assert server.events == [(CALL_ID, Uuid(CALL_UUID)), (CALL_ID, Dtmf("5")), (CALL_ID, Hangup())]
    assert server.handler.active_connections == 0


async def test_generated_speech_band_audio_and_slin16(serve: Serve) -> None:
    server: Server = await serve()
    pcm = sine_pcm(16000 * 2, rate=16000)  # two seconds at 16 kHz, sent as 20 ms frames
    frames = [pcm[i : i + 640] for i in range(0, len(pcm), 640)]
    wire = UUID_MESSAGE + b"".join(encode_frame(Kind.SLIN16, f) for f in frames)
    reader, writer = await server.connect()

    await write_in_pieces(writer, wire + encode_frame(Kind.HANGUP), seed=2)

    assert await read_to_eof(reader) == b""
    writer.close()
    assert await server.ends.get() == SessionEnd.HANGUP
    assert b"".join(f.pcm for f in server.sink.frames) == pcm
    assert server.sink.calls[0] == ("open", (CALL_ID, Track.CALLER, 16000))
    assert server.sink.count("close") == 1


async def test_eof_without_hangup_closes_the_leg(serve: Serve) -> None:
    server: Server = await serve()
    _, writer = await server.connect()
    writer.write(SESSION[: len(SESSION) // 2])  # the peer vanishes mid-call, mid-message
    await writer.drain()
    writer.close()

    assert await server.ends.get() == SessionEnd.EOF
    assert server.sink.count("open") == 1
    assert server.sink.count("close") == 1
    assert server.sink.calls[-1][0] == "close"


@pytest.mark.parametrize(
    ("prefix", "opened"),
    [
        (UUID_MESSAGE + encode_frame(Kind.SLIN, sine_pcm(160)) + b"\x42\x00\x01x", True),
        (encode_frame(Kind.SLIN, sine_pcm(160)), False),  # audio before the UUID
        (UUID_MESSAGE + encode_frame(Kind.SLIN, sine_pcm(160)) + b"\x10\xff\xff", True),
    ],
    ids=["unknown-kind", "audio-before-uuid", "oversized"],
)
async def test_protocol_error_answers_with_an_error_frame_and_closes(
    serve: Serve, prefix: bytes, opened: bool
) -> None:
    metrics = Metrics()
    server: Server = await serve(metrics=metrics)
    reader, writer = await server.connect()
    writer.write(prefix)
    await writer.drain()

    assert await read_to_eof(reader) == encode_frame(Kind.ERROR, bytes((ErrorCode.PROTOCOL,)))
    writer.close()
    assert await server.ends.get() == SessionEnd.PROTOCOL_ERROR
    assert server.sink.count("open") == server.sink.count("close") == int(opened)
    rejections = metrics.registry.get_sample_value(
        "callcenter_media_rejections_total", {"dialect": "asterisk", "reason": "protocol_error"}
    )
    assert rejections == 1.0


async def test_error_frame_reaches_a_peer_that_keeps_streaming(serve: Serve) -> None:
    """Asterisk writes audio every 20 ms whatever happens; the error must still arrive."""
    server: Server = await serve()
    reader, writer = await server.connect()
    writer.write(UUID_MESSAGE + encode_frame(0x42))
    audio = encode_frame(Kind.SLIN, sine_pcm(160))

    async def keep_streaming() -> None:
        try:
            while True:
                writer.write(audio * 20)
                await writer.drain()
                await asyncio.sleep(0.002)
        except OSError:
            return  # the server finally cut the connection

    streaming = asyncio.create_task(keep_streaming())
    try:
        assert await read_to_eof(reader) == encode_frame(Kind.ERROR, bytes((ErrorCode.PROTOCOL,)))
        assert await server.ends.get() == SessionEnd.PROTOCOL_ERROR
    finally:
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)
        writer.close()


async def test_silent_peer_times_out_with_an_error_frame(serve: Serve) -> None:
    server: Server = await serve(read_timeout=0.2)
    reader, writer = await server.connect()
    writer.write(UUID_MESSAGE + encode_frame(Kind.SLIN, sine_pcm(160)))
    await writer.drain()

    assert await read_to_eof(reader) == encode_frame(Kind.ERROR, bytes((ErrorCode.TIMEOUT,)))
    writer.close()
    assert await server.ends.get() == SessionEnd.TIMEOUT
    assert server.sink.calls[-1] == ("close", (CALL_ID, Track.CALLER))


async def test_remote_error_ends_the_session(serve: Serve) -> None:
    server: Server = await serve()
    reader, writer = await server.connect()
    writer.write(
        UUID_MESSAGE + encode_frame(Kind.SLIN, sine_pcm(160)) + encode_frame(Kind.ERROR, b"\x02")
    )
    await writer.drain()

    assert await read_to_eof(reader) == b""
    writer.close()
    assert await server.ends.get() == SessionEnd.REMOTE_ERROR
    assert server.events[-1] == (CALL_ID, Error(2))
    assert server.sink.count("close") == 1


class FailingSink(RecordingSink):
    def frame(self, frame: AudioFrame) -> None:
        raise RuntimeError("transcription pool exploded")


async def test_a_failing_sink_is_contained_logged_and_counted(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    sink = FailingSink()
    server: Server = await serve(sink, metrics=metrics)
    reader, writer = await server.connect()
    writer.write(SESSION)
    await writer.drain()

    assert await read_to_eof(reader) == encode_frame(Kind.ERROR, bytes((ErrorCode.INTERNAL,)))
    writer.close()
    assert await server.ends.get() == SessionEnd.INTERNAL_ERROR
    assert sink.calls == [
        ("open", (CALL_ID, Track.CALLER, 8000)),
        ("close", (CALL_ID, Track.CALLER)),
    ]
    assert "AudioSocket session failed" in caplog.text
    value = metrics.registry.get_sample_value(
        "callcenter_task_errors_total", {"task": "audiosocket"}
    )
    assert value == 1.0


async def test_close_ends_open_connections_and_closes_their_legs(
    serve: Serve,
) -> None:
    server: Server = await serve()
    reader, writer = await server.connect()
    writer.write(UUID_MESSAGE + encode_frame(Kind.SLIN, sine_pcm(160)))
    await writer.drain()
    async with asyncio.timeout(5):
        await server.sink.got_frame.wait()
    assert server.handler.active_connections == 1

    await server.handler.close()

    assert await read_to_eof(reader) == b""
    writer.close()
    assert server.handler.active_connections == 0
    assert server.sink.calls[-1] == ("close", (CALL_ID, Track.CALLER))


@given(data=st.binary(max_size=2000))
@settings(max_examples=40, deadline=None)
def test_session_survives_arbitrary_bytes(data: bytes) -> None:
    """Whatever a peer sends, the session ends by itself, never raises, and balances the leg."""

    async def run() -> tuple[SessionEnd, RecordingSink]:
        sink = RecordingSink()
        handler = AudioSocketHandler(sink, read_timeout=1.0)
        ours, theirs = socket.socketpair()
        server_reader, server_writer = await asyncio.open_connection(sock=ours)
        _, client_writer = await asyncio.open_connection(sock=theirs)
        client_writer.write(data)
        client_writer.write_eof()
        async with asyncio.timeout(5):
            end = await handler(server_reader, server_writer)
        client_writer.close()
        return end, sink

    end, sink = asyncio.run(run())

    assert end in set(SessionEnd) - {SessionEnd.INTERNAL_ERROR, SessionEnd.TIMEOUT}
    assert sink.count("open") == sink.count("close") <= 1
    assert sink.count("frame") <= len(data) // (HEADER_BYTES + 2)
