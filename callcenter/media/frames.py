"""The unit every media adapter emits: signed 16-bit little-endian PCM for one call leg."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Track(StrEnum):
    """Which side of the call a leg carries."""

    CALLER = "caller"  # inbound: what the caller says
    AGENT = "agent"  # outbound: what the agent (or IVR) says
    MIXED = "mixed"  # both sides in one stream


@dataclass(frozen=True, slots=True)
class AudioFrame:
    call_id: str
    track: Track
    sample_rate: int  # 8000 or 16000
    pcm: bytes  # int16 little-endian, mono
    sequence: int  # per leg, from 0, in arrival order


class FrameSink(Protocol):
    """Where a media adapter delivers frames (the transcription pool, later)."""

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None: ...

    def frame(self, frame: AudioFrame) -> None:
        """Deliver one frame; must not block (drop and count when overloaded)."""
        ...

    def close_leg(self, call_id: str, track: Track) -> None: ...
