"""Audio levels: is there a voice in a frame, or only line noise."""

from __future__ import annotations

import numpy as np

VOICE_RMS = 300.0  # about -41 dBFS: above telephone line noise, below quiet speech


def frame_rms(pcm: bytes) -> float:
    """Root mean square of a PCM16 little-endian frame (0 for an empty one)."""
    if len(pcm) < 2:
        return 0.0
    samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples)))


def is_voiced(pcm: bytes, threshold: float = VOICE_RMS) -> bool:
    return frame_rms(pcm) >= threshold
