"""Run directories whose labels.jsonl is written directly (gold labels as a never-wrong teacher, or teacher
records chosen by a benchmark), ready for ``llmkd filter`` / ``finetune`` / ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmkd.run.files import read_jsonl, write_json, write_jsonl


def new_run(run: Path, rows: list[dict[str, Any]], task: str = "fin-sentiment") -> Path:
    """The run directory ``run`` holding ``labels.jsonl`` = ``rows`` (and nothing else from earlier attempts)."""
    run.mkdir(parents=True, exist_ok=True)
    for stale in ("filtered.jsonl", "filter_report.json", "eval.json"):
        (run / stale).unlink(missing_ok=True)
    write_json(run / "generate_config.json", {"task": task})
    write_jsonl(run / "labels.jsonl", rows)
    return run


def gold_rows(path: Path) -> list[dict[str, Any]]:
    """The gold records of ``path`` as one-hot teacher records (a teacher that is never wrong)."""
    return [
        {
            "id": r["id"],
            "text": r["text"],
            "label": r["label"],
            "probs": None,
            "status": "ok",
            "teacher": "gold",
            "source": "input",
        }
        for r in read_jsonl(path)
    ]
