"""Twilio Media Streams: the JSON messages of the websocket, decoded into typed values, and
the session that turns them into PCM16 frames per call leg.

A <Stream> carries mu-law 8 kHz in 20 ms chunks, base64 in `media` messages, per track:
inbound is the caller, outbound what the caller hears (the agent). The `start` message is
admitted (by a check the caller supplies: which call the stream belongs to, and whether it
may stream at all) before any leg opens; every chunk is capped in size and weighed against
the connection's flood budget before it is decoded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import msgspec

from callcenter.domain.events import CallDtmf
from callcenter.errors import InvalidInput, decoded
from callcenter.media.codecs import ulaw_to_pcm16
from callcenter.media.flood import MAX_FRAME_SECONDS, MediaGuard, audio_seconds
from callcenter.media.frames import AudioFrame, FrameSink, Track
from callcenter.media.refusals import MediaRefused, Refusal

_MAX_MESSAGE_BYTES = 64 * 1024
Counter = Annotated[int, msgspec.Meta(ge=0)]
AccountSid = Annotated[str, msgspec.Meta(pattern=r"^AC[0-9a-fA-F]{32}$")]
CallSid = Annotated[str, msgspec.Meta(pattern=r"^CA[0-9a-fA-F]{32}$")]
StreamSid = Annotated[str, msgspec.Meta(pattern=r"^MZ[0-9a-fA-F]{32}$")]


class MediaFormat(msgspec.Struct, frozen=True, rename="camel"):
    """Always audio/x-mulaw, 8000 Hz, 1 channel for a <Stream> today."""

    encoding: str
    sample_rate: Annotated[int, msgspec.Meta(gt=0)]
    channels: Annotated[int, msgspec.Meta(ge=1, le=2)]


class StartMetadata(msgspec.Struct, frozen=True, rename="camel"):
    stream_sid: StreamSid
    account_sid: AccountSid
    call_sid: CallSid
    tracks: list[Literal["inbound", "outbound"]]
    media_format: MediaFormat
    custom_parameters: dict[str, str] = msgspec.field(default_factory=dict)


class MediaChunk(msgspec.Struct, frozen=True):
    track: Literal["inbound", "outbound"]
    chunk: Counter  # from 1, per track
    timestamp: Counter  # milliseconds since the stream started
    payload: bytes  # base64 on the wire; the raw codec bytes here


class DtmfDigit(msgspec.Struct, frozen=True):
    track: str  # "inbound_track"
    digit: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-D*#]$")]


class MarkName(msgspec.Struct, frozen=True):
    name: str


class StopMetadata(msgspec.Struct, frozen=True, rename="camel"):
    account_sid: AccountSid
    call_sid: CallSid


class StreamMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", rename="camel"):
    """One message from Twilio; numbers Twilio sends as strings are decoded as ints."""


class StreamConnected(StreamMessage, frozen=True, kw_only=True, tag="connected"):
    protocol: str
    version: str


class StreamStart(StreamMessage, frozen=True, kw_only=True, tag="start"):
    sequence_number: Counter
    stream_sid: StreamSid
    start: StartMetadata


class StreamMedia(StreamMessage, frozen=True, kw_only=True, tag="media"):
    sequence_number: Counter
    stream_sid: StreamSid
    media: MediaChunk


class StreamDtmf(StreamMessage, frozen=True, kw_only=True, tag="dtmf"):
    sequence_number: Counter
    stream_sid: StreamSid
    dtmf: DtmfDigit


class StreamMark(StreamMessage, frozen=True, kw_only=True, tag="mark"):
    sequence_number: Counter
    stream_sid: StreamSid
    mark: MarkName


class StreamStop(StreamMessage, frozen=True, kw_only=True, tag="stop"):
    sequence_number: Counter
    stream_sid: StreamSid
    stop: StopMetadata


AnyStreamMessage = (
    StreamConnected | StreamStart | StreamMedia | StreamDtmf | StreamMark | StreamStop
)
# Lax mode: Twilio sends sequenceNumber, chunk and timestamp as decimal strings.
_STREAM_DECODER: msgspec.json.Decoder[AnyStreamMessage] = msgspec.json.Decoder(
    AnyStreamMessage, strict=False
)


def decode_stream_message(data: str | bytes) -> AnyStreamMessage:
    """Decode one websocket message. Raises InvalidInput (pointer to the bad field) for
    anything that is not a well-formed Media Streams message, and nothing else."""
    try:
        raw = data.encode() if isinstance(data, str) else data
    except UnicodeEncodeError:
        raise InvalidInput("message is not valid UTF-8 text") from None
    if len(raw) > _MAX_MESSAGE_BYTES:
        raise InvalidInput(f"message exceeds {_MAX_MESSAGE_BYTES} bytes")
    return decoded(lambda: _STREAM_DECODER.decode(raw), malformed="")


def stream_dtmf_event(message: StreamDtmf, call_sid: str) -> CallDtmf:
    """`call.dtmf` for a digit on a bidirectional stream of `call_sid` (from its start)."""
    return CallDtmf(
        event_id=f"twilio:{message.stream_sid}:dtmf:{message.sequence_number}",
        call_id=call_sid,
        digits=message.dtmf.digit,
    )


TRACKS = {"inbound": Track.CALLER, "outbound": Track.AGENT}
TWILIO_RATE = 8000
MULAW_SAMPLE_BYTES = 1
# Twilio sends 20 ms (160 bytes); no chunk may hold more than MAX_FRAME_SECONDS.
MAX_MEDIA_PAYLOAD = int(TWILIO_RATE * MULAW_SAMPLE_BYTES * MAX_FRAME_SECONDS)

# Decides whether a stream may go on, from its start: returns the call id the stream
# belongs to, or raises MediaRefused.
Admission = Callable[[StartMetadata], Awaitable[str]]


class TwilioStreamSession:
    """One Media Streams websocket: `handle` each text message in order; `close` at the end
    (idempotent). Raises InvalidInput for a malformed or out-of-order message, and
    MediaRefused (from `admit` or `guard`, or for an oversized chunk) for a stream that must
    not go on; the caller closes the socket then."""

    def __init__(
        self,
        sink: FrameSink,
        *,
        admit: Admission,
        guard: MediaGuard,
        on_dtmf: Callable[[CallDtmf], None],
    ) -> None:
        self._sink = sink
        self._admit = admit
        self._guard = guard
        self._on_dtmf = on_dtmf
        self._started = False
        self._call_id: str | None = None
        self._call_sid = ""
        self._stream_sid = ""
        self._open: set[Track] = set()
        self._sequence: dict[Track, int] = {}

    @property
    def call_id(self) -> str | None:
        return self._call_id

    async def handle(self, data: str | bytes) -> None:
        message = decode_stream_message(data)
        if isinstance(message, StreamStart):
            await self._start(message)
        elif isinstance(message, StreamMedia):
            self._media(message)
        elif isinstance(message, StreamDtmf):
            self._require_started("dtmf")
            self._on_dtmf(stream_dtmf_event(message, self._call_sid))
        elif isinstance(message, StreamStop):
            self.close()
        # connected and mark carry nothing for us

    def _require_started(self, kind: str) -> str:
        if self._call_id is None:
            raise InvalidInput(f"'{kind}' before 'start'", "/event")
        return self._call_id

    async def _start(self, message: StreamStart) -> None:
        if self._started:
            raise InvalidInput("a second 'start' on one stream", "/event")
        self._started = True
        start = message.start
        media_format = start.media_format
        if (media_format.encoding, media_format.sample_rate, media_format.channels) != (
            "audio/x-mulaw",
            TWILIO_RATE,
            1,
        ):
            raise InvalidInput(
                "only mono audio/x-mulaw at 8000 Hz is supported", "/start/mediaFormat"
            )
        call_id = await self._admit(start)
        self._call_id = call_id
        self._call_sid = start.call_sid
        self._stream_sid = message.stream_sid
        for name in dict.fromkeys(start.tracks):
            track = TRACKS[name]
            self._open.add(track)
            self._sequence[track] = 0
            self._sink.open_leg(call_id, track, TWILIO_RATE)

    def _media(self, message: StreamMedia) -> None:
        call_id = self._require_started("media")
        if message.stream_sid != self._stream_sid:
            raise InvalidInput("media for another stream on this socket", "/streamSid")
        track = TRACKS[message.media.track]
        if track not in self._open:
            raise InvalidInput(
                f"media for track {message.media.track!r} not started", "/media/track"
            )
        payload = message.media.payload
        if len(payload) > MAX_MEDIA_PAYLOAD:
            raise MediaRefused(
                Refusal.TOO_BIG,
                f"media payload of {len(payload)} bytes exceeds {MAX_MEDIA_PAYLOAD}",
            )
        self._guard.audio(track, audio_seconds(len(payload), TWILIO_RATE, MULAW_SAMPLE_BYTES))
        sequence = self._sequence[track]
        self._sequence[track] = sequence + 1
        pcm = ulaw_to_pcm16(payload)
        self._sink.frame(AudioFrame(call_id, track, TWILIO_RATE, pcm, sequence))

    def close(self) -> None:
        if self._call_id is not None:
            for track in sorted(self._open):
                self._sink.close_leg(self._call_id, track)
        self._open.clear()
