"""Stage 4: distil the teacher labels into a small encoder student (LoRA by default) with a KD loss.

Run as ``python -m llmkd.finetune --run DIR`` (or ``accelerate launch -m llmkd.finetune --run DIR``).
Reads ``DIR/filtered.jsonl`` if present, else ``DIR/labels.jsonl``; writes the merged student to
``DIR/student/`` with a model card, plus ``training_curves.png``, ``finetune_config.json`` and
``finetune_metrics.json``.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ProgressCallback

from llmkd.cli import parse_config, run_cli, warn
from llmkd.errors import ConfigError, RunError
from llmkd.io.task import Task
from llmkd.reporting import plots
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import read_jsonl, save_config, write_json
from llmkd.students.encoder import (
    add_lora,
    load_classifier,
    merged,
    resolve_pooling,
    resolve_student,
    save_student,
)
from llmkd.students.lora import AUTO as LORA_AUTO
from llmkd.training.checkpoints import CHECKPOINTS, prepare_checkpoints, run_fingerprint
from llmkd.training.data import (
    Example,
    balanced_class_weights,
    split_examples,
    to_dataset,
    training_source,
    usable_examples,
)
from llmkd.training.kd_loss import kd_loss
from llmkd.training.model_card import encoder_model_card

DEFAULT_LR_LORA = 5e-4
DEFAULT_LR_FULL = 5e-5
DEFAULT_LR_CAUSAL = 1e-3
DEFAULT_MAX_LENGTH = 64


@dataclass
class FinetuneConfig:
    """Flags of ``python -m llmkd.finetune``."""

    run: str | None = field(
        default=None, metadata={"help": "run directory (holds labels.jsonl)", "metavar": "DIR"}
    )
    student: str = field(
        default="minilm",
        metadata={
            "help": "student model: 'minilm' (embedded MiniLM-L6) or any HF encoder path / id; with "
            "--student-kind causal: 'local' (embedded SmolLM2-135M) or any Llama/Mistral-style path / id"
        },
    )
    student_kind: Literal["encoder", "causal"] = field(
        default="encoder",
        metadata={
            "help": "encoder: sequence classifier with the KD loss (RUN/student); causal: LoRA SFT of a "
            "causal LM on label + rationale targets, predicting by label scoring (RUN/student-causal)"
        },
    )
    task: str | None = field(
        default=None, metadata={"help": "task name or YAML path (default: the task in generate_config.json)"}
    )
    temperature: float = field(default=2.0, metadata={"help": "KD temperature T"})
    alpha: float = field(
        default=0.5,
        metadata={"help": "weight of the soft (KL) term; 1 - alpha for hard CE (0 = hard labels only)"},
    )
    class_weights: Literal["none", "balanced"] = field(
        default="none",
        metadata={
            "help": "balanced: weight each example by n / (C * n_label) of its teacher label, so rare "
            "labels count as much as common ones"
        },
    )
    epochs: int = field(default=3, metadata={"help": "training epochs"})
    lr: float | None = field(
        default=None,
        metadata={
            "help": f"learning rate (default {DEFAULT_LR_LORA} LoRA, {DEFAULT_LR_FULL} --full, "
            f"{DEFAULT_LR_CAUSAL} causal LoRA)"
        },
    )
    batch_size: int = field(default=32, metadata={"help": "per-device batch size"})
    max_length: int | None = field(
        default=None,
        metadata={"help": "max tokens per example (default 64 encoder, 160 causal; longer is truncated)"},
    )
    pooling: Literal["head", "mean", "auto"] = field(
        default="head",
        metadata={
            "help": "encoder student: head = the architecture's own classifier ([CLS]/pooler), saved as a "
            "plain transformers model; mean = a linear head on the masked mean of the token states, the "
            "way sentence-transformers checkpoints are trained (saved with its pooled.py: load it with "
            "trust_remote_code=True or after importing llmkd.students); auto = mean when the checkpoint's "
            "1_Pooling config says mean, else head"
        },
    )
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "share of the training steps with a linear learning-rate warm-up"}
    )
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (not applied to biases and LayerNorm)"}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout"})
    lora_targets: str = field(
        default="auto",
        metadata={
            "help": "layers that get LoRA adapters: auto = all-linear = every linear layer outside the "
            "classifier head / LM head, or comma-separated layer names such as query,value or q_proj,v_proj"
        },
    )
    full: bool = field(default=False, metadata={"help": "full fine-tune instead of LoRA"})
    seed: int = field(default=42, metadata={"help": "random seed (split, init, order)"})
    val_fraction: float = field(
        default=0.1, metadata={"help": "share of teacher-labelled records held out for model selection"}
    )
    output: str | None = field(
        default=None,
        metadata={"help": "where to save the student (default DIR/student, DIR/student-causal for causal)"},
    )
    resume: bool = field(
        default=True,
        metadata={
            "help": "resume from the last checkpoint in DIR/.checkpoints when it was made by the same "
            "config and data (a killed run continues where it stopped)"
        },
    )
    causal_system_prompt: bool = field(
        default=False,
        metadata={
            "help": "causal student: keep the task's system prompt in its chat (about 200 more tokens per "
            "example; off by default since the student learns the task from the targets)"
        },
    )
    rationale_weight: float = field(
        default=1.0,
        metadata={"help": "causal student: share of rationale examples kept (0 = label task only)"},
    )

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--alpha must be in [0, 1], got {self.alpha}")
        if not 0.0 <= self.rationale_weight <= 1.0:
            raise ConfigError(f"--rationale-weight must be in [0, 1], got {self.rationale_weight}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.full and self.lora_targets.strip() != LORA_AUTO:
            raise ConfigError("--lora-targets applies to LoRA students, not --full")
        if self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        for name in ("epochs", "batch_size", "max_length", "lora_r"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")


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


class _QuietProgress(ProgressCallback):
    """Progress bars without the per-step log dictionaries printed under them."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        return None


