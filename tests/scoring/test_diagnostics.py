"""A student that answers one label, or no better than the majority class, is called out."""

from __future__ import annotations

from llmkd.scoring.diagnostics import degenerate_predictions

LABELS = ["positive", "negative", "neutral"]


def test_one_label_student_gets_both_warnings() -> None:
    gold = ["neutral"] * 6 + ["positive"] * 3 + ["negative"]
    messages = degenerate_predictions(["neutral"] * 10, gold, LABELS, "the held-out split (10 items)")
    assert len(messages) == 2
    assert "never answers positive, negative" in messages[0]
    assert "'neutral' for 10 of 10" in messages[0]
    assert "no better than always answering 'neutral' (0.600)" in messages[1]


def test_sane_predictions_pass() -> None:
    gold = ["neutral", "positive", "negative", "neutral"]
    assert degenerate_predictions(gold, gold, LABELS, "x") == []
    assert degenerate_predictions([], [], LABELS, "x") == []
