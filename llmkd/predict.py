"""Stage 6: label new texts with the run's student, optionally deferring the unsure ones to a teacher.

python -m llmkd.predict --run DIR --input news.csv --output labelled.parquet
python -m llmkd.predict --run DIR --input news.csv --output out.csv --defer-to gpt-4o --defer-below 0.7
python -m llmkd.predict --run DIR --calibrate dev.csv --defer-to gpt-4o --target-accuracy 0.9
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from llmkd.cli import parse_config, run_cli
from llmkd.errors import ConfigError, RunError, warn
from llmkd.evaluation.cost import generate_settings
from llmkd.io.formats import detect_format
from llmkd.io.records import Item
from llmkd.io.spec import InputSpec
from llmkd.io.task import Task
from llmkd.prediction.calibrate import calibrate_threshold
from llmkd.prediction.cascade import DeferralTeacher, TeacherAnswer, deferred_mask
from llmkd.prediction.config import THRESHOLD_FILE, PredictConfig
from llmkd.prediction.partial import PartialOutput
from llmkd.prediction.stream import input_fingerprint, item_chunks
from llmkd.prediction.student import open_student, student_folder, student_probs
from llmkd.prediction.writers import output_format
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import save_config
from llmkd.students.base import Student

DESCRIPTION = (
    "Label new texts with the run's student, chunk by chunk (memory stays flat on files of millions of rows); "
    "an interrupted run resumes from its last written chunk. With --defer-to, the items the student is "
    "unsure of go to a teacher through the run's ledger, privacy mode, redaction and cost cap."
)


def teacher_settings(run_dir: Path, config: PredictConfig) -> dict[str, Any]:
    """generate's settings of the run, with predict's --base-url, --privacy and --redact on top (a run made
    local-only stays local-only)."""
    settings = generate_settings(run_dir)
    modes = {str(settings.get("privacy") or "off"), config.privacy or "off"}
    settings["privacy"] = "local-only" if "local-only" in modes else "off"
    if config.base_url:
        settings["base_url"] = config.base_url
    if config.redact is not None:
        settings["redact"] = config.redact
    return settings


def deferral(run_dir: Path, config: PredictConfig) -> tuple[float | None, float | None]:
    """``(defer_below, defer_fraction)``: the flags, else the threshold ``--calibrate`` saved for this teacher.

    Raises:
        ConfigError: --defer-to with no threshold given or saved for it.
    """
    if not config.defer_to or config.defer_below is not None or config.defer_fraction is not None:
        return config.defer_below, config.defer_fraction
    path = run_dir / THRESHOLD_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not valid JSON ({exc}); rerun predict --calibrate") from None
    if saved.get("teacher") != config.defer_to:
        raise ConfigError(
            f"--defer-to {config.defer_to} needs --defer-below P, --defer-fraction F, or a threshold picked with "
            f"--calibrate FILE --defer-to {config.defer_to} (none in {path})"
        )
    print(
        f"predict: deferring below {saved['threshold']:.4f}, the threshold --calibrate chose on {saved['file']}"
    )
    return float(saved["threshold"]), None


def output_rows(
    items: list[Item],
    probs: np.ndarray,
    labels: list[str],
    deferred: list[int],
    answers: list[TeacherAnswer],
    teacher: str | None,
) -> tuple[list[dict[str, Any]], int]:
    """The output rows of one chunk, and how many deferred items kept the student's answer (the teacher
    gave no valid one)."""
    rows = [
        {
            "id": item.id,
            "text": item.text,
            "label": labels[int(p.argmax())],
            "probs": {label: float(v) for label, v in zip(labels, p, strict=True)},
            "confidence": float(p.max()),
            "answered_by": "student",
        }
        for item, p in zip(items, probs, strict=True)
    ]
    kept = 0
    for index, answer in zip(deferred, answers, strict=True):
        if answer.label is None:
            kept += 1
            continue
        probs_of = {label: float((answer.probs or {answer.label: 1.0}).get(label, 0.0)) for label in labels}
        rows[index].update(
            label=answer.label, probs=probs_of, confidence=probs_of[answer.label], answered_by=teacher
        )
    return rows, kept


def identity(config: PredictConfig, run_dir: Path, task: Task, below: float | None) -> dict[str, Any]:
    """What a resumed output must have been made from: the input's fingerprint and every setting that
    changes a row (not --batch-size)."""
    folder = student_folder(run_dir)
    settings = {
        "columns": asdict(config.columns()),
        "task": task.name,
        "student": str(folder.resolve()),
        "student_mtime_ns": (folder / "config.json").stat().st_mtime_ns,
        "backend": config.backend,
        "max_length": config.max_length,
        "chunk_rows": config.chunk_rows,
        "defer_to": config.defer_to,
        "defer_below": below,
        "defer_fraction": config.defer_fraction,
    }
    return {"input": input_fingerprint(str(config.input)), "settings": settings}


def predict(config: PredictConfig) -> Path:
    """Label ``--input`` into ``--output`` (or pick a threshold with ``--calibrate``); returns the file written.

    Raises:
        InputError: a bad input row (names the file and line); the output is not written.
        BudgetExceeded: ``--max-cost-usd`` stopped the teacher; a rerun resumes.
    """
    run_dir = run_directory(config.run)
    task = resolve_task(run_dir, config.task)
    if config.calibrate:
        return _calibrate(run_dir, config, task)
    if not config.input or not config.output:
        raise ConfigError("--input FILE and --output FILE are required (or --calibrate FILE); see --help")
    out = Path(config.output)
    detect_format(InputSpec.of(config.input, config))  # a missing input fails before anything is written
    below, fraction = deferral(run_dir, config)
    partial = PartialOutput(out, output_format(out), identity(config, run_dir, task, below))
    student = open_student(run_dir, config)
    teacher = None
    if config.defer_to:  # built (and the privacy mode checked) before anything is written
        teacher = DeferralTeacher(run_dir, config.defer_to, task, teacher_settings(run_dir, config))
    done = partial.open()
    if teacher is not None and config.max_cost_usd is not None:
        teacher.limit_spend(config.max_cost_usd - partial.spent_usd)  # what the interrupted runs spent
    try:
        summary = _score_chunks(config, task, student, teacher, partial, done, below, fraction)
    finally:
        if teacher is not None:
            teacher.close()
    partial.finish()
    save_config(run_dir, "predict", config)
    print(f"predict: wrote {partial.rows} rows to {out} ({summary})")
    return out


def _calibrate(run_dir: Path, config: PredictConfig, task: Task) -> Path:
    """``--calibrate``: choose the threshold on the labelled file; returns the file it is saved in."""
    if not config.defer_to:
        raise ConfigError("--calibrate needs --defer-to TEACHER (the teacher the cascade defers to)")
    student = open_student(run_dir, config)
    teacher = DeferralTeacher(run_dir, config.defer_to, task, teacher_settings(run_dir, config))
    if config.max_cost_usd is not None:
        teacher.limit_spend(config.max_cost_usd)
    try:
        calibrate_threshold(run_dir, config, task, student, teacher)
    finally:
        teacher.close()
    return run_dir / THRESHOLD_FILE


def _score_chunks(
    config: PredictConfig,
    task: Task,
    student: Student,
    teacher: DeferralTeacher | None,
    partial: PartialOutput,
    done: int,
    below: float | None,
    fraction: float | None,
) -> str:
    """Score, defer and write every chunk not written yet, with a progress bar (items/s); returns what
    was done, in words."""
    spec = InputSpec.of(str(config.input), config)
    bar = tqdm(desc="predict", unit="item", disable=not config.progress, dynamic_ncols=True, mininterval=0.5)
    started, scored, to_teacher, kept = time.perf_counter(), 0, 0, 0
    try:
        for index, items in enumerate(item_chunks(spec, config.chunk_rows, task.labels)):
            if index < done:  # written by an interrupted run of the same command
                continue
            probs = student_probs(student, [item.text for item in items], task.labels, config.batch_size)
            mask = (
                deferred_mask(probs.max(axis=1), below, fraction) if teacher else np.zeros(len(items), bool)
            )
            deferred = [int(i) for i in np.flatnonzero(mask)]
            answers, spent = teacher.answer([items[i] for i in deferred]) if teacher else ([], 0.0)
            rows, unanswered = output_rows(items, probs, task.labels, deferred, answers, config.defer_to)
            partial.add(rows, spent)
            scored, to_teacher, kept = scored + len(items), to_teacher + len(deferred), kept + unanswered
            bar.update(len(items))
            if teacher is not None:
                bar.set_postfix(deferred=to_teacher, usd=f"{partial.spent_usd:.4f}", refresh=False)
    finally:
        bar.close()
    rate = scored / max(time.perf_counter() - started, 1e-9)
    if kept:
        warn(
            f"{kept} deferred items got no valid answer from {config.defer_to}; they keep the student's label"
        )
    deferred_note = (
        f", {to_teacher - kept} answered by {config.defer_to} (${partial.spent_usd:.4f})" if teacher else ""
    )
    return f"{scored} scored now, {rate:.0f} items/s{deferred_note}"


def main(argv: list[str] | None = None) -> int:
    config = parse_config(PredictConfig, argv, "python -m llmkd.predict", DESCRIPTION)
    predict(config)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