def _accuracy(prediction: EvalPrediction) -> dict[str, float]:
    logits = (
        prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    )
    label_ids = prediction.label_ids
    hard = label_ids[0] if isinstance(label_ids, (tuple, list)) else label_ids
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(hard)).mean())}


def load_examples(config: FinetuneConfig) -> tuple[Path, Path, Task, list[dict[str, Any]], list[Example]]:
    """Run dir, training file, task, its records and the usable examples (with warnings)."""
    run_dir = run_directory(config.run)
    source = training_source(run_dir)
    task = resolve_task(run_dir, config.task)
    labels = task.labels
    records = list(read_jsonl(source))
    examples = usable_examples(records, labels)
    print(f"finetune: {len(examples)} usable of {len(records)} records in {source} (task {task.name})")
    if not examples:
        raise RunError(
            f"{source}: no usable records (need status 'ok' and a label in {labels}); "
            "check the generate/filter stages"
        )
    if len(examples) < 2:
        warn(f"{source}: only {len(examples)} usable record; the student will learn little")
    label_counts = Counter(labels[e.label] for e in examples)
    missing = [label for label in labels if label not in label_counts]
    if missing:
        warn(f"{source}: no training record labelled {missing}; the student will rarely predict them")
    return run_dir, source, task, records, examples


def record_counts(
    source: Path,
    records: list[dict[str, Any]],
    examples: list[Example],
    train: list[Example],
    val: list[Example],
    labels: list[str],
) -> dict[str, Any]:
    """Data figures for the model card and finetune_metrics.json."""
    label_counts = Counter(labels[e.label] for e in examples)
    return {
        "source": source.name,
        "n_records": len(records),
        "n_used": len(examples),
        "n_train": len(train),
        "n_val": len(val),
        "label_counts": {label: label_counts.get(label, 0) for label in labels},
        "teachers": sorted(
            {t.strip() for r in records for t in str(r.get("teacher") or "").split(",") if t.strip()}
        ),
    }


