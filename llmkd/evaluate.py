"""Stage 5: score the student and the teacher against gold labels, and write a report.

Run as ``python -m llmkd.evaluate --run DIR --gold FILE``. Gold texts the run's teachers never saw are
labelled by them first (cached in the ledger). Writes ``DIR/eval.json``, ``DIR/predictions.jsonl`` (each
gold item), ``DIR/report.md``, confusion matrices and a reliability diagram (PNG), and
``DIR/evaluate_config.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from llmkd.cli import given_flags, parse_config, run_cli
from llmkd.errors import ConfigError, InputError, RunError, warn
from llmkd.evaluation import metrics
from llmkd.evaluation.config import EvaluateConfig
from llmkd.evaluation.cost import cost_summary, ledger_spend, speedup, time_local_teachers
from llmkd.evaluation.gold_teachers import labelled_notes, unseen_gold
from llmkd.evaluation.learning_curve import active_learning_curve
from llmkd.evaluation.matching import match_teacher, teacher_calibration, teacher_confidences
from llmkd.evaluation.predictions import PREDICTIONS_FILE, misclassified, prediction_rows
from llmkd.evaluation.report import report_markdown, summary_table
from llmkd.evaluation.selective import selective_summary, teacher_usd_per_1000
from llmkd.generation.gold_labels import label_gold
from llmkd.io.readers import InputSpec, read_items
from llmkd.io.records import Item
from llmkd.io.seed import check_run_seed
from llmkd.io.task import Task
from llmkd.privacy.policy import check_privacy
from llmkd.privacy.redact import redact_items
from llmkd.reporting import plots
from llmkd.reporting.html import write_report_html
from llmkd.run.directory import remembered_columns, resolve_task, run_directory
from llmkd.run.files import read_jsonl, save_config, update_report_section, write_json, write_jsonl
from llmkd.run.lineage import check_fresh
from llmkd.scoring.diagnostics import degenerate_predictions
from llmkd.students.base import Student, load_student
from llmkd.students.encoder import EncoderStudent, token_lengths, truncation_warning


def read_gold(config: EvaluateConfig, labels: list[str]) -> list[Item]:
    """Gold items via :mod:`llmkd.io.readers`; every item must carry a label."""
    if not config.gold:
        raise ConfigError("--gold FILE is required (a file with texts and gold labels)")
    label_column = config.label_column or "label"
    spec = InputSpec.of(config.gold, config, label_column=label_column)
    items = read_items(spec, labels=labels)
    for item in items:
        if item.label is None:
            raise InputError(
                f"no gold label in column '{label_column}' (every gold item needs one)",
                config.gold,
                item.line,
            )
    return items


def find_student(run_dir: Path, explicit: str | None) -> Path | None:
    """The student folder: ``--student-path``, else RUN/student, else RUN/student-causal/merged."""
    if explicit:
        folder = Path(explicit)
        if not (folder / "config.json").is_file():
            raise RunError(f"{folder}: no config.json; not a student model folder (check --student-path)")
        return folder
    candidates = [run_dir / "student", run_dir / "student-causal" / "merged"]
    return next((c for c in candidates if (c / "config.json").is_file()), None)


@dataclass
class Inputs:
    """What evaluate reads: the run, its task, the gold items, the student folder and teacher labels."""

    run_dir: Path
    task: Task
    gold_items: list[Item]
    student_dir: Path | None
    label_files: list[Path]
    has_labels: bool
    gold_labels: list[dict[str, Any]] = field(default_factory=list)  # the run's teachers on unseen gold

    @property
    def gold(self) -> list[str]:
        return [str(item.label) for item in self.gold_items]


@dataclass
class Scored:
    """One model's scores on the gold items (None: not scored), its labels and its figures' data."""

    result: dict[str, Any] | None
    predicted: list[str | None]
    matrix: np.ndarray | None = None
    curve: list[dict[str, float]] | None = None
    confidence: list[float | None] | None = None  # the probability of each predicted label


def read_inputs(config: EvaluateConfig) -> Inputs:
    """The run directory, task, gold items, student folder and teacher-label files.

    Raises:
        RunError: a ``--teacher-labels`` file is missing, or the run has neither student nor labels.
    """
    run_dir = run_directory(config.run)
    student_dir = find_student(run_dir, config.student_path)
    if student_dir is not None:
        check_fresh(run_dir, student_dir)
    label_files = [Path(p) for p in config.teacher_labels] or [run_dir / "labels.jsonl"]
    for path in label_files[: len(config.teacher_labels)]:
        if not path.is_file():
            raise RunError(f"{path}: no such file (check --teacher-labels)")
    has_labels = all(p.is_file() for p in label_files)
    if student_dir is None and not has_labels:
        raise RunError(
            f"{run_dir}: neither student/ nor labels.jsonl; run llmkd.generate and llmkd.finetune first"
        )
    task = resolve_task(run_dir, config.task)
    gold_items = read_gold(config, task.labels)
    check_run_seed(run_dir, (item.text for item in gold_items), f"--gold {config.gold}")
    return Inputs(run_dir, task, gold_items, student_dir, label_files, has_labels)


def student_predictions(
    student: Student, texts: list[str], labels: list[str], batch_size: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(N, C)`` probabilities of a student of either kind in task-label order, plus speed and size."""
    batch = max(1, min(batch_size, student.max_batch_size or batch_size))
    student.predict_probs(texts[:batch], batch, progress=False)  # warm-up, not timed
    started = time.perf_counter()
    probs = student.predict_probs(texts, batch)
    elapsed = max(time.perf_counter() - started, 1e-9)
    speed = {
        "kind": student.kind,
        "throughput_items_per_s": len(texts) / elapsed,
        "latency_ms_per_item": 1000.0 * elapsed / max(len(texts), 1),
        "parameters": student.parameter_count(),
        "size_mb": round(student.size_mb(), 2),
        "device": student.device,
        "batch_size": batch,
    }
    return probs[:, [student.labels.index(label) for label in labels]], speed


