"""Evaluation of a fine-tuned student and the teacher labels against a gold file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import llmkd.evaluate as evaluate_stage
from llmkd.errors import LlmkdError, RunError
from llmkd.evaluate import main, match_teacher, student_predictions
from llmkd.finetune import main as finetune_main
from llmkd.io.records import Item
from llmkd.students.base import Student
from tests.tiny_runs import LABELS, save_causal_student, save_encoder_student, write_gold, write_run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_bert_dir) -> Path:
    root = tmp_path_factory.mktemp("eval")
    run = write_run(root)
    args = [
        "--run",
        str(run),
        "--student",
        str(tiny_bert_dir),
        "--epochs",
        "1",
        "--full",
        "--val-fraction",
        "0",
    ]
    assert finetune_main(args) == 0
    write_gold(root)
    return run


def test_evaluate_reports_the_coverage_curve_and_the_cascade_table(trained_run):
    gold = trained_run.parent / "gold.csv"
    assert (
        main(["--run", str(trained_run), "--gold", str(gold), "--id-column", "id", "--no-time-teacher"]) == 0
    )
    result = json.loads((trained_run / "eval.json").read_text())
    selective = result["selective"]
    curve = selective["coverage_accuracy"]
    assert curve[-1]["n"] == 7 and curve[-1]["accuracy"] == pytest.approx(result["student"]["accuracy"])
    assert [row["n"] for row in curve] == sorted(row["n"] for row in curve)
    cascade = selective["cascade"]
    assert cascade["n"] == result["teacher"]["n"] == 4
    assert cascade["table"][-1]["accuracy"] == pytest.approx(result["teacher"]["accuracy"])  # all deferred
    assert [row["defer_rate"] for row in cascade["table"]] == sorted(
        row["defer_rate"] for row in cascade["table"]
    )
    assert "coverage.png" in result["figures"] and (trained_run / "coverage.png").stat().st_size > 1000
    assert "### Selective prediction and the cascade" in (trained_run / "report.md").read_text()


def test_evaluate_student_and_teacher(trained_run, capsys):
    gold = trained_run.parent / "gold.csv"
    assert main(["--run", str(trained_run), "--gold", str(gold), "--id-column", "id"]) == 0
    out = capsys.readouterr().out
    assert "| accuracy |" in out and "agreement with teacher" in out
    result = json.loads((trained_run / "eval.json").read_text())
    assert result["n_gold"] == 7 and result["labels"] == LABELS
    student = result["student"]
    assert student["n"] == 7
    for key in ("accuracy", "macro_f1", "weighted_f1", "ece"):
        assert 0.0 <= student[key] <= 1.0
    assert set(student["per_class"]) == set(LABELS)
    assert sum(row["support"] for row in student["per_class"].values()) == 7
    assert student["throughput_items_per_s"] > 0 and student["latency_ms_per_item"] > 0
    assert student["parameters"] > 1000 and student["size_mb"] > 0
    teacher = result["teacher"]
    assert teacher["n"] == 4 and teacher["accuracy"] == 0.75
    assert teacher["n_invalid"] == 1 and teacher["n_with_probs"] == 4 and teacher["teachers"] == ["local"]
    assert 0.0 <= teacher["ece"] <= 1.0
    assert result["agreement"]["n"] == 4 and 0.0 <= result["agreement"]["rate"] <= 1.0
    assert result["ece"]["student"] == student["ece"]
    assert any("clash" in note or "another text" in note for note in result["notes"])
    for name in ("confusion_student.png", "confusion_teacher.png", "reliability.png"):
        assert (trained_run / name).stat().st_size > 1000
    report = (trained_run / "report.md").read_text()
    assert "| weighted F1 |" in report and "confusion_student.png" in report
    config = json.loads((trained_run / "evaluate_config.json").read_text())
    assert config["gold"] == str(gold) and config["batch_size"] == 64


def test_evaluate_teacher_only(tmp_path, capsys):
    run = write_run(tmp_path)
    gold = write_gold(tmp_path)
    (run / "report.md").write_text(
        "# Run\n\n<!-- llmkd:filter -->\n## Filter\nkept 9\n<!-- /llmkd:filter -->\n"
    )
    assert main(["--run", str(run), "--gold", str(gold)]) == 0
    assert main(["--run", str(run), "--gold", str(gold), "--limit", "6"]) == 0
    report = (run / "report.md").read_text()
    assert report.count("## Evaluate") == 1 and "## Filter\nkept 9" in report and "(6 items" in report
    result = json.loads((run / "eval.json").read_text())
    assert result["student"] is None and result["agreement"] is None
    assert result["teacher"]["accuracy"] == 0.75
    assert any("no student" in note for note in result["notes"])
    assert (run / "confusion_teacher.png").is_file() and not (run / "confusion_student.png").exists()
    assert "note: no student" in capsys.readouterr().out


def test_evaluate_errors(tmp_path):
    gold = write_gold(tmp_path)
    with pytest.raises(RunError, match="no such run"):
        main(["--run", str(tmp_path / "missing"), "--gold", str(gold)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="neither student"):
        main(["--run", str(tmp_path / "empty"), "--gold", str(gold)])
    run = write_run(tmp_path)
    with pytest.raises(LlmkdError):
        main(["--run", str(run), "--gold", str(gold), "--label-column", "nope"])


def test_match_teacher_by_id_then_text():
    records = [{"id": "a", "text": "x  y"}, {"id": "b", "text": "z"}]
    gold = [Item(id="a", text="x y"), Item(id="b", text="other"), Item(id="q", text="z")]
    matched, clashes = match_teacher(gold, records)
    assert matched == [records[0], None, records[1]] and clashes == 1


def test_each_teacher_of_an_ensemble_is_scored(tmp_path):
    run = write_run(tmp_path)
    rows = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    for row in rows:  # "llm" says what the aggregate says; "lexicon" says neutral for everything
        row["teachers"] = {
            "llm": {"label": row["label"], "status": row["status"]},
            "lexicon": {"label": "neutral", "status": "ok"},
        }
    (run / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["--run", str(run), "--gold", str(write_gold(tmp_path))]) == 0
    result = json.loads((run / "eval.json").read_text())
    by_teacher = result["teacher"]["by_teacher"]
    # Gold g1..g4 matched: the llm is right on 3 of 4 (as the aggregate); the lexicon on none of them;
    # it also labels g5 ("garbled record", gold neutral) where the llm was invalid: 1 of 5.
    assert by_teacher["llm"]["n"] == 4 and by_teacher["llm"]["accuracy"] == 0.75
    assert by_teacher["lexicon"]["n"] == 5 and by_teacher["lexicon"]["accuracy"] == 0.2
    report = (run / "report.md").read_text()
    assert "### Each teacher of the ensemble" in report and "| `lexicon` | 5 | 0.200 |" in report


def test_a_single_teacher_has_no_per_teacher_table(tmp_path):
    run = write_run(tmp_path)
    assert main(["--run", str(run), "--gold", str(write_gold(tmp_path))]) == 0
    assert json.loads((run / "eval.json").read_text())["teacher"]["by_teacher"] == {}
    assert "Each teacher of the ensemble" not in (run / "report.md").read_text()


class StubStudent:
    """A student of a third kind: fixed probabilities, columns in an order other than the task's."""

    kind = "stub"
    max_batch_size = 2
    device = "cpu"

    def __init__(self) -> None:
        self.labels = ["neutral", "positive", "negative"]
        self.batches: list[int] = []

    def predict_probs(self, texts, batch_size=64, progress=True):  # type: ignore[no-untyped-def]
        self.batches.append(batch_size)
        return np.tile([0.2, 0.7, 0.1], (len(texts), 1))

    def parameter_count(self) -> int:
        return 7

    def size_mb(self) -> float:
        return 1.234


