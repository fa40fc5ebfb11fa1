"""Stage 4: distil the teacher labels into a small encoder student (LoRA by default) with a KD loss.

Run as ``python -m llmkd.finetune --run DIR`` (or ``accelerate launch -m llmkd.finetune --run DIR``).
Reads ``DIR/filtered.jsonl`` if present, else ``DIR/labels.jsonl``; writes the merged student to
``DIR/student/`` with a model card, plus ``training_curves.png``, ``finetune_config.json`` and
``finetune_metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from datasets.utils import logging as datasets_logging
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ProgressCallback

from llmkd import plots
from llmkd.cli import parse_config, run_cli
from llmkd.errors import ConfigError, RunError
from llmkd.kd_loss import kd_loss
from llmkd.runio import read_jsonl, save_config, write_json
from llmkd.students.encoder import (
    add_lora,
    load_classifier,
    merged,
    resolve_student,
    save_student,
    student_name,
)
from llmkd.task import Task, load_task

DEFAULT_LR_LORA = 5e-4
DEFAULT_LR_FULL = 5e-5


@dataclass
class FinetuneConfig:
    """Flags of ``python -m llmkd.finetune``."""

    run: str | None = field(
        default=None, metadata={"help": "run directory (holds labels.jsonl)", "metavar": "DIR"}
    )
    student: str = field(
        default="minilm",
        metadata={"help": "student encoder: 'minilm' (embedded MiniLM-L6) or any HF path / id"},
    )
    task: str | None = field(
        default=None, metadata={"help": "task name or YAML path (default: the task in generate_config.json)"}
    )
    temperature: float = field(default=2.0, metadata={"help": "KD temperature T"})
    alpha: float = field(
        default=0.5, metadata={"help": "weight of the soft (KL) term; 1 - alpha for hard CE"}
    )
    epochs: int = field(default=3, metadata={"help": "training epochs"})
    lr: float | None = field(
        default=None,
        metadata={"help": f"learning rate (default {DEFAULT_LR_LORA} LoRA, {DEFAULT_LR_FULL} --full)"},
    )
    batch_size: int = field(default=32, metadata={"help": "per-device batch size"})
    max_length: int = field(default=64, metadata={"help": "max tokens per text (longer texts are truncated)"})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout"})
    full: bool = field(default=False, metadata={"help": "full fine-tune instead of LoRA"})
    seed: int = field(default=42, metadata={"help": "random seed (split, init, order)"})
    val_fraction: float = field(
        default=0.1, metadata={"help": "share of teacher-labelled records held out for model selection"}
    )
    output: str | None = field(
        default=None, metadata={"help": "where to save the student (default DIR/student)"}
    )

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--alpha must be in [0, 1], got {self.alpha}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("epochs", "batch_size", "max_length", "lora_r"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Example:
    """One training record: text, teacher label index and teacher probabilities in task-label order."""

    text: str
    label: int
    probs: list[float]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def resolve_task(run_dir: Path, task: str | None) -> Task:
    """``--task`` if given, else the ``task`` of ``DIR/generate_config.json``."""
    if task:
        return load_task(task)
    path = run_dir / "generate_config.json"
    if not path.is_file():
        raise RunError(f"{path}: missing, so the task is unknown (run llmkd.generate first or pass --task)")
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("task")
    except (json.JSONDecodeError, AttributeError):
        raise RunError(f"{path}: not a JSON object (pass --task)") from None
    if not name:
        raise RunError(f"{path}: no 'task' field (pass --task)")
    return load_task(name)


def training_source(run_dir: Path) -> Path:
    """``filtered.jsonl`` when the filter stage ran, else ``labels.jsonl``."""
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory (check --run)")
    for name in ("filtered.jsonl", "labels.jsonl"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise RunError(
        f"{run_dir / 'labels.jsonl'}: missing (run `python -m llmkd.generate --run {run_dir}` first)"
    )


def teacher_distribution(record: dict[str, Any], labels: list[str]) -> list[float]:
    """The record's ``probs`` in ``labels`` order, renormalised; one-hot on its label when absent."""
    probs = record.get("probs") or {}
    vector = np.array([max(float(probs.get(label) or 0.0), 0.0) for label in labels])
    if vector.sum() <= 0:
        vector = np.zeros(len(labels))
        vector[labels.index(record["label"])] = 1.0
    return (vector / vector.sum()).tolist()


def usable_examples(records: list[dict[str, Any]], labels: list[str]) -> list[Example]:
    """Records with status ``ok``, a non-empty text and a label of the task."""
    return [
        Example(text=r["text"], label=labels.index(r["label"]), probs=teacher_distribution(r, labels))
        for r in records
        if r.get("status") == "ok" and r.get("label") in labels and str(r.get("text") or "").strip()
    ]


