"""Evaluate's per-item output: every gold item with the student's and the teacher's label and confidence
(``RUN/predictions.jsonl``), the misclassified examples and the reliability bins of report.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmkd.io.records import Item

PREDICTIONS_FILE = "predictions.jsonl"


def prediction_rows(
    items: Sequence[Item],
    student: tuple[Sequence[str | None], Sequence[float | None]],
    teacher: tuple[Sequence[str | None], Sequence[float | None]],
) -> list[dict[str, Any]]:
    """One row per gold item: id, text, gold, and each model's label and confidence (None: no label).

    A confidence is the probability the model gave its own label (None when it gave no probabilities).
    """
    rows = []
    for i, item in enumerate(items):
        rows.append(
            {
                "id": item.id,
                "text": item.text,
                "gold": item.label,
                "student": student[0][i],
                "student_confidence": _round(student[1][i]),
                "teacher": teacher[0][i],
                "teacher_confidence": _round(teacher[1][i]),
            }
        )
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def misclassified(rows: Sequence[dict[str, Any]], limit: int) -> dict[str, Any] | None:
    """The student's mistakes (the teacher's without a student), most confident first, at most ``limit``.

    Returns:
        ``{"model", "n", "examples"}`` (``n``: all mistakes), or None when no model labelled anything.
    """
    model = "student" if any(r["student"] is not None for r in rows) else "teacher"
    if not any(r[model] is not None for r in rows):
        return None
    wrong = [r for r in rows if r[model] is not None and r[model] != r["gold"]]
    ranked = sorted(wrong, key=lambda r: -(r[f"{model}_confidence"] or 0.0))
    return {"model": model, "n": len(wrong), "examples": ranked[: max(0, limit)]}


def _cell(text: Any, n: int = 120) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def _label(label: str | None, confidence: float | None) -> str:
    if label is None:
        return "—"
    return f"{label} ({confidence:.2f})" if confidence is not None else label


def misclassified_markdown(mistakes: dict[str, Any] | None, n_items: int) -> list[str]:
    """The "Misclassified examples" section of report.md ([] without mistakes to show)."""
    if not mistakes or not mistakes["examples"]:
        return []
    model, shown = mistakes["model"], mistakes["examples"]
    lines = [
        "### Misclassified examples",
        "",
        f"The {model} is wrong on {mistakes['n']} of the {n_items} gold items; the {len(shown)} it was "
        f"most confident about (confidence in parentheses; all items in `{PREDICTIONS_FILE}`):",
        "",
        "| id | text | gold | student | teacher |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(r['id'], 24)} | {_cell(r['text'])} | {r['gold']} | "
        f"{_label(r['student'], r['student_confidence'])} | {_label(r['teacher'], r['teacher_confidence'])} |"
        for r in shown
    ]
    return [*lines, ""]


def reliability_markdown(curves: dict[str, list[dict[str, float]]]) -> list[str]:
    """Items, mean confidence and accuracy per confidence bin of each model (non-empty bins)."""
    curves = {name: rows for name, rows in curves.items() if rows}
    if not curves:
        return []
    names = list(curves)
    first = next(iter(curves.values()))
    header = " | ".join(f"{n} items | {n} confidence | {n} accuracy" for n in names)
    lines = ["### Reliability bins", "", f"| confidence | {header} |", "|---" * (1 + 3 * len(names)) + "|"]
    for b, edge in enumerate(first):
        cells = []
        for name in names:
            row = curves[name][b]
            filled = row["count"] > 0
            cells += [
                str(row["count"]),
                f"{row['confidence']:.3f}" if filled else "—",
                f"{row['accuracy']:.3f}" if filled else "—",
            ]
        if any(curves[name][b]["count"] for name in names):
            lines.append(f"| {edge['lower']:.1f}–{edge['upper']:.1f} | {' | '.join(cells)} |")
    return [*lines, ""]
