"""Twilio Media Streams: the JSON messages of the websocket, decoded into typed values, and
the session that turns them into PCM16 frames per call leg.

A <Stream> carries mu-law 8 kHz in 20 ms chunks, base64 in `media` messages, per track:
inbound is the caller, outbound what the caller hears (the agent). The call id is the
`call_id` custom parameter set in the TwiML, else the CallSid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import msgspec

from callcenter.domain.events import CallDtmf
from callcenter.errors import InvalidInput, split_validation_message
from callcenter.media.codecs import ulaw_to_pcm16
from callcenter.media.frames import AudioFrame, FrameSink, Track

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
    try:
        return _STREAM_DECODER.decode(raw)
    except msgspec.ValidationError as error:
        reason, pointer = split_validation_message(str(error))
        raise InvalidInput(reason, pointer) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as error:
        raise InvalidInput(str(error)) from None


def stream_dtmf_event(message: StreamDtmf, call_sid: str) -> CallDtmf:
    """`call.dtmf` for a digit on a bidirectional stream of `call_sid` (from its start)."""
    return CallDtmf(
        event_id=f"twilio:{message.stream_sid}:dtmf:{message.sequence_number}",
        call_id=call_sid,
        digits=message.dtmf.digit,
    )


TRACKS = {"inbound": Track.CALLER, "outbound": Track.AGENT}
TWILIO_RATE = 8000


class TwilioStreamSession:
    """One Media Streams websocket: `handle` each text message in order; `close` at the end
    (idempotent). Raises InvalidInput for a malformed or out-of-order message; the caller
    closes the socket then."""

    def __init__(self, sink: FrameSink, *, on_dtmf: Callable[[CallDtmf], None]) -> None:
        self._sink = sink
        self._on_dtmf = on_dtmf
        self._call_id: str | None = None
        self._call_sid = ""
        self._stream_sid = ""
        self._open: set[Track] = set()
        self._sequence: dict[Track, int] = {}

    @property
    def call_id(self) -> str | None:
        return self._call_id

    def handle(self, data: str | bytes) -> None:
        message = decode_stream_message(data)
        if isinstance(message, StreamStart):
            self._start(message)
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

    def _start(self, message: StreamStart) -> None:
        if self._call_id is not None:
            raise InvalidInput("a second 'start' on one stream", "/event")
        start = message.start
        if start.media_format.encoding != "audio/x-mulaw" or (
            start.media_format.sample_rate != TWILIO_RATE
        ):
            raise InvalidInput("only audio/x-mulaw at 8000 Hz is supported", "/start/mediaFormat")
        self._call_id = start.custom_parameters.get("call_id") or start.call_sid
        self._call_sid = start.call_sid
        self._stream_sid = message.stream_sid
        for name in dict.fromkeys(start.tracks):
            track = TRACKS[name]
            self._open.add(track)
            self._sequence[track] = 0
            self._sink.open_leg(self._call_id, track, TWILIO_RATE)

    def _media(self, message: StreamMedia) -> None:
        call_id = self._require_started("media")
        if message.stream_sid != self._stream_sid:
            raise InvalidInput("media for another stream on this socket", "/streamSid")
        track = TRACKS[message.media.track]
        if track not in self._open:
            raise InvalidInput(
                f"media for track {message.media.track!r} not started", "/media/track"
            )
        sequence = self._sequence[track]
        self._sequence[track] = sequence + 1
        pcm = ulaw_to_pcm16(message.media.payload)
        self._sink.frame(AudioFrame(call_id, track, TWILIO_RATE, pcm, sequence))

    def close(self) -> None:
        if self._call_id is not None:
            for track in sorted(self._open):
                self._sink.close_leg(self._call_id, track)
        self._open.clear()
