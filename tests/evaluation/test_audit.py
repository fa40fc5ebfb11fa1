"""Teacher audit on a gold seed: intervals, baselines and a plain verdict."""

from __future__ import annotations

import numpy as np

from llmkd.evaluation.audit import (
    audit_markdown,
    audit_teacher,
    bootstrap_interval,
    majority_baseline,
    verdict,
)

LABELS = ["positive", "negative", "neutral"]


def test_bootstrap_interval_brackets_the_point_estimate() -> None:
    gold = ["positive"] * 50 + ["neutral"] * 50
    predicted = ["positive"] * 40 + ["neutral"] * 10 + ["neutral"] * 50  # accuracy 0.9
    low, high = bootstrap_interval(predicted, gold, LABELS, rounds=300)["accuracy"]
    assert low < 0.9 < high
    assert low > 0.8 and high < 0.97


def test_audit_counts_invalid_as_wrong_and_scores_calibration() -> None:
    gold = ["positive", "negative", "neutral", "neutral"]
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]])
    audit = audit_teacher(
        "t", ["positive", "negative", "neutral", None], probs, gold, LABELS, usd_per_1000=0.5
    )
    m = audit.metrics
    assert m["accuracy"] == 0.75
    assert m["invalid"] == 1
    assert m["per_class_recall"] == {"positive": 1.0, "negative": 1.0, "neutral": 0.5}
    assert m["confusion"]["rows_gold_cols_predicted"][2] == [0, 0, 1]
    assert 0.0 < m["ece"] < 1.0


def test_a_teacher_no_better_than_the_majority_class_is_called_so() -> None:
    gold = ["neutral"] * 70 + ["positive"] * 30
    majority = majority_baseline(gold, LABELS)
    assert majority["label"] == "neutral"
    assert majority["accuracy"] == 0.7
    weak = audit_teacher("weak", ["neutral"] * 40 + ["positive"] * 30 + ["neutral"] * 30, None, gold, LABELS)
    strong = audit_teacher("strong", gold[:90] + ["neutral"] * 10, None, gold, LABELS)
    baselines = {"majority class": majority["accuracy"], "seed-only student": 0.72}
    assert "NO BETTER than majority class" in verdict(weak, baselines)
    assert verdict(strong, baselines).startswith("strong: better than")
    table = audit_markdown([weak, strong], baselines, 100)
    assert "| strong | 0.900" in table
    assert "*seed-only student* | 0.720" in table
