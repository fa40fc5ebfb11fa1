"""The teacher protocol: every backend labels a batch of items the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from llmkd.io.records import Item, TeacherOutput
from llmkd.io.task import Task


@dataclass(frozen=True)
class TeacherOptions:
    """Settings every backend may read (each ignores what does not apply to it)."""

    rationale: bool = True
    samples: int = 1
    temperature: float = 0.0
    max_new_tokens: int = 64
    batch_size: int = 16
    few_shot: bool = True
    base_url: str | None = None
    concurrency: int = 16
    rpm: int | None = None
    tpm: int | None = None
    timeout_s: float = 60.0
    max_attempts: int = 6
    max_reasks: int = 2
    device: str = "cpu"
    # Local teachers (None = the model's default from llmkd.models.embedded.local_profile).
    calibrate: bool | None = None
    label_prefix: str | None = None
    few_shot_pool: str | None = None
    few_shot_k: int = 6
    few_shot_select: str = "random"
    few_shot_seed: int = 0


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
