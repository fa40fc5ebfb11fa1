"""Student models distilled from teacher labels: the models and their inference (training is
:mod:`llmkd.training`).

``encoder`` builds a classifier from any encoder checkpoint (the embedded MiniLM by default), wraps it in
LoRA, merges, saves and loads it and runs batched inference. ``causal`` encodes the label and rationale
chats of a causal LM and predicts by scoring the labels. ``onnx`` runs an exported encoder student on
onnxruntime alone. ``base`` is what the stages use: the :class:`Student` protocol every kind meets and
:func:`load_student`, which picks the kind from the folder.

The names below load on first use, so that ``llmkd.students.onnx`` (and the ONNX backend of
:func:`load_student`) import neither torch nor transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_SOURCES = {
    "Student": "base",
    "load_student": "base",
    "student_kind": "base",
    "CausalStudent": "causal",
    "EncoderStudent": "encoder",
    "add_lora": "encoder",
    "load_classifier": "encoder",
    "predict_probs": "encoder",
    "resolve_student": "encoder",
    "save_student": "encoder",
    "student_name": "encoder",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module 'llmkd.students' has no attribute {name!r}")
    return getattr(import_module(f"llmkd.students.{_SOURCES[name]}"), name)
