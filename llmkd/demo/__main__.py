"""``python -m llmkd.demo`` (what ``make demo`` runs): the whole pipeline on the embedded defaults.

Two local teachers, the embedded SmolLM2-135M-Instruct and llmkd's finance lexicon, label the team-written
demo sample; the filter drops duplicates and near-copies of the gold set; a MiniLM-L6 student is distilled
with LoRA from the teachers' averaged labels; teachers and student are scored on the hand-labelled set.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from llmkd import evaluate, filter, finetune, generate
from llmkd.cli import run_cli
from llmkd.io.paths import demo_dir


def _stage(name: str, main: Callable[[list[str]], int], argv: list[str], timings: dict[str, float]) -> None:
    print(f"\n=== {name}: python -m llmkd.{name.split()[0]} {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    code = main(argv)
    timings[name] = time.perf_counter() - start
    if code:
        raise SystemExit(code)


DEFAULT_TEACHERS = ["local", "lexicon"]


def run_demo(run_dir: Path, epochs: int, teachers: list[str]) -> dict[str, float]:
    data = demo_dir()
    teacher_flags = [flag for spec in teachers for flag in ("--teacher", spec)]
    several = len(teachers) > 1
    train, gold = str(data / "train.csv"), str(data / "eval.csv")
    teacher_on_gold = run_dir / "teacher-on-gold"
    timings: dict[str, float] = {}
    # Short rationales keep the demo quick on a laptop; the encoder student learns from the soft labels.
    _stage(
        "generate",
        generate.main,
        [
            "--input",
            train,
            "--id-column",
            "id",
            *teacher_flags,
            "--max-new-tokens",
            "32",
            "--run",
            str(run_dir),
        ],
        timings,
    )
    _stage(
        "generate (teacher on the gold set)",
        generate.main,
        [
            "--input",
            gold,
            "--id-column",
            "id",
            "--label-column",
            "label",
            *teacher_flags,
            "--no-rationale",
            "--run",
            str(teacher_on_gold),
        ],
        timings,
    )
    # One calibrated 135M teacher is rarely sure of anything: keep its labels above 0.4 rather than 0.5.
    # With the lexicon beside it the label is the lexicon's, softened by SmolLM2 (which says "neutral" for
    # ~9 in 10 demo sentences, so training only where both agree would teach "neutral" alone).
    policy = [] if several else ["--min-confidence", "0.4"]
    _stage("filter", filter.main, ["--run", str(run_dir), "--exclude", gold, *policy], timings)
    _stage("finetune", finetune.main, ["--run", str(run_dir), "--epochs", str(epochs)], timings)
    _stage(
        "evaluate",
        evaluate.main,
        [
            "--run",
            str(run_dir),
            "--gold",
            gold,
            "--id-column",
            "id",
            "--teacher-labels",
            str(teacher_on_gold / "labels.jsonl"),
        ],
        timings,
    )
    return timings


def print_summary(run_dir: Path, timings: dict[str, float], wall: float) -> None:
    """How long each stage took and where the report is (evaluate has just printed the scores)."""
    print("\n=== llmkd demo: the scores above are on llmkd/demo/eval.csv, 150 hand-labelled sentences")
    print("stage times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) + f"; total {wall:.0f}s")
    print(f"report: {run_dir / 'report.md'} and {run_dir / 'report.html'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmkd.demo", description=__doc__)
    parser.add_argument("--run", default="artifacts/demo", help="Run directory for the demo.")
    parser.add_argument("--epochs", type=int, default=8, help="Student training epochs.")
    parser.add_argument(
        "--teacher",
        action="append",
        help="a teacher spec as in llmkd.generate (repeatable; default: local and lexicon, their labels "
        "averaged; with one teacher, only its labels above 0.4 confidence are kept)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    timings = run_demo(Path(args.run), args.epochs, args.teacher or DEFAULT_TEACHERS)
    print_summary(Path(args.run), timings, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
