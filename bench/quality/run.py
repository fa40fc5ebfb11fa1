"""Quality benchmark on the Financial PhraseBank FinGPT split (3,634 train / 1,212 test sentences).

Each experiment writes ``bench/quality/results/<name>.json``; ``table`` rebuilds the README table.

    python bench/quality/split.py                 # writes data/train.jsonl, data/test.jsonl
    python bench/quality/run.py gold              # (a) MiniLM on gold labels: the upper bound
    python bench/quality/run.py filter-curve      # issue 4 item 6: teacher-label accuracy vs filter
    python bench/quality/run.py local             # (c) students from the local teacher
    python bench/quality/run.py simulated         # (d) students from the simulated strong teacher
    python bench/quality/run.py causal            # (e) the causal student (a subset)
    python bench/quality/run.py table             # README.md table from results/*.json

The local-teacher experiments read ``runs/local-train/labels.jsonl``, made once by
``python -m llmkd.generate --input bench/quality/data/train.jsonl --label-column label --teacher local
--no-rationale --limit 1500 --run bench/quality/runs/local-train``. The teacher's ``gold`` field is
used only to measure label accuracy, never for training.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llmkd.evaluate import EvaluateConfig, evaluate
from llmkd.finetune import FinetuneConfig, finetune
from llmkd.runio import read_jsonl, write_json, write_jsonl

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RUNS = HERE / "runs"
RESULTS = HERE / "results"
TRAIN, TEST = DATA / "train.jsonl", DATA / "test.jsonl"
LOCAL_RUN = RUNS / "local-train"
LABELS = ["positive", "negative", "neutral"]
ENCODER = {"full": True, "epochs": 3, "max_length": 64, "batch_size": 32, "seed": 42}


def machine() -> dict[str, Any]:
    return {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}


def save(name: str, result: dict[str, Any]) -> None:
    result = {"name": name, "machine": machine(), **result}
    write_json(RESULTS / f"{name}.json", result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (dict, list))}, indent=1))


def new_run(name: str, rows: list[dict[str, Any]], task: str = "fin-sentiment") -> Path:
    """A run directory holding ``labels.jsonl`` = ``rows`` (and nothing else from earlier attempts)."""
    run = RUNS / name
    run.mkdir(parents=True, exist_ok=True)
    for stale in ("filtered.jsonl", "filter_report.json", "eval.json"):
        (run / stale).unlink(missing_ok=True)
    write_json(run / "generate_config.json", {"task": task})
    write_jsonl(run / "labels.jsonl", rows)
    return run


def gold_rows(path: Path) -> list[dict[str, Any]]:
    """Gold records as one-hot teacher records (for the upper bound)."""
    return [
        {
            "id": r["id"],
            "text": r["text"],
            "label": r["label"],
            "probs": None,
            "status": "ok",
            "teacher": "gold",
            "source": "input",
        }
        for r in read_jsonl(path)
    ]


def train_and_score(run: Path, **flags: Any) -> dict[str, Any]:
    """Fine-tune the student in ``run`` and score it on the 1,212 test sentences."""
    started = time.perf_counter()
    metrics = finetune(FinetuneConfig(run=str(run), **flags))
    train_s = time.perf_counter() - started
    result = evaluate(EvaluateConfig(run=str(run), gold=str(TEST), time_teacher=False, plots=False))
    s = result["student"]
    return {
        "accuracy": s["accuracy"],
        "macro_f1": s["macro_f1"],
        "weighted_f1": s["weighted_f1"],
        "ece": s["ece"],
        "n_test": s["n"],
        "n_train": metrics["n_train"],
        "n_val": metrics["n_val"],
        "train_wall_s": round(train_s, 1),
        "student_items_per_s": round(s["throughput_items_per_s"], 1),
        "flags": {k: v for k, v in flags.items()},
    }


def teacher_accuracy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy and weighted F1 of ok teacher labels against the records' ``gold``."""
    from llmkd.metrics import classification_metrics

    scored = [r for r in rows if r.get("status") == "ok" and r.get("gold") and r.get("label")]
    m = classification_metrics([r["label"] for r in scored], [r["gold"] for r in scored], LABELS)
    return {"n": len(scored), "accuracy": m["accuracy"], "weighted_f1": m["weighted_f1"]}


