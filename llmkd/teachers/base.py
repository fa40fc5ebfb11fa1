"""The teacher protocol: every backend labels a batch of items the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from llmkd.records import Item, TeacherOutput
from llmkd.task import Task


@dataclass(frozen=True)
class TeacherRequest:
    """One unit of teacher work: an item, and which sample of it (0 unless sampling K answers)."""

    item: Item
    sample: int = 0


ResultCallback = Callable[[TeacherRequest, TeacherOutput], None]


@runtime_checkable
class Teacher(Protocol):
    """A labelling backend.

    ``name`` identifies the teacher in records (e.g. ``local:smollm2-135m-instruct``, ``openai:gpt-4o``).
    ``request_payload`` returns everything that determines the answer (model, rendered prompt,
    parameters); its hash keys the run ledger. ``label`` answers a batch, calling ``on_result`` as
    each output completes so the caller can store it at once.
    """

    name: str
    model: str
    task: Task

    def request_payload(self, request: TeacherRequest) -> dict[str, Any]: ...

    def label(
        self, batch: Sequence[TeacherRequest], on_result: ResultCallback | None = None
    ) -> list[TeacherOutput]: ...

    def close(self) -> None: ...


def normalise(probs: dict[str, float]) -> dict[str, float]:
    """Scale non-negative scores to sum to 1 (uniform if all zero)."""
    total = sum(probs.values())
    if total <= 0:
        return {k: 1.0 / len(probs) for k in probs}
    return {k: v / total for k, v in probs.items()}


def argmax_label(probs: dict[str, float]) -> str:
    return max(probs, key=lambda k: probs[k])
