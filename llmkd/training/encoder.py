"""Encoder students: knowledge distillation of the teacher's probabilities into a sequence classifier."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DataCollatorWithPadding, EvalPrediction, Trainer, TrainerCallback

from llmkd.errors import warn
from llmkd.scoring.diagnostics import degenerate_predictions
from llmkd.students.encoder import (
    LENGTH_KEY,
    add_lora,
    load_classifier,
    merged,
    resolve_pooling,
    resolve_student,
    save_student,
    token_lengths,
    truncation_warning,
)
from llmkd.students.onnx_export import export_onnx_student, export_summary
from llmkd.training.common import (
    TrainingData,
    finish,
    prepare_data,
    resume_point,
    train,
    training_arguments,
    training_metrics,
)
from llmkd.training.config import DEFAULT_MAX_LENGTH, FinetuneConfig
from llmkd.training.data import balanced_class_weights, to_dataset
from llmkd.training.kd_loss import kd_loss
from llmkd.training.model_card import encoder_model_card


class DistillationTrainer(Trainer):
    """A ``Trainer`` whose loss is :func:`llmkd.training.kd_loss.kd_loss` on the teacher's probabilities."""

    loss_is_scaled_for_ga = False  # kd_loss is a per-batch mean

    def __init__(
        self,
        *args: Any,
        temperature: float,
        alpha: float,
        class_weights: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.temperature = temperature
        self.alpha = alpha
        self.class_weights = class_weights

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        inputs = dict(inputs)
        hard = inputs.pop("labels")  # (B,)
        soft = inputs.pop("teacher_probs")  # (B, C)
        outputs = model(**inputs)
        logits = outputs.logits  # (B, C)
        weights = self.class_weights.to(logits.device) if self.class_weights is not None else None
        loss = kd_loss(logits, soft.to(logits.dtype), hard, self.temperature, self.alpha, weights)
        return (loss, outputs) if return_outputs else loss


def _accuracy(prediction: EvalPrediction) -> dict[str, float]:
    logits = (
        prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    )
    label_ids = prediction.label_ids
    hard = label_ids[0] if isinstance(label_ids, (tuple, list)) else label_ids
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(hard)).mean())}


def resolved_config(config: FinetuneConfig, data: TrainingData) -> FinetuneConfig:
    """``config`` with the encoder defaults filled in (learning rate, length, output, pooling)."""
    return dataclasses.replace(
        config,
        lr=config.learning_rate(),
        task=data.task.name,
        max_length=config.max_length or DEFAULT_MAX_LENGTH,
        epochs=config.epochs_for(len(data.train)),
        output=config.output or str(data.run_dir / ("student-seed-only" if config.seed_only else "student")),
        pooling=resolve_pooling(resolve_student(config.student), config.pooling),
    )


def student_model(config: FinetuneConfig, labels: list[str]) -> tuple[Any, Any]:
    """A fresh classifier over ``labels`` (LoRA-wrapped unless ``--full``) and its tokenizer."""
    model, tokenizer = load_classifier(config.student, labels, config.pooling)
    if not config.full:
        model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets)
    return model, tokenizer


def distillation_trainer(
    config: FinetuneConfig,
    data: TrainingData,
    model: Any,
    tokenizer: Any,
    work: Path,
    weights: list[float] | None,
    callbacks: list[TrainerCallback] | None,
) -> DistillationTrainer:
    """A :class:`DistillationTrainer` of ``model`` on the tokenised split, checkpointing into ``work``."""
    max_length = int(config.max_length or DEFAULT_MAX_LENGTH)
    args = training_arguments(config, work, len(data.train), bool(data.val), ["labels", "teacher_probs"])
    return DistillationTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(data.train, tokenizer, max_length),
        eval_dataset=to_dataset(data.val, tokenizer, max_length) if data.val else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_accuracy,
        callbacks=callbacks,
        temperature=config.temperature,
        alpha=config.alpha,
        class_weights=torch.tensor(weights) if weights is not None else None,
    )


