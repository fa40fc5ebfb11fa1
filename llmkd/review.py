"""Human review: export the records the pipeline doubts, import the reviewers' labels as gold seed.

    llmkd review export --run DIR [--format csv|label-studio|argilla] [--out FILE] [--limit N]
    llmkd review import --run DIR FILE

``export`` ranks the run's records most-doubtful first (no valid teacher label, low confidence, teachers
disagreeing, the student disagreeing with the teacher) and writes them with the reason. ``import`` merges
the labels reviewers gave into ``DIR/gold_seed.jsonl`` (by id: a record reviewed again is replaced), which
finetune trains on as gold labels that outrank the teacher's.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmkd.cli import build_parser, parse_config, run_cli
from llmkd.errors import ConfigError, warn
from llmkd.io.records import Item
from llmkd.io.review_formats import (
    ReviewItem,
    argilla_records,
    argilla_settings,
    csv_text,
    label_studio_config,
    label_studio_tasks,
    read_corrections,
)
from llmkd.io.seed import SEED_FILE
from llmkd.io.task import Task
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import atomic_write_text, read_jsonl, save_config, write_json, write_jsonl

Format = Literal["csv", "label-studio", "argilla"]
DEFAULT_NAMES = {
    "csv": "review.csv",
    "label-studio": "label_studio_tasks.json",
    "argilla": "argilla_records.json",
}
PREDICTIONS = "predictions.jsonl"
USAGE = "usage: llmkd review {export,import} --run DIR ...  (each takes --help)"


@dataclass
class ReviewExportConfig:
    """Flags of ``llmkd review export``."""

    run: str | None = field(
        default=None,
        metadata={"help": "Run directory holding labels.jsonl.", "required": True, "metavar": "DIR"},
    )
    format: Format = field(
        default="csv",
        metadata={
            "help": "csv (fill in the 'gold' column), label-studio (tasks JSON with pre-annotations, plus the "
            "labeling config XML) or argilla (Argilla 2.x records with suggestions, plus the dataset settings)."
        },
    )
    out: str | None = field(
        default=None,
        metadata={
            "help": "Output file (default: DIR/review/review.csv, label_studio_tasks.json or "
            "argilla_records.json).",
            "metavar": "FILE",
        },
    )
    limit: int = field(
        default=200,
        metadata={"help": "Export the N most doubtful records (0: all in doubt).", "metavar": "N"},
    )
    min_confidence: float = field(
        default=0.8, metadata={"help": "A teacher label whose probability is below this is in doubt."}
    )
    student: str | None = field(
        default=None,
        metadata={
            "help": "Student folder to compare the teacher with (default: DIR/predictions.jsonl, else DIR/student "
            "when present; 'none' to skip).",
            "metavar": "DIR",
        },
    )
    device: str = field(
        default="auto", metadata={"help": "Torch device for the student ('auto': cuda when available)."}
    )
    max_length: int = field(default=128, metadata={"help": "Tokens per text for an encoder student."})
    task: str | None = field(
        default=None, metadata={"help": "Task name or YAML (default: the task recorded in the run)."}
    )


@dataclass
class ReviewImportConfig:
    """Flags of ``llmkd review import``."""

    run: str | None = field(
        default=None,
        metadata={
            "help": "Run directory whose gold seed receives the labels.",
            "required": True,
            "metavar": "DIR",
        },
    )
    task: str | None = field(
        default=None, metadata={"help": "Task name or YAML (default: the task recorded in the run)."}
    )
    file: str = field(default="", metadata={"cli": False})


# -- export ---------------------------------------------------------------------------------------------


def doubt_of(
    record: dict[str, Any], min_confidence: float, student: tuple[str, float | None] | None = None
) -> tuple[float, list[str]]:
    """How doubtful a labels.jsonl record is (0: not at all) and why; the reasons' scores add up."""
    if record.get("status") == "pending":
        return 0.0, []  # not labelled yet: a rerun of generate does it
    label = record.get("label")
    if record.get("status") != "ok" or label is None:
        return 2.0, [f"no valid teacher label ({record.get('error') or record.get('status') or 'none'})"]
    score, reasons = 0.0, []
    confidence = _confidence(record)
    if confidence is not None and confidence < min_confidence:
        score += 1.0 - confidence
        reasons.append(f"low confidence {confidence:.2f}")
    said = {
        name: view.get("label")
        for name, view in (record.get("teachers") or {}).items()
        if isinstance(view, dict) and view.get("status") == "ok" and view.get("label")
    }
    if len(set(said.values())) > 1:
        top = max(list(said.values()).count(x) for x in said.values())
        score += 1.0 - top / len(said) + 0.5
        reasons.append("teachers disagree (" + ", ".join(f"{n}: {lab}" for n, lab in said.items()) + ")")
    if student is not None and student[0] != label:
        student_label, student_conf = student
        score += 0.5 if student_conf is None else student_conf
        p = "" if student_conf is None else f" p={student_conf:.2f}"
        reasons.append(f"student says {student_label}{p}, teacher {label}")
    return score, reasons


