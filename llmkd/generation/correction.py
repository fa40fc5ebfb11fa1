"""Teacher corrections learned on a gold seed: calibration and label-noise transition, chosen by cross-validation.

A real teacher is wrong in systematic ways (GPT-4 calls many hawkish FOMC sentences neutral); averaging
teachers never removes that, but a few hundred hand-labelled items of the user's own data can. Each method
maps a teacher's soft labels ``(n, K)`` to corrected ones; :func:`choose_correction` keeps a method only
when it beats the uncorrected labels on held-out folds of the seed.

Shapes: ``probs`` is ``(n_items, n_labels)`` with rows summing to 1; ``gold`` is ``(n_items,)`` label ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize

Method = Literal["none", "temperature", "vector", "transition"]
METHODS: tuple[Method, ...] = ("none", "temperature", "vector", "transition")
EPS = 1e-6


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, EPS, 1.0))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_loss(probs: np.ndarray, gold: np.ndarray) -> float:
    """Mean negative log-likelihood of the gold labels (probabilities clipped at 1e-6)."""
    return float(-_log(probs[np.arange(len(gold)), gold]).mean())


@dataclass
class Correction:
    """A fitted correction of one teacher's soft labels (``none`` leaves them as they are)."""

    method: Method = "none"
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Corrected soft labels, ``(n, K)`` -> ``(n, K)``."""
        if self.method == "temperature":
            return _softmax(_log(probs) / self.params["temperature"])
        if self.method == "vector":
            return _softmax(_log(probs) * np.asarray(self.params["scale"]) + np.asarray(self.params["bias"]))
        if self.method == "transition":
            # p(true = i | teacher's soft label) = sum_j p(said = j) * p(true = i | said = j)
            return probs @ np.asarray(self.params["true_given_said"]).T
        return probs


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> Correction:
    """One temperature on the teacher's log-probabilities, fitted by gold log-likelihood."""
    logp = _log(probs)

    def nll(t: np.ndarray) -> float:
        return log_loss(_softmax(logp / max(float(t[0]), 0.05)), gold)

    result = minimize(nll, x0=np.array([1.0]), method="Nelder-Mead")
    return Correction("temperature", {"temperature": max(float(result.x[0]), 0.05)})


def fit_vector_scaling(probs: np.ndarray, gold: np.ndarray, l2: float = 1e-2) -> Correction:
    """A scale and a bias per label on the log-probabilities (vector scaling), lightly L2-regularised."""
    logp, k = _log(probs), probs.shape[1]

    def objective(theta: np.ndarray) -> float:
        scale, bias = theta[:k], theta[k:]
        penalty = l2 * (np.sum((scale - 1.0) ** 2) + np.sum(bias**2))
        return log_loss(_softmax(logp * scale + bias), gold) + penalty

    result = minimize(objective, x0=np.concatenate([np.ones(k), np.zeros(k)]), method="L-BFGS-B")
    return Correction("vector", {"scale": result.x[:k].tolist(), "bias": result.x[k:].tolist()})


def fit_transition(probs: np.ndarray, gold: np.ndarray, smoothing: float = 1.0) -> Correction:
    """``p(true | said)`` from the seed's soft confusion counts (add-``smoothing`` per cell)."""
    k = probs.shape[1]
    counts = np.full((k, k), smoothing)  # (true, said)
    np.add.at(counts, gold, probs)
    true_given_said = counts / counts.sum(axis=0, keepdims=True)
    return Correction("transition", {"true_given_said": true_given_said.tolist()})


FITTERS = {
    "none": lambda probs, gold: Correction(),
    "temperature": fit_temperature,
    "vector": fit_vector_scaling,
    "transition": fit_transition,
}


@dataclass
class CorrectionChoice:
    """What cross-validation on the seed chose, and the held-out scores behind the choice."""

    correction: Correction
    held_out: dict[str, dict[str, float]]  # method -> {"log_loss", "accuracy"}


def cross_validate(
    probs: np.ndarray, gold: np.ndarray, methods: tuple[Method, ...] = METHODS, folds: int = 5, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Held-out log-loss and accuracy of each method, fitted on the other folds of the seed."""
    order = np.random.default_rng(seed).permutation(len(gold))
    parts = np.array_split(order, min(folds, len(gold)))
    out: dict[str, dict[str, float]] = {}
    for method in methods:
        corrected = np.zeros_like(probs)
        for part in parts:
            train = np.setdiff1d(order, part)
            corrected[part] = FITTERS[method](probs[train], gold[train]).apply(probs[part])
        out[method] = {
            "log_loss": log_loss(corrected, gold),
            "accuracy": float((corrected.argmax(axis=1) == gold).mean()),
        }
    return out


def choose_correction(
    probs: np.ndarray, gold: np.ndarray, methods: tuple[Method, ...] = METHODS, folds: int = 5, seed: int = 0
) -> CorrectionChoice:
    """The method with the lowest held-out log-loss among those whose held-out accuracy is not below the
    uncorrected labels'; ``none`` unless one beats it. The chosen method is refitted on the whole seed."""
    scores = cross_validate(probs, gold, ("none", *[m for m in methods if m != "none"]), folds, seed)
    base = scores["none"]
    allowed = [
        m for m, s in scores.items() if s["accuracy"] >= base["accuracy"] and s["log_loss"] < base["log_loss"]
    ]
    best = min(allowed, key=lambda m: scores[m]["log_loss"]) if allowed else "none"
    return CorrectionChoice(FITTERS[best](probs, gold), scores)
