"""Alert rules over live calls, and the pure checks that fire them.

Three kinds, each firing at most once per call and rule:
- `mood`: a speaker's rolling mood stayed below `mood_below` for `utterances` utterances
  in a row ("caller mood < -0.4 over 2 utterances");
- `keyword`: a speaker said one of `phrases` ("supervisor", "lawyer", "cancel");
- `silence`: nobody on the call spoke for `silence_seconds`.
Actions: tell supervisors (`alert`), raise the call's priority if it is still queued,
tag the caller's profile."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import msgspec


class AlertKind(StrEnum):
    MOOD = "mood"
    KEYWORD = "keyword"
    SILENCE = "silence"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class AlertActions:
    alert: bool = True  # show it to supervisors (the wallboard's alerts feed)
    raise_priority: int = 0  # added to the call's priority while it waits in the queue
    tag_caller: str | None = None  # added to the caller's profile tags


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    kind: AlertKind
    speaker: str | None = "caller"  # None: any speaker
    mood_below: float = -0.4
    utterances: int = 2
    phrases: tuple[str, ...] = ()
    silence_seconds: float = 30.0
    severity: Severity = Severity.WARNING
    actions: AlertActions = AlertActions()
    line: int = 0
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind is AlertKind.KEYWORD and self.phrases:
            object.__setattr__(self, "pattern", phrase_pattern(self.phrases))


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """Whole words, any case, any run of spaces between the words of a phrase."""
    parts = [r"\s+".join(re.escape(word) for word in p.lower().split()) for p in phrases]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule that fired, and why (in words a supervisor reads on the wallboard)."""

    rule: AlertRule
    speaker: str | None
    reason: str


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert as stored, published on the bus and shown to supervisors."""

    id: str
    call_id: str
    rule: str
    kind: AlertKind
    severity: Severity
    reason: str
    at: datetime
    speaker: str | None = None
    queue: str | None = None
    agent_id: str | None = None
    caller: str | None = None


class Ack(msgspec.Struct, frozen=True, kw_only=True):
    """A supervisor acknowledged an alert."""

    id: str  # the alert's
    by: str
    at: datetime


@dataclass(slots=True)
class CallAlerts:
    """The alert state of one call: which rules fired, each speaker's mood run."""

    rules: Sequence[AlertRule]
    fired: set[str] = field(default_factory=set)
    moods: dict[str, list[float]] = field(default_factory=dict)

    def on_utterance(self, speaker: str, text: str, mood: float) -> list[Trigger]:
        """A final utterance and the speaker's mood after it: the rules it fires."""
        self.moods.setdefault(speaker, []).append(mood)
        triggers = []
        for rule in self.rules:
            if rule.name in self.fired or rule.speaker not in (None, speaker):
                continue
            trigger = _check(rule, speaker, text, self.moods[speaker])
            if trigger is not None:
                self.fired.add(rule.name)
                triggers.append(trigger)
        return triggers

    def on_silence(self, seconds: float) -> list[Trigger]:
        """Nobody has spoken for `seconds`: the silence rules that fire."""
        triggers = []
        for rule in self.rules:
            if (
                rule.kind is AlertKind.SILENCE
                and rule.name not in self.fired
                and seconds >= rule.silence_seconds
            ):
                self.fired.add(rule.name)
                triggers.append(Trigger(rule, None, f"silence for {seconds:.0f} s"))
        return triggers


def _check(rule: AlertRule, speaker: str, text: str, moods: list[float]) -> Trigger | None:
    if rule.kind is AlertKind.MOOD:
        run = moods[-rule.utterances :]
        if len(run) >= rule.utterances and all(m < rule.mood_below for m in run):
            return Trigger(
                rule,
                speaker,
                f"{speaker} mood {run[-1]:+.2f} below {rule.mood_below:+.2f} "
                f"for {rule.utterances} utterance{'s' if rule.utterances > 1 else ''}",
            )
        return None
    if rule.kind is AlertKind.KEYWORD and rule.pattern is not None:
        found = rule.pattern.search(text)
        if found:
            return Trigger(rule, speaker, f'{speaker} said "{found.group(0).lower()}"')
    return None


def shortest_silence(rules: Sequence[AlertRule]) -> float | None:
    """The shortest silence any rule watches for (None: no silence rules)."""
    seconds = [r.silence_seconds for r in rules if r.kind is AlertKind.SILENCE]
    return min(seconds) if seconds else None
