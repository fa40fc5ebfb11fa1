"""Log-probs -> label probabilities, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from llmkd.teachers.logprobs import TokenStep, label_probabilities, value_start

LABELS = ["positive", "negative", "neutral"]


def lg(p: float) -> float:
    return math.log(p)


def test_whole_label_tokens_renormalised_over_labels() -> None:
    steps = [
        TokenStep('{"', 0.0),
        TokenStep("label", 0.0),
        TokenStep('":"', 0.0),
        TokenStep(
            "positive",
            lg(0.7),
            (("positive", lg(0.7)), ("negative", lg(0.2)), ("neutral", lg(0.05)), ("xyz", lg(0.05))),
        ),
        TokenStep('","', 0.0),
    ]
    probs = label_probabilities(steps, LABELS)
    assert probs == pytest.approx({"positive": 0.7 / 0.95, "negative": 0.2 / 0.95, "neutral": 0.05 / 0.95})


def test_colliding_first_token_walks_the_next_position() -> None:
    # "neutral" is a prefix of "neutralish": the next token decides (closing quote vs "ish").
    labels = ["neutral", "neutralish", "negative"]
    steps = [
        TokenStep('{"label":"', 0.0),
        TokenStep("neutral", lg(0.6), (("neutral", lg(0.6)), ("negative", lg(0.3)))),
        TokenStep('"}', lg(0.75), (('"}', lg(0.75)), ("ish", lg(0.25)))),
    ]
    probs = label_probabilities(steps, labels)
    # neutral 0.6*0.75=0.45, neutralish 0.6*0.25=0.15, negative 0.3; total 0.9
    assert probs == pytest.approx({"neutral": 0.5, "neutralish": 0.15 / 0.9, "negative": 1 / 3})


def test_multi_token_labels_sharing_a_prefix() -> None:
    labels = ["negative", "negligible", "positive"]
    steps = [
        TokenStep('{"label":"', 0.0),
        TokenStep("neg", lg(0.8), (("neg", lg(0.8)), ("pos", lg(0.1)), ("ne", lg(0.1)))),
        TokenStep("ative", lg(0.5), (("ative", lg(0.5)), ("ligible", lg(0.3)), ("lect", lg(0.2)))),
        TokenStep('"}', 0.0),
    ]
    probs = label_probabilities(steps, labels)
    # neg (generated): 0.8 split 0.5:0.3 (renormalised: 5/8, 3/8) -> 0.5, 0.3
    # pos: 0.1 -> positive; "ne" (not generated, ambiguous): 0.1 split evenly -> 0.05 each
    expected = {"negative": 0.5 + 0.05, "negligible": 0.3 + 0.05, "positive": 0.1}
    assert probs == pytest.approx(expected)


def test_token_that_starts_before_the_value() -> None:
    # The quote opening the value is merged with the label's first piece: '"pos'.
    steps = [
        TokenStep('{"label":', 0.0),
        TokenStep('"pos', lg(0.9), (('"pos', lg(0.9)), ('"neg', lg(0.09)), ("pos", lg(0.01)))),
        TokenStep('itive"}', 0.0),
    ]
    probs = label_probabilities(steps, LABELS)
    # "pos" without the quote does not continue this text, so it is dropped.
    assert probs == pytest.approx({"positive": 0.9 / 0.99, "negative": 0.09 / 0.99, "neutral": 0.0})


def test_unseen_labels_get_zero_or_floor() -> None:
    steps = [TokenStep('{"label":"', 0.0), TokenStep("positive", lg(0.8), (("negative", lg(0.2)),))]
    assert label_probabilities(steps, LABELS) == pytest.approx(
        {"positive": 0.8, "negative": 0.2, "neutral": 0.0}
    )
    floored = label_probabilities(steps, LABELS, floor=0.01)
    assert floored == pytest.approx(
        {"positive": 0.81 / 1.03, "negative": 0.21 / 1.03, "neutral": 0.01 / 1.03}
    )


def test_bare_answer() -> None:
    steps = [TokenStep("neutral", lg(0.5), (("positive", lg(0.25)), ("negative", lg(0.25))))]
    probs = label_probabilities(steps, LABELS, json_value=False)
    assert probs == pytest.approx({"positive": 0.25, "negative": 0.25, "neutral": 0.5})


def test_unusable_logprobs_give_none() -> None:
    assert label_probabilities([], LABELS) is None
    assert label_probabilities([TokenStep("hello", 0.0)], LABELS) is None
    assert label_probabilities([TokenStep('{"label":"', 0.0), TokenStep("bullish", 0.0)], LABELS) is None
    assert value_start('{"label": "x"}') == 11
