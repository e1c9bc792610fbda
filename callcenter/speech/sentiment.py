"""Per-utterance sentiment of transcribed speech: VADER, corrected by the contact-center
lexicon and phrase rules of an editable data file, optionally blended with a small linear
model shipped as a second data file. The only module that imports vaderSentiment.

Nothing is read at import time: `load_scorer()` builds a `SentimentScorer`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from callcenter.errors import SentimentDataInvalid

LEXICON_FILE = "contact_center_lexicon.yaml"
MODEL_FILE = "sentiment_model.json"
# Features the linear model sees besides its word and bigram terms, in this order.
DENSE_FEATURES = ("score", "vader", "rules")

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")  # inner apostrophes only: "didn't"
_ALPHA = 15.0  # VADER's normalisation: compound = s / sqrt(s * s + 15)
_MAX_COMPOUND = 0.9999  # VADER rounds to 4 places; keep the inverse finite
_BACKCHANNEL_CUE = "backchannel"


class SentimentLabel(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Sentiment(msgspec.Struct, frozen=True, gc=False):
    """One utterance: `score` in [-1, 1] (most negative .. most positive) and `cues`, the
    lexicon words and rule matches that moved it, in utterance order."""

    label: SentimentLabel
    score: float
    cues: tuple[str, ...]


# --- data file schemas -------------------------------------------------------------------

Word = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9']+$")]
Valence = Annotated[float, msgspec.Meta(ge=-4.0, le=4.0)]
Weights = tuple[float, float, float]


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


class _ModelFile(msgspec.Struct, forbid_unknown_fields=True):
    format: Literal["callcenter-sentiment-linear/1"]
    classes: tuple[Literal["negative"], Literal["neutral"], Literal["positive"]]
    bias: Weights
    dense: dict[str, Weights]
    terms: dict[str, Weights]
    trained: dict[str, str | int | float] = msgspec.field(default_factory=dict)


# --- phrase patterns ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Element:
    """One pattern position: a word set, a prefix, any one word, or a gap of 0..`gap`."""

    words: frozenset[str] = frozenset()
    prefix: str = ""
    gap: int = 0

    def accepts(self, token: str) -> bool:
        if self.words:
            return token in self.words
        return token.startswith(self.prefix)  # "" (the `*` element) accepts any word


@dataclass(frozen=True, slots=True)
class _Phrase:
    pattern: str
    elements: tuple[_Element, ...]
    weight: float

    def match(self, tokens: Sequence[str], start: int) -> int:
        """End index of a match starting at `start` (shortest gaps first), or -1."""
        return _match(self.elements, 1, tokens, start + 1)


def _match(elements: tuple[_Element, ...], k: int, tokens: Sequence[str], i: int) -> int:
    if k == len(elements):
        return i
    element = elements[k]
    if element.gap:
        for skip in range(min(element.gap, len(tokens) - i) + 1):
            end = _match(elements, k + 1, tokens, i + skip)
            if end >= 0:
                return end
        return -1
    if i >= len(tokens) or not element.accepts(tokens[i]):
        return -1
    return _match(elements, k + 1, tokens, i + 1)


def _compile_pattern(pattern: str, gap_words: int) -> tuple[_Element, ...]:
    """Raises ValueError saying what is wrong with the pattern."""
    elements: list[_Element] = []
    for part in pattern.split():
        if part == "..":
            elements.append(_Element(gap=gap_words))
        elif part.endswith("*"):
            if not re.fullmatch(r"[a-z0-9']*", part[:-1]):
                raise ValueError(f"bad prefix {part!r}")
            elements.append(_Element(prefix=part[:-1]))
        else:
            words = part.split("|")
            if not all(re.fullmatch(r"[a-z0-9']+", word) for word in words):
                raise ValueError(f"bad word {part!r}: lowercase letters, digits, ' and |")
            elements.append(_Element(words=frozenset(words)))
    if not elements or not elements[0].words:
        raise ValueError("must start with a word or word|word")
    if elements[-1].gap:
        raise ValueError("cannot end with '..'")
    return tuple(elements)


# --- the compiled lexicon ----------------------------------------------------------------


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
    phrases_by_first_word: Mapping[str, tuple[_Phrase, ...]]


def _compile_lexicon(spec: _LexiconFile, source: str) -> ContactCenterLexicon:
    clash = sorted(set(spec.words) & set(spec.backchannels))
    if clash:
        raise SentimentDataInvalid(source, f"in both words and backchannels: {clash}")
    by_first: dict[str, list[_Phrase]] = {}
    for pattern, weight in spec.phrases.items():
        try:
            elements = _compile_pattern(pattern, spec.gap_words)
        except ValueError as error:
            raise SentimentDataInvalid(source, f"phrases: {pattern!r}: {error}") from None
        for word in sorted(elements[0].words):
            by_first.setdefault(word, []).append(_Phrase(pattern, elements, weight))
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


# --- the optional linear model -----------------------------------------------------------


def model_terms(tokens: Sequence[str]) -> set[str]:
    """The model's term features: the words and adjacent word pairs of the words no phrase
    rule took (so the lexicon, not the tweets, decides what a listed phrase means)."""
    terms = set(tokens)
    terms.update(f"{a} {b}" for a, b in pairwise(tokens))
    return terms


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Multinomial logistic regression over `DENSE_FEATURES` and word/bigram presence."""

    bias: Weights
    dense: tuple[Weights, ...]  # in DENSE_FEATURES order
    terms: Mapping[str, Weights]

    def probabilities(self, reading: LexiconReading) -> Weights:
        """(negative, neutral, positive) class probabilities."""
        z0, z1, z2 = self.bias
        for value, (w0, w1, w2) in zip(reading.dense_features(), self.dense, strict=True):
            z0, z1, z2 = z0 + value * w0, z1 + value * w1, z2 + value * w2
        for term in model_terms(reading.rest):
            weights = self.terms.get(term)
            if weights is not None:
                z0, z1, z2 = z0 + weights[0], z1 + weights[1], z2 + weights[2]
        top = max(z0, z1, z2)
        e0, e1, e2 = math.exp(z0 - top), math.exp(z1 - top), math.exp(z2 - top)
        total = e0 + e1 + e2
        return e0 / total, e1 / total, e2 / total


