"""Corrections learned on a gold seed fix systematic teacher errors and are kept only when they help."""

from __future__ import annotations

import numpy as np
import pytest

from llmkd.generation.correction import (
    choose_correction,
    fit_temperature,
    fit_transition,
    fit_vector_scaling,
    log_loss,
)


def one_hot(ids: np.ndarray, k: int = 3) -> np.ndarray:
    return np.eye(k)[ids]


def test_transition_estimates_true_given_said() -> None:
    # The teacher says 2 ("neutral") for every item; the truth is 0 for 3 of 4 items.
    gold = np.array([0, 0, 0, 2])
    probs = one_hot(np.array([2, 2, 2, 2]))
    fitted = fit_transition(probs, gold, smoothing=0.0 + 1e-9)
    corrected = fitted.apply(one_hot(np.array([2])))
    assert corrected[0] == pytest.approx([0.75, 0.0, 0.25], abs=1e-6)


def test_swapped_labels_are_undone_and_chosen() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 300)
    said = np.where(gold == 0, 1, np.where(gold == 1, 0, gold))  # the teacher swaps labels 0 and 1
    probs = one_hot(said) * 0.9 + 0.1 / 3
    choice = choose_correction(probs, gold)
    assert choice.held_out["none"]["accuracy"] < 0.5
    assert choice.correction.method in {"transition", "vector"}
    assert (choice.correction.apply(probs).argmax(axis=1) == gold).mean() == 1.0


def test_temperature_softens_an_overconfident_teacher() -> None:
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 400)
    right = rng.random(400) < 0.7
    said = np.where(right, gold, (gold + 1) % 3)
    probs = one_hot(said) * 0.98 + 0.02 / 3
    fitted = fit_temperature(probs, gold)
    assert fitted.params["temperature"] > 1.5
    assert log_loss(fitted.apply(probs), gold) < log_loss(probs, gold)
    vector = fit_vector_scaling(probs, gold)
    assert log_loss(vector.apply(probs), gold) < log_loss(probs, gold)


def test_a_teacher_already_right_keeps_its_labels() -> None:
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 3, 200)
    probs = one_hot(gold) * 0.9 + 0.1 / 3
    choice = choose_correction(probs, gold)
    held = choice.held_out
    assert held[choice.correction.method]["accuracy"] >= held["none"]["accuracy"] == 1.0
    assert (choice.correction.apply(probs).argmax(axis=1) == gold).all()


def test_nothing_beats_uncorrected_labels_on_held_out_folds_then_none() -> None:
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 3, 60)
    probs = rng.dirichlet(np.ones(3), 60)  # labels unrelated to the truth: no method generalises
    choice = choose_correction(probs, gold, methods=("none", "transition"))
    if choice.correction.method == "none":
        assert choice.held_out["transition"]["log_loss"] >= choice.held_out["none"]["log_loss"] or (
            choice.held_out["transition"]["accuracy"] < choice.held_out["none"]["accuracy"]
        )
    else:
        assert choice.held_out["transition"]["log_loss"] < choice.held_out["none"]["log_loss"]
