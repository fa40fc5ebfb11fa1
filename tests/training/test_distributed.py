"""Fine-tuning on two CPU processes (torchrun, gloo) trains the same student as one process, written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmkd.errors import ConfigError
from llmkd.finetune import main
from llmkd.training.distributed import per_process_batch
from tests.tiny_models import make_tiny_bert
from tests.tiny_runs import make_run

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "the company said profit rose in the year",
    "the company said jobs cut in the quarter",
    "the company said annual meeting in the year",
    "the company said shares plunge",
    "the company said record growth",
    "the company said ceo appointed",
]


def probabilities(student: Path) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForSequenceClassification.from_pretrained(student).eval()
    with torch.no_grad():
        return torch.softmax(model(**tokenizer(TEXTS, return_tensors="pt", padding=True)).logits, -1)


def training_losses(run: Path) -> list[tuple[int, float]]:
    history = json.loads((run / "finetune_metrics.json").read_text())["log_history"]
    return [(row["step"], row["loss"]) for row in history if "loss" in row]


def test_batch_splits_evenly_over_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert per_process_batch(32) == 8
    with pytest.raises(ConfigError, match="--batch-size 30 does not split over 4 processes"):
        per_process_batch(30)
    monkeypatch.delenv("WORLD_SIZE")
    assert per_process_batch(30) == 30


@pytest.mark.integration  # two processes each start torch and transformers: about 40 s on two cores
def test_two_processes_train_the_same_student_as_one(tmp_path: Path) -> None:
    bert = make_tiny_bert(tmp_path / "bert", dropout=0.0)  # no dropout: the same arithmetic in both runs
    one, two = make_run(tmp_path / "one"), make_run(tmp_path / "two")
    # 36 training items, 3 steps of 12 an epoch (6 per process): a broken split changes the step count
    args = [
        "--student",
        str(bert),
        "--epochs",
        "10",
        "--batch-size",
        "12",
        "--full",
        "--lr",
        "1e-2",
        "--patience",
        "0",
    ]
    assert main(["--run", str(one), *args]) == 0
    # accelerate's --multi_gpu launcher starts torch.distributed workers; with no GPU they train on gloo
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["-m", "llmkd.finetune", "--run", str(two), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("finetune: student saved to") == 1  # only the main process saves and reports
    assert not [p.name for p in two.iterdir() if p.name.startswith(".")]  # checkpoints and temp folders gone
    single = json.loads((one / "finetune_metrics.json").read_text())
    multi = json.loads((two / "finetune_metrics.json").read_text())
    assert single["held_out_accuracy"] == multi["held_out_accuracy"] == 1.0  # learnt, in both
    steps_one, steps_two = training_losses(one), training_losses(two)
    assert [s for s, _ in steps_one] == [s for s, _ in steps_two] and steps_one[-1][0] == 30
    assert [loss for _, loss in steps_two] == pytest.approx([loss for _, loss in steps_one], abs=1e-4)
    p_one, p_two = probabilities(one / "student"), probabilities(two / "student")
    assert (p_one.argmax(-1) == p_two.argmax(-1)).all()
    assert float((p_one - p_two).abs().max()) < 1e-3
