"""A stage refuses an input that an earlier stage has since rewritten (RUN/lineage.json), naming the command
that brings it up to date; reruns of the same command stay accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.errors import RunError
from llmkd.evaluate import main as evaluate_main
from llmkd.export import main as export_main
from llmkd.filter import main as filter_main
from llmkd.finetune import main as finetune_main
from llmkd.generate import main as generate_main
from tests.tiny_runs import LABELS, PHRASES

ROOT = Path(__file__).resolve().parents[1]


def write_input(path: Path) -> None:
    lines = ["text,label"]
    for i in range(24):
        label = LABELS[i % 3]
        lines.append(f"the company said {PHRASES[label][i % 5]} in period {i},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_generate_with_another_teacher_after_filter_makes_finetune_refuse(
    tmp_path: Path, tiny_llama: Path, tiny_bert_dir: Path
) -> None:
    write_input(tmp_path / "in.csv")
    run = tmp_path / "run"
    generate = ["--input", str(tmp_path / "in.csv"), "--label-column", "label", "--run", str(run)]
    assert generate_main([*generate, "--teacher", "lexicon"]) == 0
    assert filter_main(["--run", str(run), "--min-confidence", "0", "--no-progress"]) == 0
    other = ["--teacher", f"hf:{tiny_llama}", "--batch-size", "8", "--no-rationale"]
    assert generate_main([*generate, *other]) == 0  # labels.jsonl rewritten; filtered.jsonl is the old one

    student = ["--run", str(run), "--student", str(tiny_bert_dir), "--epochs", "1", "--full"]
    done = subprocess.run(
        [sys.executable, "-m", "llmkd", "finetune", *student],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {run / 'filtered.jsonl'} was made from an older labels.jsonl; rerun `llmkd filter --run {run}`"
    )
    assert not (run / "student").exists()
    with pytest.raises(RunError, match=r"filtered\.jsonl was made from an older labels\.jsonl"):
        export_main(["--run", str(run), "--format", "jsonl"])

    assert filter_main(["--run", str(run), "--min-confidence", "0", "--no-progress"]) == 0  # the refresh
    assert finetune_main(student) == 0
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["teachers"] and "lexicon" not in metrics["teachers"]

    # Filtering again with another policy leaves the student behind: evaluate refuses it.
    assert (
        filter_main(["--run", str(run), "--min-confidence", "0", "--max-per-label", "5", "--no-progress"])
        == 0
    )
    (tmp_path / "gold.csv").write_text(
        "text,label\nthe company said profit rose,positive\n", encoding="utf-8"
    )
    with pytest.raises(RunError) as exc:
        evaluate_main(
            ["--run", str(run), "--gold", str(tmp_path / "gold.csv"), "--no-plots", "--no-time-teacher"]
        )
    assert str(exc.value) == (
        f"{run / 'student'} was made from an older filtered.jsonl; rerun `llmkd finetune --run {run}`"
    )


def test_rerunning_the_same_generate_keeps_later_outputs_valid(tmp_path: Path) -> None:
    write_input(tmp_path / "in.csv")
    run = tmp_path / "run"
    generate = ["--input", str(tmp_path / "in.csv"), "--teacher", "lexicon", "--run", str(run)]
    assert generate_main(generate) == 0
    assert filter_main(["--run", str(run), "--no-progress"]) == 0
    assert generate_main(generate) == 0  # resumed: the same labels, a newer file
    assert export_main(["--run", str(run), "--format", "jsonl"]) == 0
