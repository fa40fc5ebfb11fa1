"""The learning curve of an active-distillation run (``generate --budget``): teacher calls -> accuracy.

Each round of ``RUN/active/`` saved its quick student (``probe-NN.npz``, a logistic-regression probe on the
frozen encoder's embeddings); each is scored on the gold items, so the curve shows what every extra batch
of teacher calls bought. The rounds' files are read directly: evaluation does not import generation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmkd.evaluation.metrics import classification_metrics
from llmkd.io.records import Item
from llmkd.students.probe import ProbeStudent, embed

ACTIVE_DIR = "active"


def active_learning_curve(
    run_dir: Path, gold_items: Sequence[Item], labels: Sequence[str]
) -> dict[str, Any] | None:
    """Accuracy and macro-F1 on the gold items of each finished round's quick student (None: the run
    has no active rounds)."""
    folder = run_dir / ACTIVE_DIR
    rounds = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("round-*.json"))]
    done = [r for r in rounds if r.get("status") == "done" and r.get("probe")]
    if not done:
        return None
    student = str(done[0]["student"])
    vectors = embed([item.text for item in gold_items], student, progress=len(gold_items) > 256)
    gold = [str(item.label) for item in gold_items]
    points = []
    for record in done:
        probe = ProbeStudent.load(folder / record["probe"])
        scores = classification_metrics(probe.predict(vectors), gold, list(labels))
        points.append(
            {
                "round": record["round"],
                "calls": record["calls"],
                "accuracy": scores["accuracy"],
                "macro_f1": scores["macro_f1"],
            }
        )
    return {
        "student": f"quick probe on frozen {student} embeddings",
        "strategy": done[0]["strategy"],
        "points": points,
    }


def learning_curve_markdown(curve: dict[str, Any] | None) -> list[str]:
    """The report's table of the curve (empty without one)."""
    if not curve:
        return []
    rows = [
        f"| {p['round']} | {p['calls']} | {p['accuracy']:.3f} | {p['macro_f1']:.3f} |"
        for p in curve["points"]
    ]
    return [
        f"### Learning curve (active selection: {curve['strategy']})",
        "",
        f"Each round's {curve['student']}, scored on the gold set; the fine-tuned student above is "
        "trained on the last round's labels.",
        "",
        "| round | teacher calls | accuracy | macro F1 |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
