"""A seed-only student in seconds: logistic regression on the frozen student encoder's mean-pooled embeddings.

It is what a user gets from their gold seed with no teacher at all, so every teacher (and every distilled
student) has to beat it to be worth paying for. Scored by stratified k-fold cross-validation on the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmkd.evaluation.metrics import classification_metrics
from llmkd.students.probe import embed

__all__ = ["embed", "seed_only_cv"]


def seed_only_cv(
    embeddings: np.ndarray, gold: Sequence[str], labels: Sequence[str], folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Out-of-fold accuracy and macro-F1 of a logistic-regression probe trained on the seed alone."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(gold)
    smallest = min(np.unique(y, return_counts=True)[1])
    k = max(2, min(folds, int(smallest)))
    if len(set(y)) < 2 or smallest < 2:
        top = max(set(y), key=list(y).count)
        predicted = [top] * len(y)
    else:
        probe = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced")
        predicted = list(
            cross_val_predict(probe, embeddings, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed))
        )
    return {"folds": k, **classification_metrics(predicted, list(y), labels)}
