"""A call's transcript as stored and shown: its final utterances."""

from __future__ import annotations

import msgspec


class TranscriptEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One final utterance of one call leg."""

    speaker: str
    text: str
    start_s: float
    end_s: float
    sentiment: float
    label: str
    cues: tuple[str, ...] = ()
