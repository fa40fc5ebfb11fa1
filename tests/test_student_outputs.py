"""What a student carries with it: its metrics beside it when trained elsewhere (``--output``), and the
token length it was trained with, which evaluate reads texts at; long texts are counted, not cut silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from llmkd.evaluate import main as evaluate_main
from llmkd.filter import main as filter_main
from llmkd.finetune import main as finetune_main
from llmkd.students.base import load_student
from llmkd.students.encoder import truncation_warning
from tests.tiny_runs import make_run

LONG = " ".join(["the company said profit rose strongly"] * 12)  # about 75 tokens of the tiny vocabulary


def train(run: Path, bert: Path, *flags: str) -> None:
    argv = [
        "--run",
        str(run),
        "--student",
        str(bert),
        "--epochs",
        "1",
        "--full",
        "--batch-size",
        "16",
        *flags,
    ]
    assert finetune_main(argv) == 0


def test_output_elsewhere_leaves_the_runs_metrics_alone(tmp_path: Path, tiny_bert_dir: Path) -> None:
    run = make_run(tmp_path)
    train(run, tiny_bert_dir)
    metrics, curves = (run / "finetune_metrics.json").read_bytes(), (run / "training_curves.png").read_bytes()
    other = tmp_path / "other"
    train(run, tiny_bert_dir, "--output", str(other), "--lr", "1e-3", "--seed", "7")
    assert (run / "finetune_metrics.json").read_bytes() == metrics
    assert (run / "training_curves.png").read_bytes() == curves
    assert json.loads((run / "finetune_config.json").read_text())["output"] == str(run / "student")
    beside = json.loads((other / "finetune_metrics.json").read_text())
    assert beside["student"] == str(other)
    assert json.loads((other / "finetune_config.json").read_text())["seed"] == 7
    assert (other / "training_curves.png").stat().st_size > 1000


def test_finetune_counts_cut_texts_and_the_student_keeps_its_length(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path)
    rows = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    for row in rows[:5]:
        row["text"] = f"{row['text']} {LONG}"
    (run / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    n_long = sum(len(tokenizer(r["text"])["input_ids"]) > 32 for r in rows if r["status"] == "ok")
    assert n_long == 5
    train(run, tiny_bert_dir, "--max-length", "32")
    err = capsys.readouterr().err
    assert (
        f"warning: {n_long} of 40 texts exceed 32 tokens and are cut (the student reads the first 32): "
        in err
    )
    assert "pass --max-length 128" in err  # the longest fits in 128, the tiny model's limit
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert any("exceed 32 tokens" in w for w in metrics["warnings"])
    assert load_student(run / "student", "cpu").max_length == 32  # type: ignore[attr-defined]
    assert load_student(run / "student", "cpu", max_length=100).max_length == 100  # type: ignore[attr-defined]

    gold = tmp_path / "gold.csv"
    gold.write_text(f"text,label\n{LONG},positive\nthe annual meeting,neutral\n", encoding="utf-8")
    assert evaluate_main(["--run", str(run), "--gold", str(gold), "--no-plots", "--no-time-teacher"]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 of 2 texts exceed 32 tokens and are cut (the student reads the first 32): " in err
    assert "retrain with finetune --max-length 128" in err


def test_truncation_warning_wording() -> None:
    lengths = [70] * 312 + [20] * (3634 - 312)
    assert truncation_warning(lengths, 64, 512, "pass --max-length {n}") == (
        "312 of 3,634 texts exceed 64 tokens and are cut (the student reads the first 64): pass --max-length 128"
    )
    assert truncation_warning([900, 10], 512, 512, "pass --max-length {n}") == (
        "1 of 2 texts exceed 512 tokens and are cut (the student reads the first 512)"
    )
    assert truncation_warning([10, 64], 64, 512, "x") is None


def test_filter_keeps_long_filings_by_default(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    rows = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    rows[0]["text"] = "The company said profit rose. " + "Revenue grew in every segment this year. " * 120
    assert len(rows[0]["text"]) > 4000
    (run / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert filter_main(["--run", str(run), "--no-progress", "--min-confidence", "0"]) == 0
    kept = {json.loads(line)["id"] for line in (run / "filtered.jsonl").read_text().splitlines()}
    assert rows[0]["id"] in kept