def score_student(inputs: Inputs, config: EvaluateConfig) -> Scored:
    """Load the student (either kind) and score it on the gold items."""
    labels, gold = inputs.task.labels, inputs.gold
    if inputs.student_dir is None:
        return Scored(None, [None] * len(gold))
    student = load_student(inputs.student_dir, config.device, config.max_length, inputs.task, config.backend)
    if sorted(student.labels) != sorted(labels):
        raise RunError(
            f"{inputs.student_dir}: the student predicts {student.labels}, but the task has {labels} "
            "(check --task)"
        )
    texts = [item.text for item in inputs.gold_items]
    if isinstance(student, EncoderStudent):
        lengths = token_lengths(student.tokenizer, texts)
        hint = "retrain with finetune --max-length {n}"
        cut = truncation_warning(lengths, student.max_length, student.position_limit, hint)
        if cut:
            warn(cut)
    probs, speed = student_predictions(student, texts, labels, config.batch_size)
    predicted = [labels[i] for i in probs.argmax(axis=1)]
    result = {**metrics.gold_scores(predicted, gold, labels, probs, config.n_bins), **speed}
    result["backend"] = config.backend
    matrix = metrics.confusion_matrix(predicted, gold, labels)
    confidence: list[float | None] = [float(p) for p in probs.max(axis=1)]
    return Scored(result, list(predicted), matrix, result.get("reliability"), confidence)


def score_teacher(inputs: Inputs, n_bins: int, notes: list[str]) -> Scored:
    """Score the teacher's labels of the gold texts (matched by id, then text); notes what is missing."""
    labels, gold, n = inputs.task.labels, inputs.gold, len(inputs.gold_items)
    if not inputs.has_labels and not inputs.gold_labels:
        notes.append(f"no teacher labels ({inputs.label_files[0]}); student only")
        return Scored(None, [None] * n)
    records = [r for path in inputs.label_files if inputs.has_labels for r in read_jsonl(path)]
    records += inputs.gold_labels
    matched, clashes = match_teacher(inputs.gold_items, records)
    if clashes:
        notes.append(f"{clashes} gold ids also appear in labels.jsonl with another text; matched by text")
    predicted: list[str | None] = [
        r["label"] if r and r.get("status") == "ok" and r.get("label") in labels else None for r in matched
    ]
    seen = sum(r is not None for r in matched)
    if 0 < seen < n / 2:
        notes.append(
            f"the teacher labelled only {seen} of the {n} gold texts, so its scores say "
            "little; label the gold file with llmkd.generate and pass its labels.jsonl as --teacher-labels"
        )
    confidence = teacher_confidences(matched, predicted)
    keep = [i for i, label in enumerate(predicted) if label is not None]
    if not keep:
        notes.append(f"the teacher labelled none of the {n} gold texts ({seen} seen in labels.jsonl)")
        return Scored(None, predicted, confidence=confidence)
    t_pred, t_gold = [str(predicted[i]) for i in keep], [gold[i] for i in keep]
    teacher: dict[str, Any] = metrics.gold_scores(t_pred, t_gold, labels, None, n_bins)
    curve = teacher_calibration(teacher, matched, keep, gold, labels, n_bins)
    teacher["n_invalid"] = seen - len(keep)
    teacher["teachers"] = sorted({str(r.get("teacher")) for r in matched if r and r.get("teacher")})
    teacher["by_teacher"] = metrics.per_teacher_scores(matched, gold, labels)
    return Scored(teacher, predicted, metrics.confusion_matrix(t_pred, t_gold, labels), curve, confidence)


