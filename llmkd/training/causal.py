"""Causal students: LoRA SFT "distilling step-by-step" (Hsieh et al., 2023) on label and rationale targets.

Every teacher record becomes up to two chat examples on the same text
(:func:`llmkd.students.causal.student_messages`):

- a label task: the user turn starts with ``[label]`` and the target is the teacher's label;
- a rationale task: the user turn starts with ``[rationale]`` and the target is the teacher's rationale
  (only for records that have one, a ``--rationale-weight`` share of them).

The loss covers the completion tokens only (prompt tokens are labelled -100); the kept epoch is the one
with the lowest held-out loss, and its held-out accuracy is measured by label scoring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback

from llmkd.errors import ConfigError, warn
from llmkd.io.task import Task
from llmkd.scoring.diagnostics import degenerate_predictions
from llmkd.students.causal import (
    IGNORE,
    LABEL_TASK,
    RATIONALE_TASK,
    CausalStudent,
    ChatEncoder,
    add_causal_lora,
    load_causal_lm,
    save_causal,
    student_marker,
    student_messages,
)
from llmkd.training.common import (
    TrainingData,
    finish,
    prepare_data,
    resume_point,
    train,
    training_arguments,
    training_metrics,
)
from llmkd.training.config import DEFAULT_MAX_LENGTH_CAUSAL, FinetuneConfig
from llmkd.training.data import Example
from llmkd.training.model_card import causal_model_card

HELD_OUT_SCORED = 256


def build_examples(
    examples: Sequence[Example],
    task: Task,
    encoder: ChatEncoder,
    system_prompt: bool,
    rationale_share: float = 1.0,
    seed: int = 0,
) -> list[dict[str, list[int]]]:
    """Label-task examples for every record plus rationale-task examples for those with a rationale."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in examples:
        rows.append(
            encoder.example(student_messages(task, e.text, LABEL_TASK, system_prompt), task.labels[e.label])
        )
        if e.rationale and rng.random() < rationale_share:
            rows.append(
                encoder.example(student_messages(task, e.text, RATIONALE_TASK, system_prompt), e.rationale)
            )
    return rows


def resolved_config(config: FinetuneConfig, data: TrainingData) -> FinetuneConfig:
    """``config`` with the causal defaults filled in (base model, learning rate, length, output)."""
    return dataclasses.replace(
        config,
        student="local" if config.student == "minilm" else config.student,
        lr=config.learning_rate(),
        max_length=config.max_length or DEFAULT_MAX_LENGTH_CAUSAL,
        task=data.task.name,
        epochs=config.epochs_for(len(data.train)),
        output=str(
            config.output
            or data.run_dir / ("student-causal-seed-only" if config.seed_only else "student-causal")
        ),
        full=False,
    )


def sft_trainer(
    config: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    rows: tuple[list[dict[str, list[int]]], list[dict[str, list[int]]]],
    work: Path,
    callbacks: list[TrainerCallback] | None,
) -> Trainer:
    """A ``Trainer`` on the (train, held-out) chat rows that keeps the epoch of lowest held-out loss."""
    train_rows, val_rows = rows
    args = training_arguments(config, work, len(train_rows), bool(val_rows), ["labels"])
    args.metric_for_best_model = "loss" if val_rows else None
    args.greater_is_better = False if val_rows else None
    return Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, padding=True),
        callbacks=callbacks,
    )


def held_out_accuracy(student: CausalStudent, val: list[Example]) -> float | None:
    """Label-scoring accuracy on up to ``HELD_OUT_SCORED`` held-out records (a warning when degenerate)."""
    if not val:
        return None
    scored = val[:HELD_OUT_SCORED]
    predicted = student.predict_probs([e.text for e in scored], progress=False).argmax(1)
    labels = student.task.labels
    where = f"the held-out split ({len(scored)} items)"
    for message in degenerate_predictions(
        [labels[i] for i in predicted], [labels[e.label] for e in scored], labels, where
    ):
        warn(message)
    return float((predicted == np.array([e.label for e in scored])).mean())


def train_causal(config: FinetuneConfig, callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    """LoRA SFT of a causal student on label and rationale targets; saves the adapter and the merged
    model to ``--output`` (default RUN/student-causal) and returns the metrics written.

    Raises:
        ConfigError: an encoder-only flag, or the base model cannot be loaded.
        RunError: the run has no usable records.
    """
    if config.full or config.class_weights != "none":
        raise ConfigError("--full and --class-weights apply to encoder students, not --student-kind causal")
    data = prepare_data(config)
    config = resolved_config(config, data)
    task, max_length = data.task, int(config.max_length or DEFAULT_MAX_LENGTH_CAUSAL)
    model, tokenizer, base = load_causal_lm(config.student)
    encoder = ChatEncoder(tokenizer, max_length)
    system, share = config.causal_system_prompt, config.rationale_weight
    train_rows = build_examples(data.train, task, encoder, system, share, config.seed)
    val_rows = build_examples(data.val, task, encoder, system, 0.0, config.seed)
    model = add_causal_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    work, checkpoint = resume_point(config, data)
    trainer = sft_trainer(config, model, tokenizer, (train_rows, val_rows), work, callbacks)
    trained = train(trainer, work, checkpoint, evaluate=False, patience=config.patience)
    if trained is None:
        return {}
    peft_model: Any = trainer.model
    accuracy = held_out_accuracy(CausalStudent(peft_model, tokenizer, task, system, max_length), data.val)
    counts = {
        **data.counts(),
        "n_label_examples": len(data.train),
        "n_rationale_examples": len(train_rows) - len(data.train),
    }
    output = Path(str(config.output))
    card = causal_model_card(config, task, base, counts, accuracy)
    save_causal(peft_model, tokenizer, output, student_marker(task, system, max_length, base), card)
    about = {
        "student": str(output / "merged"),
        "student_kind": "causal",
        "base_model": base,
        "method": "lora",
    }
    held_out = {"held_out_accuracy": accuracy, "held_out_scored": min(len(data.val), HELD_OUT_SCORED)}
    size = (trainable, sum(p.numel() for p in peft_model.get_base_model().parameters()))
    metrics = training_metrics(data, trained, counts, about, held_out, size)
    finish(config, data, trained, metrics, "training_curves_causal.png")
    return metrics
