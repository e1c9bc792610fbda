"""L16 websockets: the first text frame (stream metadata) and the binary PCM frames after it.

One adapter covers four senders, each announcing the call in its own first text frame:
- FreeSWITCH mod_audio_fork (subprotocol "audio.drachtio.org"): the metadata is the JSON
  given to `uuid_audio_fork <uuid> start <url> <mix> <rate> <metadata>`, which must be
  `{"callid": "${uuid}", "sampleRate": 8000|16000, "mixType": "mono|mixed"}` because
  the module does not announce the rate itself.
- jambonz `listen` (subprotocol "audio.jambonz.org"): the call's attributes in camelCase
  (`callSid`, `from`, `to`, `direction`...) plus `sampleRate` and `mixType`.
- Vonage (no subprotocol): `{"event": "websocket:connected", "content-type":
  "audio/l16;rate=16000", ...}` plus the NCCO endpoint's headers, which must carry
  `call_id` (and may carry `track`).
- generic: `{"call_id": "...", "track": "caller|agent|mixed", "sample_rate": 8000|16000}`.
The subprotocol picks the shape; without one, the `event` (Vonage), `callSid` (jambonz)
or `call_id` (generic) member does. Binary frames are int16 little-endian mono PCM."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

from callcenter.errors import InvalidInput, decoded
from callcenter.media.flood import MAX_FRAME_SECONDS
from callcenter.media.frames import AudioFrame, Track
from callcenter.media.refusals import MediaRefused, Refusal

MAX_METADATA_BYTES = 64 * 1024  # jambonz adds the call's customerData
SAMPLE_BYTES = 2

CallId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
SampleRate = Literal[8000, 16000]
MixType = Literal["mono", "mixed"]  # "stereo" (two interleaved legs) is not supported


class L16Source(StrEnum):
    MOD_AUDIO_FORK = "mod_audio_fork"
    JAMBONZ = "jambonz"
    VONAGE = "vonage"
    GENERIC = "generic"


SUBPROTOCOLS: dict[str, L16Source] = {
    "audio.drachtio.org": L16Source.MOD_AUDIO_FORK,
    "audiostream.drachtio.org": L16Source.MOD_AUDIO_FORK,  # early mod_audio_fork releases
    "audio.jambonz.org": L16Source.JAMBONZ,
}


@dataclass(frozen=True, slots=True)
class StreamMetadata:
    call_id: str
    track: Track
    sample_rate: int
    source: L16Source


class _AudioFork(msgspec.Struct, frozen=True, rename="camel"):
    callid: CallId
    sample_rate: SampleRate
    mix_type: MixType = "mono"


class _Jambonz(msgspec.Struct, frozen=True, rename="camel"):
    call_sid: CallId
    sample_rate: SampleRate
    mix_type: MixType = "mono"


class _Vonage(msgspec.Struct, frozen=True):
    event: Literal["websocket:connected"]
    content_type: Annotated[str, msgspec.Meta(max_length=128)] = msgspec.field(name="content-type")
    call_id: CallId
    track: Track = Track.CALLER


class _Generic(msgspec.Struct, frozen=True):
    call_id: CallId
    track: Track
    sample_rate: SampleRate


_MIX_TRACKS: dict[str, Track] = {"mono": Track.CALLER, "mixed": Track.MIXED}
_SHAPES: dict[L16Source, type[msgspec.Struct]] = {
    L16Source.MOD_AUDIO_FORK: _AudioFork,
    L16Source.JAMBONZ: _Jambonz,
    L16Source.VONAGE: _Vonage,
    L16Source.GENERIC: _Generic,
}
_DISCRIMINATORS: tuple[tuple[str, L16Source], ...] = (
    ("event", L16Source.VONAGE),
    ("callSid", L16Source.JAMBONZ),
    ("call_id", L16Source.GENERIC),
)


def decode_metadata(text: str | bytes, *, subprotocol: str | None = None) -> StreamMetadata:
    """The stream metadata of a first text frame, in the shape chosen by `subprotocol`
    (the one negotiated on the websocket) or else by its discriminating member.

    Raises InvalidInput (with a JSON pointer when one field is at fault)."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata frame exceeds {MAX_METADATA_BYTES} bytes")
    document: Any = decoded(
        lambda: msgspec.json.decode(raw), malformed="metadata frame is not JSON"
    )
    if not isinstance(document, dict):
        raise InvalidInput("metadata frame must be a JSON object")
    source = _source(document, subprotocol)
    shape = decoded(
        lambda: msgspec.convert(document, _SHAPES[source]), context=f"{source} metadata: "
    )
    return _metadata(shape, source)


