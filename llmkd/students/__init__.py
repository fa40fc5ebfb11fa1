"""Student models: small encoders fine-tuned as sequence classifiers on teacher labels.

``encoder`` builds a classifier from any encoder checkpoint (the embedded MiniLM by default), wraps it in
LoRA, merges and saves it, and runs batched inference for evaluation.
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
