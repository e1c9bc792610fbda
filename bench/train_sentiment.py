"""Train the sentiment scorer's small linear model, callcenter/speech/data/sentiment_model.json,
from the dev CSV: numpy only, deterministic (seeded folds, full-batch optimisation).

The model is an L2-regularised multinomial logistic regression over the lexicon reading
(`DENSE_FEATURES`: combined score, VADER over the rest, rule weights) and the presence of
words and word pairs seen in at least `min_df` training utterances (the most frequent
`max_terms`; airline names are left out so the model learns complaint language, not which
airline was tweeted at). Texts are normalised as the data README says, like ASR output.

Run:  python bench/train_sentiment.py [--data CSV] [--out JSON] [--folds K]
      --folds K also prints K-fold cross-validated figures before writing the model.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from callcenter.speech.sentiment import SentimentScorer
from callcenter.speech.sentiment_lexicon import LexiconReading, load_lexicon
from callcenter.speech.sentiment_model import DENSE_FEATURES, LinearModel, model_terms

ROOT = Path(__file__).resolve().parents[1]
DEV_CSV = ROOT / ".." / "shared" / "data" / "sentiment" / "airline_tweets_dev.csv"
MODEL_JSON = ROOT / "callcenter" / "speech" / "data" / "sentiment_model.json"
CLASSES = ("negative", "neutral", "positive")
# Who the tweet was addressed to says nothing about how a caller feels.
NOT_TERMS = frozenset(
    "united usairways usair americanair american aa southwest southwestair swa jetblue "
    "virgin virginamerica delta airways airlines airline".split()
)
# Every caller says these; alone they only teach the model the tweets' mix of labels.
FUNCTION_WORDS = frozenset(
    "i me my mine you your yours we us our they them their he him his she her it its "
    "i'm i've i'd i'll you're it's that's there's the a an to of on in at for from with "
    "by as about into over and or but so if then than is was are were be been being am "
    "have has had do does did will would can could should may might must this that "
    "these those there here what which who whom when just also get got go going".split()
)

_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_NOT_KEPT = re.compile(r"[^a-z0-9' ]+")

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    l2: float = 5.0  # per training example: loss = mean cross-entropy + l2 / n * |W|^2 / 2
    min_df: int = 3
    max_terms: int = 2000
    iterations: int = 400
    learning_rate: float = 0.05
    seed: int = 20150224  # the folds; the fit itself has no randomness
    prune_below: float = 0.02  # terms whose weights are all smaller are left out
    balanced: bool = False  # weigh classes equally instead of by their share of the data
    function_words: bool = False  # False: "my", "the" ... are features only inside pairs


def asr_normalise(text: str) -> str:
    """As the data README says: drop @mentions, URLs and '#', lowercase, keep only letters,
    digits, apostrophes and spaces (HTML entities from the export are decoded first)."""
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = _URL.sub(" ", _MENTION.sub(" ", text)).replace("#", "").lower()
    return " ".join(_NOT_KEPT.sub(" ", text).split())


def load_dev(path: Path = DEV_CSV) -> tuple[list[str], list[str]]:
    """(normalised texts, labels) of a `id,label,text` CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [asr_normalise(row["text"]) for row in rows], [row["label"] for row in rows]


