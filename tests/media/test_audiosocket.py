"""Asterisk AudioSocket sessions on a real loopback TCP server fed by a client writing real
frames: audio reaches the sink in order, and errors, timeouts and shutdown end the session
cleanly with the leg closed."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.media.audiosocket import AudioSocketHandler, SessionEnd
from callcenter.media.audiosocket_protocol import (
    HEADER_BYTES,
    Audio,
    AudioSocketParser,
    Dtmf,
    Error,
    ErrorCode,
    Hangup,
    Kind,
    Uuid,
    encode_frame,
)
from callcenter.media.frames import AudioFrame, Track
from callcenter.metrics import Metrics
from tests.media.conftest import (
    CALL_ID,
    CALL_UUID,
    SESSION,
    UUID_MESSAGE,
    RecordingSink,
    Serve,
    Server,
    error_message,
    read_to_eof,
    sine_pcm,
    write_in_pieces,
)


async def test_recorded_session_reaches_the_sink_in_order(serve: Serve) -> None:
    server: Server = await serve()
    reader, writer = await server.connect()

    await write_in_pieces(writer, SESSION, seed=1)

    assert await read_to_eof(reader) == b""  # closed by the server after the hangup
    writer.close()
    assert await server.ends.get() == SessionEnd.HANGUP
    assert server.asked == [CALL_ID]
    expected = [f for f in AudioSocketParser().feed(SESSION) if isinstance(f, Audio)]
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


# --- errors and endings ---------------------------------------------------------------


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

    assert await read_to_eof(reader) == error_message(ErrorCode.PROTOCOL)
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
        assert await read_to_eof(reader) == error_message(ErrorCode.PROTOCOL)
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

    assert await read_to_eof(reader) == error_message(ErrorCode.TIMEOUT)
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

    assert await read_to_eof(reader) == error_message(ErrorCode.INTERNAL)
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


async def anything_is_live(call_id: str) -> bool:
    return True


@given(data=st.binary(max_size=2000))
@settings(max_examples=40, deadline=None)
def test_session_survives_arbitrary_bytes(data: bytes) -> None:
    """Whatever a peer sends, the session ends by itself, never raises, and balances the leg."""

    async def run() -> tuple[SessionEnd, RecordingSink]:
        sink = RecordingSink()
        handler = AudioSocketHandler(sink, is_live=anything_is_live, read_timeout=1.0)
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