def _confidence(record: dict[str, Any]) -> float | None:
    probs = record.get("probs")
    if not isinstance(probs, dict) or not probs:
        return None
    return float(probs.get(record.get("label"), max(probs.values())) or 0.0)


def rank_doubtful(
    records: Sequence[dict[str, Any]],
    min_confidence: float,
    student: dict[str, tuple[str, float | None]] | None = None,
) -> list[ReviewItem]:
    """The records in doubt, most doubtful first (ties keep the file order)."""
    found = []
    for record in records:
        rid = str(record.get("id"))
        score, reasons = doubt_of(record, min_confidence, (student or {}).get(rid))
        if reasons:
            label = record.get("label") if record.get("status") == "ok" else None
            conf = _confidence(record) if label else None
            found.append(
                ReviewItem(rid, str(record.get("text") or ""), label, conf, score, "; ".join(reasons))
            )
    return sorted(found, key=lambda it: -it.doubt)


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def student_labels(
    run_dir: Path, records: Sequence[dict[str, Any]], task: Task, config: ReviewExportConfig
) -> dict[str, tuple[str, float | None]] | None:
    """Each record's student label and probability, from DIR/predictions.jsonl or a student folder; None
    when the run has neither (or ``--student none``)."""
    if config.student == "none":
        return None
    predictions = run_dir / PREDICTIONS
    if config.student is None and predictions.is_file():
        return _from_predictions(predictions, records, task)
    if config.student:
        folder = Path(config.student)
        if not folder.is_dir():
            raise ConfigError(f"--student {config.student}: no such folder")
    else:
        found = [f for f in (run_dir / "student", run_dir / "student-causal" / "merged") if f.is_dir()]
        if not found:
            return None
        folder = found[0]
    from llmkd.students.base import load_student

    model = load_student(folder, config.device, config.max_length, task)
    usable = [r for r in records if r.get("status") == "ok" and r.get("text")]
    probs = model.predict_probs([str(r["text"]) for r in usable])
    labels = model.labels
    return {
        str(r.get("id")): (labels[int(row.argmax())], float(row.max()))
        for r, row in zip(usable, probs, strict=True)
    }


def _from_predictions(
    path: Path, records: Sequence[dict[str, Any]], task: Task
) -> dict[str, tuple[str, float | None]]:
    """Per-item student predictions matched to the run's records by text (by id when a row has no text:
    an evaluation file's ids may name other texts)."""
    by_text = {_key(str(r.get("text") or "")): str(r.get("id")) for r in records}
    ids = {str(r.get("id")) for r in records}
    out: dict[str, tuple[str, float | None]] = {}
    for row in read_jsonl(path):
        if row.get("text"):
            rid = by_text.get(_key(str(row["text"])))
        else:
            rid = str(row.get("id")) if str(row.get("id")) in ids else None
        if rid is not None and row.get("student") in task.labels:
            conf = row.get("student_confidence", row.get("confidence"))
            out[rid] = (str(row["student"]), float(conf) if conf is not None else None)
    return out


