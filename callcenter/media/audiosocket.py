"""Asterisk AudioSocket: the TCP wire format and one session per call leg.

Every message is a 3-byte header (kind, payload length as big-endian uint16) and the
payload. Kinds: 0x00 hangup, 0x01 the call's UUID (16 bytes, always first), 0x03 one
DTMF digit (ASCII), 0x10 signed linear 16-bit little-endian mono at 8 kHz (0x12 is the
same at 16 kHz, sent by Asterisk 22's channel driver for slin16 calls), 0xff an error
(optional application-specific code). The parser is pure and incremental; the handler
turns one connection into PCM frames for a FrameSink."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from callcenter.errors import InvalidInput
from callcenter.media.frames import AudioFrame, FrameSink, Track
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

HEADER_BYTES = 3
MAX_PROTOCOL_PAYLOAD = 0xFFFF
# Asterisk sends 20 ms frames (320 bytes at 8 kHz); allow up to 100 ms at 16 kHz.
DEFAULT_MAX_PAYLOAD = 3200
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
READ_CHUNK_BYTES = 4096
CLOSE_TIMEOUT_SECONDS = 2.0
LINGER_MAX_BYTES = 256 * 1024
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
        if kind == Kind.UUID:
            if self._seen_uuid:
                raise self._fail("a second UUID message")
            if len(payload) != 16:
                raise self._fail(f"UUID payload must be 16 bytes, got {len(payload)}")
            self._seen_uuid = True
            return Uuid(uuid.UUID(bytes=payload))
        if kind in AUDIO_RATES:
            if not payload or len(payload) % 2:
                raise self._fail(f"audio payload of {len(payload)} bytes is not whole samples")
            return Audio(payload, AUDIO_RATES[kind])
        if kind == Kind.DTMF:
            digit = payload.decode("ascii", "replace")
            if len(payload) != 1 or digit not in DTMF_DIGITS:
                raise self._fail(f"DTMF payload must be one of 0-9 A-D * #, got {payload!r}")
            return Dtmf(digit)
        if kind == Kind.HANGUP:
            if payload:
                raise self._fail("hangup message with a payload")
            return Hangup()
        if len(payload) > MAX_ERROR_CODE_BYTES:
            raise self._fail(f"error code of {len(payload)} bytes")
        return Error(int.from_bytes(payload, "big") if payload else None)


class SessionEnd(StrEnum):
    """Why a session ended."""

    HANGUP = "hangup"  # the peer sent a hangup message
    EOF = "eof"  # the peer closed the connection
    REMOTE_ERROR = "remote_error"  # the peer sent an error message
    PROTOCOL_ERROR = "protocol_error"  # we sent an error message and closed
    TIMEOUT = "timeout"  # nothing arrived within the read timeout
    INTERNAL_ERROR = "internal_error"  # a bug or a failing sink; logged and counted


class _Leg:
    """The call leg of one connection: opened at the first audio message."""

    def __init__(self, sink: FrameSink) -> None:
        self.sink = sink
        self.call_id: str | None = None
        self.sample_rate: int | None = None
        self.sequence = 0

    def audio(self, frame: Audio) -> None:
        assert self.call_id is not None  # the parser refuses audio before the UUID
        if self.sample_rate is None:
            self.sink.open_leg(self.call_id, Track.CALLER, frame.sample_rate)
            self.sample_rate = frame.sample_rate
        elif frame.sample_rate != self.sample_rate:
            raise ProtocolError(
                f"sample rate changed from {self.sample_rate} to {frame.sample_rate} Hz"
            )
        self.sink.frame(
            AudioFrame(self.call_id, Track.CALLER, frame.sample_rate, frame.pcm, self.sequence)
        )
        self.sequence += 1

    def close(self) -> None:
        if self.call_id is not None and self.sample_rate is not None:
            self.sample_rate = None
            self.sink.close_leg(self.call_id, Track.CALLER)


class AudioSocketHandler:
    """Serves AudioSocket connections: `asyncio.start_server(handler, host, port)`.

    Each connection is read with a timeout and parsed; audio goes to `sink` as
    AudioFrames of Track.CALLER (8 or 16 kHz, sequence from 0), control messages to
    `on_event(call_id, frame)`. The leg is closed at hangup, EOF, timeout or error; a
    protocol error or timeout is answered with an error message before closing. A
    connection never raises out (except cancellation); `close()` ends all of them."""

    def __init__(
        self,
        sink: FrameSink,
        *,
        on_event: Callable[[str, ControlFrame], None] | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        metrics: Metrics | None = None,
    ) -> None:
        self._sink = sink
        self._on_event = on_event
        self._read_timeout = read_timeout
        self._max_payload = max_payload
        self._metrics = metrics
        self._connections: set[asyncio.Task[object]] = set()

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    async def __call__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> SessionEnd:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        leg = _Leg(self._sink)
        try:
            end, error_code = await self._serve(reader, writer, leg)
        except asyncio.CancelledError:
            writer.transport.abort()  # shutting down: no goodbye, but the leg is closed below
            raise
        except Exception:
            logger.exception("AudioSocket session failed", extra={"call_id": leg.call_id})
            self._count_failure()
            end, error_code = SessionEnd.INTERNAL_ERROR, ErrorCode.INTERNAL
        finally:
            self._connections.discard(task)
            self._close_leg(leg)
        await _close(reader, writer, error_code)
        logger.info("AudioSocket session ended: %s", end, extra={"call_id": leg.call_id})
        if end in (SessionEnd.PROTOCOL_ERROR, SessionEnd.TIMEOUT) and self._metrics is not None:
            self._metrics.media_rejections_total.labels(dialect="asterisk", reason=end).inc()
        return end

    def _close_leg(self, leg: _Leg) -> None:
        try:
            leg.close()
        except Exception:
            logger.exception("closing the leg failed", extra={"call_id": leg.call_id})
            self._count_failure()

    def _count_failure(self) -> None:
        if self._metrics is not None:
            self._metrics.task_errors_total.labels(task="audiosocket").inc()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, leg: _Leg
    ) -> tuple[SessionEnd, ErrorCode | None]:
        parser = AudioSocketParser(max_payload=self._max_payload)
        while True:
            try:
                async with asyncio.timeout(self._read_timeout):
                    data = await reader.read(READ_CHUNK_BYTES)
            except TimeoutError:
                return SessionEnd.TIMEOUT, ErrorCode.TIMEOUT
            except OSError:
                return SessionEnd.EOF, None
            if not data:
                return SessionEnd.EOF, None
            try:
                for frame in parser.feed(data):
                    end = self._deliver(leg, frame)
                    if end is not None:
                        return end, None
            except ProtocolError as error:
                logger.warning("%s", error, extra={"call_id": leg.call_id})
                return SessionEnd.PROTOCOL_ERROR, ErrorCode.PROTOCOL

    def _deliver(self, leg: _Leg, frame: Frame) -> SessionEnd | None:
        if isinstance(frame, Audio):
            leg.audio(frame)
            return None
        if isinstance(frame, Uuid):
            leg.call_id = str(frame.value)
        assert leg.call_id is not None
        if self._on_event is not None:
            self._on_event(leg.call_id, frame)
        if isinstance(frame, Hangup):
            return SessionEnd.HANGUP
        if isinstance(frame, Error):
            logger.warning(
                "AudioSocket peer reported error %s", frame.code, extra={"call_id": leg.call_id}
            )
            return SessionEnd.REMOTE_ERROR
        return None

    async def close(self) -> None:
        """End every open connection (their legs are closed) and wait for them."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error_code: ErrorCode | None
) -> None:
    """Send the error message if any, then close; a peer that does not read is cut off.

    After an error message the connection lingers, discarding what the peer still sends
    until it closes too: closing with unread input would reset the connection and could
    destroy the error message before the peer reads it."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            if error_code is not None and not writer.is_closing():
                writer.write(encode_frame(Kind.ERROR, bytes((error_code,))))
                if writer.can_write_eof():
                    writer.write_eof()
                discarded = 0
                while discarded < LINGER_MAX_BYTES and (
                    data := await reader.read(READ_CHUNK_BYTES)
                ):
                    discarded += len(data)
            writer.close()
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()
