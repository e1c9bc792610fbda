"""Per-utterance sentiment of transcribed speech: VADER, corrected by the contact-center
lexicon and its phrase rules (sentiment_lexicon.py), optionally blended with a small linear
model (sentiment_model.py). The only module that imports vaderSentiment.

Nothing is read at import time: `load_scorer()` builds a `SentimentScorer`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import msgspec
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from callcenter.speech.phrase_patterns import Phrase
from callcenter.speech.sentiment_lexicon import (
    ContactCenterLexicon,
    LexiconReading,
    load_lexicon,
)
from callcenter.speech.sentiment_model import (
    LinearModel,
    load_model,
)

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")  # inner apostrophes only: "didn't"
_ALPHA = 15.0  # VADER's normalisation: compound = s / sqrt(s * s + 15)
_MAX_COMPOUND = 0.9999  # VADER rounds to 4 places; keep the inverse finite
_BACKCHANNEL_CUE = "backchannel"

_Span = tuple[int, int, float]
"""A rule match: (first word index, index after its last word, its weight)."""


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


def _squash(total: float) -> float:
    return total / math.sqrt(total * total + _ALPHA)


def _unsquash(compound: float) -> float:
    c = max(-_MAX_COMPOUND, min(_MAX_COMPOUND, compound))
    return c * math.sqrt(_ALPHA / (1.0 - c * c))


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
        spans, taken = self._rule_spans(tokens)
        rest = tuple(token for i, token in enumerate(tokens) if i not in taken)
        rules_total = 0.0  # added in order, not sum(): that compensates from Python 3.12
        for _, _, weight in spans:
            rules_total += weight
        vader = self._vader.polarity_scores(" ".join(rest))["compound"] if rest else 0.0
        score = _squash(_unsquash(vader) + rules_total)
        cues = self._cues(tokens, spans, taken)
        return LexiconReading(tokens, rest, vader, _squash(rules_total), score, cues, False)

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

    def _cues(self, tokens: Sequence[str], spans: list[_Span], taken: set[int]) -> tuple[str, ...]:
        """The rule matches' words and the words with a valence no phrase took, in
        utterance order."""
        cues = [(start, " ".join(tokens[start:end])) for start, end, _ in spans]
        valences = self._valences
        cues.extend(
            (i, token) for i, token in enumerate(tokens) if i not in taken and valences.get(token)
        )
        cues.sort(key=lambda cue: cue[0])
        return tuple(cue for _, cue in cues)

    def _rule_spans(self, tokens: Sequence[str]) -> tuple[list[_Span], set[int]]:
        """Phrase matches, then negated service words no phrase took; and the indices of
        the words the phrases took (those VADER does not see)."""
        spans = [(start, end, phrase.weight) for start, end, phrase in self._phrases(tokens)]
        taken = {i for start, end, _ in spans for i in range(start, end)}
        weight = self.lexicon.negation_weight
        spans += [(start, end, weight) for start, end in self._negated_service(tokens, taken)]
        return spans, taken

    def _phrases(self, tokens: Sequence[str]) -> Iterable[tuple[int, int, Phrase]]:
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


def load_scorer(
    path: Path | None = None, *, model_path: Path | None = None, use_model: bool = True
) -> SentimentScorer:
    """A scorer from a lexicon file and, when `use_model`, a model file (defaults: the
    packaged files). Raises SentimentDataInvalid naming the file and the problem."""
    model = load_model(model_path) if use_model else None
    return SentimentScorer(load_lexicon(path), model)
