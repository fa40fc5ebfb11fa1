"""A seed-only student in seconds: logistic regression on the frozen student encoder's mean-pooled embeddings.

It is what a user gets from their gold seed with no teacher at all, so every teacher (and every distilled
student) has to beat it to be worth paying for. Scored by stratified k-fold cross-validation on the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from llmkd.evaluation.metrics import classification_metrics
from llmkd.students.encoder import quiet_transformers, resolve_student


@torch.no_grad()
def embed(
    texts: Sequence[str], student: str = "minilm", max_length: int = 128, batch_size: int = 32
) -> np.ndarray:
    """``(n, hidden)`` L2-normalised mean-pooled token states of the (frozen) student encoder."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_student(student)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        states = model(**batch).last_hidden_state  # (b, seq, hidden)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (b, seq, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (b, hidden)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size))


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