def _source(document: dict[str, Any], subprotocol: str | None) -> L16Source:
    if subprotocol is not None:
        if subprotocol not in SUBPROTOCOLS:
            raise InvalidInput(f"unsupported websocket subprotocol {subprotocol[:64]!r}")
        return SUBPROTOCOLS[subprotocol]
    for member, source in _DISCRIMINATORS:
        if member in document:
            return source
    raise InvalidInput(
        "cannot tell the metadata shape: expected `event` (Vonage), `callSid` (jambonz) or "
        "`call_id` (generic); mod_audio_fork needs the subprotocol audio.drachtio.org"
    )


def _metadata(shape: msgspec.Struct, source: L16Source) -> StreamMetadata:
    if isinstance(shape, _AudioFork):
        return StreamMetadata(shape.callid, _MIX_TRACKS[shape.mix_type], shape.sample_rate, source)
    if isinstance(shape, _Jambonz):
        return StreamMetadata(
            shape.call_sid, _MIX_TRACKS[shape.mix_type], shape.sample_rate, source
        )
    if isinstance(shape, _Vonage):
        rate = _l16_rate(shape.content_type)
        return StreamMetadata(shape.call_id, shape.track, rate, source)
    assert isinstance(shape, _Generic)
    return StreamMetadata(shape.call_id, shape.track, shape.sample_rate, source)


def _l16_rate(content_type: str) -> int:
    """The rate of a media type such as "audio/l16;rate=16000" (8000 or 16000)."""
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    rates = [
        value.strip()
        for name, _, value in (p.partition("=") for p in parameters)
        if name.strip().lower() == "rate"
    ]
    if media_type.lower() != "audio/l16" or len(rates) != 1 or rates[0] not in ("8000", "16000"):
        raise InvalidInput(
            "vonage metadata: content-type must be audio/l16;rate=8000 or audio/l16;rate=16000",
            "/content-type",
        )
    return int(rates[0])


class L16Stream:
    """The binary frames of one L16 websocket, turned into AudioFrames in arrival order.

    A frame must hold whole int16 samples (even, non-empty) and at most `max_frame_bytes`
    (default: half a second of audio at the stream's rate)."""

    def __init__(self, metadata: StreamMetadata, *, max_frame_bytes: int | None = None) -> None:
        default = int(metadata.sample_rate * SAMPLE_BYTES * MAX_FRAME_SECONDS)
        self.metadata = metadata
        self.max_frame_bytes = default if max_frame_bytes is None else max_frame_bytes
        if self.max_frame_bytes < SAMPLE_BYTES:
            raise ValueError("max_frame_bytes must hold at least one sample")
        self._sequence = 0

    @property
    def frames_accepted(self) -> int:
        return self._sequence

    def frame(self, data: bytes) -> AudioFrame:
        """The next AudioFrame; raises InvalidInput for an empty or odd frame, and
        MediaRefused(Refusal.TOO_BIG) for an oversized one."""
        if not data:
            raise InvalidInput("empty audio frame")
        if len(data) > self.max_frame_bytes:
            raise MediaRefused(
                Refusal.TOO_BIG,
                f"audio frame of {len(data)} bytes exceeds the limit of {self.max_frame_bytes}",
            )
        if len(data) % SAMPLE_BYTES:
            raise InvalidInput(f"audio frame of {len(data)} bytes is not whole 16-bit samples")
        meta = self.metadata
        frame = AudioFrame(meta.call_id, meta.track, meta.sample_rate, bytes(data), self._sequence)
        self._sequence += 1
        return frame