def label_unseen_gold(inputs: Inputs, config: EvaluateConfig, notes: list[str]) -> None:
    """Label the gold texts the run's teachers never saw with those teachers (``inputs.gold_labels``):
    local ones by default, API ones with ``--label-gold-with-api-teachers`` within ``--max-cost-usd``."""
    if not config.label_gold or config.teacher_labels:
        return
    records = [r for path in inputs.label_files if inputs.has_labels for r in read_jsonl(path)]
    todo = unseen_gold(
        inputs.run_dir,
        inputs.gold_items,
        records,
        config,
        str(config.gold),
        config.label_gold_with_api_teachers,
        notes,
    )
    if todo is None:
        return
    settings = todo.settings
    check_privacy(todo.specs, settings.get("base_url"), str(settings.get("privacy") or "off"))
    print(f"evaluate: labelling {len(todo.items)} unseen gold texts with {', '.join(todo.specs)}")
    sent = redact_items(todo.items, inputs.run_dir) if settings.get("redact") else todo.items
    done = label_gold(
        inputs.run_dir, settings, inputs.task, todo.items, sent, max_cost_usd=config.max_cost_usd
    )
    inputs.gold_labels = done.records
    notes += labelled_notes(done.records, done.cost_usd, done.stopped, inputs.run_dir / "ledger.sqlite")


def add_cost_and_speed(
    result: dict[str, Any], inputs: Inputs, config: EvaluateConfig, notes: list[str]
) -> None:
    """Time a local teacher, read the API spend and add throughput, cost and speed-up to ``result``."""
    local = (
        time_local_teachers(inputs.run_dir, inputs.task, inputs.gold_items, config.teacher_timing_items)
        if config.time_teacher
        else {}
    )
    result["teacher_speed"] = local
    spend = ledger_spend(inputs.run_dir)
    result["cost"] = cost_summary(result["student"], local, spend, config.cpu_usd_per_hour)
    if result["student"] and local:
        result["speedup_vs_local_teacher"] = speedup(result["student"]["throughput_items_per_s"], local)
    if any("simulated" in name for name in [*spend, *((result["teacher"] or {}).get("teachers") or [])]):
        notes.append("the teacher is a SIMULATED teacher (bench/simulated_teacher.py), not a real LLM")


def write_figures(
    run_dir: Path, labels: list[str], scored: dict[str, Scored], curves_of_run: bool = True
) -> list[str]:
    """Confusion matrices and the reliability diagram; returns the figure names for the report (with the
    run's training curves when ``curves_of_run``: the student scored is the run's own)."""
    figures = []
    for name, one in scored.items():
        if one.matrix is not None:
            path = run_dir / f"confusion_{name}.png"
            title = f"{name.capitalize()} vs gold (n={int(one.matrix.sum())})"
            plots.confusion_matrix_plot(one.matrix, labels, path, title)
            figures.append(path.name)
    curves = {name: one.curve for name, one in scored.items() if one.curve is not None}
    if curves:
        plots.reliability_diagram(curves, run_dir / "reliability.png")
        figures.append("reliability.png")
    pngs = ("training_curves.png", "training_curves_causal.png") if curves_of_run else ()
    return figures + [png for png in pngs if (run_dir / png).is_file()]


def write_predictions(
    result: dict[str, Any], inputs: Inputs, config: EvaluateConfig, student: Scored, teacher: Scored
) -> None:
    """RUN/predictions.jsonl (every gold item) and the misclassified examples the report lists."""
    none: list[float | None] = [None] * len(inputs.gold_items)
    pairs = [(one.predicted, one.confidence or none) for one in (student, teacher)]
    rows = prediction_rows(inputs.gold_items, pairs[0], pairs[1])
    write_jsonl(inputs.run_dir / PREDICTIONS_FILE, rows)
    result["predictions_file"] = PREDICTIONS_FILE
    result["misclassified"] = misclassified(rows, config.misclassified_examples)


