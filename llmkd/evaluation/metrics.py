"""Evaluation metrics as pure functions of label indices and probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix as _confusion_matrix
from sklearn.metrics import f1_score, precision_recall_fscore_support


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Share of positions where ``predicted`` equals ``gold`` (0.0 for empty input)."""
    if len(predicted) != len(gold):
        raise ValueError(f"length mismatch: {len(predicted)} predictions, {len(gold)} gold labels")
    if not gold:
        return 0.0
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def agreement(first: Sequence[str | None], second: Sequence[str | None]) -> tuple[float, int]:
    """Share of items where both give a label and the labels match, over items where both give one.

    Returns:
        ``(rate, n)`` with ``n`` the number of items both labelled (rate 0.0 when ``n`` is 0).
    """
    if len(first) != len(second):
        raise ValueError(f"length mismatch: {len(first)} vs {len(second)}")
    both = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    if not both:
        return 0.0, 0
    return sum(a == b for a, b in both) / len(both), len(both)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """ECE: ``sum_b |B_b|/N * |accuracy(B_b) - confidence(B_b)|`` over equal-width confidence bins.

    Args:
        probs: ``(N, C)`` predicted probabilities.
        labels: ``(N,)`` true class indices.
        n_bins: Number of equal-width bins on ``[0, 1]``; bin ``b`` holds confidences in
            ``(b/n, (b+1)/n]`` (the first bin also holds 0).
    """
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels)
    if probs.shape[0] == 0:
        return 0.0
    confidence = probs.max(axis=1)  # (N,)
    correct = (probs.argmax(axis=1) == labels).astype(float)  # (N,)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)  # (N,)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Per-bin mean confidence, accuracy and count (the data of a reliability diagram)."""
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = bins == b
        rows.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": int(mask.sum()),
                "confidence": float(confidence[mask].mean()) if mask.any() else 0.0,
                "accuracy": float(correct[mask].mean()) if mask.any() else 0.0,
            }
        )
    return rows


def classification_metrics(
    predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 and per-class precision/recall/F1/support over the task's ``labels``.

    Macro F1 averages over the labels that occur in ``gold`` or ``predicted`` (a label absent from both
    says nothing about the model); ``per_class`` lists every label.
    """
    labels = list(labels)
    if not gold:
        return {"n": 0, "accuracy": 0.0, "macro_f1": 0.0, "weighted_f1": 0.0, "per_class": {}}
    kwargs: dict[str, Any] = {"labels": labels, "zero_division": 0}
    precision, recall, f1, support = precision_recall_fscore_support(gold, predicted, **kwargs)
    present = [label for label in labels if label in set(gold) | set(predicted)]
    return {
        "n": len(gold),
        "accuracy": accuracy(predicted, gold),
        "macro_f1": float(f1_score(gold, predicted, average="macro", labels=present, zero_division=0)),
        "weighted_f1": float(f1_score(gold, predicted, average="weighted", **kwargs)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
    }


def confusion_matrix(predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """``(C, C)`` counts; rows are gold labels, columns predictions, in ``labels`` order."""
    if not gold:
        return np.zeros((len(labels), len(labels)), dtype=int)
    return _confusion_matrix(list(gold), list(predicted), labels=list(labels))


def gold_scores(
    predicted: list[str], gold: list[str], labels: list[str], probs: np.ndarray | None, n_bins: int
) -> dict[str, Any]:
    """:func:`classification_metrics` plus ECE and reliability bins when ``probs`` (``(N, C)``) is given."""
    result = classification_metrics(predicted, gold, labels)
    if probs is not None and len(probs):
        gold_ids = np.array([labels.index(g) for g in gold])
        result["ece"] = expected_calibration_error(probs, gold_ids, n_bins)
        result["reliability"] = reliability_bins(probs, gold_ids, n_bins)
    else:
        result["ece"] = None
    return result


def per_teacher_scores(
    matched: list[dict[str, Any] | None], gold: list[str], labels: list[str]
) -> dict[str, dict[str, Any]]:
    """Accuracy and F1 of each teacher of an ensemble on the gold items it labelled ({} for one teacher)."""
    names = sorted({name for r in matched if r for name in r.get("teachers") or {}})
    if len(names) < 2:
        return {}
    scores = {}
    for name in names:
        views = [((r or {}).get("teachers") or {}).get(name) or {} for r in matched]
        keep = [i for i, v in enumerate(views) if v.get("status") == "ok" and v.get("label") in labels]
        if keep:
            result = classification_metrics(
                [str(views[i]["label"]) for i in keep], [gold[i] for i in keep], labels
            )
            scores[name] = {k: result[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
    return scores


def usd_per_1000_from_seconds(seconds_per_item: float, usd_per_hour: float) -> float:
    """Dollars per 1,000 items of a machine billed ``usd_per_hour`` taking ``seconds_per_item`` each.

    Example: 0.01 s/item at $0.10/h -> 1000 * 0.01 / 3600 * 0.10 = $0.000278.
    """
    return 1000.0 * seconds_per_item / 3600.0 * usd_per_hour


def usd_per_1000_from_spend(total_usd: float, n_items: int) -> float | None:
    """Dollars per 1,000 items from a total spend over ``n_items`` (None when no item was labelled)."""
    return 1000.0 * total_usd / n_items if n_items > 0 else None
