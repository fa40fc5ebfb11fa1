"""Tiny run directories, as the stages before finetune and evaluate would leave them.

- ``make_run``: 40 keyword-separable teacher records (+ one invalid) to fine-tune a student on.
- ``write_run`` / ``write_gold``: 9 teacher records (+ one invalid) and a gold file built to exercise
  evaluate's matching (agreement, disagreement, a failed item, an unseen text, an id clash).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from llmkd.io.task import load_task
from llmkd.run.files import write_json
from llmkd.students.causal import MARKER, student_marker
from llmkd.students.encoder import load_classifier, save_student
from tests.tiny_models import make_tiny_llama

LABELS = ["positive", "negative", "neutral"]
PHRASES = {
    "positive": ["profit rose", "sales grew strong", "record growth", "raised outlook", "shares surge"],
    "negative": ["profit fell", "loss warning", "jobs cut", "sales dropped weak", "shares plunge"],
    "neutral": ["annual meeting", "report published", "office located", "ceo appointed", "employs people"],
}


def make_run(root: Path, n: int = 40, *, seed: int = 0, filtered: bool = False) -> Path:
    """A run dir with ``generate_config.json`` and ``labels.jsonl`` of keyword-separable records."""
    rng = random.Random(seed)
    run = root / "run"
    run.mkdir(parents=True)
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}), encoding="utf-8")
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        text = f"the company said {rng.choice(PHRASES[label])} in the {rng.choice(['quarter', 'year'])}"
        other = [x for x in LABELS if x != label]
        probs = {label: 0.8, other[0]: 0.15, other[1]: 0.05}
        rows.append(
            {
                "id": f"r{i}",
                "text": text,
                "label": label,
                "probs": probs,
                "rationale": None,
                "teacher": "local",
                "source": "input",
                "status": "ok",
                "prob_method": "label-scoring",
                "gold": label,
                "teachers": {},
            }
        )
    rows.append(
        {
            "id": "bad",
            "text": "garbled",
            "label": None,
            "probs": None,
            "status": "invalid",
            "teacher": "local",
            "source": "input",
        }
    )
    name = "filtered.jsonl" if filtered else "labels.jsonl"
    (run / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return run


EVAL_WORDS = {"positive": "profit rose", "negative": "jobs cut", "neutral": "annual meeting"}
# Teacher records r0..r8 (3 per label); r9 is invalid.
TEACHER = [(f"r{i}", f"the company said {EVAL_WORDS[LABELS[i % 3]]} {i}", LABELS[i % 3]) for i in range(9)]
# Gold: 4 texts the teacher labelled (gold disagrees with the teacher on g3), one it failed on,
# one it never saw, and one whose id "r5" clashes with a teacher record of another text.
GOLD = [
    ("g1", TEACHER[0][1], "positive"),
    ("g2", TEACHER[1][1], "negative"),
    ("g3", TEACHER[2][1], "positive"),  # teacher said neutral
    ("g4", TEACHER[3][1], "positive"),
    ("g5", "garbled record", "neutral"),
    ("g6", "the company said profit rose strong", "positive"),
    ("r5", "the annual meeting was published", "neutral"),
]


def write_run(root: Path) -> Path:
    """``root/run`` with ``generate_config.json`` and the ``TEACHER`` records (+ invalid r9) as ``labels.jsonl``."""
    run = root / "run"
    run.mkdir(parents=True)
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}))
    rows = [
        {
            "id": i,
            "text": t,
            "label": label,
            "probs": {label: 0.7, **{x: 0.15 for x in LABELS if x != label}},
            "status": "ok",
            "teacher": "local",
            "source": "input",
        }
        for i, t, label in TEACHER
    ]
    rows.append(
        {
            "id": "r9",
            "text": "garbled record",
            "label": None,
            "probs": None,
            "status": "invalid",
            "teacher": "local",
            "source": "input",
        }
    )
    (run / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def write_gold(root: Path) -> Path:
    """``root/gold.csv`` with the ``GOLD`` rows (columns id, text, label)."""
    path = root / "gold.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows(GOLD)
    return path


def read_labels(run: Path) -> list[dict]:
    """The records of a run's ``labels.jsonl``, in file order."""
    return [json.loads(line) for line in (run / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


def save_encoder_student(folder: Path, base: Path, labels: list[str] = LABELS) -> Path:
    """An untrained classifier over ``labels`` saved as a student folder."""
    model, tokenizer = load_classifier(str(base), labels)
    return save_student(model, tokenizer, folder, "# tiny student\n")


def save_causal_student(folder: Path) -> Path:
    """A tiny random Llama with the ``llmkd_student.json`` of a fin-sentiment causal student."""
    make_tiny_llama(folder)
    write_json(folder / MARKER, student_marker(load_task("fin-sentiment"), False, 96, str(folder)))
    return folder
