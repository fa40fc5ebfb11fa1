"""The students' model cards (README.md saved beside the weights)."""

from __future__ import annotations

import dataclasses
from typing import Any

from llmkd.io.task import Task
from llmkd.students.causal import LABEL_TASK
from llmkd.students.encoder import student_name
from llmkd.training.config import FinetuneConfig


def encoder_model_card(
    config: FinetuneConfig, task: Task, base: str, counts: dict[str, Any], held_out_accuracy: float | None
) -> str:
    """The student's README.md: what it is, what it was trained on, and how well it matches the teacher."""
    accuracy = f"{held_out_accuracy:.4f}" if held_out_accuracy is not None else "n/a (no held-out split)"
    labels = "\n".join(f"- `{label}`: {definition}" for label, definition in task.spec.labels.items())
    hyper = "\n".join(
        f"| {key} | {value} |"
        for key, value in dataclasses.asdict(config).items()
        if key not in {"run", "output", "task", "student"}
    )
    remote = ", trust_remote_code=True" if config.pooling == "mean" else ""
    head = (
        "linear head on the masked mean of the token states (`pooled.py` beside the weights: load with "
        "`trust_remote_code=True`, or import `llmkd.students.pooled` first)"
        if config.pooling == "mean"
        else "the architecture's own classification head"
    )
    distribution = ", ".join(f"{label}: {n}" for label, n in counts["label_counts"].items())
    return f"""---
library_name: transformers
base_model: {student_name(config.student)}
pipeline_tag: text-classification
tags: [llmkd, knowledge-distillation, {"full-fine-tune" if config.full else "lora"}]
---

# llmkd student: {task.name}

A sequence classifier distilled by llmkd from teacher-LLM labels.

- Base model: `{student_name(config.student)}` (loaded from `{base}`)
- Head: {head}
- Task: `{task.name}` — {task.spec.description}
- Teachers: {", ".join(counts["teachers"]) or "unknown"}
- Method: {"full fine-tune" if config.full else f"LoRA (r={config.lora_r}, merged into the weights)"}, \
KD loss = alpha·T²·KL(teacher_T ‖ student_T) + (1−alpha)·CE(student, teacher label)
- Training data: {counts["n_train"]} teacher-labelled texts from `{counts["source"]}` \
({counts["n_used"]} usable of {counts["n_records"]} records; {distribution}), {counts["n_val"]} held out
- Held-out accuracy (agreement with the teacher labels on {counts["n_val"]} texts): {accuracy}

## Labels

{labels}

## Usage

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="path/to/student"{remote})
classifier("Operating profit rose 12 percent to EUR 4.1 million.")
```

## Hyper-parameters

| name | value |
|---|---|
{hyper}
"""


def causal_model_card(
    config: FinetuneConfig, task: Task, base: str, counts: dict[str, Any], acc: float | None
) -> str:
    """The causal student's README.md: base model, training data, held-out accuracy and how to ask it."""
    shown = f"{acc:.4f}" if acc is not None else "n/a"
    return f"""---
library_name: transformers
base_model: {config.student}
pipeline_tag: text-generation
tags: [llmkd, knowledge-distillation, distilling-step-by-step, lora]
---

# llmkd causal student: {task.name}

A causal LM fine-tuned by llmkd with LoRA on teacher labels and rationales ("distilling step-by-step",
Hsieh et al. 2023), the loss on completion tokens only.

- Base model: `{config.student}` (loaded from `{base}`)
- Labels: {", ".join(task.labels)}
- Training data: {counts["n_train"]} teacher-labelled texts from `{counts["source"]}` → {
        counts["n_label_examples"]
    }
  label examples and {counts["n_rationale_examples"]} rationale examples; {counts["n_val"]} held out
- Held-out accuracy (agreement with the teacher, label scoring): {shown}

## Usage

Ask the label task — the user turn `{LABEL_TASK} ` + the task's user prompt{
        " after the task's system prompt" if config.causal_system_prompt else ""
    } — and score each label's tokens (`llmkd.students.causal.CausalStudent.load(path).predict_probs(texts)`).
"""
