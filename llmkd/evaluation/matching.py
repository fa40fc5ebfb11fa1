"""Evaluate's view of the teacher on the gold items: which labels.jsonl record holds each gold text, and
the teacher's calibration where its records carry probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkd.evaluation import metrics
from llmkd.io.records import Item


def _normalise(text: str) -> str:
    return " ".join(text.split())


def match_teacher(gold: list[Item], records: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | None], int]:
    """For each gold item, the labels.jsonl record of the same text: by id first, then by text.

    An id match only counts when the texts agree too (ids of two files may reuse the same values).

    Returns:
        The matched records (None where the teacher never saw the text) and the number of id clashes.
    """
    by_id = {str(r.get("id")): r for r in records}
    by_text = {_normalise(str(r.get("text") or "")): r for r in records}
    matched: list[dict[str, Any] | None] = []
    clashes = 0
    for item in gold:
        text = _normalise(item.text)
        record = by_id.get(item.id)
        if record is not None and _normalise(str(record.get("text") or "")) != text:
            clashes += 1
            record = None
        matched.append(record if record is not None else by_text.get(text))
    return matched, clashes


def teacher_calibration(
    teacher: dict[str, Any],
    matched: list[dict[str, Any] | None],
    keep: list[int],
    gold: list[str],
    labels: list[str],
    n_bins: int,
) -> list[dict[str, float]] | None:
    """Set the teacher's ECE and reliability bins from the records that carry probabilities."""
    with_probs = [i for i in keep if (matched[i] or {}).get("probs")]
    if not with_probs:
        teacher["n_with_probs"] = 0
        return None
    rows = np.array(
        [[float((matched[i] or {})["probs"].get(label) or 0.0) for label in labels] for i in with_probs]
    )
    probs = rows / np.clip(rows.sum(1, keepdims=True), 1e-12, None)
    ids = np.array([labels.index(gold[i]) for i in with_probs])
    teacher["ece"] = metrics.expected_calibration_error(probs, ids, n_bins)
    teacher["reliability"] = metrics.reliability_bins(probs, ids, n_bins)
    teacher["n_with_probs"] = len(with_probs)
    return list(teacher["reliability"])


def teacher_confidences(
    matched: list[dict[str, Any] | None], predicted: list[str | None]
) -> list[float | None]:
    """The probability each matched record gave its label; None without a label or real probabilities
    (``prob_method: none`` records carry a one-hot stand-in)."""
    out: list[float | None] = []
    for record, label in zip(matched, predicted, strict=True):
        probs = (record or {}).get("probs")
        if label is None or not probs or (record or {}).get("prob_method") == "none":
            out.append(None)
        else:
            out.append(float(probs.get(label) or 0.0))
    return out
