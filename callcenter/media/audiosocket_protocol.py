"""Asterisk AudioSocket: the TCP wire format and its incremental parser.

Every message is a 3-byte header (kind, payload length as big-endian uint16) and the
payload. Kinds: 0x00 hangup, 0x01 the call's UUID (16 bytes, always first), 0x03 one
DTMF digit (ASCII), 0x10 signed linear 16-bit little-endian mono at 8 kHz (0x12 is the
same at 16 kHz, sent by Asterisk 22's channel driver for slin16 calls), 0xff an error
(optional application-specific code). The parser is pure and incremental; the session
handler is in callcenter.media.audiosocket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from callcenter.errors import InvalidInput

HEADER_BYTES = 3
MAX_PROTOCOL_PAYLOAD = 0xFFFF
# Asterisk sends 20 ms frames (320 bytes at 8 kHz); allow up to 100 ms at 16 kHz.
DEFAULT_MAX_PAYLOAD = 3200
DTMF_DIGITS = frozenset("0123456789ABCD*#")
MAX_ERROR_CODE_BYTES = 4


class Kind(IntEnum):
    """The message kinds of the protocol."""

    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN = 0x10
    SLIN16 = 0x12
    ERROR = 0xFF


KNOWN_KINDS = frozenset(int(kind) for kind in Kind)
AUDIO_RATES: dict[int, int] = {Kind.SLIN: 8000, Kind.SLIN16: 16000}
# Other slin rates Asterisk 22 can send (12, 24, 32, 44.1, 48, 96, 192 kHz): known, refused.
UNSUPPORTED_AUDIO_KINDS = frozenset({0x11, *range(0x13, 0x19)})


class ErrorCode(IntEnum):
    """Codes this server puts in the error frames it sends before closing."""

    PROTOCOL = 0x10
    TIMEOUT = 0x11
    INTERNAL = 0x12
    UNKNOWN_CALL = 0x13  # the UUID names no live call
    FLOOD = 0x14  # audio far faster than real time


class ProtocolError(InvalidInput):
    """The peer broke the AudioSocket protocol; the connection cannot go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"AudioSocket protocol error: {reason}")


@dataclass(frozen=True, slots=True)
class Uuid:
    value: uuid.UUID


@dataclass(frozen=True, slots=True)
class Audio:
    pcm: bytes  # int16 little-endian mono
    sample_rate: int = 8000


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Error:
    code: int | None  # big-endian integer of the payload; None when it is empty


Frame = Uuid | Audio | Dtmf | Hangup | Error
ControlFrame = Uuid | Dtmf | Hangup | Error


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    """One message on the wire. Raises ValueError for a kind or payload out of range."""
    if not 0 <= kind <= 0xFF:
        raise ValueError(f"kind must be one byte, got {kind}")
    if len(payload) > MAX_PROTOCOL_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PROTOCOL_PAYLOAD}")
    return bytes((kind,)) + len(payload).to_bytes(2, "big") + payload


class AudioSocketParser:
    """Incremental parser: `feed` bytes as they arrive, in any chunking.

    After a ProtocolError or a hangup the parser is finished and refuses more input.
    Drain each iterator `feed` returns before feeding again; then at most one partial
    message (< HEADER_BYTES + max_payload bytes) stays buffered."""

    def __init__(self, *, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        if not 1 <= max_payload <= MAX_PROTOCOL_PAYLOAD:
            raise ValueError(f"max_payload must be 1..{MAX_PROTOCOL_PAYLOAD}")
        self._max_payload = max_payload
        self._buffer = bytearray()
        self._seen_uuid = False
        self._finished: str | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    @property
    def finished(self) -> bool:
        return self._finished is not None

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Frames completed by `data`, in order; raises ProtocolError at the first bad one."""
        if self._finished is not None:
            raise ProtocolError(f"data after the stream ended ({self._finished})")
        self._buffer += data
        return self._drain()

    def _drain(self) -> Iterator[Frame]:
        while len(self._buffer) >= HEADER_BYTES and self._finished is None:
            kind = self._buffer[0]
            length = int.from_bytes(self._buffer[1:3], "big")
            self._check_header(kind, length)
            if len(self._buffer) < HEADER_BYTES + length:
                return
            payload = bytes(self._buffer[HEADER_BYTES : HEADER_BYTES + length])
            del self._buffer[: HEADER_BYTES + length]
            frame = self._frame(kind, payload)
            if isinstance(frame, Hangup):
                self._finished = "hangup"
                self._buffer.clear()  # anything after a hangup is never read
            yield frame

    def _fail(self, reason: str) -> ProtocolError:
        self._finished = reason
        self._buffer.clear()
        return ProtocolError(reason)

    def _check_header(self, kind: int, length: int) -> None:
        """Refuse a bad message from its header alone, before buffering its payload."""
        if kind in UNSUPPORTED_AUDIO_KINDS:
            raise self._fail(f"audio kind 0x{kind:02x} is not supported (8 or 16 kHz only)")
        if kind not in KNOWN_KINDS:
            raise self._fail(f"unknown message kind 0x{kind:02x}")
        if length > self._max_payload:
            raise self._fail(f"payload of {length} bytes exceeds the limit of {self._max_payload}")
        if kind != Kind.UUID and not self._seen_uuid:
            raise self._fail(f"{Kind(kind).name.lower()} message before the UUID")

    def _frame(self, kind: int, payload: bytes) -> Frame:
        """The frame a whole message of a known kind holds; raises ProtocolError."""
        if kind == Kind.UUID:
            return self._uuid(payload)
        if kind in AUDIO_RATES:
            return self._audio(payload, AUDIO_RATES[kind])
        if kind == Kind.DTMF:
            return self._dtmf(payload)
        if kind == Kind.HANGUP:
            return self._hangup(payload)
        return self._error(payload)

    def _uuid(self, payload: bytes) -> Uuid:
        if self._seen_uuid:
            raise self._fail("a second UUID message")
        if len(payload) != 16:
            raise self._fail(f"UUID payload must be 16 bytes, got {len(payload)}")
        self._seen_uuid = True
        return Uuid(uuid.UUID(bytes=payload))

    def _audio(self, payload: bytes, sample_rate: int) -> Audio:
        if not payload or len(payload) % 2:
            raise self._fail(f"audio payload of {len(payload)} bytes is not whole samples")
        return Audio(payload, sample_rate)

    def _dtmf(self, payload: bytes) -> Dtmf:
        digit = payload.decode("ascii", "replace")
        if len(payload) != 1 or digit not in DTMF_DIGITS:
            raise self._fail(f"DTMF payload must be one of 0-9 A-D * #, got {payload!r}")
        return Dtmf(digit)

    def _hangup(self, payload: bytes) -> Hangup:
        if payload:
            raise self._fail("hangup message with a payload")
        return Hangup()

    def _error(self, payload: bytes) -> Error:
        if len(payload) > MAX_ERROR_CODE_BYTES:
            raise self._fail(f"error code of {len(payload)} bytes")
        return Error(int.from_bytes(payload, "big") if payload else None)