# --- scoring -----------------------------------------------------------------------------


def _squash(total: float) -> float:
    return total / math.sqrt(total * total + _ALPHA)


def _unsquash(compound: float) -> float:
    c = max(-_MAX_COMPOUND, min(_MAX_COMPOUND, compound))
    return c * math.sqrt(_ALPHA / (1.0 - c * c))


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


class SentimentScorer:
    """Scores ASR-like utterances. Pure after construction; safe to share between threads."""

    def __init__(self, lexicon: ContactCenterLexicon, model: LinearModel | None = None) -> None:
        self.lexicon = lexicon
        self.model = model
        self._vader = SentimentIntensityAnalyzer()
        vader_words = self._vader.lexicon
        for word, valence in lexicon.valences.items():
            if valence:
                vader_words[word] = valence
            else:
                vader_words.pop(word, None)
        for word in lexicon.backchannels:
            vader_words.pop(word, None)
        self._valences: Mapping[str, float] = vader_words

    def read(self, text: str) -> LexiconReading:
        """The lexicon-only reading (no model) of one utterance; punctuation is ignored."""
        tokens = tuple(_TOKEN.findall(text.lower()))
        if all(token in self.lexicon.backchannels for token in tokens):
            quiet = (_BACKCHANNEL_CUE,) if tokens else ()
            return LexiconReading(tokens, tokens, 0.0, 0.0, 0.0, quiet, True)
        cues: list[tuple[int, str]] = []
        taken: set[int] = set()
        rules_total = 0.0
        for start, end, phrase in self._phrases(tokens):
            taken.update(range(start, end))
            cues.append((start, " ".join(tokens[start:end])))
            rules_total += phrase.weight
        for start, end in self._negated_service(tokens, taken):
            cues.append((start, " ".join(tokens[start:end])))
            rules_total += self.lexicon.negation_weight
        rest = tuple(token for i, token in enumerate(tokens) if i not in taken)
        valences = self._valences
        cues.extend(
            (i, token) for i, token in enumerate(tokens) if i not in taken and valences.get(token)
        )
        vader = self._vader.polarity_scores(" ".join(rest))["compound"] if rest else 0.0
        score = _squash(_unsquash(vader) + rules_total)
        cues.sort(key=lambda cue: cue[0])
        return LexiconReading(
            tokens, rest, vader, _squash(rules_total), score, tuple(c for _, c in cues), False
        )

    def score(self, text: str) -> Sentiment:
        """Label, score and cues of one utterance (ASR text: lowercase words, no punctuation)."""
        return self.judge(self.read(text))

    def judge(self, reading: LexiconReading) -> Sentiment:
        """The verdict on a reading: the model's when there is one, else the thresholds'."""
        if self.model is None or reading.backchannel:
            return Sentiment(self._label(reading.score), round(reading.score, 4), reading.cues)
        negative, neutral, positive = self.model.probabilities(reading)
        best = max(negative, neutral, positive)
        label = (
            SentimentLabel.NEGATIVE
            if best == negative
            else SentimentLabel.POSITIVE
            if best == positive
            else SentimentLabel.NEUTRAL
        )
        return Sentiment(label, round(positive - negative, 4), reading.cues)

    def _label(self, score: float) -> SentimentLabel:
        if score <= self.lexicon.negative_threshold:
            return SentimentLabel.NEGATIVE
        if score >= self.lexicon.positive_threshold:
            return SentimentLabel.POSITIVE
        return SentimentLabel.NEUTRAL

    def _phrases(self, tokens: Sequence[str]) -> Iterable[tuple[int, int, _Phrase]]:
        """Non-overlapping phrase matches, left to right, longest first at each start."""
        index = self.lexicon.phrases_by_first_word
        i = 0
        while i < len(tokens):
            best_end, best = -1, None
            for phrase in index.get(tokens[i], ()):
                end = phrase.match(tokens, i)
                if end > best_end:
                    best_end, best = end, phrase
            if best is None:
                i += 1
                continue
            yield i, best_end, best
            i = best_end

    def _negated_service(self, tokens: Sequence[str], taken: set[int]) -> Iterable[tuple[int, int]]:
        """(negator index, service word index + 1) for service words no phrase took."""
        lexicon = self.lexicon
        for i, token in enumerate(tokens):
            if token not in lexicon.service_words or i in taken:
                continue
            for j in range(max(0, i - lexicon.negation_window - 1), i):
                if tokens[j] in lexicon.negators:
                    yield j, i + 1
                    break


