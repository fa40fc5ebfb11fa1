"""Teacher records -> training examples: usable records, soft targets, held-out split, class weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from datasets.utils import logging as datasets_logging
from transformers import PreTrainedTokenizerBase

from llmkd.errors import RunError


@dataclass(frozen=True)
class Example:
    """One training record: text, teacher label index and teacher probabilities in task-label order."""

    text: str
    label: int
    probs: list[float]
    rationale: str | None = None


def training_source(run_dir: Path) -> Path:
    """``filtered.jsonl`` when the filter stage ran, else ``labels.jsonl``."""
    for name in ("filtered.jsonl", "labels.jsonl"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise RunError(
        f"{run_dir / 'labels.jsonl'}: missing (run `python -m llmkd.generate --run {run_dir}` first)"
    )


def teacher_distribution(record: dict[str, Any], labels: list[str]) -> list[float]:
    """The record's ``probs`` in ``labels`` order, renormalised; one-hot on its label when absent."""
    probs = record.get("probs") or {}
    vector = np.array([max(float(probs.get(label) or 0.0), 0.0) for label in labels])
    if vector.sum() <= 0:
        vector = np.zeros(len(labels))
        vector[labels.index(record["label"])] = 1.0
    return (vector / vector.sum()).tolist()


def usable_examples(records: list[dict[str, Any]], labels: list[str]) -> list[Example]:
    """Records with status ``ok``, a non-empty text and a label of the task."""
    return [
        Example(
            text=r["text"],
            label=labels.index(r["label"]),
            probs=teacher_distribution(r, labels),
            rationale=(str(r["rationale"]).strip() or None) if r.get("rationale") else None,
        )
        for r in records
        if r.get("status") == "ok" and r.get("label") in labels and str(r.get("text") or "").strip()
    ]


def seed_examples(records: list[dict[str, Any]], labels: list[str]) -> list[Example]:
    """Gold seed records (``text``, ``label``) as one-hot training examples."""
    return [
        Example(
            text=r["text"],
            label=labels.index(r["label"]),
            probs=np.eye(len(labels))[labels.index(r["label"])].tolist(),
        )
        for r in records
        if r.get("label") in labels and str(r.get("text") or "").strip()
    ]


def stratified_split(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """``(rest, held_out)`` with ``fraction`` of each label held out (one at least, when a label has two)."""
    rng = np.random.default_rng(seed)
    rest: list[Example] = []
    held: list[Example] = []
    for label in sorted({e.label for e in examples}):
        group = [e for e in examples if e.label == label]
        order = rng.permutation(len(group))
        n_held = max(1, round(len(group) * fraction)) if len(group) >= 2 else 0
        held += [group[i] for i in order[:n_held]]
        rest += [group[i] for i in order[n_held:]]
    return rest, held


def repeated(examples: list[Example], weight: float, seed: int) -> list[Example]:
    """Each example ``int(weight)`` times, plus a seeded ``weight % 1`` share of them once more."""
    whole, part = int(weight), weight - int(weight)
    extra = np.random.default_rng(seed).permutation(len(examples))[: round(len(examples) * part)]
    return examples * whole + [examples[i] for i in sorted(extra)]


def split_examples(
    examples: list[Example], val_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Seeded shuffle, then hold out ``val_fraction`` (at least one record when there are 5 or more)."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = max(1, round(len(examples) * val_fraction)) if val_fraction > 0 and len(examples) >= 5 else 0
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]]
    return train, val


def balanced_class_weights(label_ids: list[int], n_classes: int) -> list[float]:
    """sklearn's "balanced" weights ``n / (C * n_c)``; a class with no example gets weight 0.

    Example: labels ``[0, 0, 0, 1]`` over 2 classes -> ``[4 / 6, 4 / 2] = [0.667, 2.0]``.
    """
    counts = np.bincount(np.asarray(label_ids, dtype=int), minlength=n_classes).astype(float)
    n = float(counts.sum())
    return [n / (n_classes * c) if c > 0 else 0.0 for c in counts]


def to_dataset(examples: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Tokenised ``datasets.Dataset`` with ``labels`` (hard) and ``teacher_probs`` (soft) columns."""
    data = Dataset.from_dict(
        {
            "text": [e.text for e in examples],
            "labels": [e.label for e in examples],
            "teacher_probs": [e.probs for e in examples],
        }
    )
    bars = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        return data.map(
            lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
            batched=True,
            remove_columns=["text"],
        )
    finally:
        if bars:
            datasets_logging.enable_progress_bar()
