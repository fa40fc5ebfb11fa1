"""Training with a gold seed: part of it is trained on, the rest selects the model; auto epochs on small data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.errors import RunError
from llmkd.finetune import main
from llmkd.training.config import MAX_AUTO_EPOCHS, FinetuneConfig
from llmkd.training.data import Example, repeated, stratified_split

LABELS = ["positive", "negative", "neutral"]
WORDS = {"positive": "profit rose", "negative": "profit fell", "neutral": "meeting held"}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def seeded_run(root: Path, n_teacher: int = 30, n_seed: int = 12) -> Path:
    """Teacher labels that call everything neutral, and a gold seed with the true labels."""
    run = root / "run"
    run.mkdir()
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}))
    teacher = [
        {
            "id": f"t{i}",
            "text": f"item {i}: {WORDS[LABELS[i % 3]]}",
            "label": "neutral",
            "probs": None,
            "status": "ok",
        }
        for i in range(n_teacher)
    ]
    seed = [
        {"id": f"s{i}", "text": f"seed {i}: {WORDS[LABELS[i % 3]]}", "label": LABELS[i % 3]}
        for i in range(n_seed)
    ]
    teacher.append({**teacher[0], "id": "dup", "text": seed[0]["text"]})  # a seed text the teacher also saw
    write_jsonl(run / "labels.jsonl", teacher)
    write_jsonl(run / "gold_seed.jsonl", seed)
    return run


def test_auto_epochs_scale_with_the_data() -> None:
    config = FinetuneConfig(run="r")
    assert config.epochs_for(10_000) == 3
    assert config.epochs_for(320) == 15  # 10 steps per epoch -> 15 epochs for 150 steps
    assert config.epochs_for(20) == MAX_AUTO_EPOCHS
    assert FinetuneConfig(run="r", epochs=2).epochs_for(20) == 2


def test_stratified_split_and_repeats() -> None:
    examples = [Example(text=str(i), label=i % 3, probs=[1 / 3] * 3) for i in range(12)]
    rest, held = stratified_split(examples, 0.5, seed=0)
    assert sorted(e.label for e in held) == [0, 0, 1, 1, 2, 2]
    assert {e.text for e in rest} | {e.text for e in held} == {e.text for e in examples}
    assert len(repeated(rest, 2.0, 0)) == 12
    assert len(repeated(rest, 1.5, 0)) == 9


def test_seed_trains_and_selects(tmp_path: Path, tiny_bert_dir: Path) -> None:
    run = seeded_run(tmp_path)
    args = ["--run", str(run), "--student", str(tiny_bert_dir), "--batch-size", "8", "--epochs", "2"]
    assert main([*args, "--gold-weight", "2"]) == 0
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["selected_on"] == "gold seed"
    assert (metrics["n_seed_train"], metrics["n_seed_dev"]) == (6, 6)
    assert metrics["n_val"] == 6
    assert metrics["n_train"] == 30 + 2 * 6  # the teacher's copy of a seed text is dropped
    assert "held_out_accuracy" in metrics and isinstance(metrics["warnings"], list)
    assert main([*args, "--no-gold-seed"]) == 0
    plain = json.loads((run / "finetune_metrics.json").read_text())
    assert plain["selected_on"] == "teacher labels"
    assert plain["n_train"] + plain["n_val"] == 31


def test_seed_only_student(tmp_path: Path, tiny_bert_dir: Path) -> None:
    run = seeded_run(tmp_path)
    assert main(["--run", str(run), "--student", str(tiny_bert_dir), "--seed-only", "--epochs", "1"]) == 0
    assert (run / "student-seed-only" / "config.json").is_file()
    assert not (run / "finetune_metrics.json").exists()  # the run's own student is described there
    metrics = json.loads((run / "student-seed-only" / "finetune_metrics.json").read_text())
    assert metrics["n_train"] == 6 and metrics["source"] == "gold_seed.jsonl"
    (run / "gold_seed.jsonl").unlink()
    with pytest.raises(RunError, match=r"gold_seed\.jsonl: missing"):
        main(["--run", str(run), "--student", str(tiny_bert_dir), "--seed-only"])


def test_evaluate_shows_teacher_seed_only_and_distilled_student(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from llmkd.evaluate import main as evaluate_main

    run = seeded_run(tmp_path)
    args = ["--run", str(run), "--student", str(tiny_bert_dir), "--epochs", "1"]
    assert main(args) == 0 and main([*args, "--seed-only"]) == 0
    gold = tmp_path / "test.jsonl"
    write_jsonl(
        gold, [{"text": f"test {i}: {WORDS[label]}", "label": label} for i, label in enumerate(LABELS * 2)]
    )
    assert evaluate_main(["--run", str(run), "--gold", str(gold), "--no-time-teacher", "--no-plots"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["seed_only_student"]["n"] == 6 and result["student"]["n"] == 6
    report = (run / "report.md").read_text()
    assert "teacher, seed-only student, distilled student" in report
    assert "| seed-only student |" in report


def test_causal_student_trains_and_selects_on_the_seed(tmp_path: Path, tiny_llama: Path) -> None:
    run = seeded_run(tmp_path, n_teacher=9, n_seed=6)
    args = ["--run", str(run), "--student-kind", "causal", "--student", str(tiny_llama), "--epochs", "1"]
    assert main([*args, "--batch-size", "4", "--rationale-weight", "0"]) == 0
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["selected_on"] == "gold seed" and metrics["n_seed_dev"] == 3
    assert metrics["held_out_scored"] == 3
