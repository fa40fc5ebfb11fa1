"""Export the kept set of a run (``DIR/filtered.jsonl``) for use outside llmkd.

    python -m llmkd.export --run DIR --format hf|parquet|jsonl|openai-chat|onnx [--out PATH]

* ``hf``: a Hugging Face dataset (``save_to_disk``; ``label`` is a ClassLabel in task order, ``probs`` the
  teacher soft label in the same order) with a ``README.md`` dataset card recording the teachers,
  the filter policy and the counts;
* ``parquet`` / ``jsonl``: one row per record (id, text, label, label_id, probs, source, teacher, top_prob,
  cluster_size);
* ``openai-chat``: chat JSONL for OpenAI fine-tuning, ``{"messages": [system, user, assistant]}`` where the
  system and user turns are the task's prompts and the assistant turn is the label;
* ``onnx``: not the kept set but the run's encoder student, as ``DIR/student/onnx/`` for onnxruntime
  (:mod:`llmkd.students.onnx_export`; int8 chosen by agreement on the run's training texts).

Every output is written to a temporary path and renamed, so an interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmkd.cli import parse_config, run_cli
from llmkd.errors import ConfigError, RunError
from llmkd.io.task import Task
from llmkd.run.directory import resolve_task, run_directory
from llmkd.run.files import atomic_dir, atomic_file, atomic_write_text, read_jsonl, save_config, write_jsonl
from llmkd.run.lineage import check_fresh
from llmkd.students.onnx import MIN_AGREEMENT

Format = Literal["hf", "parquet", "jsonl", "openai-chat", "onnx"]
DEFAULT_NAMES = {
    "hf": "hf",
    "parquet": "train.parquet",
    "jsonl": "train.jsonl",
    "openai-chat": "train_chat.jsonl",
}


@dataclass
class ExportConfig:
    """Options of ``python -m llmkd.export``."""

    run: str = field(default="", metadata={"help": "Run directory holding filtered.jsonl.", "required": True})
    format: Format = field(
        default="jsonl",
        metadata={
            "help": "Output format (onnx: the encoder student as DIR/student/onnx/, not the kept set)."
        },
    )
    out: str | None = field(
        default=None,
        metadata={"help": "Output path (default: DIR/export/hf, train.parquet, train.jsonl, ...)."},
    )
    task: str | None = field(
        default=None,
        metadata={"help": "Task name or YAML (default: the task recorded in DIR/generate_config.json)."},
    )
    min_int8_agreement: float = field(
        default=MIN_AGREEMENT,
        metadata={
            "help": "--format onnx: the least label agreement with the torch student that int8 must keep, "
            "at 95% confidence: the lower end of the Wilson interval of its agreement on up to 2,000 of "
            "the run's training texts must reach it (else the ONNX student stays fp32). Accuracy moves by "
            "at most the disagreement rate; at 0.99, 2,000 texts allow 11 differing labels, and under 381 "
            "texts int8 is never kept."
        },
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.min_int8_agreement <= 1.0:
            raise ConfigError(f"--min-int8-agreement must be in (0, 1], got {self.min_int8_agreement}")


def export_rows(records: Sequence[dict[str, Any]], task: Task) -> list[dict[str, Any]]:
    """Flat rows with the label id and the soft label as a list in task-label order."""
    labels = task.labels
    rows = []
    for r in records:
        if r.get("label") not in labels:
            raise RunError(f"record {r.get('id')!r} has label {r.get('label')!r}, not one of {labels}")
        probs = r.get("probs")
        rows.append(
            {
                "id": str(r.get("id")),
                "text": r["text"],
                "label": r["label"],
                "label_id": labels.index(r["label"]),
                "probs": [float(probs.get(label, 0.0)) for label in labels] if probs else None,
                "source": r.get("source", "input"),
                "teacher": r.get("teacher"),
                "top_prob": (r.get("scores") or {}).get("top_prob"),
                "cluster_size": r.get("cluster_size", 1),
            }
        )
    return rows


def chat_rows(records: Sequence[dict[str, Any]], task: Task) -> list[dict[str, Any]]:
    """OpenAI fine-tuning rows: system and user prompts of the task, the label as the assistant's answer."""
    system = task.system_prompt()
    return [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": task.user_prompt(r["text"])},
                {"role": "assistant", "content": r["label"]},
            ]
        }
        for r in records
    ]


