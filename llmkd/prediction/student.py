"""The student predict scores with: the run's student folder, loaded on the chosen backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llmkd.errors import RunError
from llmkd.prediction.config import PredictConfig
from llmkd.students.base import Student, load_student


def student_folder(run_dir: Path) -> Path:
    """RUN/student, else RUN/student-causal/merged.

    Raises:
        RunError: the run has no trained student.
    """
    for folder in (run_dir / "student", run_dir / "student-causal" / "merged"):
        if (folder / "config.json").is_file():
            return folder
    raise RunError(f"{run_dir}: no student/ (run `python -m llmkd.finetune --run {run_dir}` first)")


def open_student(run_dir: Path, config: PredictConfig) -> Student:
    """The run's student on ``config.backend`` (``torch`` or ``onnx``)."""
    folder = student_folder(run_dir)
    return load_student(folder, device=config.device, max_length=config.max_length, backend=config.backend)


def student_probs(student: Student, texts: list[str], labels: list[str], batch_size: int) -> np.ndarray:
    """``(len(texts), len(labels))`` probabilities in the order of ``labels`` (the task's).

    Raises:
        RunError: the student predicts other labels than ``labels``.
    """
    if sorted(student.labels) != sorted(labels):
        raise RunError(f"the student predicts {student.labels}, but the task has {labels} (check --task)")
    batch = max(1, min(batch_size, student.max_batch_size or batch_size))
    probs = student.predict_probs(texts, batch, progress=False)  # (n, C) in the student's label order
    return probs[:, [student.labels.index(label) for label in labels]]
