"""Class weighting, reproducibility and resuming a killed fine-tune (tiny random BERT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import TrainerCallback

from llmkd.finetune import finetune, main
from llmkd.training.config import FinetuneConfig
from llmkd.training.data import balanced_class_weights
from tests.tiny_runs import make_run

TEXTS = ["the company said profit rose", "jobs cut in the year", "the annual meeting"]


class Killed(RuntimeError):
    pass


class KillAfterFirstSave(TrainerCallback):
    """Stands in for kill -9: stop the process right after the first checkpoint is written."""

    def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        raise Killed(f"killed after step {state.global_step}")


def student_probs(run: Path) -> np.ndarray:
    from llmkd.students.encoder import load_student, predict_probs

    model, tokenizer = load_student(run / "student")
    return predict_probs(model, tokenizer, TEXTS, progress=False)


def config(run: Path, student: Path, **kw: object) -> FinetuneConfig:
    base: dict[str, object] = {"run": str(run), "student": str(student), "epochs": 2, "batch_size": 8}
    base.update(kw)
    return FinetuneConfig(**base)  # type: ignore[arg-type]


def test_balanced_class_weights_hand_values():
    assert balanced_class_weights([0, 0, 0, 1], 2) == pytest.approx([4 / 6, 2.0])
    assert balanced_class_weights([0, 2, 2, 2], 3) == pytest.approx([4 / 3, 0.0, 4 / 9])


def test_class_weights_are_recorded(tmp_path, tiny_bert_dir):
    run = make_run(tmp_path, n=30)
    args = [
        "--run",
        str(run),
        "--student",
        str(tiny_bert_dir),
        "--epochs",
        "1",
        "--class-weights",
        "balanced",
    ]
    assert main(args) == 0
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    counts = [metrics["label_counts"][label] for label in ("positive", "negative", "neutral")]
    assert sum(counts) == 30 and metrics["class_weights"] is not None
    assert all(w > 0 for w in metrics["class_weights"].values())


def test_same_seed_same_student_and_kill_then_resume(tmp_path, tiny_bert_dir, capsys):
    first = finetune(config(make_run(tmp_path / "a", n=24), tiny_bert_dir))
    again = finetune(config(make_run(tmp_path / "b", n=24), tiny_bert_dir))
    assert again["held_out_accuracy"] == first["held_out_accuracy"]
    assert again["train_loss"] == pytest.approx(first["train_loss"], rel=1e-5)
    reference = student_probs(tmp_path / "a" / "run")
    np.testing.assert_allclose(student_probs(tmp_path / "b" / "run"), reference, atol=1e-5)

    run = make_run(tmp_path / "c", n=24)
    with pytest.raises(Killed):
        finetune(config(run, tiny_bert_dir), callbacks=[KillAfterFirstSave()])
    assert not (run / "student").exists()
    assert list((run / ".checkpoints").glob("checkpoint-*"))
    resumed = finetune(config(run, tiny_bert_dir))
    assert "resuming from" in capsys.readouterr().out
    assert resumed["resumed_from"] is not None and resumed["resumed_from"].startswith("checkpoint-")
    assert resumed["held_out_accuracy"] == first["held_out_accuracy"]
    np.testing.assert_allclose(student_probs(run), reference, atol=1e-5)
    assert not (run / ".checkpoints").exists()


def test_changed_config_does_not_resume(tmp_path, tiny_bert_dir, capsys):
    run = make_run(tmp_path, n=12)
    with pytest.raises(Killed):
        finetune(config(run, tiny_bert_dir, epochs=1), callbacks=[KillAfterFirstSave()])
    finetune(config(run, tiny_bert_dir, epochs=1, lr=1e-3))
    captured = capsys.readouterr()
    assert "resuming" not in captured.out and "another config" in captured.err
