"""What the stages need from a trained student of any kind, and loading one from its folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from llmkd.errors import RunError
from llmkd.io.task import Task
from llmkd.models.device import resolve_device
from llmkd.students.marker import read_marker
from llmkd.students.onnx import OnnxStudent

__all__ = ["Backend", "Student", "load_student", "resolve_device", "student_kind"]


@runtime_checkable
class Student(Protocol):
    """A trained student: label probabilities for texts, plus the figures a report shows."""

    @property
    def kind(self) -> str:
        """``encoder`` or ``causal``."""
        ...

    @property
    def labels(self) -> list[str]:
        """The labels, in the column order of :meth:`predict_probs`."""
        ...

    @property
    def max_batch_size(self) -> int | None:
        """The largest batch worth running (None: no limit)."""
        ...

    @property
    def device(self) -> str:
        """The torch device the weights are on."""
        ...

    def predict_probs(self, texts: Sequence[str], batch_size: int = ..., progress: bool = True) -> np.ndarray:
        """``(N, len(labels))`` probabilities; rows sum to 1."""
        ...

    def parameter_count(self) -> int:
        """Parameters of the model."""
        ...

    def size_mb(self) -> float:
        """Megabytes of weights on disk."""
        ...


def student_kind(folder: str | Path) -> str:
    """``causal`` for a folder with ``llmkd_student.json``, else ``encoder``.

    Raises:
        RunError: ``llmkd_student.json`` is there but unreadable.
    """
    return "causal" if read_marker(folder) is not None else "encoder"


Backend = Literal["torch", "onnx"]


def load_student(
    folder: str | Path,
    device: str = "auto",
    max_length: int | None = None,
    task: Task | None = None,
    backend: Backend = "torch",
) -> Student:
    """Load the student saved in ``folder`` onto ``device``, in eval mode.

    Args:
        folder: A student folder (``RUN/student`` or ``RUN/student-causal/merged``).
        device: A torch device, or ``auto``.
        max_length: Tokens per text for an encoder student (default: its training length; a causal
            one always keeps its training length).
        task: The task of a causal student (default: the one named in its ``llmkd_student.json``).
        backend: ``torch``, or ``onnx``: the encoder student's ONNX export in ``folder/onnx`` on
            onnxruntime (CPU; ``device`` is ignored).

    Raises:
        RunError: ``folder`` holds no loadable student, or (``onnx``) no ONNX export or a causal student.
    """
    if backend == "onnx":
        if student_kind(folder) == "causal":
            raise RunError(f"{folder}: a causal student; --backend onnx is for the encoder student only")
        return OnnxStudent.load(folder, max_length)
    from llmkd.students.causal import CausalStudent  # torch and transformers: not for the ONNX backend
    from llmkd.students.encoder import EncoderStudent

    target = resolve_device(device)
    if student_kind(folder) == "causal":
        causal = CausalStudent.load(folder, task)
        causal.model.to(target)
        return causal
    encoder = EncoderStudent.load(folder, max_length)
    encoder.model.to(target)  # type: ignore[arg-type]
    return encoder