# --- loading -----------------------------------------------------------------------------


def _read(path: Path | None, name: str) -> tuple[str, bytes]:
    if path is not None:
        try:
            return str(path), path.read_bytes()
        except OSError as error:
            raise SentimentDataInvalid(str(path), error.strerror or str(error)) from None
    resource = resources.files("callcenter.speech").joinpath("data").joinpath(name)
    try:
        return str(resource), resource.read_bytes()
    except OSError as error:
        raise SentimentDataInvalid(str(resource), error.strerror or str(error)) from None


def load_lexicon(path: Path | None = None) -> ContactCenterLexicon:
    """Load and check a lexicon file (default: the packaged one).

    Raises SentimentDataInvalid naming the file and the problem."""
    source, raw = _read(path, LEXICON_FILE)
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


def load_model(path: Path | None = None) -> LinearModel:
    """Load and check a linear model file (default: the packaged one).

    Raises SentimentDataInvalid naming the file and the problem."""
    source, raw = _read(path, MODEL_FILE)
    try:
        spec = msgspec.json.decode(raw, type=_ModelFile)
    except msgspec.DecodeError as error:
        raise SentimentDataInvalid(source, str(error)) from None
    if set(spec.dense) != set(DENSE_FEATURES):
        raise SentimentDataInvalid(source, f"dense features must be {list(DENSE_FEATURES)}")
    dense = tuple(spec.dense[name] for name in DENSE_FEATURES)
    return LinearModel(spec.bias, dense, spec.terms)


def load_scorer(
    path: Path | None = None, *, model_path: Path | None = None, use_model: bool = True
) -> SentimentScorer:
    """A scorer from a lexicon file and, when `use_model`, a model file (defaults: the
    packaged files). Raises SentimentDataInvalid naming the file and the problem."""
    model = load_model(model_path) if use_model else None
    return SentimentScorer(load_lexicon(path), model)
