"""What the encoder and causal trainers share: data, split, training arguments, resuming, outputs."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed
from transformers.trainer_callback import ProgressCallback

from llmkd.errors import RunError, warn
from llmkd.io.seed import SEED_FILE
from llmkd.io.task import Task
from llmkd.reporting import plots
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import read_jsonl, save_config, write_json
from llmkd.run.lineage import check_fresh, record_output
from llmkd.training import distributed
from llmkd.training.checkpoints import CHECKPOINTS, last_checkpoint, prepare_checkpoints, run_fingerprint
from llmkd.training.config import FinetuneConfig
from llmkd.training.data import (
    Example,
    repeated,
    seed_examples,
    split_examples,
    stratified_split,
    training_source,
    usable_examples,
)


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
    n_seed_train: int = 0
    n_seed_dev: int = 0

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
            "n_seed_train": self.n_seed_train,
            "n_seed_dev": self.n_seed_dev,
            "selected_on": "gold seed" if self.n_seed_dev else "teacher labels",
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
    if config.seed_only:
        source = run_dir / SEED_FILE
        if not source.is_file():
            raise RunError(
                f"{source}: missing; --seed-only trains on the gold seed (generate --gold-seed FILE)"
            )
        return run_dir, source, resolve_task(run_dir, config.task), [], []
    source = training_source(run_dir)
    check_fresh(run_dir, source)
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


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def prepare_data(config: FinetuneConfig) -> TrainingData:
    """Load the run's usable examples and seed everything; hold out part of the gold seed when the run has
    one (its other part joins training as gold labels), else ``--val-fraction`` of the teacher labels."""
    run_dir, source, task, records, examples = load_examples(config)
    set_seed(config.seed)
    seed_path = run_dir / SEED_FILE
    if not (config.gold_seed or config.seed_only) or not seed_path.is_file():
        train, val = split_examples(examples, config.val_fraction, config.seed)
        if not val:
            warn("no held-out split (fewer than 5 records or --val-fraction 0): the last epoch is kept")
        return TrainingData(run_dir, source, task, records, examples, train, val)
    seed = seed_examples(list(read_jsonl(seed_path)), task.labels)
    gold_texts = {_key(e.text) for e in seed}
    teacher = [e for e in examples if _key(e.text) not in gold_texts]  # the gold label wins
    seed_train, seed_dev = stratified_split(seed, config.seed_dev_fraction, config.seed)
    train = teacher + repeated(seed_train, 1.0 if config.seed_only else config.gold_weight, config.seed)
    print(
        f"finetune: gold seed of {len(seed)}: {len(seed_train)} trained on"
        + (
            ""
            if config.seed_only
            else f" (weight {config.gold_weight:g}) beside {len(teacher)} teacher labels"
        )
        + f", {len(seed_dev)} held out for model selection"
    )
    return TrainingData(
        run_dir,
        seed_path if config.seed_only else source,
        task,
        records,
        teacher + seed,
        train,
        seed_dev,
        len(seed_train),
        len(seed_dev),
    )


def training_arguments(
    config: FinetuneConfig, work: Path, n_train: int, has_val: bool, label_names: list[str]
) -> TrainingArguments:
    """Trainer settings shared by both student kinds: a full checkpoint (optimizer, scheduler, RNG) per
    epoch, so ``--resume`` continues a killed run with the same result."""
    steps_per_epoch = max(1, -(-n_train // config.batch_size))
    epochs = config.epochs_for(n_train)
    if config.report_to == "tensorboard":  # its default, under the checkpoints, is deleted after training
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(work.parent / "tensorboard"))
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=epochs,
        learning_rate=config.learning_rate(),
        warmup_steps=round(config.warmup_ratio * steps_per_epoch * epochs),
        weight_decay=config.weight_decay,
        per_device_train_batch_size=distributed.per_process_batch(config.batch_size),
        per_device_eval_batch_size=config.batch_size * 2,
        eval_strategy="epoch" if has_val else "no",
        save_strategy="epoch",
        load_best_model_at_end=has_val,
        metric_for_best_model="accuracy" if has_val else None,
        greater_is_better=True if has_val else None,
        save_total_limit=1,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch * epochs // 50),
        label_names=label_names,
        report_to=[] if config.report_to == "none" else [config.report_to],
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=distributed.on_cpu_only(),
    )


def resume_point(config: FinetuneConfig, data: TrainingData) -> tuple[Path, Path | None]:
    """The checkpoint folder and the checkpoint to resume from (None: start afresh)."""
    work = data.run_dir / CHECKPOINTS
    distributed.start()
    if distributed.is_main_process():
        checkpoint = prepare_checkpoints(work, run_fingerprint(config, data.examples), config.resume)
    distributed.wait_for_all()  # the others read what the main process kept (nothing when it started afresh)
    if not distributed.is_main_process():
        checkpoint = last_checkpoint(work)
    if checkpoint is not None:
        print(f"finetune: resuming from {checkpoint}")
    return work, checkpoint


def train(
    trainer: Trainer, work: Path, checkpoint: Path | None, evaluate: bool, patience: int = 0
) -> Trained | None:
    """Run ``trainer`` (resuming from ``checkpoint``, stopping after ``patience`` epochs without a better
    held-out score), then score the kept model when ``evaluate``.

    Returns None on processes other than the main one of a multi-process run: only it saves.
    """
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress)
    if patience > 0 and trainer.args.load_best_model_at_end:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=patience))
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


DEFAULT_STUDENTS = {"encoder": "student", "causal": "student-causal"}


def reports_dir(config: FinetuneConfig, run_dir: Path) -> Path:
    """Where finetune_metrics.json, finetune_config.json and the curves go: the run for its default
    student (RUN/student, RUN/student-causal), else the ``--output`` folder, beside the student they
    describe (so training another student elsewhere leaves the run's report alone)."""
    default = run_dir / DEFAULT_STUDENTS[config.student_kind]
    output = Path(config.output) if config.output else default
    return run_dir if output.resolve() == default.resolve() else output


def finetune_command(config: FinetuneConfig, run_dir: Path) -> str:
    """The command that trains this student again (for stale-output messages)."""
    command = f"llmkd finetune --run {run_dir}"
    if config.student_kind != "encoder":
        command += f" --student-kind {config.student_kind}"
    if config.seed_only:
        command += " --seed-only"
    if reports_dir(config, run_dir) != run_dir:
        command += f" --output {config.output}"
    return command


def finish(
    config: FinetuneConfig, data: TrainingData, trained: Trained, metrics: dict[str, Any], curves: str
) -> None:
    """Write the training curves, finetune_metrics.json and finetune_config.json (see
    :func:`reports_dir`) and the student's lineage, then drop the checkpoints (only once the student is
    saved: a kill before keeps them)."""
    where = reports_dir(config, data.run_dir)
    plots.training_curves(trained.history, where / curves)
    write_json(where / "finetune_metrics.json", metrics)
    save_config(where, "finetune", config)
    seed = data.run_dir / SEED_FILE
    used = [data.source] + ([seed] if data.n_seed_dev and seed != data.source else [])
    command = finetune_command(config, data.run_dir)
    record_output(data.run_dir, metrics["student"], "finetune", config, command, used)
    shutil.rmtree(trained.work, ignore_errors=True)
