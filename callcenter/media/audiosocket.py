"""Asterisk AudioSocket sessions: one TCP connection per call leg, turned into PCM frames for
a FrameSink (the wire format is in callcenter.media.audiosocket_protocol).

Authentication: the protocol carries no secret, so a connection is admitted by the call it
names. The 16-byte UUID of the first message must name a live call this server knows (its
canonical text form, in lower or upper case, as a call id), or be an alias handed out for
a live call's leg (ARI call control gives Asterisk one per leg it listens to: the caller's
or the agent's); anything else is refused before any audio is read. The listener binds to
loopback unless configured otherwise. Audio is weighed against wall-clock time
(MediaGuard): a peer sending far faster than real time is cut off. Refusals are answered
with an error message, then the connection closes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum

from callcenter.media.audiosocket_protocol import (
    DEFAULT_MAX_PAYLOAD,
    Audio,
    AudioSocketParser,
    ControlFrame,
    Error,
    ErrorCode,
    Frame,
    Hangup,
    Kind,
    ProtocolError,
    Uuid,
    encode_frame,
)
from callcenter.media.flood import FloodLimits, MediaGuard, audio_seconds
from callcenter.media.frames import AudioFrame, FrameSink, Track
from callcenter.media.refusals import MediaRefused, Refusal
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT_SECONDS = 10.0
READ_CHUNK_BYTES = 4096
CLOSE_TIMEOUT_SECONDS = 2.0
LINGER_MAX_BYTES = 256 * 1024
SAMPLE_BYTES = 2

# Whether a call id names a call that is live now (known and not ended).
LiveCall = Callable[[str], Awaitable[bool]]
# A UUID handed out for a call's leg (ARI's externalMedia `data`): its call and track
AudioAlias = Callable[[str], Awaitable[tuple[str, Track] | None]]


class SessionEnd(StrEnum):
    """Why a session ended."""

    HANGUP = "hangup"  # the peer sent a hangup message
    EOF = "eof"  # the peer closed the connection
    REMOTE_ERROR = "remote_error"  # the peer sent an error message
    PROTOCOL_ERROR = "protocol_error"  # we sent an error message and closed
    TIMEOUT = "timeout"  # nothing arrived within the read timeout
    UNKNOWN_CALL = "unknown_call"  # the UUID names no live call: refused
    FLOOD = "flood"  # audio or messages far faster than real time: cut off
    INTERNAL_ERROR = "internal_error"  # a bug or a failing sink; logged and counted


# What we send before closing, by how the session ended; the rest close silently.
ERROR_CODES: dict[SessionEnd, ErrorCode] = {
    SessionEnd.PROTOCOL_ERROR: ErrorCode.PROTOCOL,
    SessionEnd.TIMEOUT: ErrorCode.TIMEOUT,
    SessionEnd.UNKNOWN_CALL: ErrorCode.UNKNOWN_CALL,
    SessionEnd.FLOOD: ErrorCode.FLOOD,
    SessionEnd.INTERNAL_ERROR: ErrorCode.INTERNAL,
}
# Counted in media_rejections_total{dialect="asterisk", reason=<the end>}.
REJECTIONS = frozenset(
    {SessionEnd.PROTOCOL_ERROR, SessionEnd.TIMEOUT, SessionEnd.UNKNOWN_CALL, SessionEnd.FLOOD}
)
_REFUSAL_ENDS = {Refusal.UNKNOWN_CALL: SessionEnd.UNKNOWN_CALL, Refusal.FLOOD: SessionEnd.FLOOD}


class _Leg:
    """The call leg of one connection: opened at the first audio message."""

    def __init__(self, sink: FrameSink) -> None:
        self.sink = sink
        self.call_id: str | None = None
        self.track = Track.CALLER
        self.sample_rate: int | None = None
        self.sequence = 0

    def audio(self, frame: Audio) -> None:
        assert self.call_id is not None  # audio is read only once the call is admitted
        if self.sample_rate is None:
            self.sink.open_leg(self.call_id, self.track, frame.sample_rate)
            self.sample_rate = frame.sample_rate
        elif frame.sample_rate != self.sample_rate:
            raise ProtocolError(
                f"sample rate changed from {self.sample_rate} to {frame.sample_rate} Hz"
            )
        self.sink.frame(
            AudioFrame(self.call_id, self.track, frame.sample_rate, frame.pcm, self.sequence)
        )
        self.sequence += 1

    def close(self) -> None:
        if self.call_id is not None and self.sample_rate is not None:
            self.sample_rate = None
            self.sink.close_leg(self.call_id, self.track)


class AudioSocketHandler:
    """Serves AudioSocket connections: `asyncio.start_server(handler, host, port)`.

    Each connection is read with a timeout and parsed. Its UUID must pass `is_live` (see
    the module docstring); then audio goes to `sink` as AudioFrames of Track.CALLER (8 or
    16 kHz, sequence from 0) within the flood budget of `limits`, control messages to
    `on_event(call_id, frame)`. The leg is closed at hangup, EOF, timeout, refusal or error;
    a protocol error, timeout or refusal is answered with an error message before closing.
    A connection never raises out (except cancellation); `close()` ends all of them."""

    def __init__(
        self,
        sink: FrameSink,
        *,
        is_live: LiveCall,
        alias: AudioAlias | None = None,
        on_event: Callable[[str, ControlFrame], None] | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        limits: FloodLimits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._sink = sink
        self._is_live = is_live
        self._alias = alias
        self._on_event = on_event
        self._read_timeout = read_timeout
        self._max_payload = max_payload
        self._limits = limits or FloodLimits()
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
            end = await self._serve(reader, leg)
        except asyncio.CancelledError:
            writer.transport.abort()  # shutting down: no goodbye, but the leg is closed below
            raise
        except Exception:
            logger.exception("AudioSocket session failed", extra={"call_id": leg.call_id})
            self._count_failure()
            end = SessionEnd.INTERNAL_ERROR
        finally:
            self._connections.discard(task)
            self._close_leg(leg)
        await _close(reader, writer, ERROR_CODES.get(end))
        logger.info("AudioSocket session ended: %s", end, extra={"call_id": leg.call_id})
        if end in REJECTIONS and self._metrics is not None:
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

    async def _serve(self, reader: asyncio.StreamReader, leg: _Leg) -> SessionEnd:
        parser = AudioSocketParser(max_payload=self._max_payload)
        guard = MediaGuard(asyncio.get_running_loop().time, self._limits)
        while True:
            try:
                async with asyncio.timeout(self._read_timeout):
                    data = await reader.read(READ_CHUNK_BYTES)
            except TimeoutError:
                return SessionEnd.TIMEOUT
            except OSError:
                return SessionEnd.EOF
            if not data:
                return SessionEnd.EOF
            try:
                for frame in parser.feed(data):
                    end = await self._handle(leg, guard, frame)
                    if end is not None:
                        return end
            except ProtocolError as error:
                logger.warning("%s", error, extra={"call_id": leg.call_id})
                return SessionEnd.PROTOCOL_ERROR
            except MediaRefused as error:
                logger.warning("AudioSocket refused: %s", error, extra={"call_id": leg.call_id})
                return _REFUSAL_ENDS[error.refusal]

    async def _handle(self, leg: _Leg, guard: MediaGuard, frame: Frame) -> SessionEnd | None:
        guard.message()
        if isinstance(frame, Uuid):
            leg.call_id, leg.track = await self._live_call_id(frame.value)
        elif isinstance(frame, Audio):
            guard.audio(leg.track, audio_seconds(len(frame.pcm), frame.sample_rate, SAMPLE_BYTES))
            leg.audio(frame)
            return None
        assert leg.call_id is not None  # the parser refuses everything before the UUID
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

    async def _live_call_id(self, value: uuid.UUID) -> tuple[str, Track]:
        """The live call the UUID names (as its id, or as an alias handed out for one of
        its legs) and the leg's track; raises MediaRefused (unknown call)."""
        text = str(value)
        for candidate in dict.fromkeys((text, text.upper())):
            if await self._is_live(candidate):
                return candidate, Track.CALLER
        aliased = await self._alias(text) if self._alias is not None else None
        if aliased is not None and await self._is_live(aliased[0]):
            return aliased
        raise MediaRefused(Refusal.UNKNOWN_CALL, f"no live call {text}")

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
