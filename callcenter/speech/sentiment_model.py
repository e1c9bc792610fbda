"""The optional linear sentiment model: its data file (trained by bench/train_sentiment.py)
and the class probabilities it gives a lexicon reading."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal

import msgspec

from callcenter.errors import SentimentDataInvalid
from callcenter.speech.sentiment_data import read_data_file
from callcenter.speech.sentiment_lexicon import LexiconReading

MODEL_FILE = "sentiment_model.json"
# Features the linear model sees besides its word and bigram terms, in this order.
DENSE_FEATURES = ("score", "vader", "rules")

Weights = tuple[float, float, float]


class _ModelFile(msgspec.Struct, forbid_unknown_fields=True):
    format: Literal["callcenter-sentiment-linear/1"]
    classes: tuple[Literal["negative"], Literal["neutral"], Literal["positive"]]
    bias: Weights
    dense: dict[str, Weights]
    terms: dict[str, Weights]
    trained: dict[str, str | int | float] = msgspec.field(default_factory=dict)


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


def load_model(path: Path | None = None) -> LinearModel:
    """Load and check a linear model file (default: the packaged one).

    Raises SentimentDataInvalid naming the file and the problem."""
    source, raw = read_data_file(path, MODEL_FILE)
    try:
        spec = msgspec.json.decode(raw, type=_ModelFile)
    except msgspec.DecodeError as error:
        raise SentimentDataInvalid(source, str(error)) from None
    if set(spec.dense) != set(DENSE_FEATURES):
        raise SentimentDataInvalid(source, f"dense features must be {list(DENSE_FEATURES)}")
    dense = tuple(spec.dense[name] for name in DENSE_FEATURES)
    return LinearModel(spec.bias, dense, spec.terms)
