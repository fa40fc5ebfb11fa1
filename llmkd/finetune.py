"""Stage 4: distil the teacher labels into a small student (an encoder with a KD loss by default).

Run as ``python -m llmkd.finetune --run DIR``; on several processes ``torchrun --nproc-per-node N -m
llmkd.finetune -- --run DIR`` (CPU or GPU) or ``accelerate launch --multi_gpu --num_processes N -m llmkd.finetune
--run DIR`` (see :mod:`llmkd.training.distributed`).
Reads ``DIR/filtered.jsonl`` if present, else ``DIR/labels.jsonl``; writes the merged student to
``DIR/student/`` (``DIR/student-causal/`` with ``--student-kind causal``) with a model card, plus
``training_curves.png``, ``finetune_config.json`` and ``finetune_metrics.json`` (in the ``--output`` folder
for a student saved elsewhere), and notes in ``DIR/lineage.json`` what it trained on. The trainers live in
:mod:`llmkd.training`: one per student kind, on the shared :class:`FinetuneConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from llmkd.cli import parse_config, run_cli
from llmkd.training import distributed
from llmkd.training.causal import train_causal
from llmkd.training.config import FinetuneConfig
from llmkd.training.encoder import train_encoder

TrainFunction = Callable[[FinetuneConfig, list[TrainerCallback] | None], dict[str, Any]]
TRAINERS: dict[str, TrainFunction] = {"encoder": train_encoder, "causal": train_causal}


def finetune(config: FinetuneConfig, callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    """Train the ``--student-kind`` student, select on the held-out split, merge and save it; returns the
    metrics written (empty on the non-main processes of a multi-process run).

    Args:
        config: The stage's flags.
        callbacks: Extra ``TrainerCallback``s (tests use one to interrupt a run).

    Raises:
        ConfigError: a flag does not fit the student kind, or the base model cannot be loaded.
        RunError: the run directory or its labels are missing, or no record is usable.
    """
    try:
        metrics = TRAINERS[config.student_kind](config, callbacks)
        distributed.wait_for_all()  # the others stay until the main process has saved
    finally:
        distributed.finish()
    if metrics:
        print(summary(metrics))
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    """The line printed once a student is saved."""
    accuracy = metrics["held_out_accuracy"]
    shown = f"{accuracy:.3f}" if accuracy is not None else "n/a"
    if metrics["student_kind"] == "causal":
        saved = f"causal student saved to {Path(metrics['student']).parent}"
    else:
        saved = f"student saved to {metrics['student']}"
    against = "the gold seed" if metrics.get("selected_on") == "gold seed" else "teacher labels"
    return f"finetune: {saved} (held-out accuracy on {against} {shown}, {metrics['runtime_s']:.1f} s)"


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
