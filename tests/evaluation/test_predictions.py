"""Evaluate's per-item output (llmkd/evaluation/predictions.py): RUN/predictions.jsonl, the misclassified
examples and the reliability bins of report.md, and the item counts on the reliability diagram."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import llmkd.evaluate as evaluate_stage
from llmkd.evaluate import main
from llmkd.evaluation.metrics import reliability_bins
from llmkd.evaluation.predictions import misclassified, misclassified_markdown, reliability_markdown
from llmkd.reporting.plots import reliability_figure
from tests.tiny_runs import GOLD, write_gold, write_run


class KeywordStudent:
    """A student that says positive (0.8) for 'annual', negative (0.55) for 'garbled', else by keyword."""

    kind = "stub"
    max_batch_size = None
    device = "cpu"

    def __init__(self) -> None:
        self.labels = ["neutral", "positive", "negative"]

    def predict_probs(self, texts, batch_size=64, progress=True):  # type: ignore[no-untyped-def]
        rows = []
        for text in texts:
            if "annual" in text:
                rows.append([0.1, 0.8, 0.1])
            elif "garbled" in text:
                rows.append([0.25, 0.2, 0.55])
            elif "jobs cut" in text:
                rows.append([0.1, 0.1, 0.8])
            else:
                rows.append([0.05, 0.9, 0.05])
        return np.array(rows)

    def parameter_count(self) -> int:
        return 10

    def size_mb(self) -> float:
        return 0.1


@pytest.fixture
def stub_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    run, gold = write_run(tmp_path), write_gold(tmp_path)
    (run / "student").mkdir()
    (run / "student" / "config.json").write_text("{}")
    monkeypatch.setattr(evaluate_stage, "load_student", lambda *args, **kwargs: KeywordStudent())
    return run, gold


def test_predictions_file_and_misclassified_section(stub_run: tuple[Path, Path]) -> None:
    run, gold = stub_run
    argv = ["--run", str(run), "--gold", str(gold), "--id-column", "id", "--misclassified-examples", "1"]
    assert main([*argv, "--no-time-teacher"]) == 0
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [g[0] for g in GOLD]
    by_id = {r["id"]: r for r in rows}
    assert by_id["g1"] == {
        "id": "g1",
        "text": GOLD[0][1],
        "gold": "positive",
        "student": "positive",
        "student_confidence": 0.9,
        "teacher": "positive",
        "teacher_confidence": 0.7,
    }
    assert by_id["g5"]["student"] == "negative" and by_id["g5"]["teacher"] is None  # teacher invalid
    assert by_id["g6"]["teacher"] is None and by_id["g6"]["teacher_confidence"] is None  # never seen
    result = json.loads((run / "eval.json").read_text())
    mistakes = result["misclassified"]
    assert mistakes["model"] == "student" and mistakes["n"] == 2  # r5 (0.8) and g5 (0.55)
    assert [e["id"] for e in mistakes["examples"]] == ["r5"]  # capped at 1, most confident first
    report = (run / "report.md").read_text()
    assert "### Misclassified examples" in report
    assert "The student is wrong on 2 of the 7 gold items; the 1 it was most confident about" in report
    assert "| r5 | the annual meeting was published | neutral | positive (0.80) | — |" in report
    assert "### Reliability bins" in report
    assert (run / "reliability.png").stat().st_size > 1000


def test_misclassified_orders_by_confidence_and_falls_back_to_the_teacher() -> None:
    rows = [
        {"id": "a", "gold": "x", "student": "y", "student_confidence": 0.6, "teacher": "x"},
        {"id": "b", "gold": "x", "student": "y", "student_confidence": 0.9, "teacher": "y"},
        {"id": "c", "gold": "x", "student": "x", "student_confidence": 0.99, "teacher": "y"},
    ]
    assert [r["id"] for r in misclassified(rows, 5)["examples"]] == ["b", "a"]
    no_student = [
        {**r, "student": None, "student_confidence": None, "teacher_confidence": None} for r in rows
    ]
    found = misclassified(no_student, 5)
    assert found["model"] == "teacher" and [r["id"] for r in found["examples"]] == ["b", "c"]
    nobody = [{**r, "teacher": None} for r in no_student]
    assert misclassified(nobody, 5) is None and misclassified_markdown(None, 3) == []


def test_reliability_bins_and_diagram_show_item_counts() -> None:
    probs = np.array([[0.95, 0.05], [0.92, 0.08], [0.65, 0.35], [0.25, 0.75]])
    bins = reliability_bins(probs, np.array([0, 1, 0, 1]), n_bins=10)
    lines = reliability_markdown({"student": bins, "teacher": []})
    assert lines[2] == "| confidence | student items | student confidence | student accuracy |"
    assert "| 0.9–1.0 | 2 | 0.935 | 0.500 |" in lines and "| 0.6–0.7 | 1 | 0.650 | 1.000 |" in lines
    assert len([line for line in lines if line.startswith("| 0.")]) == 3  # empty bins left out
    figure = reliability_figure({"student": bins})
    curve, counts = figure.axes
    assert sorted(t.get_text() for t in curve.texts) == ["n=1", "n=1", "n=2"]
    assert sorted(int(p.get_height()) for p in counts.patches) == [0] * 7 + [1, 1, 2]
