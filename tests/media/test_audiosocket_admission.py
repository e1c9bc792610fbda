"""AudioSocket admission and flood budget, on a real loopback TCP server: a connection whose
UUID names no live call is hung up before any audio is read, and a peer sending far
faster than real time (big frames or a swarm of tiny ones) is cut off, while real-time
audio longer than the burst allowance passes."""

from __future__ import annotations

from callcenter.media.audiosocket import AudioAlias, SessionEnd
from callcenter.media.audiosocket_protocol import ErrorCode, Kind, Uuid, encode_frame
from callcenter.media.frames import Track
from callcenter.metrics import Metrics
from tests.media.conftest import (
    CALL_ID,
    CALL_UUID,
    FRAME_SECONDS,
    SESSION,
    UUID_MESSAGE,
    Serve,
    Server,
    error_message,
    paced,
    read_to_eof,
    rejections,
    sine_pcm,
)


async def test_a_connection_naming_no_live_call_is_hung_up_and_counted(serve: Serve) -> None:
    metrics = Metrics()
    server: Server = await serve(metrics=metrics, live={"some-other-call"})
    reader, writer = await server.connect()
    writer.write(UUID_MESSAGE + encode_frame(Kind.SLIN, sine_pcm(160)) * 5)
    await writer.drain()

    assert await read_to_eof(reader) == error_message(ErrorCode.UNKNOWN_CALL)
    writer.close()
    assert await server.ends.get() == SessionEnd.UNKNOWN_CALL
    assert server.asked == [CALL_ID, CALL_ID.upper()]
    assert server.sink.calls == [] and server.events == []  # no leg, no event, no audio
    assert rejections(metrics, "unknown_call") == 1.0


async def test_the_uuid_matches_a_call_id_in_upper_case(serve: Serve) -> None:
    upper = CALL_ID.upper()
    server: Server = await serve(live={upper})
    reader, writer = await server.connect()
    writer.write(SESSION)
    await writer.drain()

    assert await read_to_eof(reader) == b""
    writer.close()
    assert await server.ends.get() == SessionEnd.HANGUP
    assert server.sink.calls[0] == ("open", (upper, Track.CALLER, 8000))
    assert len(server.sink.frames) == 10
    assert server.events[0] == (upper, Uuid(CALL_UUID))


def aliases(legs: dict[str, tuple[str, Track]]) -> AudioAlias:
    async def alias(leg_uuid: str) -> tuple[str, Track] | None:
        return legs.get(leg_uuid)

    return alias


async def test_a_uuid_handed_out_for_a_leg_names_its_call_and_track(serve: Serve) -> None:
    """ARI call control hands Asterisk a UUID per leg it listens to (the caller's or the
    agent's): admitted as that call's track while the call is live."""
    ari_call = "1796464800.26"
    legs = {CALL_ID: (ari_call, Track.AGENT)}
    server: Server = await serve(live={ari_call}, alias=aliases(legs))
    reader, writer = await server.connect()
    writer.write(SESSION)
    await writer.drain()
    assert await read_to_eof(reader) == b""
    writer.close()
    assert await server.ends.get() == SessionEnd.HANGUP
    assert server.sink.calls[0] == ("open", (ari_call, Track.AGENT, 8000))
    assert {(f.call_id, f.track) for f in server.sink.frames} == {(ari_call, Track.AGENT)}
    assert server.sink.calls[-1] == ("close", (ari_call, Track.AGENT))


async def test_a_leg_uuid_of_a_call_that_is_over_is_refused(serve: Serve) -> None:
    server: Server = await serve(live=set(), alias=aliases({CALL_ID: ("gone", Track.CALLER)}))
    reader, writer = await server.connect()
    writer.write(SESSION)
    await writer.drain()
    assert await read_to_eof(reader) == error_message(ErrorCode.UNKNOWN_CALL)
    writer.close()
    assert await server.ends.get() == SessionEnd.UNKNOWN_CALL
    assert server.asked[-1] == "gone" and server.sink.calls == []


# --- the flood budget -----------------------------------------------------------------


async def test_audio_far_faster_than_real_time_is_cut_off(serve: Serve) -> None:
    """20x real time in big frames (200 ms every 10 ms): refused after the burst allowance."""
    metrics = Metrics()
    server: Server = await serve(metrics=metrics)
    reader, writer = await server.connect()
    big = encode_frame(Kind.SLIN, sine_pcm(1600))  # 200 ms, the parser's largest payload
    sent = await paced(writer, [UUID_MESSAGE] + [big] * 100, every=0.01)  # 20 s of audio

    assert await read_to_eof(reader) == error_message(ErrorCode.FLOOD)
    writer.close()
    assert await server.ends.get() == SessionEnd.FLOOD
    assert 0 < len(server.sink.frames) < 100
    assert sent <= 101
    assert server.sink.calls[-1] == ("close", (CALL_ID, Track.CALLER))
    assert rejections(metrics, "flood") == 1.0


async def test_a_flood_of_tiny_messages_is_cut_off(serve: Serve) -> None:
    """One sample per message weighs nothing as audio; the message budget stops it."""
    metrics = Metrics()
    server: Server = await serve(metrics=metrics)
    reader, writer = await server.connect()
    writer.write(UUID_MESSAGE + encode_frame(Kind.SLIN, b"\x01\x00") * 5000)
    await writer.drain()

    assert await read_to_eof(reader) == error_message(ErrorCode.FLOOD)
    writer.close()
    assert await server.ends.get() == SessionEnd.FLOOD
    assert 0 < len(server.sink.frames) < 5000
    assert rejections(metrics, "flood") == 1.0


async def test_real_time_audio_longer_than_the_burst_allowance_passes(serve: Serve) -> None:
    metrics = Metrics()
    server: Server = await serve(metrics=metrics)
    reader, writer = await server.connect()
    frame = encode_frame(Kind.SLIN, sine_pcm(160))
    count = 200  # 4 s of audio: more than the 3 s of burst, so only refilling lets it pass
    sent = await paced(writer, [UUID_MESSAGE] + [frame] * count, every=FRAME_SECONDS)
    writer.write(encode_frame(Kind.HANGUP))
    await writer.drain()

    assert await read_to_eof(reader) == b""
    writer.close()
    assert await server.ends.get() == SessionEnd.HANGUP
    assert sent == count + 1
    assert len(server.sink.frames) == count
    assert rejections(metrics, "flood") is None
