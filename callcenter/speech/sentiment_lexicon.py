"""The contact-center lexicon: its editable data file (word valences, backchannels, negated
service words, phrase rules), checked and compiled for matching, and the reading of an
utterance that the lexicon yields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml

from callcenter.errors import SentimentDataInvalid
from callcenter.speech.phrase_patterns import Phrase, compile_pattern
from callcenter.speech.sentiment_data import read_data_file

LEXICON_FILE = "contact_center_lexicon.yaml"

Word = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9']+$")]
Valence = Annotated[float, msgspec.Meta(ge=-4.0, le=4.0)]


class _Thresholds(msgspec.Struct, forbid_unknown_fields=True):
    negative: Annotated[float, msgspec.Meta(ge=-1.0, le=0.0)] = -0.05
    positive: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.05


class _NegatedService(msgspec.Struct, forbid_unknown_fields=True):
    weight: Valence
    window: Annotated[int, msgspec.Meta(ge=0, le=5)]
    negators: list[Word]
    words: list[Word]


class _LexiconFile(msgspec.Struct, forbid_unknown_fields=True):
    version: Literal[1]
    thresholds: _Thresholds = msgspec.field(default_factory=_Thresholds)
    words: dict[Word, Valence] = msgspec.field(default_factory=dict)
    backchannels: list[Word] = msgspec.field(default_factory=list)
    negated_service: _NegatedService | None = None
    gap_words: Annotated[int, msgspec.Meta(ge=1, le=6)] = 3
    phrases: dict[str, Valence] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContactCenterLexicon:
    """The lexicon data file, checked and compiled for matching."""

    source: str
    negative_threshold: float
    positive_threshold: float
    valences: Mapping[str, float]
    backchannels: frozenset[str]
    negators: frozenset[str]
    service_words: frozenset[str]
    negation_window: int
    negation_weight: float
    phrases_by_first_word: Mapping[str, tuple[Phrase, ...]]


@dataclass(frozen=True, slots=True)
class LexiconReading:
    """What the lexicon alone makes of an utterance. `rest` are the words no phrase rule
    took, `vader` VADER's compound over them; `rules` the squashed sum of rule weights;
    `score` both combined."""

    tokens: tuple[str, ...]
    rest: tuple[str, ...]
    vader: float
    rules: float
    score: float
    cues: tuple[str, ...]
    backchannel: bool

    def dense_features(self) -> tuple[float, float, float]:
        return self.score, self.vader, self.rules


def load_lexicon(path: Path | None = None) -> ContactCenterLexicon:
    """Load and check a lexicon file (default: the packaged one).

    Raises SentimentDataInvalid naming the file and the problem."""
    source, raw = read_data_file(path, LEXICON_FILE)
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise SentimentDataInvalid(source, f"not valid YAML: {error}") from None
    try:
        spec = msgspec.convert(data, _LexiconFile)
    except msgspec.ValidationError as error:
        reason = str(error)
        if "got `bool`" in reason:
            reason += " (YAML reads unquoted yes, no, on, off, true, false as booleans: quote them)"
        raise SentimentDataInvalid(source, reason) from None
    return _compile_lexicon(spec, source)


def _compile_lexicon(spec: _LexiconFile, source: str) -> ContactCenterLexicon:
    clash = sorted(set(spec.words) & set(spec.backchannels))
    if clash:
        raise SentimentDataInvalid(source, f"in both words and backchannels: {clash}")
    by_first: dict[str, list[Phrase]] = {}
    for pattern, weight in spec.phrases.items():
        try:
            elements = compile_pattern(pattern, spec.gap_words)
        except ValueError as error:
            raise SentimentDataInvalid(source, f"phrases: {pattern!r}: {error}") from None
        for word in sorted(elements[0].words):
            by_first.setdefault(word, []).append(Phrase(pattern, elements, weight))
    negation = spec.negated_service or _NegatedService(0.0, 0, [], [])
    return ContactCenterLexicon(
        source=source,
        negative_threshold=spec.thresholds.negative,
        positive_threshold=spec.thresholds.positive,
        valences=dict(spec.words),
        backchannels=frozenset(spec.backchannels),
        negators=frozenset(negation.negators),
        service_words=frozenset(negation.words),
        negation_window=negation.window,
        negation_weight=negation.weight,
        phrases_by_first_word={word: tuple(found) for word, found in by_first.items()},
    )
