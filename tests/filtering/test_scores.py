"""Every score against a hand-computed value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmkd.filtering import scores as sc
from llmkd.scoring.lexicon import load_lexicon, polarity_score

P = {"positive": 0.7, "negative": 0.2, "neutral": 0.1}


def test_confidence_scores_by_hand() -> None:
    assert sc.top_prob(P) == 0.7
    assert sc.margin(P) == pytest.approx(0.5)
    assert sc.margin({"a": 1.0}) == 1.0
    h = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))  # 0.8018 nats
    assert sc.entropy(P) == pytest.approx(h)
    assert sc.entropy(P) == pytest.approx(0.80182, abs=1e-5)
    assert sc.normalized_entropy(P) == pytest.approx(h / math.log(3))
    assert sc.entropy({"a": 1.0, "b": 0.0}) == 0.0
    assert sc.normalized_entropy({"a": 0.5, "b": 0.5}) == pytest.approx(1.0)


def test_votes_and_agreement_by_hand() -> None:
    assert sc.majority_vote(["a", "b", "a", None]) == "a"
    assert sc.majority_vote(["b", "a"], order=["a", "b"]) == "a"  # tie -> task order
    assert sc.majority_vote(["b", "a"]) == "b"  # tie, no order -> first seen
    assert sc.majority_vote([None, None]) is None
    assert sc.self_consistency(["a", "a", "b", None]) == 0.5  # 2 of 4 samples agree with "a"
    assert sc.self_consistency(["a", "a", "a"]) == 1.0
    assert sc.self_consistency([]) is None
    assert sc.self_consistency(["a"]) is None  # one answer always agrees with itself
    assert sc.self_consistency([None, None]) == 0.0
    assert sc.teacher_agreement(["a", "a", "b"], "a") == pytest.approx(2 / 3)
    assert sc.teacher_agreement(["a", None], "a") == 0.5  # an invalid teacher does not agree
    assert sc.teacher_agreement(["a"], "a") is None  # undefined with one teacher
    assert sc.teacher_agreement(["a", "b"], None) is None


def test_self_consistency_is_per_teacher_and_absent_for_single_answers() -> None:
    assert sc.mean_self_consistency([["a"]]) is None  # one teacher, one sample
    assert sc.mean_self_consistency([["a"], ["b"]]) is None  # two teachers disagreeing: agreement's job
    assert sc.mean_self_consistency([["a", "a", "b"], ["b"], []]) == pytest.approx(2 / 3)
    assert sc.mean_self_consistency([["a", "a"], ["b", "c"]]) == pytest.approx(0.75)  # (1 + 0.5) / 2


def test_ensemble_by_hand() -> None:
    ens = sc.ensemble_probs([{"a": 0.8, "b": 0.2}, {"a": 0.4, "b": 0.6}, None])
    assert ens == pytest.approx({"a": 0.6, "b": 0.4})
    assert sc.argmax_label(ens) == "a"
    assert sc.ensemble_probs([None, {}]) is None
    # a label missing from one teacher counts as 0 there: (0.5 + 0) / 2, renormalised with b=(0.5+1)/2
    assert sc.ensemble_probs([{"a": 0.5, "b": 0.5}, {"b": 1.0}]) == pytest.approx({"a": 0.25, "b": 0.75})


def test_dawid_skene_trusts_the_reliable_teachers() -> None:
    rng = np.random.default_rng(0)
    labels = ["x", "y"]
    truth = rng.integers(0, 2, size=200)
    votes = []
    for t in truth:
        good = labels[t]
        votes.append(
            {
                "good1": good if rng.random() < 0.95 else labels[1 - t],
                "good2": good if rng.random() < 0.9 else labels[1 - t],
                "noisy": labels[rng.integers(0, 2)],  # a coin flip
            }
        )
    post, acc = sc.dawid_skene(votes, labels)
    assert post.shape == (200, 2)
    assert np.allclose(post.sum(axis=1), 1.0)
    assert acc["good1"] > 0.9 and acc["good2"] > 0.85
    assert 0.35 < acc["noisy"] < 0.65
    assert (post.argmax(axis=1) == truth).mean() > 0.93


def test_rationale_consistency_by_hand() -> None:
    lex = load_lexicon()
    labels = ["positive", "negative", "neutral"]
    # profit(+1) climbed(+1) raised(+1) = +3
    assert polarity_score("Operating profit climbed and the outlook was raised.", lex) == 3
    # losses(-1) fell(-1) = -2
    assert polarity_score("Losses widened and sales fell.", lex) == -2
    # "not" flips "profitable": -1; "up" is exact-match only, "update" scores 0
    assert polarity_score("The unit is not profitable.", lex) == -1
    assert polarity_score("An update was given.", lex) == 0
    assert sc.rationale_consistency("Sales fell and jobs were cut.", "positive", labels, lex) is False
    assert sc.rationale_consistency("Sales fell and jobs were cut.", "negative", labels, lex) is True
    assert sc.rationale_consistency("A report date is procedural.", "neutral", labels, lex) is True
    assert sc.rationale_consistency("Profit rose and sales grew.", "neutral", labels, lex) is False
    assert sc.rationale_consistency(None, "positive", labels, lex) is None
    assert sc.rationale_consistency("Rates rose.", "hawkish", ["hawkish", "dovish", "neutral"], lex) is None


def _view(label: str, samples: list[str]) -> dict:
    return {"label": label, "probs": None, "status": "ok", "samples": samples}


def test_record_scores_self_consistency_means_something() -> None:
    from llmkd.filtering.policy import record_scores
    from llmkd.scoring.lexicon import LEXICON_PATH

    lexicon = load_lexicon(LEXICON_PATH)
    labels = ["positive", "negative", "neutral"]

    def scores(teachers: dict) -> dict:
        record = {"text": "Sales rose.", "label": "positive", "teachers": teachers}
        return record_scores(record, labels, lexicon)

    one = scores({"local": _view("positive", ["positive"])})
    assert one["self_consistency"] is None and one["teacher_agreement"] is None
    two = scores({"local": _view("positive", ["positive"]), "lexicon": _view("negative", ["negative"])})
    assert two["self_consistency"] is None and two["teacher_agreement"] == 0.5
    sampled = scores({"gpt": _view("positive", ["positive", "positive", "negative", "positive"])})
    assert sampled["self_consistency"] == 0.75
