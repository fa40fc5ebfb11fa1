"""The records that flow between stages: input items and teacher outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Source = Literal["input", "augmented"]
ProbMethod = Literal["label-scoring", "logprobs", "samples", "none"]
Status = Literal["ok", "invalid"]


@dataclass(frozen=True)
class Item:
    """One text to label.

    Attributes:
        id: Stable id: the input's id column, else a hash of the text.
        text: The text itself.
        label: Gold label if the input carries one (already mapped to the task's label names).
        source: ``input`` for user data, ``augmented`` for teacher-written examples.
        line: 1-based line (or row) of the item in its input file, for error messages.
    """

    id: str
    text: str
    label: str | None = None
    source: Source = "input"
    line: int | None = None


@dataclass
class TeacherOutput:
    """What a teacher returns for one item.

    Attributes:
        label: The chosen label (one of the task's labels), None when ``status`` is ``invalid``.
        probs: A probability for every label of the task, or None when the teacher gives none.
        rationale: The teacher's explanation, when asked for.
        raw: The raw response text (or a compact description of it).
        prompt_tokens: Input tokens billed/used.
        completion_tokens: Output tokens billed/used.
        prob_method: How ``probs`` was obtained.
        status: ``ok`` or ``invalid`` (unparseable / out-of-set after re-asks).
        error: Why the output is invalid.
        cost_usd: Dollars this request cost (0 for local teachers).
        extra: Backend-specific details worth keeping (e.g. number of samples, retries).
    """

    label: str | None
    probs: dict[str, float] | None
    rationale: str | None
    raw: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prob_method: ProbMethod = "none"
    status: Status = "ok"
    error: str | None = None
    cost_usd: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherOutput:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def teacher_view_matrix(
    records: Sequence[Mapping[str, Any]], teacher: str, labels: Sequence[str]
) -> tuple[np.ndarray, list[str | None]]:
    """``(n, K)`` soft labels of ``teacher`` on ``records`` (one-hot without probabilities, uniform when
    invalid) and its hard labels (None when invalid)."""
    k = len(labels)
    probs, said = np.full((len(records), k), 1.0 / k), []
    for i, record in enumerate(records):
        view = (record.get("teachers") or {}).get(teacher) or {}
        label = view.get("label") if view.get("status") == "ok" else None
        said.append(label)
        if label is None:
            continue
        dist = view.get("probs") or {label: 1.0}
        row = np.array([max(float(dist.get(x) or 0.0), 0.0) for x in labels])
        probs[i] = row / row.sum() if row.sum() > 0 else probs[i]
    return probs, said
