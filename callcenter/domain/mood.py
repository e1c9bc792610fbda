"""Call mood: the rolling sentiment of each speaker on a call, from its scored utterances.

Time-weighted: an utterance counts by how long it lasted (a long rant outweighs a short
"okay") and fades with a half-life of call time, so the mood follows the call as it goes.
The trend compares how a speaker ended with how they started. The call's final sentiment,
kept in the caller's history, is the caller's mood at the end of the call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

MOOD_HALF_LIFE_S = 45.0
MIN_WEIGHT_S = 0.5  # a one-word utterance still counts for something
CALLER = "caller"
MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str
    start_s: float  # seconds of the leg's audio
    end_s: float
    score: float  # -1..1


class Mood(msgspec.Struct, frozen=True, kw_only=True):
    """One speaker's mood after their latest utterance."""

    speaker: str
    score: float  # time-weighted rolling sentiment, -1..1
    trend: float  # end minus start, -2..2 (0 with a single utterance)
    utterances: int
    at_s: float  # end of the latest utterance


def _weight(utterance: Utterance) -> float:
    return max(MIN_WEIGHT_S, utterance.end_s - utterance.start_s)


def rolling_score(
    utterances: Sequence[Utterance], at_s: float, half_life_s: float = MOOD_HALF_LIFE_S
) -> float | None:
    """The duration-weighted mean score, each utterance fading by its age at `at_s`."""
    total = weighted = 0.0
    for item in utterances:
        age = max(0.0, at_s - item.end_s)
        weight = _weight(item) * 0.5 ** (age / half_life_s)
        total += weight
        weighted += weight * item.score
    if total <= 0.0:
        return None
    return max(-1.0, min(1.0, weighted / total))


def _mean(utterances: Sequence[Utterance]) -> float:
    total = sum(_weight(u) for u in utterances)
    return sum(_weight(u) * u.score for u in utterances) / total


def trend(utterances: Sequence[Utterance]) -> float:
    """How the speaker ended against how they started: the duration-weighted mean of the
    last third of their utterances minus that of the first third."""
    if len(utterances) < 2:
        return 0.0
    third = max(1, len(utterances) // 3)
    return _mean(utterances[-third:]) - _mean(utterances[:third])


@dataclass(slots=True)
class CallMood:
    """The utterances of one call so far, by speaker, and the moods they make."""

    by_speaker: dict[str, list[Utterance]] = field(default_factory=dict)

    def add(self, utterance: Utterance) -> Mood:
        spoken = self.by_speaker.setdefault(utterance.speaker, [])
        spoken.append(utterance)
        spoken.sort(key=lambda u: u.end_s)  # two workers may deliver near-simultaneous ends
        return self.mood(utterance.speaker)

    def mood(self, speaker: str) -> Mood:
        spoken = self.by_speaker[speaker]
        at_s = spoken[-1].end_s
        score = rolling_score(spoken, at_s)
        return Mood(
            speaker=speaker,
            score=round(score if score is not None else 0.0, 4),
            trend=round(trend(spoken), 4),
            utterances=len(spoken),
            at_s=at_s,
        )

    def final_sentiment(self) -> float | None:
        """The caller's mood at the end of the call (the mixed track when the gateway sends
        both sides as one); None when the caller said nothing we understood."""
        for speaker in (CALLER, MIXED):
            spoken = self.by_speaker.get(speaker)
            if spoken:
                score = rolling_score(spoken, spoken[-1].end_s)
                return None if score is None else round(score, 4)
        return None


def call_mood(utterances: Iterable[Utterance]) -> CallMood:
    """The mood of a call rebuilt from its stored transcript."""
    mood = CallMood()
    for item in utterances:
        mood.add(item)
    return mood
