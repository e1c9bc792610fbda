"""Sentiment scorer: complaint language without emotional words, backchannels, negation,
score range, cues, determinism, and clear errors for broken data files."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.errors import SentimentDataInvalid
from callcenter.speech.sentiment import Sentiment, SentimentLabel, SentimentScorer, load_scorer
from callcenter.speech.sentiment_lexicon import load_lexicon
from callcenter.speech.sentiment_model import load_model

NEGATIVE = SentimentLabel.NEGATIVE
NEUTRAL = SentimentLabel.NEUTRAL
POSITIVE = SentimentLabel.POSITIVE
WORDS = tuple(
    (
        "i you the my account refund on hold for an hour third time calling still no cancel "
        "not happy with service okay yeah thank so much that was really helpful problem great "
        "terrible never again transferred please help me can't get through no one called back"
    ).split()
)


@pytest.fixture(scope="module")
def lexicon_only() -> SentimentScorer:
    return load_scorer(use_model=False)


@pytest.fixture(scope="module")
def shipped() -> SentimentScorer:
    return load_scorer()


@pytest.fixture(scope="module", params=["lexicon-only", "shipped"])
def scorer(
    request: pytest.FixtureRequest, lexicon_only: SentimentScorer, shipped: SentimentScorer
) -> SentimentScorer:
    return lexicon_only if request.param == "lexicon-only" else shipped


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("i've been on hold for an hour", NEGATIVE),
        ("this is the third time calling about this", NEGATIVE),
        ("still no refund", NEGATIVE),
        ("i want to cancel my account", NEGATIVE),
        ("nobody ever called me back", NEGATIVE),
        ("i didn't get my refund", NEGATIVE),
        ("not happy with the service", NEGATIVE),
        ("okay", NEUTRAL),
        ("yeah", NEUTRAL),
        ("uh huh okay", NEUTRAL),
        ("", NEUTRAL),
        ("thank you so much that was really helpful", POSITIVE),
    ],
)
def test_labels(scorer: SentimentScorer, text: str, label: SentimentLabel) -> None:
    assert scorer.score(text).label is label


@pytest.mark.parametrize("text", ["no problem", "no problem at all", "not a problem"])
def test_no_problem_is_not_a_complaint(scorer: SentimentScorer, text: str) -> None:
    assert scorer.score(text).label is not NEGATIVE


def test_backchannels_carry_no_valence_inside_complaints(lexicon_only: SentimentScorer) -> None:
    plain = lexicon_only.score("i've been on hold for an hour")
    acknowledged = lexicon_only.score("okay yeah i've been on hold for an hour")
    assert acknowledged.score == plain.score


def test_cues_name_the_matched_rules_and_words(scorer: SentimentScorer) -> None:
    result = scorer.score("i've been on hold for an hour and it's ridiculous still no refund")
    assert result.cues == ("on hold for an hour", "ridiculous", "still no refund")
    assert scorer.score("i didn't get my refund").cues == ("didn't get my refund",)
    assert scorer.score("okay").cues == ("backchannel",)
    assert scorer.score("what is my balance").cues == ()


def test_punctuation_and_case_are_ignored(scorer: SentimentScorer) -> None:
    assert scorer.score("Still NO refund!") == scorer.score("still no refund")


def test_deterministic(scorer: SentimentScorer) -> None:
    again = load_scorer(use_model=scorer.model is not None)
    for text in ("still no refund", "thank you", "my flight was cancelled", "okay"):
        assert scorer.score(text) == scorer.score(text) == again.score(text)


@given(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join))
def test_score_range(scorer: SentimentScorer, text: str) -> None:
    result = scorer.score(text)
    assert -1.0 <= result.score <= 1.0
    assert isinstance(result.label, SentimentLabel)
    assert all(cue for cue in result.cues)


def test_encodes_as_one_json_object(shipped: SentimentScorer) -> None:
    encoded = msgspec.json.decode(msgspec.json.encode(shipped.score("still no refund")))
    assert set(encoded) == {"label", "score", "cues"}
    assert encoded["label"] == "negative"
    assert encoded["cues"] == ["still no refund"]


def test_many_utterances(shipped: SentimentScorer) -> None:
    """Speed sanity only; bench/sentiment_eval.py measures the rate."""
    texts = [" ".join(WORDS[i % len(WORDS) :][:12]) for i in range(2000)]
    results = [shipped.score(text) for text in texts]
    assert len(results) == 2000
    assert all(isinstance(result, Sentiment) for result in results)


def test_shipped_data_files_load() -> None:
    lexicon = load_lexicon()
    assert lexicon.phrases_by_first_word["on"]
    assert "okay" in lexicon.backchannels
    assert load_model().terms


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("version: 1\nphrases:\n  '.. on hold': -2\n", "'.. on hold': must start with a word"),
        ("version: 1\nphrases:\n  'on hold ..': -2\n", "cannot end with '..'"),
        ("version: 1\nphrases:\n  'on Hold!': -2\n", "bad word 'Hold!'"),
        ("version: 1\nwords:\n  rude: -9\n", "Expected `float` >= -4.0"),
        ("version: 1\nbackchannels: [okay, no]\n", "quote them"),
        ("version: 1\nwords: {okay: 0}\nbackchannels: [okay]\n", "in both words and backchannels"),
        ("version: 1\nphrase: {}\n", "unknown field `phrase`"),
        ("version: 2\n", "Invalid enum value 2 - at `$.version`"),
        ("version: 1\nwords: [unclosed\n", "not valid YAML"),
    ],
)
def test_broken_lexicon_names_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(content, encoding="utf-8")
    with pytest.raises(SentimentDataInvalid) as caught:
        load_scorer(broken, use_model=False)
    assert str(caught.value).startswith(f"{broken}: ")
    assert problem in str(caught.value)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SentimentDataInvalid, match=r"missing\.yaml: No such file"):
        load_lexicon(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "truncated"),
        ('{"format": "other"}', "Invalid enum value 'other'"),
    ],
)
def test_broken_model_names_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    broken = tmp_path / "model.json"
    broken.write_text(content, encoding="utf-8")
    with pytest.raises(SentimentDataInvalid) as caught:
        load_model(broken)
    assert str(caught.value).startswith(f"{broken}: ")
    assert problem in str(caught.value)
