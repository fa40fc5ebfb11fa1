"""The quick student: a logistic-regression probe on the frozen student encoder's embeddings.

It trains in well under a second on a few thousand items on a CPU, so active distillation can refit it
after every round of teacher calls, and its class probabilities say which items it is least sure of.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from llmkd.students.encoder import quiet_transformers, resolve_student

PROBE_C = 1.0  # inverse L2 strength, chosen on bench/active's dev splits (0.25, 1, 4, 16 tried)


@torch.no_grad()
def embed(
    texts: Sequence[str],
    student: str = "minilm",
    max_length: int = 128,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """``(n, hidden)`` L2-normalised mean-pooled token states of the (frozen) student encoder."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_student(student)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad little
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="embedding", unit="batch", disable=not progress, dynamic_ncols=True):
        rows = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in rows],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        states = model(**batch).last_hidden_state  # (b, seq, hidden)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (b, seq, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (b, hidden)
        out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


class ProbeStudent:
    """Multinomial logistic regression over fixed embeddings, savable as plain arrays (``.npz``)."""

    def __init__(self, labels: Sequence[str], weights: np.ndarray, bias: np.ndarray) -> None:
        self.labels = list(labels)
        self.weights = weights  # (n_labels, hidden)
        self.bias = bias  # (n_labels,)

    @classmethod
    def fit(cls, embeddings: np.ndarray, targets: Sequence[str], labels: Sequence[str]) -> ProbeStudent:
        """Train on ``embeddings`` ``(n, hidden)`` and their labels; a label never seen keeps probability ~0,
        and a single seen label gives a constant student."""
        seen = [label for label in labels if label in set(targets)]
        weights = np.zeros((len(labels), embeddings.shape[1]), dtype=np.float32)
        bias = np.full(len(labels), -30.0, dtype=np.float32)
        if len(seen) == 1:
            bias[list(labels).index(seen[0])] = 0.0
        elif len(seen) > 1:
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(max_iter=2000, C=PROBE_C).fit(embeddings, list(targets))
            coef, intercept = model.coef_, model.intercept_
            if len(model.classes_) == 2:  # sklearn keeps one row for two classes: logit of classes_[1]
                coef, intercept = (
                    np.vstack([-coef / 2, coef / 2]),
                    np.array([-intercept[0] / 2, intercept[0] / 2]),
                )
            for row, label in enumerate(model.classes_):
                weights[list(labels).index(label)] = coef[row]
                bias[list(labels).index(label)] = intercept[row]
        return cls(labels, weights, bias)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """``(n, n_labels)`` class probabilities, columns in ``self.labels`` order."""
        logits = embeddings @ self.weights.T + self.bias  # (n, n_labels)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> list[str]:
        """The most probable label of each row."""
        return [self.labels[i] for i in self.probabilities(embeddings).argmax(axis=1)]

    def save(self, path: Path) -> None:
        """Write the weights to ``path`` (``.npz``) atomically."""
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, labels=np.array(self.labels), weights=self.weights, bias=self.bias)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ProbeStudent:
        """Read weights written by :meth:`save`."""
        with np.load(path) as data:
            return cls([str(x) for x in data["labels"]], data["weights"], data["bias"])