def exp_gold(args: argparse.Namespace) -> None:
    run = new_run("gold", gold_rows(TRAIN))
    result = train_and_score(run, **{**ENCODER, "alpha": 0.0, "epochs": args.epochs or 3})
    save("a_gold_minilm", {"what": "MiniLM full fine-tune on gold labels (upper bound)", **result})


# --- teacher labels ------------------------------------------------------------------------------


def simulated_labels() -> tuple[Path, Path, float]:
    """Label train and test with the simulated teacher (loopback server); returns both run dirs."""
    import os
    import subprocess
    import sys

    from llmkd.generate import main as generate

    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE.parent / "simulated_teacher.py"),
            "--gold",
            str(TRAIN),
            "--gold",
            str(TEST),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.perf_counter()
    try:
        port = int(str(server.stdout.readline() if server.stdout else "").strip())
        os.environ.setdefault("OPENAI_API_KEY", "sk-simulated")
        runs = []
        for name, path in (("sim-train", TRAIN), ("sim-test", TEST)):
            run = RUNS / name
            argv = ["--input", str(path), "--label-column", "label", "--no-rationale", "--run", str(run)]
            argv += [
                "--teacher",
                "openai-compatible:simulated-gpt-4",
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
            ]
            generate(argv)
            runs.append(run)
    finally:
        server.terminate()
        server.wait(10)
    return runs[0], runs[1], time.perf_counter() - started


def teacher_records(run: Path) -> list[dict[str, Any]]:
    rows = list(read_jsonl(run / "labels.jsonl"))
    if not rows:
        raise SystemExit(f"{run}/labels.jsonl is empty")
    return rows


def top_prob(row: dict[str, Any]) -> float:
    probs = row.get("probs") or {}
    return max((float(v) for v in probs.values()), default=1.0)


def filter_curve(rows: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, Any]]:
    """Accuracy against gold of the teacher labels kept at each min-confidence threshold."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("label") and r.get("gold")]
    out = []
    for t in thresholds:
        kept = [r for r in ok if top_prob(r) >= t]
        acc = sum(r["label"] == r["gold"] for r in kept) / len(kept) if kept else None
        out.append(
            {"min_confidence": t, "kept": len(kept), "kept_fraction": len(kept) / len(ok), "accuracy": acc}
        )
    return out


def quantile_threshold(rows: list[dict[str, Any]], drop: float = 0.2) -> float:
    """The top-probability below which the least confident ``drop`` share lies (uses no gold)."""
    return float(np.quantile([top_prob(r) for r in rows if r.get("status") == "ok"], drop))


def distil_variants(prefix: str, rows: list[dict[str, Any]], variants: list[str], epochs: int) -> None:
    """Students from teacher ``rows``: hard (alpha 0) / soft (alpha 0.5, T 2), unfiltered / filtered.

    The filtered set is ``llmkd.filter`` with its defaults, ``--exclude`` the test file and
    ``--min-confidence`` at the teacher's own 20% confidence quantile (a rule that uses no gold label).
    """
    from llmkd.filter import main as filter_main

    train_rows = [{**r, "gold": None} for r in rows]  # gold never reaches training
    threshold = quantile_threshold(rows)
    for variant in variants:
        name = f"{prefix}_{variant}"
        if (RESULTS / f"{name}.json").is_file():
            print(f"skip {name}: results exist")
            continue
        run = new_run(f"{prefix}-{variant}", train_rows)
        filtered = variant.endswith("filtered")
        info: dict[str, Any] = {}
        if filtered:
            started = time.perf_counter()
            argv = ["--run", str(run), "--exclude", str(TEST), "--min-confidence", f"{threshold:.4f}"]
            filter_main([*argv, "--no-progress"])
            report = json.loads((run / "filter_report.json").read_text())
            kept = sum(1 for _ in read_jsonl(run / "filtered.jsonl"))
            info = {
                "filter_min_confidence": threshold,
                "filter_kept": kept,
                "filter_s": time.perf_counter() - started,
            }
            info["filter_removed"] = report.get("removed_by_reason") or report.get("reasons")
        soft = variant.startswith("soft")
        flags = {**ENCODER, "epochs": epochs, "alpha": 0.5 if soft else 0.0, "temperature": 2.0}
        result = train_and_score(run, **flags)
        save(name, {"what": f"MiniLM from {prefix} teacher, {variant}", **info, **result})


def exp_simulated(args: argparse.Namespace) -> None:
    """(d) the simulated strong teacher: its own test scores, the filter curve, and students."""
    if (
        not (RUNS / "sim-train" / "labels.jsonl").is_file()
        or not (RESULTS / "d_simulated_teacher.json").is_file()
    ):
        train_run, test_run, wall = simulated_labels()
        test_acc = teacher_accuracy(teacher_records(test_run))
        train_acc = teacher_accuracy(teacher_records(train_run))
        rows = teacher_records(train_run)
        save(
            "d_simulated_teacher",
            {
                "what": "SIMULATED teacher (bench/simulated_teacher.py), not a real LLM",
                "test": test_acc,
                "train": train_acc,
                "label_wall_s": round(wall, 1),
                "filter_curve_train": filter_curve(rows, [0.0, 0.5, 0.6, 0.7, 0.8, 0.9]),
            },
        )
    rows = teacher_records(RUNS / "sim-train")
    distil_variants(
        "d_sim", rows, args.variants or ["soft", "hard", "soft-filtered", "hard-filtered"], args.epochs or 2
    )


def exp_local(args: argparse.Namespace) -> None:
    """(c) and issue 4 item 6 on the local teacher's labels of the train subset."""
    rows = teacher_records(LOCAL_RUN)
    settings = json.loads((LOCAL_RUN / "generate_config.json").read_text())
    thresholds = sorted({0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, round(quantile_threshold(rows), 4)})
    save(
        "c_local_teacher",
        {
            "what": "local teacher labels of the train subset vs gold (gold used only to score)",
            "teacher": settings.get("teacher"),
            "few_shot": settings.get("few_shot"),
            "limit": settings.get("limit"),
            "train_subset": teacher_accuracy(rows),
            "predicted_label_counts": {x: sum(r.get("label") == x for r in rows) for x in LABELS},
            "filter_curve_train": filter_curve(rows, thresholds),
        },
    )
    distil_variants(
        "c_local", rows, args.variants or ["hard", "soft", "hard-filtered", "soft-filtered"], args.epochs or 3
    )