def test_student_predictions_reorder_columns_and_respect_the_batch_limit():
    stub = StubStudent()
    assert isinstance(stub, Student)
    probs, speed = student_predictions(stub, ["a", "b", "c"], LABELS, batch_size=64)
    np.testing.assert_allclose(probs, [[0.7, 0.1, 0.2]] * 3)
    assert stub.batches == [2, 2]  # warm-up and timed run, both capped at the student's limit
    assert speed["kind"] == "stub" and speed["batch_size"] == 2 and speed["parameters"] == 7
    assert speed["size_mb"] == 1.23 and speed["device"] == "cpu" and speed["throughput_items_per_s"] > 0


def test_both_student_kinds_are_scored_through_one_path(tmp_path, tiny_bert_dir, monkeypatch):
    scored: list[Student] = []

    def spy(student, texts, labels, batch_size):  # type: ignore[no-untyped-def]
        scored.append(student)
        return student_predictions(student, texts, labels, batch_size)

    monkeypatch.setattr(evaluate_stage, "student_predictions", spy)
    run, gold = write_run(tmp_path), write_gold(tmp_path)
    folders = {
        "encoder": save_encoder_student(
            tmp_path / "encoder", tiny_bert_dir, ["neutral", "positive", "negative"]
        ),
        "causal": save_causal_student(tmp_path / "causal"),
    }
    results = {}
    for kind, folder in folders.items():
        argv = ["--run", str(run), "--gold", str(gold), "--student-path", str(folder)]
        assert main([*argv, "--no-time-teacher", "--no-plots"]) == 0
        results[kind] = json.loads((run / "eval.json").read_text())["student"]
    assert [s.kind for s in scored] == ["encoder", "causal"]
    assert all(isinstance(s, Student) for s in scored)
    assert results["encoder"].keys() == results["causal"].keys()
    for kind, result in results.items():
        assert result["kind"] == kind and result["n"] == 7 and result["parameters"] > 1000
        assert 0.0 <= result["accuracy"] <= 1.0 and result["size_mb"] > 0
    assert results["encoder"]["batch_size"] == 64 and results["causal"]["batch_size"] == 16


def test_a_one_label_student_is_called_out(tmp_path, tiny_bert_dir, monkeypatch, capsys):
    run, gold = write_run(tmp_path), write_gold(tmp_path)
    folder = save_encoder_student(tmp_path / "student", tiny_bert_dir, LABELS)
    monkeypatch.setattr(evaluate_stage, "load_student", lambda *a, **k: StubStudent())  # always "positive"
    argv = ["--run", str(run), "--gold", str(gold), "--student-path", str(folder)]
    assert main([*argv, "--no-time-teacher", "--no-plots"]) == 0
    notes = json.loads((run / "eval.json").read_text())["notes"]
    assert any("never answers negative, neutral" in note for note in notes)
    assert "warning: on the gold set (7 items) the student never answers" in capsys.readouterr().err