def stratified_folds(labels: Sequence[str], k: int, seed: int) -> list[npt.NDArray[np.intp]]:
    """k disjoint index arrays, each with about the same share of every label."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for label in CLASSES:
        members = np.flatnonzero(np.asarray(labels) == label)
        rng.shuffle(members)
        for i, index in enumerate(members):
            folds[i % k].append(int(index))
    return [np.sort(np.asarray(fold, dtype=np.intp)) for fold in folds]


def select_terms(readings: Sequence[LexiconReading], config: TrainingConfig) -> list[str]:
    counts: Counter[str] = Counter()
    for reading in readings:
        counts.update(model_terms(reading.rest))
    kept = [
        (count, term)
        for term, count in counts.items()
        if count >= config.min_df
        and not NOT_TERMS.intersection(term.split())
        and (config.function_words or term not in FUNCTION_WORDS)
    ]
    kept.sort(key=lambda item: (-item[0], item[1]))
    return [term for _, term in kept[: config.max_terms]]


def design_matrix(readings: Sequence[LexiconReading], terms: Sequence[str]) -> Matrix:
    column = {term: len(DENSE_FEATURES) + i for i, term in enumerate(terms)}
    matrix = np.zeros((len(readings), len(DENSE_FEATURES) + len(terms)))
    for row, reading in enumerate(readings):
        matrix[row, : len(DENSE_FEATURES)] = reading.dense_features()
        for term in model_terms(reading.rest):
            if term in column:
                matrix[row, column[term]] = 1.0
    return matrix


def fit(features: Matrix, targets: npt.NDArray[np.intp], config: TrainingConfig) -> Matrix:
    """Weights (features + 1 bias row, 3 classes) by full-batch Adam; deterministic."""
    n = features.shape[0]
    x = np.hstack([features, np.ones((n, 1))])
    onehot = np.eye(len(CLASSES))[targets]
    if config.balanced:
        counts = np.bincount(targets, minlength=len(CLASSES))
        onehot *= (n / (len(CLASSES) * np.maximum(counts, 1)))[targets, None]
    weights = np.zeros((x.shape[1], len(CLASSES)))
    penalty = np.full((x.shape[1], 1), config.l2 / n)
    penalty[-1] = 0.0  # the bias is not shrunk
    first, second = np.zeros_like(weights), np.zeros_like(weights)
    beta1, beta2 = 0.9, 0.999
    for step in range(1, config.iterations + 1):
        logits = x @ weights
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        residual = probabilities * onehot.sum(axis=1, keepdims=True) - onehot
        gradient = x.T @ residual / n + penalty * weights
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * gradient**2
        corrected = first / (1 - beta1**step)
        weights -= config.learning_rate * corrected / (np.sqrt(second / (1 - beta2**step)) + 1e-8)
    return weights


def train(
    readings: Sequence[LexiconReading], labels: Sequence[str], config: TrainingConfig
) -> dict[str, Any]:
    """The model file's content (see callcenter.speech.sentiment_model._ModelFile)."""
    terms = select_terms(readings, config)
    targets = np.asarray([CLASSES.index(label) for label in labels], dtype=np.intp)
    weights = fit(design_matrix(readings, terms), targets, config)
    dense = len(DENSE_FEATURES)

    def rounded(row: npt.NDArray[np.float64]) -> list[float]:
        return [round(float(value), 4) for value in row]

    return {
        "format": "callcenter-sentiment-linear/1",
        "classes": list(CLASSES),
        "bias": rounded(weights[-1]),
        "dense": {name: rounded(weights[i]) for i, name in enumerate(DENSE_FEATURES)},
        "terms": {
            term: rounded(weights[dense + i])
            for i, term in enumerate(terms)
            if np.abs(weights[dense + i]).max() >= config.prune_below
        },
        "trained": {
            "data": "airline_tweets_dev.csv, ASR-normalised",
            "examples": len(labels),
            "l2": config.l2,
            "min_df": config.min_df,
            "max_terms": config.max_terms,
            "iterations": config.iterations,
        },
    }


def as_model(content: dict[str, Any]) -> LinearModel:
    """The LinearModel the scorer would load from `content` written as JSON."""
    data = json.loads(json.dumps(content))
    return LinearModel(
        tuple(data["bias"]),
        tuple(tuple(data["dense"][name]) for name in DENSE_FEATURES),
        {term: tuple(weights) for term, weights in data["terms"].items()},
    )


def cross_validated_labels(
    scorer: SentimentScorer,
    readings: Sequence[LexiconReading],
    labels: Sequence[str],
    config: TrainingConfig,
    k: int,
) -> list[str]:
    """Each utterance's label from a model trained on the other k-1 folds only."""
    predicted = [""] * len(labels)
    for held_out in stratified_folds(labels, k, config.seed):
        held = set(held_out.tolist())
        train_idx = [i for i in range(len(labels)) if i not in held]
        model = as_model(
            train([readings[i] for i in train_idx], [labels[i] for i in train_idx], config)
        )
        fold_scorer = SentimentScorer(scorer.lexicon, model)
        for i in held_out.tolist():
            predicted[i] = fold_scorer.judge(readings[i]).label.value
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEV_CSV)
    parser.add_argument("--out", type=Path, default=MODEL_JSON)
    parser.add_argument("--folds", type=int, default=0)
    args = parser.parse_args()
    config = TrainingConfig()
    texts, labels = load_dev(args.data)
    scorer = SentimentScorer(load_lexicon())
    readings = [scorer.read(text) for text in texts]
    if args.folds:
        predicted = cross_validated_labels(scorer, readings, labels, config, args.folds)
        correct = sum(p == y for p, y in zip(predicted, labels, strict=True))
        print(f"{args.folds}-fold cross-validated accuracy {correct / len(labels):.3f}")
    content = train(readings, labels, config)
    args.out.write_text(json.dumps(content, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(content['terms'])} terms)")


if __name__ == "__main__":
    main()
