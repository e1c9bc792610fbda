"""Dead air on a call: how long nobody has spoken, measured on each leg's own audio clock
(so it holds whether audio arrives in real time or in bursts). Counted only once someone
has spoken: a caller waiting in the queue in silence is not dead air."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _LegClock:
    audio_s: float = 0.0  # audio received on this leg so far
    last_voice_s: float | None = None


@dataclass(slots=True)
class CallSilence:
    legs: dict[str, _LegClock] = field(default_factory=dict)

    def open(self, track: str) -> None:
        self.legs.setdefault(track, _LegClock())

    def close(self, track: str) -> None:
        self.legs.pop(track, None)

    def frame(self, track: str, seconds: float, voiced: bool) -> float:
        """Account one frame of a leg; the silence on the call now (0 while anyone speaks
        or before anyone spoke)."""
        leg = self.legs.setdefault(track, _LegClock())
        leg.audio_s += seconds
        if voiced:
            leg.last_voice_s = leg.audio_s
        return self.silence_s()

    def silence_s(self) -> float:
        """The shortest time since any open leg last carried a voice."""
        spans = [
            leg.audio_s - leg.last_voice_s
            for leg in self.legs.values()
            if leg.last_voice_s is not None
        ]
        if not spans:
            return 0.0
        # a leg that never spoke is as silent as the call has been since the others did
        return min(spans)