def run_export(config: ReviewExportConfig) -> Path:
    """Write the doubtful records of the run in ``config.format``; returns the output path."""
    run_dir = run_directory(config.run, needs="labels.jsonl")
    if config.limit < 0:
        raise ConfigError("--limit must be 0 (all) or more")
    task = resolve_task(run_dir, config.task)
    reviewed = {_key(str(r.get("text") or "")) for r in _seed(run_dir)}
    records = [
        r for r in read_jsonl(run_dir / "labels.jsonl") if _key(str(r.get("text") or "")) not in reviewed
    ]
    student = student_labels(run_dir, records, task, config)
    ranked = rank_doubtful(records, config.min_confidence, student)
    chosen = ranked[: config.limit] if config.limit else ranked
    out = Path(config.out) if config.out else run_dir / "review" / DEFAULT_NAMES[config.format]
    out.parent.mkdir(parents=True, exist_ok=True)
    if config.format == "csv":
        atomic_write_text(out, csv_text(chosen))
        hint = "fill in the 'gold' column"
    elif config.format == "label-studio":
        write_json(out, label_studio_tasks(chosen))
        atomic_write_text(out.with_suffix(".xml"), label_studio_config(task.labels))
        hint = (
            f"create a Label Studio project with the labeling config {out.with_suffix('.xml')}, import {out}"
        )
    else:
        write_json(out, argilla_records(chosen))
        write_json(out.with_name(out.stem + ".settings.json"), argilla_settings(task.labels))
        hint = "log the records into an Argilla dataset with the settings in " + str(
            out.with_name(out.stem + ".settings.json")
        )
    save_config(run_dir, "review_export", config)
    compared = "" if student is None else f", compared with the student on {len(student)}"
    print(
        f"review: {len(ranked)} of {len(records)} records in doubt{compared}; wrote the {len(chosen)} most "
        f"doubtful to {out}"
    )
    print(f"next: {hint}, then `llmkd review import --run {run_dir} FILE`")
    return out


# -- import ---------------------------------------------------------------------------------------------


def _seed(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / SEED_FILE
    return list(read_jsonl(path)) if path.is_file() else []


def merge_seed(
    seed: Sequence[dict[str, Any]], corrections: Sequence[Item]
) -> tuple[list[dict[str, Any]], int, int]:
    """The gold seed with ``corrections`` added, a seed record of the same id (or text) replaced; returns
    the records, how many were added and how many replaced."""
    merged = {str(r.get("id")): dict(r) for r in seed}
    added = replaced = 0
    for item in corrections:
        same = [
            k for k, r in merged.items() if k == item.id or _key(str(r.get("text") or "")) == _key(item.text)
        ]
        for k in same:
            del merged[k]
        replaced += bool(same)
        added += not same
        merged[item.id] = {"id": item.id, "text": item.text, "label": item.label, "source": "review"}
    return list(merged.values()), added, replaced


def run_import(config: ReviewImportConfig) -> Path:
    """Merge the labels in ``config.file`` into the run's gold seed; returns its path."""
    run_dir = run_directory(config.run)
    task = resolve_task(run_dir, config.task)
    corrections = read_corrections(config.file, task.labels)
    if not corrections:
        warn(f"{config.file}: no reviewed records (an empty 'gold' column, or no submitted labels)")
    labels_path = run_dir / "labels.jsonl"
    run_records = {str(r.get("id")): r for r in read_jsonl(labels_path)} if labels_path.is_file() else {}
    # The run's text is what finetune matches teacher records by; a reviewer's copy may differ in whitespace.
    corrections = [
        Item(id=c.id, text=str(run_records[c.id].get("text") or c.text), label=c.label, line=c.line)
        if c.id in run_records
        else c
        for c in corrections
    ]
    unknown = sum(c.id not in run_records for c in corrections)
    if unknown:
        warn(
            f"{config.file}: {unknown} reviewed record(s) are not in {labels_path}; added with their own text"
        )
    changed = sum(c.id in run_records and run_records[c.id].get("label") != c.label for c in corrections)
    seed, added, replaced = merge_seed(_seed(run_dir), corrections)
    path = run_dir / SEED_FILE
    write_jsonl(path, seed)
    save_config(run_dir, "review_import", config)
    print(
        f"review: {len(corrections)} reviewed record(s) from {config.file} ({changed} differ from the teacher's "
        f"label): {added} added to, {replaced} replaced in {path} ({len(seed)} in all); finetune trains on "
        "them as gold labels"
    )
    return path


def _parse_import(argv: Sequence[str]) -> ReviewImportConfig:
    parser = build_parser(
        ReviewImportConfig, "llmkd review import", "Merge reviewed labels into the gold seed."
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        help="The review CSV with its 'gold' column filled in, a Label Studio export (JSON) or an Argilla "
        "export (JSON records).",
    )
    values = vars(parser.parse_args(argv))
    return ReviewImportConfig(**values)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(f"{USAGE}\n\n{__doc__}", file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "export":
        config = parse_config(
            ReviewExportConfig, args[1:], "llmkd review export", "Export the records the pipeline doubts."
        )
        run_export(config)
        return 0
    if args[0] == "import":
        run_import(_parse_import(args[1:]))
        return 0
    print(f"{USAGE}\nerror: unknown review command {args[0]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    run_cli(lambda: main())
