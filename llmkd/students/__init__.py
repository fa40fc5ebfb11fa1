"""Student models distilled from teacher labels: the models and their inference (training is
:mod:`llmkd.training`).

``encoder`` builds a classifier from any encoder checkpoint (the embedded MiniLM by default), wraps it in
LoRA, merges, saves and loads it and runs batched inference. ``causal`` encodes the label and rationale
chats of a causal LM and predicts by scoring the labels. ``base`` is what the stages use: the
:class:`Student` protocol both kinds meet and :func:`load_student`, which picks the kind from the folder.
"""

from llmkd.students.base import Student, load_student, student_kind
from llmkd.students.causal import CausalStudent
from llmkd.students.encoder import (
    EncoderStudent,
    add_lora,
    load_classifier,
    predict_probs,
    resolve_student,
    save_student,
    student_name,
)

__all__ = [
    "CausalStudent",
    "EncoderStudent",
    "Student",
    "add_lora",
    "load_classifier",
    "load_student",
    "predict_probs",
    "resolve_student",
    "save_student",
    "student_kind",
    "student_name",
]
