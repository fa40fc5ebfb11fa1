"""``predict --calibrate FILE``: pick the deferral threshold on a labelled file, for a target accuracy or
a teacher budget, from the student's confidences and the teacher's answers on that file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from llmkd.errors import InputError
from llmkd.evaluation.metrics import usd_per_1000_from_seconds
from llmkd.evaluation.selective import cascade_markdown, cascade_points, cascade_table, choose_point
from llmkd.io.readers import read_items
from llmkd.io.spec import InputSpec
from llmkd.io.task import Task
from llmkd.prediction.cascade import DeferralTeacher
from llmkd.prediction.config import THRESHOLD_FILE, PredictConfig
from llmkd.prediction.student import student_probs
from llmkd.run.files import write_json
from llmkd.students.base import Student


def calibrate_threshold(
    run_dir: Path, config: PredictConfig, task: Task, student: Student, teacher: DeferralTeacher
) -> dict[str, Any]:
    """Score ``config.calibrate`` with the student and the teacher, choose the threshold, print the
    deferral table and save the choice to ``RUN/predict_threshold.json``; returns what was saved.

    Raises:
        InputError: the file is unreadable, or an item has no gold label.
    """
    path = str(config.calibrate)
    label_column = config.label_column or "label"
    items = read_items(InputSpec.of(path, config, label_column=label_column, limit=None), task.labels)
    for item in items:
        if item.label is None:
            raise InputError(
                f"no gold label in column {label_column!r} (--calibrate needs one per item)", path, item.line
            )
    gold = np.array([str(item.label) for item in items])
    started = time.perf_counter()
    probs = student_probs(student, [item.text for item in items], task.labels, config.batch_size)
    seconds_per_item = (time.perf_counter() - started) / len(items)
    answers, spent = teacher.answer(items)
    student_right = np.array(task.labels)[probs.argmax(axis=1)] == gold
    teacher_right = np.array([a.label for a in answers], dtype=object) == gold
    student_usd = usd_per_1000_from_seconds(seconds_per_item, config.cpu_usd_per_hour) / 1000.0
    points = cascade_points(
        probs.max(axis=1), student_right, teacher_right, [a.cost_usd for a in answers], student_usd
    )
    chosen = choose_point(points, config.target_accuracy, config.max_defer_cost)
    saved = {
        "teacher": config.defer_to,
        "threshold": chosen.threshold,
        "chosen": chosen.to_json(),
        "file": path,
        "n": len(items),
        "target_accuracy": config.target_accuracy,
        "max_defer_cost_usd_per_1000": config.max_defer_cost,
        "student_accuracy": points[0].accuracy,
        "teacher_accuracy": points[-1].accuracy,
        "teacher_usd_spent_now": spent,
        "table": [p.to_json() for p in cascade_table(points)],
    }
    write_json(run_dir / THRESHOLD_FILE, saved)
    print(cascade_markdown(cascade_table(points), teacher=teacher.name))
    reached = config.target_accuracy is None or chosen.accuracy >= config.target_accuracy
    print(
        f"predict: threshold {chosen.threshold:.4f} defers {chosen.defer_rate:.1%} of {path} "
        f"(accuracy {chosen.accuracy:.3f}, teacher ${chosen.teacher_usd_per_1000:.4f} per 1,000 items)"
        + (
            ""
            if reached
            else f"; no threshold reaches --target-accuracy {config.target_accuracy}: the most accurate"
        )
        + f"; saved to {run_dir / THRESHOLD_FILE}"
    )
    return saved
