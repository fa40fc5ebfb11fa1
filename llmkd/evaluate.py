"""Stage 5: score the student and the teacher against gold labels, and write a report.

Run as ``python -m llmkd.evaluate --run DIR --gold FILE``. Writes ``DIR/eval.json``, ``DIR/report.md``,
confusion matrices and a reliability diagram (PNG), and ``DIR/evaluate_config.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from llmkd.cli import parse_config, run_cli
from llmkd.errors import ConfigError, InputError, RunError
from llmkd.evaluation import metrics
from llmkd.evaluation.cost import cost_summary, ledger_spend, speedup, time_local_teachers
from llmkd.evaluation.report import report_markdown, summary_table
from llmkd.io.readers import InputColumns, InputSpec, read_items
from llmkd.io.records import Item
from llmkd.io.task import Task
from llmkd.reporting import plots
from llmkd.reporting.html import write_report_html
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import read_jsonl, save_config, update_report_section, write_json

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass
class EvaluateConfig(InputColumns):
    """Flags of ``python -m llmkd.evaluate``."""

    run: str | None = field(
        default=None, metadata={"help": "run directory (holds student/ and labels.jsonl)", "metavar": "DIR"}
    )
    gold: str | None = field(
        default=None,
        metadata={"help": "gold-labelled file (.csv, .jsonl, .parquet, .txt, hf:)", "metavar": "FILE"},
    )
    task: str | None = field(
        default=None, metadata={"help": "task name or YAML path (default: the task the run was made with)"}
    )
    teacher_labels: list[str] = field(
        default_factory=list,
        metadata={
            "help": "labels.jsonl files holding the teacher's labels of the gold texts "
            "(default: RUN/labels.jsonl); e.g. a generate run over the gold file",
            "metavar": "FILE",
        },
    )
    batch_size: int = field(default=64, metadata={"help": "student inference batch size"})
    max_length: int = field(default=128, metadata={"help": "max tokens per text for the student"})
    device: str = field(
        default="auto", metadata={"help": "torch device for the student ('auto': cuda if present)"}
    )
    n_bins: int = field(default=10, metadata={"help": "confidence bins for ECE and the reliability diagram"})
    time_teacher: bool = field(
        default=True,
        metadata={"help": "time a local teacher on up to --teacher-timing-items gold texts for throughput"},
    )
    plots: bool = field(default=True, metadata={"help": "write the PNG figures and report.html"})
    teacher_timing_items: int = field(
        default=64, metadata={"help": "gold texts a local teacher is timed on (--time-teacher)"}
    )
    cpu_usd_per_hour: float = field(
        default=0.10,
        metadata={
            "help": "assumed price of an hour of this CPU machine, for the student's (and a local "
            "teacher's) cost per 1,000 items; $0.10/h is roughly a small 2-4 vCPU cloud VM"
        },
    )
    student_path: str | None = field(
        default=None,
        metadata={
            "help": "student folder (default: RUN/student, else RUN/student-causal/merged); a folder with "
            "llmkd_student.json is a causal student scored by label scoring",
            "metavar": "DIR",
        },
    )


def _normalise(text: str) -> str:
    return " ".join(text.split())


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


def match_teacher(gold: list[Item], records: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | None], int]:
    """For each gold item, the labels.jsonl record of the same text: by id first, then by text.

    An id match only counts when the texts agree too (ids of two files may reuse the same values).

    Returns:
        The matched records (None where the teacher never saw the text) and the number of id clashes.
    """
    by_id = {str(r.get("id")): r for r in records}
    by_text = {_normalise(str(r.get("text") or "")): r for r in records}
    matched: list[dict[str, Any] | None] = []
    clashes = 0
    for item in gold:
        text = _normalise(item.text)
        record = by_id.get(item.id)
        if record is not None and _normalise(str(record.get("text") or "")) != text:
            clashes += 1
            record = None
        matched.append(record if record is not None else by_text.get(text))
    return matched, clashes


def _model_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES) / 1e6


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def find_student(run_dir: Path, explicit: str | None) -> tuple[Path | None, str]:
    """The student folder and its kind (``encoder`` or ``causal``, from ``llmkd_student.json``)."""
    from llmkd.students.causal import read_marker

    if explicit:
        folder = Path(explicit)
        if not (folder / "config.json").is_file():
            raise RunError(f"{folder}: no config.json; not a student model folder (check --student-path)")
    else:
        candidates = [run_dir / "student", run_dir / "student-causal" / "merged"]
        folder = next((c for c in candidates if (c / "config.json").is_file()), None)  # type: ignore[assignment]
        if folder is None:
            return None, "none"
    return folder, "causal" if read_marker(folder) is not None else "encoder"


def causal_student_predictions(
    folder: Path, texts: list[str], task: Task, config: EvaluateConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Label-scoring probabilities of a causal student, plus speed and size figures."""
    from llmkd.students.causal import CausalStudent

    student = CausalStudent.load(folder, task)
    student.model.to(_device(config.device))
    batch = max(1, min(config.batch_size, 16))
    student.predict_probs(texts[:batch], batch, progress=False)
    started = time.perf_counter()
    probs = student.predict_probs(texts, batch)
    elapsed = max(time.perf_counter() - started, 1e-9)
    speed = {
        "kind": "causal",
        "throughput_items_per_s": len(texts) / elapsed,
        "latency_ms_per_item": 1000.0 * elapsed / max(len(texts), 1),
        "parameters": int(sum(p.numel() for p in student.model.parameters())),
        "size_mb": round(_model_size_mb(folder), 2),
        "device": str(next(student.model.parameters()).device),
        "batch_size": batch,
    }
    return probs, speed


