"""Student models distilled from teacher labels.

``encoder`` builds a classifier from any encoder checkpoint (the embedded MiniLM by default), wraps it in
LoRA, merges and saves it, and runs batched inference for evaluation. ``causal`` (imported on demand)
fine-tunes a causal LM with LoRA on label and rationale targets and predicts by scoring the labels.
"""

from llmkd.students.encoder import (
    add_lora,
    load_classifier,
    load_student,
    predict_probs,
    resolve_student,
    save_student,
    student_name,
)

__all__ = [
    "add_lora",
    "load_classifier",
    "load_student",
    "predict_probs",
    "resolve_student",
    "save_student",
    "student_name",
]