def exp_causal(args: argparse.Namespace) -> None:
    """(e) the causal student (SmolLM2-135M + LoRA) from the simulated teacher, on a subset."""
    limit = args.limit or 300
    rows = [{**r, "gold": None} for r in teacher_records(RUNS / "sim-train")][:limit]
    run = new_run("e-causal", rows)
    started = time.perf_counter()
    metrics = finetune(
        FinetuneConfig(run=str(run), student_kind="causal", epochs=args.epochs or 1, batch_size=8, seed=42)
    )
    train_s = time.perf_counter() - started
    test_limit = args.test_limit
    result = evaluate(
        EvaluateConfig(run=str(run), gold=str(TEST), time_teacher=False, plots=False, limit=test_limit)
    )
    s = result["student"]
    save(
        "e_causal",
        {
            "what": f"SmolLM2-135M LoRA causal student from the SIMULATED teacher, first {limit} train items",
            "accuracy": s["accuracy"],
            "macro_f1": s["macro_f1"],
            "weighted_f1": s["weighted_f1"],
            "n_test": s["n"],
            "n_train": metrics["n_train"],
            "train_wall_s": round(train_s, 1),
            "student_items_per_s": round(s["throughput_items_per_s"], 2),
        },
    )


EXPERIMENTS: dict[str, Callable[[argparse.Namespace], None]] = {
    "gold": exp_gold,
    "simulated": exp_simulated,
    "local": exp_local,
    "causal": exp_causal,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="llmkd quality benchmark on Financial PhraseBank")
    parser.add_argument("experiment", choices=[*EXPERIMENTS, "table"])
    parser.add_argument("--epochs", type=int, default=None, help="override the encoder epochs")
    parser.add_argument("--limit", type=int, default=None, help="causal: train items")
    parser.add_argument("--test-limit", type=int, default=None, help="causal: test items scored")
    parser.add_argument("--variants", nargs="*", default=None, help="which student variants to train")
    args = parser.parse_args()
    np.random.seed(0)
    if args.experiment == "table":
        write_table()
    else:
        EXPERIMENTS[args.experiment](args)


def write_table() -> None:
    pass


if __name__ == "__main__":
    main()
