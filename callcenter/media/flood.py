"""Per-connection budgets that cut off senders far faster than real time: `MediaGuard`,
which every media path (Twilio, L16, AudioSocket) uses to
weigh the seconds of audio it receives against wall-clock time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callcenter.domain.flood import FloodGuard
from callcenter.media.frames import Track
from callcenter.media.refusals import MediaRefused, Refusal

# Gateways send 20 ms frames; no frame may hold more audio than this.
MAX_FRAME_SECONDS = 0.5


def audio_seconds(byte_count: int, sample_rate: int, sample_bytes: int, channels: int = 1) -> float:
    """How long `byte_count` bytes of audio play: bytes / (rate x bytes per sample x channels)."""
    return byte_count / (sample_rate * sample_bytes * channels)


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """A gateway sends each track at real time (1.0) on average. `speed` leaves room for
    jitter and clock drift; `burst_seconds` of audio may arrive at once (a gateway catching
    up after a network stall); the message budget stops floods of tiny frames, which weigh
    almost nothing as audio (real time is 50 messages a second per track)."""

    speed: float = 1.5  # seconds of audio per wall-clock second, per track
    burst_seconds: float = 3.0
    messages_per_second: float = 400.0
    message_burst: float = 800.0


class MediaGuard:
    """The flood budget of one media connection: `message()` for every message received,
    `audio(track, seconds)` for every audio frame before it is delivered. Both raise
    MediaRefused(Refusal.FLOOD) once the sender is over budget; the connection must end."""

    def __init__(self, clock: Callable[[], float], limits: FloodLimits | None = None) -> None:
        self._clock = clock
        self._limits = limits or FloodLimits()
        self._messages = FloodGuard(
            self._limits.messages_per_second, self._limits.message_burst, clock()
        )
        self._tracks: dict[Track, FloodGuard] = {}

    def message(self) -> None:
        if not self._messages.allow(self._clock()):
            raise MediaRefused(Refusal.FLOOD, "messages arrive far faster than real time")

    def audio(self, track: Track, seconds: float) -> None:
        now = self._clock()
        bucket = self._tracks.get(track)
        if bucket is None:
            # a track's budget starts full when its first audio arrives
            bucket = FloodGuard(self._limits.speed, self._limits.burst_seconds, now)
            self._tracks[track] = bucket
        if not bucket.allow(now, seconds):
            raise MediaRefused(Refusal.FLOOD, "audio arrives far faster than real time")
