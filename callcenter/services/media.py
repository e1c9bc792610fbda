"""Live media legs: where every gateway adapter delivers PCM16 frames.

Keeps the set of open legs (one per call and track), counts frames and bytes, and hands
frames on to the listeners (the transcription pool, when it is configured). Never blocks:
listeners must take a frame at once or drop (and count) it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from prometheus_client import Counter

from callcenter.media.frames import AudioFrame, FrameSink, Track
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LegStats:
    sample_rate: int
    frames: int = 0
    samples: int = 0
    next_sequence: int = 0
    gaps: int = 0


@dataclass(slots=True)
class MediaHub:
    """Implements FrameSink for the adapters; fans frames out to `listeners`."""

    metrics: Metrics
    listeners: list[FrameSink] = field(default_factory=list)
    legs: dict[tuple[str, Track], LegStats] = field(default_factory=dict)

    accepted: Counter = field(init=False, repr=False)
    no_leg: Counter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # bound once: `labels()` is a locked dict lookup, too much for every 20 ms frame
        self.accepted = self.metrics.media_frames_total.labels("accepted")
        self.no_leg = self.metrics.media_frames_total.labels("no_leg")

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        key = (call_id, track)
        if key in self.legs:
            logger.warning("media leg opened twice; restarting it", extra={"call_id": call_id})
            self.close_leg(call_id, track)
        self.legs[key] = LegStats(sample_rate=sample_rate)
        self.metrics.media_streams_active.inc()
        for listener in self.listeners:
            listener.open_leg(call_id, track, sample_rate)

    def frame(self, frame: AudioFrame) -> None:
        stats = self.legs.get((frame.call_id, frame.track))
        if stats is None:
            self.no_leg.inc()
            return
        if frame.sequence != stats.next_sequence:
            stats.gaps += 1
        stats.next_sequence = frame.sequence + 1
        stats.frames += 1
        stats.samples += len(frame.pcm) // 2
        self.accepted.inc()
        for listener in self.listeners:
            listener.frame(frame)

    def close_leg(self, call_id: str, track: Track) -> None:
        stats = self.legs.pop((call_id, track), None)
        if stats is None:
            return
        self.metrics.media_streams_active.dec()
        logger.info(
            "media leg closed: %d frames, %.1f s of audio, %d gaps",
            stats.frames,
            stats.samples / stats.sample_rate,
            stats.gaps,
            extra={"call_id": call_id, "track": str(track)},
        )
        for listener in self.listeners:
            listener.close_leg(call_id, track)