def split_examples(
    examples: list[Example], val_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Seeded shuffle, then hold out ``val_fraction`` (at least one record when there are 5 or more)."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = max(1, round(len(examples) * val_fraction)) if val_fraction > 0 and len(examples) >= 5 else 0
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]]
    return train, val


def to_dataset(examples: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Tokenised ``datasets.Dataset`` with ``labels`` (hard) and ``teacher_probs`` (soft) columns."""
    data = Dataset.from_dict(
        {
            "text": [e.text for e in examples],
            "labels": [e.label for e in examples],
            "teacher_probs": [e.probs for e in examples],
        }
    )
    bars = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        return data.map(
            lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
            batched=True,
            remove_columns=["text"],
        )
    finally:
        if bars:
            datasets_logging.enable_progress_bar()


class DistillationTrainer(Trainer):
    """A ``Trainer`` whose loss is :func:`llmkd.kd_loss.kd_loss` on the teacher's probabilities."""

    loss_is_scaled_for_ga = False  # kd_loss is a per-batch mean

    def __init__(self, *args: Any, temperature: float, alpha: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.temperature = temperature
        self.alpha = alpha

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
        loss = kd_loss(logits, soft.to(logits.dtype), hard, self.temperature, self.alpha)
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


def model_card(
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

classifier = pipeline("text-classification", model="path/to/student")
classifier("Operating profit rose 12 percent to EUR 4.1 million.")
```

## Hyper-parameters

| name | value |
|---|---|
{hyper}
"""


def finetune(config: FinetuneConfig) -> dict[str, Any]:
    """Train, select on the held-out split, merge and save the student; returns the metrics written.

    Raises:
        RunError: the run directory or its labels are missing, or no record is usable.
    """
    if not config.run:
        raise ConfigError("--run DIR is required")
    run_dir = Path(config.run)
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
        _warn(f"{source}: only {len(examples)} usable record; the student will learn little")
    label_counts = Counter(labels[e.label] for e in examples)
    missing = [label for label in labels if label not in label_counts]
    if missing:
        _warn(f"{source}: no training record labelled {missing}; the student will rarely predict them")

    lr = config.lr if config.lr is not None else (DEFAULT_LR_FULL if config.full else DEFAULT_LR_LORA)
    config = dataclasses.replace(
        config, lr=lr, task=task.name, output=config.output or str(run_dir / "student")
    )
    set_seed(config.seed)
    train, val = split_examples(examples, config.val_fraction, config.seed)
    if not val:
        _warn("no held-out split (fewer than 5 records or --val-fraction 0): the last epoch is kept")

    base = resolve_student(config.student)
    model, tokenizer = load_classifier(config.student, labels)
    if not config.full:
        model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    work = run_dir / ".finetune-work"
    steps_per_epoch = max(1, -(-len(train) // config.batch_size))
    args = TrainingArguments(
        output_dir=str(work),
        num_train_epochs=config.epochs,
        learning_rate=lr,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        eval_strategy="epoch" if val else "no",
        save_strategy="epoch" if val else "no",
        load_best_model_at_end=bool(val),
        metric_for_best_model="accuracy",
        greater_is_better=True,
        save_total_limit=1,
        save_only_model=True,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch * config.epochs // 50),
        label_names=["labels", "teacher_probs"],
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    if args.should_save and work.exists():
        shutil.rmtree(work)
    trainer = DistillationTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(train, tokenizer, config.max_length),
        eval_dataset=to_dataset(val, tokenizer, config.max_length) if val else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_accuracy,
        temperature=config.temperature,
        alpha=config.alpha,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_QuietProgress)
    started = time.perf_counter()
    try:
        result = trainer.train()
        history = list(trainer.state.log_history)  # before the final evaluate() of the best model
        held_out = trainer.evaluate() if val else {}
    finally:
        if args.should_save:
            shutil.rmtree(work, ignore_errors=True)
    runtime = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return {}

    held_out_accuracy = held_out.get("eval_accuracy")
    counts = {
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
    student = merged(trainer.model).cpu()
    student.config.id2label = dict(enumerate(labels))
    student.config.label2id = {label: i for i, label in enumerate(labels)}
    output = save_student(
        student,
        tokenizer,
        config.output or run_dir / "student",
        model_card(config, task, base, counts, held_out_accuracy),
    )
    plots.training_curves(history, run_dir / "training_curves.png")
    metrics = {
        **counts,
        "task": task.name,
        "student": str(output),
        "base_model": base,
        "method": "full" if config.full else "lora",
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