def held_out_warnings(trainer: Trainer, data: TrainingData) -> list[str]:
    """Warn (and return the messages) when the kept model is degenerate on the held-out split."""
    if not data.val or trainer.eval_dataset is None:
        return []
    logits = trainer.predict(trainer.eval_dataset).predictions  # type: ignore[arg-type]
    logits = logits[0] if isinstance(logits, tuple) else logits
    labels = data.task.labels
    predicted = [labels[i] for i in np.asarray(logits).argmax(-1)]
    gold = [labels[e.label] for e in data.val]
    where = f"the held-out {'gold seed' if data.n_seed_dev else 'teacher labels'} ({len(gold)} items)"
    messages = degenerate_predictions(predicted, gold, labels, where)
    for message in messages if trainer.is_world_process_zero() else []:
        warn(message)
    return messages


def length_warnings(config: FinetuneConfig, data: TrainingData, model: Any, tokenizer: Any) -> list[str]:
    """Warn (and return the message) when training texts are longer than ``--max-length`` tokens."""
    lengths = token_lengths(tokenizer, [e.text for e in data.train + data.val])
    limit = getattr(model.config, "max_position_embeddings", None)
    message = truncation_warning(
        lengths, int(config.max_length or DEFAULT_MAX_LENGTH), limit, "pass --max-length {n}"
    )
    if message:
        warn(message)
    return [message] if message else []


def train_encoder(config: FinetuneConfig, callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    """Distil the run's teacher labels into an encoder student: train, select on the held-out split,
    merge and save it to ``--output`` (default RUN/student); returns the metrics written.

    Args:
        config: The stage's flags.
        callbacks: Extra ``TrainerCallback``s (tests use one to interrupt a run).

    Raises:
        ConfigError: the student checkpoint cannot be loaded.
        RunError: the run directory or its labels are missing, or no record is usable.
    """
    data = prepare_data(config)
    config = resolved_config(config, data)
    labels = data.task.labels
    weights = (
        balanced_class_weights([e.label for e in data.train], len(labels))
        if config.class_weights == "balanced"
        else None
    )
    model, tokenizer = student_model(config, labels)
    cut = length_warnings(config, data, model, tokenizer)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    work, checkpoint = resume_point(config, data)
    trainer = distillation_trainer(config, data, model, tokenizer, work, weights, callbacks)
    trained = train(trainer, work, checkpoint, evaluate=bool(data.val), patience=config.patience)
    warnings = cut + held_out_warnings(trainer, data)  # on every process: predict gathers from all
    if trained is None:
        return {}
    student = merged(trainer.model).cpu()
    setattr(student.config, LENGTH_KEY, config.max_length)  # evaluate and predict read the same length
    tokenizer.model_max_length = config.max_length  # and so does a plain transformers pipeline
    student.config.id2label = dict(enumerate(labels))
    student.config.label2id = {label: i for i, label in enumerate(labels)}
    base = resolve_student(config.student)
    counts = data.counts()
    accuracy = trained.held_out.get("eval_accuracy")
    card = encoder_model_card(config, data.task, base, counts, accuracy)
    output = save_student(student, tokenizer, Path(str(config.output)), card)
    onnx = export_onnx_student(output, [e.text for e in data.val + data.train]) if config.onnx else None
    about = {
        "student": str(output),
        "student_kind": "encoder",
        "base_model": base,
        "method": "full" if config.full else "lora",
        "class_weights": dict(zip(labels, weights, strict=True)) if weights is not None else None,
        "onnx": export_summary(output, onnx) if onnx else None,
    }
    held_out = {
        "held_out_accuracy": accuracy,
        "held_out_loss": trained.held_out.get("eval_loss"),
        "warnings": warnings,
    }
    size = (trainable, sum(p.numel() for p in student.parameters()))
    metrics = training_metrics(data, trained, counts, about, held_out, size)
    finish(config, data, trained, metrics, "training_curves.png")
    return metrics