def dataset_card(run: Path, rows: Sequence[dict[str, Any]], task: Task) -> str:
    """README.md for the HF dataset: provenance (teachers, filter policy) and counts."""
    report = _json_or_empty(run / "filter_report.json")
    policy = _json_or_empty(run / "filter_config.json")
    policy.pop("run", None)
    teachers = Counter(name for r in rows for name in str(r.get("teacher") or "unknown").split(","))
    per_label = Counter(r["label"] for r in rows)
    per_source = Counter(r["source"] for r in rows)
    lines = [
        "---",
        "language: en",
        "task_categories: [text-classification]",
        f"pretty_name: llmkd {task.name} ({run.name})",
        "tags: [llmkd, distillation, finance]",
        "---",
        "",
        f"# {task.name}: teacher-labelled and filtered by llmkd",
        "",
        f"{task.spec.description}".strip(),
        "",
        f"Rows: **{len(rows)}** kept of {report.get('n_in', '?')} labelled. Labels (ClassLabel order): "
        + ", ".join(f"`{label}` {per_label.get(label, 0)}" for label in task.labels)
        + ".",
        "",
        "Sources: " + ", ".join(f"{k} {v}" for k, v in per_source.most_common()) + ".",
        "",
        "## Teachers",
        "",
        *[f"- `{name}`: labelled {n} kept rows" for name, n in teachers.most_common()],
        "",
        "## Filtering",
        "",
        "Removed per reason (a record can have several): "
        + (", ".join(f"{k} {v}" for k, v in report.get("removed", {}).items()) or "none")
        + ".",
        "",
        "Policy:",
        "",
        "```json",
        json.dumps(policy, indent=2),
        "```",
        "",
        "## Columns",
        "",
        "- `text`: the text; `label`: teacher label (ClassLabel); `probs`: teacher soft label in label order",
        "- `id`, `source` (input/augmented), `teacher`, `top_prob`, `cluster_size` (copies it stands for)",
        "",
    ]
    return "\n".join(lines)


def _json_or_empty(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_hf(rows: Sequence[dict[str, Any]], task: Task, out: Path, card: str) -> None:
    """``save_to_disk`` into a temporary folder, add the card, then swap it into place."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features(
        {
            "id": Value("string"),
            "text": Value("string"),
            "label": ClassLabel(names=task.labels),
            "probs": List(Value("float32")),
            "source": Value("string"),
            "teacher": Value("string"),
            "top_prob": Value("float32"),
            "cluster_size": Value("int32"),
        }
    )
    columns = {name: [r[name] for r in rows] for name in features if name != "label"}
    columns["label"] = [r["label_id"] for r in rows]
    dataset = Dataset.from_dict(columns, features=features)
    with atomic_dir(out) as tmp:
        dataset.save_to_disk(str(tmp))
        (tmp / "README.md").write_text(card, encoding="utf-8")


def write_parquet(rows: Sequence[dict[str, Any]], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_file(out) as tmp:
        pq.write_table(pa.Table.from_pylist(list(rows)), tmp)


def export_onnx(cfg: ExportConfig) -> Path:
    """Write ``RUN/student/onnx/``; int8 is chosen on the run's training texts (filtered, else labels).

    Raises:
        ConfigError: ``--out`` was given.
        RunError: the run has no encoder student.
    """
    if cfg.out:
        raise ConfigError("--out does not apply to --format onnx (it writes DIR/student/onnx/)")
    run = run_directory(cfg.run)
    student = run / "student"
    if not (student / "config.json").is_file():
        causal = (run / "student-causal").is_dir()
        what = "a causal student only; ONNX is for the encoder student" if causal else "no student/"
        raise RunError(f"{run}: {what} (run llmkd.finetune first)")
    source = next((run / n for n in ("filtered.jsonl", "labels.jsonl") if (run / n).is_file()), None)
    texts = [str(r["text"]) for r in read_jsonl(source) if r.get("text")] if source else []
    save_config(run, "export", cfg)
    from llmkd.students.onnx_export import export_onnx_student  # torch: only for this format

    meta = export_onnx_student(student, texts, cfg.min_int8_agreement)
    return student / "onnx" / meta.model


def run_export(cfg: ExportConfig) -> Path:
    """Write the kept set of ``cfg.run`` in ``cfg.format`` (or, ``onnx``, the student); returns the
    output path.

    Raises:
        RunError: filtered.jsonl is missing or empty, or holds a label the task does not have.
    """
    if cfg.format == "onnx":
        return export_onnx(cfg)
    run = run_directory(cfg.run, needs="filtered.jsonl")
    check_fresh(run, run / "filtered.jsonl")
    records = list(read_jsonl(run / "filtered.jsonl"))
    if not records:
        raise RunError(f"{run / 'filtered.jsonl'}: no kept records to export (see filter_report.json)")
    task = resolve_task(run, cfg.task)
    out = Path(cfg.out) if cfg.out else run / "export" / DEFAULT_NAMES[cfg.format]
    save_config(run, "export", cfg)
    if cfg.format == "openai-chat":
        write_jsonl(out, chat_rows(records, task))
        return out
    rows = export_rows(records, task)
    if cfg.format == "hf":
        write_hf(rows, task, out, dataset_card(run, rows, task))
    elif cfg.format == "parquet":
        write_parquet(rows, out)
    else:
        atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m llmkd.export --run DIR --format FORMAT [--out PATH]``."""
    cfg = parse_config(ExportConfig, argv, "python -m llmkd.export", "Export a run's kept set.")
    out = run_export(cfg)
    print(f"wrote {cfg.format} export to {out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