def write_outputs(result: dict[str, Any], inputs: Inputs, config: EvaluateConfig) -> None:
    """eval.json, the report section (and report.html), evaluate_config.json; prints the summary."""
    run_dir = inputs.run_dir
    write_json(run_dir / "eval.json", result)
    table = summary_table(result)
    update_report_section(run_dir, "evaluate", report_markdown(result, table))
    if config.plots:
        write_report_html(run_dir, f"llmkd report: {inputs.task.name}")
    save_config(run_dir, "evaluate", config)
    print(table)
    for note in result["notes"]:
        print(f"note: {note}")
    html = " and report.html" if config.plots else ""
    print(f"evaluate: wrote {run_dir / 'eval.json'}, {run_dir / 'report.md'}{html}")


def check_student(student: Scored, inputs: Inputs, notes: list[str]) -> None:
    """Note a missing student; warn (and note) when its predictions on the gold set are degenerate."""
    if student.result is None:
        notes.append(f"no student model in {inputs.run_dir / 'student'} (run llmkd.finetune); teacher only")
        return
    where = f"the gold set ({len(inputs.gold)} items)"
    said = [str(label) for label in student.predicted]
    for message in degenerate_predictions(said, inputs.gold, inputs.task.labels, where):
        warn(message)
        notes.append(f"WARNING: {message}")


def curve_figures(result: dict[str, Any], run_dir: Path) -> list[str]:
    """``coverage.png`` and, for a ``--budget`` run, ``learning_curve.png``: the files written."""
    written = []
    if result["selective"]:
        plots.coverage_accuracy_plot(result["selective"]["coverage_accuracy"], run_dir / "coverage.png")
        written.append("coverage.png")
    if result["learning_curve"]:
        points = [(p["calls"], p["accuracy"]) for p in result["learning_curve"]["points"]]
        title = "Teacher calls -> accuracy on gold"
        written.append(
            plots.learning_curve_plot({"quick student": points}, run_dir / "learning_curve.png", title).name
        )
    return written


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Score student and teacher on the gold items; write eval.json, report.md and the figures.

    Raises:
        RunError: the run directory has neither a student nor teacher labels.
    """
    inputs = read_inputs(config)
    notes: list[str] = []
    label_unseen_gold(inputs, config, notes)
    result: dict[str, Any] = {
        "task": inputs.task.name,
        "gold_file": config.gold,
        "n_gold": len(inputs.gold_items),
        "labels": inputs.task.labels,
    }
    student = score_student(inputs, config)
    check_student(student, inputs, notes)
    teacher = score_teacher(inputs, config.n_bins, notes)
    result["student"], result["teacher"] = student.result, teacher.result
    seed_only = inputs.run_dir / "student-seed-only"
    if config.student_path is None and seed_only.is_dir():  # the baseline a gold seed gives alone
        result["seed_only_student"] = score_student(replace(inputs, student_dir=seed_only), config).result
    if student.result is not None and teacher.result is not None:
        rate, n = metrics.agreement(student.predicted, teacher.predicted)
        result["agreement"] = {"rate": rate, "n": n}
    else:
        result["agreement"] = None
    result["ece"] = {name: (result[name] or {}).get("ece") for name in ("student", "teacher")}
    add_cost_and_speed(result, inputs, config, notes)
    result["selective"] = selective_summary(
        student.confidence or [],
        student.predicted,
        teacher.predicted,
        inputs.gold,
        result["cost"]["student_usd_per_1000"],
        teacher_usd_per_1000(result["cost"], (teacher.result or {}).get("teachers") or []),
    )
    result["learning_curve"] = active_learning_curve(inputs.run_dir, inputs.gold_items, inputs.task.labels)
    result["notes"] = notes
    write_predictions(result, inputs, config, student, teacher)
    scored = {"student": student, "teacher": teacher}
    run_student = find_student(inputs.run_dir, None)
    own = inputs.student_dir is None or (
        run_student is not None and inputs.student_dir.resolve() == run_student.resolve()
    )
    figures = write_figures(inputs.run_dir, inputs.task.labels, scored, own) if config.plots else []
    result["figures"] = figures + (curve_figures(result, inputs.run_dir) if config.plots else [])
    write_outputs(result, inputs, config)
    return result


def main(argv: list[str] | None = None) -> int:
    config = parse_config(
        EvaluateConfig,
        argv,
        prog="python -m llmkd.evaluate",
        description="Score the student and the teacher against gold labels.",
    )
    if config.gold and config.run:  # the column flags given to generate read the gold file too
        given = given_flags(EvaluateConfig, argv)
        config = remembered_columns(run_directory(config.run), config, given, config.gold)
    evaluate(config)
    return 0


if __name__ == "__main__":
    run_cli(main)