def training_arguments(
    config: FinetuneConfig, work: Path, n_train: int, has_val: bool, lr: float, label_names: list[str]
) -> TrainingArguments:
    """Trainer settings shared by both student kinds: a full checkpoint (optimizer, scheduler, RNG) per
    epoch, so ``--resume`` continues a killed run with the same result."""
    steps_per_epoch = max(1, -(-n_train // config.batch_size))
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=config.epochs,
        learning_rate=lr,
        warmup_steps=round(config.warmup_ratio * steps_per_epoch * config.epochs),
        weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        eval_strategy="epoch" if has_val else "no",
        save_strategy="epoch",
        load_best_model_at_end=has_val,
        metric_for_best_model="accuracy" if has_val else None,
        greater_is_better=True if has_val else None,
        save_total_limit=1,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch * config.epochs // 50),
        label_names=label_names,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def finetune(config: FinetuneConfig, callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    """Train, select on the held-out split, merge and save the student; returns the metrics written.

    Args:
        config: The stage's flags.
        callbacks: Extra ``TrainerCallback``s (tests use one to interrupt a run).

    Raises:
        RunError: the run directory or its labels are missing, or no record is usable.
    """
    if config.student_kind == "causal":
        from llmkd.students.causal import finetune_causal

        return finetune_causal(config, callbacks)
    run_dir, source, task, records, examples = load_examples(config)
    labels = task.labels
    lr = config.lr if config.lr is not None else (DEFAULT_LR_FULL if config.full else DEFAULT_LR_LORA)
    config = dataclasses.replace(
        config,
        lr=lr,
        task=task.name,
        max_length=config.max_length or DEFAULT_MAX_LENGTH,
        output=config.output or str(run_dir / "student"),
    )
    set_seed(config.seed)
    train, val = split_examples(examples, config.val_fraction, config.seed)
    if not val:
        warn("no held-out split (fewer than 5 records or --val-fraction 0): the last epoch is kept")
    weights = (
        balanced_class_weights([e.label for e in train], len(labels))
        if config.class_weights == "balanced"
        else None
    )

    base = resolve_student(config.student)
    config = dataclasses.replace(config, pooling=resolve_pooling(base, config.pooling))
    model, tokenizer = load_classifier(config.student, labels, config.pooling)
    if not config.full:
        model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    work = run_dir / CHECKPOINTS
    args = training_arguments(config, work, len(train), bool(val), lr, ["labels", "teacher_probs"])
    checkpoint = prepare_checkpoints(work, run_fingerprint(config, examples), config.resume)
    if checkpoint is not None:
        print(f"finetune: resuming from {checkpoint}")
    trainer = DistillationTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(train, tokenizer, int(config.max_length or DEFAULT_MAX_LENGTH)),
        eval_dataset=to_dataset(val, tokenizer, int(config.max_length or DEFAULT_MAX_LENGTH))
        if val
        else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_accuracy,
        callbacks=callbacks,
        temperature=config.temperature,
        alpha=config.alpha,
        class_weights=torch.tensor(weights) if weights is not None else None,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_QuietProgress)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    history = list(trainer.state.log_history)  # before the final evaluate() of the best model
    held_out = trainer.evaluate() if val else {}
    runtime = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return {}

    held_out_accuracy = held_out.get("eval_accuracy")
    counts = record_counts(source, records, examples, train, val, labels)
    student = merged(trainer.model).cpu()
    student.config.id2label = dict(enumerate(labels))
    student.config.label2id = {label: i for i, label in enumerate(labels)}
    output = save_student(
        student,
        tokenizer,
        config.output or run_dir / "student",
        encoder_model_card(config, task, base, counts, held_out_accuracy),
    )
    plots.training_curves(history, run_dir / "training_curves.png")
    metrics = {
        **counts,
        "task": task.name,
        "student": str(output),
        "student_kind": "encoder",
        "base_model": base,
        "method": "full" if config.full else "lora",
        "class_weights": dict(zip(labels, weights, strict=True)) if weights is not None else None,
        "resumed_from": checkpoint.name if checkpoint else None,
        "held_out_accuracy": held_out_accuracy,
        "held_out_loss": held_out.get("eval_loss"),
        "train_loss": result.training_loss,
        "runtime_s": round(runtime, 2),
        "trainable_parameters": trainable,
        "parameters": sum(p.numel() for p in student.parameters()),
        "log_history": history,
    }
    write_json(run_dir / "finetune_metrics.json", metrics)
    save_config(run_dir, "finetune", config)
    shutil.rmtree(work, ignore_errors=True)  # only once the student is saved: a kill before keeps them
    accuracy = f"{held_out_accuracy:.3f}" if held_out_accuracy is not None else "n/a"
    print(f"finetune: student saved to {output} (held-out accuracy vs teacher {accuracy}, {runtime:.1f} s)")
    return metrics


def main(argv: list[str] | None = None) -> int:
    config = parse_config(
        FinetuneConfig,
        argv,
        prog="python -m llmkd.finetune",
        description="Distil teacher labels into a student.",
    )
    finetune(config)
    return 0


if __name__ == "__main__":
    run_cli(main)
