"""Evaluation metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from llmkd.evaluation.metrics import (
    accuracy,
    agreement,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    reliability_bins,
    usd_per_1000_from_seconds,
    usd_per_1000_from_spend,
)

# confidences 0.92, 0.62, 0.74, 0.58, 0.65; correct 1, 0, 1, 1, 0
PROBS = np.array([[0.92, 0.08], [0.62, 0.38], [0.26, 0.74], [0.58, 0.42], [0.35, 0.65]])
LABELS = np.array([0, 1, 1, 0, 0])


def test_ece_ten_bins_hand_value():
    # bins: 0.92 -> (0.9,1], 0.62 & 0.65 -> (0.6,0.7], 0.74 -> (0.7,0.8], 0.58 -> (0.5,0.6]
    # (0.08 + 0.26 + 0.42) / 5 + 2/5 * |0 - 0.635| = 0.152 + 0.254 = 0.406
    assert expected_calibration_error(PROBS, LABELS, n_bins=10) == pytest.approx(0.406)


def test_ece_five_bins_hand_value():
    # (0.8,1]: 0.92 right -> 0.08/5; (0.4,0.6]: 0.58 right -> 0.42/5;
    # (0.6,0.8]: 0.62 wrong, 0.74 right, 0.65 wrong -> 3/5 * |1/3 - 0.67| = 0.202
    assert expected_calibration_error(PROBS, LABELS, n_bins=5) == pytest.approx(0.016 + 0.084 + 0.202)


def test_ece_perfect_and_empty():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probs, np.array([0, 1])) == 0.0
    assert expected_calibration_error(np.zeros((0, 2)), np.zeros(0, dtype=int)) == 0.0


def test_reliability_bins_counts():
    rows = reliability_bins(PROBS, LABELS, n_bins=5)
    assert [r["count"] for r in rows] == [0, 0, 1, 3, 1]
    assert rows[3]["accuracy"] == pytest.approx(1 / 3)
    assert rows[3]["confidence"] == pytest.approx(0.67)


def test_agreement_ignores_missing():
    # both labelled at positions 0, 1, 3; equal at 0 and 3 -> 2/3
    rate, n = agreement(["a", "b", None, "c", "a"], ["a", "c", "b", "c", None])
    assert n == 3 and rate == pytest.approx(2 / 3)
    assert agreement([None], ["a"]) == (0.0, 0)
    with pytest.raises(ValueError):
        agreement(["a"], [])


def test_classification_metrics_hand_values():
    gold = ["pos", "pos", "neg", "neu"]
    pred = ["pos", "neg", "neg", "neu"]
    m = classification_metrics(pred, gold, ["pos", "neg", "neu"])
    assert m["accuracy"] == accuracy(pred, gold) == 0.75
    # pos: P=1, R=0.5, F1=2/3; neg: P=0.5, R=1, F1=2/3; neu: 1
    assert m["per_class"]["pos"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 / 3 + 1) / 4)
    assert confusion_matrix(pred, gold, ["pos", "neg", "neu"]).tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_macro_f1_skips_labels_absent_from_both():
    m = classification_metrics(["pos", "neg"], ["pos", "neg"], ["pos", "neg", "neu"])
    assert m["macro_f1"] == 1.0
    assert m["per_class"]["neu"]["support"] == 0


def test_cost_helpers_hand_values():
    # 0.01 s/item at $0.10/h: 1000 * 0.01 / 3600 * 0.10 = 0.000277777...
    assert usd_per_1000_from_seconds(0.01, 0.10) == pytest.approx(0.00027777778)
    assert usd_per_1000_from_spend(0.75, 300) == pytest.approx(2.5)
    assert usd_per_1000_from_spend(1.0, 0) is None