def student_predictions(
    folder: Path, texts: list[str], labels: list[str], config: EvaluateConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(N, C)`` student probabilities in task-label order, plus speed and size figures."""
    from llmkd.students.encoder import load_student, predict_probs

    model, tokenizer = load_student(folder)
    cast(Any, model).to(_device(config.device))
    id2label = {int(k): v for k, v in (model.config.id2label or {}).items()}
    student_labels = [id2label[i] for i in range(len(id2label))]
    if sorted(student_labels) != sorted(labels):
        raise RunError(
            f"{folder}: the student predicts {student_labels}, but the task has {labels} (check --task)"
        )
    predict_probs(model, tokenizer, texts[: config.batch_size], config.batch_size, config.max_length, False)
    started = time.perf_counter()
    probs = predict_probs(model, tokenizer, texts, config.batch_size, config.max_length)
    elapsed = max(time.perf_counter() - started, 1e-9)
    order = [student_labels.index(label) for label in labels]
    speed = {
        "kind": "encoder",
        "throughput_items_per_s": len(texts) / elapsed,
        "latency_ms_per_item": 1000.0 * elapsed / max(len(texts), 1),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "size_mb": round(_model_size_mb(folder), 2),
        "device": str(next(model.parameters()).device),
        "batch_size": config.batch_size,
    }
    return probs[:, order], speed


def _scored(
    predicted: list[str], gold: list[str], labels: list[str], probs: np.ndarray | None, n_bins: int
) -> dict[str, Any]:
    result = metrics.classification_metrics(predicted, gold, labels)
    if probs is not None and len(probs):
        gold_ids = np.array([labels.index(g) for g in gold])
        result["ece"] = metrics.expected_calibration_error(probs, gold_ids, n_bins)
        result["reliability"] = metrics.reliability_bins(probs, gold_ids, n_bins)
    else:
        result["ece"] = None
    return result


def per_teacher_scores(
    matched: list[dict[str, Any] | None], gold: list[str], labels: list[str]
) -> dict[str, dict[str, Any]]:
    """Accuracy and F1 of each teacher of an ensemble on the gold items it labelled ({} for one teacher)."""
    names = sorted({name for r in matched if r for name in r.get("teachers") or {}})
    if len(names) < 2:
        return {}
    scores = {}
    for name in names:
        views = [((r or {}).get("teachers") or {}).get(name) or {} for r in matched]
        keep = [i for i, v in enumerate(views) if v.get("status") == "ok" and v.get("label") in labels]
        if keep:
            result = metrics.classification_metrics(
                [str(views[i]["label"]) for i in keep], [gold[i] for i in keep], labels
            )
            scores[name] = {k: result[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
    return scores


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Score student and teacher on the gold items; write eval.json, report.md and the figures.

    Raises:
        RunError: the run directory has neither a student nor teacher labels.
    """
    run_dir = run_directory(config.run)
    student_dir, student_kind = find_student(run_dir, config.student_path)
    label_files = [Path(p) for p in config.teacher_labels] or [run_dir / "labels.jsonl"]
    for path in label_files[: len(config.teacher_labels)]:
        if not path.is_file():
            raise RunError(f"{path}: no such file (check --teacher-labels)")
    has_labels = all(p.is_file() for p in label_files)
    has_student = student_dir is not None
    if not has_student and not has_labels:
        raise RunError(
            f"{run_dir}: neither student/ nor labels.jsonl; run llmkd.generate and llmkd.finetune first"
        )
    task = resolve_task(run_dir, config.task)
    labels = task.labels
    gold_items = read_gold(config, labels)
    gold = [str(item.label) for item in gold_items]
    notes: list[str] = []
    result: dict[str, Any] = {
        "task": task.name,
        "gold_file": config.gold,
        "n_gold": len(gold_items),
        "labels": labels,
    }
    matrices: dict[str, np.ndarray] = {}
    curves: dict[str, list[dict[str, float]]] = {}

    student_labels: list[str | None] = [None] * len(gold_items)
    if has_student:
        texts = [i.text for i in gold_items]
        assert student_dir is not None
        if student_kind == "causal":
            probs, speed = causal_student_predictions(student_dir, texts, task, config)
        else:
            probs, speed = student_predictions(student_dir, texts, labels, config)
        student_labels = [labels[i] for i in probs.argmax(axis=1)]
        result["student"] = {
            **_scored(list(map(str, student_labels)), gold, labels, probs, config.n_bins),
            **speed,
        }
        matrices["student"] = metrics.confusion_matrix(list(map(str, student_labels)), gold, labels)
        curves["student"] = result["student"]["reliability"]
    else:
        result["student"] = None
        notes.append(f"no student model in {run_dir / 'student'} (run llmkd.finetune); teacher only")

    teacher_labels: list[str | None] = [None] * len(gold_items)
    if has_labels:
        records = [r for path in label_files for r in read_jsonl(path)]
        matched, clashes = match_teacher(gold_items, records)
        if clashes:
            notes.append(f"{clashes} gold ids also appear in labels.jsonl with another text; matched by text")
        teacher_labels = [
            r["label"] if r and r.get("status") == "ok" and r.get("label") in labels else None
            for r in matched
        ]
        seen = sum(r is not None for r in matched)
        if 0 < seen < len(gold_items) / 2:
            notes.append(
                f"the teacher labelled only {seen} of the {len(gold_items)} gold texts, so its scores say "
                "little; label the gold file with llmkd.generate and pass its labels.jsonl as --teacher-labels"
            )
        keep = [i for i, label in enumerate(teacher_labels) if label is not None]
        if keep:
            t_pred = [str(teacher_labels[i]) for i in keep]
            t_gold = [gold[i] for i in keep]
            with_probs = [i for i in keep if (matched[i] or {}).get("probs")]
            teacher: dict[str, Any] = _scored(t_pred, t_gold, labels, None, config.n_bins)
            if with_probs:
                probs_rows = [
                    [float((matched[i] or {})["probs"].get(label) or 0.0) for label in labels]
                    for i in with_probs
                ]
                t_probs = np.array(probs_rows) / np.clip(
                    np.array(probs_rows).sum(1, keepdims=True), 1e-12, None
                )
                ids = np.array([labels.index(gold[i]) for i in with_probs])
                teacher["ece"] = metrics.expected_calibration_error(t_probs, ids, config.n_bins)
                teacher["reliability"] = metrics.reliability_bins(t_probs, ids, config.n_bins)
                curves["teacher"] = teacher["reliability"]
            teacher["n_with_probs"] = len(with_probs)
            teacher["n_invalid"] = seen - len(keep)
            teacher["teachers"] = sorted({str(r.get("teacher")) for r in matched if r and r.get("teacher")})
            teacher["by_teacher"] = per_teacher_scores(matched, gold, labels)
            result["teacher"] = teacher
            matrices["teacher"] = metrics.confusion_matrix(t_pred, t_gold, labels)
        else:
            result["teacher"] = None
            notes.append(
                f"the teacher labelled none of the {len(gold_items)} gold texts ({seen} seen in labels.jsonl)"
            )
    else:
        result["teacher"] = None
        notes.append(f"no teacher labels ({label_files[0]}); student only")

    if has_student and result["teacher"] is not None:
        rate, n = metrics.agreement(student_labels, teacher_labels)
        result["agreement"] = {"rate": rate, "n": n}
    else:
        result["agreement"] = None
    result["ece"] = {name: (result[name] or {}).get("ece") for name in ("student", "teacher")}
    local = (
        time_local_teachers(run_dir, task, gold_items, config.teacher_timing_items)
        if config.time_teacher
        else {}
    )
    result["teacher_speed"] = local
    spend = ledger_spend(run_dir)
    result["cost"] = cost_summary(result["student"], local, spend, config.cpu_usd_per_hour)
    if result["student"] and local:
        result["speedup_vs_local_teacher"] = speedup(result["student"]["throughput_items_per_s"], local)
    if any("simulated" in name for name in [*spend, *((result["teacher"] or {}).get("teachers") or [])]):
        notes.append("the teacher is a SIMULATED teacher (bench/simulated_teacher.py), not a real LLM")
    result["notes"] = notes

    figures = []
    for name, matrix in matrices.items() if config.plots else ():
        path = run_dir / f"confusion_{name}.png"
        plots.confusion_matrix_plot(
            matrix, labels, path, f"{name.capitalize()} vs gold (n={int(matrix.sum())})"
        )
        figures.append(path.name)
    if curves and config.plots:
        plots.reliability_diagram(curves, run_dir / "reliability.png")
        figures.append("reliability.png")
    for curves_png in ("training_curves.png", "training_curves_causal.png"):
        if config.plots and (run_dir / curves_png).is_file():
            figures.append(curves_png)
    result["figures"] = figures
    write_json(run_dir / "eval.json", result)
    table = summary_table(result)
    update_report_section(run_dir, "evaluate", report_markdown(result, table))
    if config.plots:
        write_report_html(run_dir, f"llmkd report: {task.name}")
    save_config(run_dir, "evaluate", config)
    print(table)
    for note in notes:
        print(f"note: {note}")
    html = " and report.html" if config.plots else ""
    print(f"evaluate: wrote {run_dir / 'eval.json'}, {run_dir / 'report.md'}{html}")
    return result


def main(argv: list[str] | None = None) -> int:
    config = parse_config(
        EvaluateConfig,
        argv,
        prog="python -m llmkd.evaluate",
        description="Score the student and the teacher against gold labels.",
    )
    evaluate(config)
    return 0


if __name__ == "__main__":
    run_cli(main)
