"""What the encoder and causal trainers share: data, split, training arguments, resuming, outputs."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_callback import ProgressCallback

from llmkd.cli import warn
from llmkd.errors import RunError
from llmkd.io.task import Task
from llmkd.reporting import plots
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import read_jsonl, save_config, write_json
from llmkd.training.checkpoints import CHECKPOINTS, prepare_checkpoints, run_fingerprint
from llmkd.training.config import FinetuneConfig
from llmkd.training.data import Example, split_examples, training_source, usable_examples


class QuietProgress(ProgressCallback):
    """Progress bars without the per-step log dictionaries printed under them."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        return None


@dataclass
class TrainingData:
    """A run's teacher records, the usable examples and their seeded train / held-out split."""

    run_dir: Path
    source: Path
    task: Task
    records: list[dict[str, Any]]
    examples: list[Example]
    train: list[Example]
    val: list[Example]

    def counts(self) -> dict[str, Any]:
        """Data figures for the model card and finetune_metrics.json."""
        labels = self.task.labels
        label_counts = Counter(labels[e.label] for e in self.examples)
        return {
            "source": self.source.name,
            "n_records": len(self.records),
            "n_used": len(self.examples),
            "n_train": len(self.train),
            "n_val": len(self.val),
            "label_counts": {label: label_counts.get(label, 0) for label in labels},
            "teachers": sorted(
                {t.strip() for r in self.records for t in str(r.get("teacher") or "").split(",") if t.strip()}
            ),
        }


@dataclass
class Trained:
    """What a finished ``Trainer.train`` leaves: its output, the log history and the held-out scores."""

    training_loss: float
    history: list[dict[str, Any]]
    held_out: dict[str, float]
    runtime_s: float
    resumed_from: Path | None
    work: Path


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


def prepare_data(config: FinetuneConfig) -> TrainingData:
    """Load the run's usable examples, seed everything and hold out ``--val-fraction`` of them."""
    run_dir, source, task, records, examples = load_examples(config)
    set_seed(config.seed)
    train, val = split_examples(examples, config.val_fraction, config.seed)
    if not val:
        warn("no held-out split (fewer than 5 records or --val-fraction 0): the last epoch is kept")
    return TrainingData(run_dir, source, task, records, examples, train, val)


def training_arguments(
    config: FinetuneConfig, work: Path, n_train: int, has_val: bool, label_names: list[str]
) -> TrainingArguments:
    """Trainer settings shared by both student kinds: a full checkpoint (optimizer, scheduler, RNG) per
    epoch, so ``--resume`` continues a killed run with the same result."""
    steps_per_epoch = max(1, -(-n_train // config.batch_size))
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate(),
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


def resume_point(config: FinetuneConfig, data: TrainingData) -> tuple[Path, Path | None]:
    """The checkpoint folder and the checkpoint to resume from (None: start afresh)."""
    work = data.run_dir / CHECKPOINTS
    checkpoint = prepare_checkpoints(work, run_fingerprint(config, data.examples), config.resume)
    if checkpoint is not None:
        print(f"finetune: resuming from {checkpoint}")
    return work, checkpoint


def train(trainer: Trainer, work: Path, checkpoint: Path | None, evaluate: bool) -> Trained | None:
    """Run ``trainer`` (resuming from ``checkpoint``), then score the kept model when ``evaluate``.

    Returns None on processes other than the main one of a multi-process run: only it saves.
    """
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    history = list(trainer.state.log_history)  # before the final evaluate() of the best model
    held_out = trainer.evaluate() if evaluate else {}
    runtime = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return None
    return Trained(result.training_loss, history, held_out, runtime, checkpoint, work)


def training_metrics(
    data: TrainingData,
    trained: Trained,
    counts: dict[str, Any],
    student: dict[str, Any],
    held_out: dict[str, Any],
    parameters: tuple[int, int],
) -> dict[str, Any]:
    """finetune_metrics.json: data counts, what the ``student`` is, its ``held_out`` scores, the
    training figures and its (trainable, total) ``parameters``."""
    return {
        **counts,
        "task": data.task.name,
        **student,
        "resumed_from": trained.resumed_from.name if trained.resumed_from else None,
        **held_out,
        "train_loss": trained.training_loss,
        "runtime_s": round(trained.runtime_s, 2),
        "trainable_parameters": parameters[0],
        "parameters": parameters[1],
        "log_history": trained.history,
    }


def finish(
    config: FinetuneConfig, data: TrainingData, trained: Trained, metrics: dict[str, Any], curves: str
) -> None:
    """Write the training curves, finetune_metrics.json and finetune_config.json, then drop the
    checkpoints (only once the student is saved: a kill before keeps them)."""
    plots.training_curves(trained.history, data.run_dir / curves)
    write_json(data.run_dir / "finetune_metrics.json", metrics)
    save_config(data.run_dir, "finetune", config)
    shutil.rmtree(trained.work, ignore_errors=True)
