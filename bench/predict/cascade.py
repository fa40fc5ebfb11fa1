"""Cascade benchmark: accuracy and cost as predict defers 0 -> 100% of the test items to the teacher.

Students come from ``bench/predict/students.py`` (trained on the training side only). Per setting:
1. ``predict --calibrate DEV`` picks the threshold on the dev split (gold labels, teacher answers cached in
   the run's ledger) for a target taken from the teacher's own dev accuracy: PhraseBank, the teacher's
   accuracy; FOMC, 95% of GPT-4's.
2. On the test split: the student alone (``predict``), the teacher on every item (``predict
   --defer-fraction 1``), the curve over deferral rates (deferring the least confident test items, as
   ``--defer-fraction F`` does on a one-chunk file), and ``predict --defer-to`` with the dev threshold.

Costs: the teacher's from the ledger (its token counts priced at gpt-4o list prices through the model
name); the student's from its measured time at $0.10 per CPU-hour.

    python bench/predict/cascade.py --setting phrasebank
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "bench", ROOT / "bench" / "predict"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from students import RUNS, TEACHERS, split, teacher_server  # noqa: E402

from llmkd.evaluation.metrics import usd_per_1000_from_seconds  # noqa: E402
from llmkd.evaluation.selective import cascade_points, cascade_table  # noqa: E402
from llmkd.predict import main as predict_main  # noqa: E402
from llmkd.run.files import read_jsonl  # noqa: E402
from llmkd.run.ledger import RunLedger  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TARGET_SHARE = {"phrasebank": 1.0, "fomc": 0.95}  # of the teacher's dev accuracy
CPU_USD_PER_HOUR = 0.10


def predict(run: Path, *flags: str) -> None:
    assert predict_main(["--run", str(run), "--id-column", "id", "--no-progress", *flags]) == 0


def accuracy(rows: list[dict[str, Any]], gold: dict[str, str]) -> float:
    return float(np.mean([row["label"] == gold[row["id"]] for row in rows]))


def teacher_usd_per_item(run: Path, ids: set[str]) -> float:
    """Mean ledger dollars per item over the items of ``ids`` the teacher answered."""
    spent, seen = 0.0, set()
    with RunLedger(run / "ledger.sqlite") as ledger:
        for row in ledger.rows():
            if row.item_id in ids:
                spent += float(row.output.cost_usd or 0.0)
                seen.add(row.item_id)
    return spent / max(len(seen), 1)


def calibrate(run: Path, dev: Path, flags: list[str], setting: str) -> dict[str, Any]:
    """Two --calibrate passes on dev: the first learns the teacher's dev accuracy, the second (answers from
    the ledger) picks the threshold for the target."""
    predict(run, "--calibrate", str(dev), *flags, "--max-defer-cost", "1000000")
    teacher_dev = json.loads((run / "predict_threshold.json").read_text())["teacher_accuracy"]
    target = TARGET_SHARE[setting] * teacher_dev
    predict(run, "--calibrate", str(dev), *flags, "--target-accuracy", f"{target:.6f}")
    saved = json.loads((run / "predict_threshold.json").read_text())
    return {"teacher_dev_accuracy": teacher_dev, "target_accuracy": target, **saved}


def run_setting(setting: str, run: Path) -> dict[str, Any]:
    _, dev, test = split(setting)
    gold = {r["id"]: r["label"] for r in read_jsonl(test)}
    out = RUNS / f"{setting}-predict"
    out.mkdir(parents=True, exist_ok=True)
    with teacher_server(setting) as server:
        flags = ["--defer-to", TEACHERS[setting], "--base-url", f"http://127.0.0.1:{server.port}/v1"]
        chosen = calibrate(run, dev, flags, setting)
        started = time.perf_counter()
        predict(run, "--input", str(test), "--output", str(out / "student.jsonl"))
        student_s = (time.perf_counter() - started) / len(gold)
        predict(
            run, "--input", str(test), "--output", str(out / "teacher.jsonl"), *flags, "--defer-fraction", "1"
        )
        predict(run, "--input", str(test), "--output", str(out / "cascade.jsonl"), *flags)
    student = list(read_jsonl(out / "student.jsonl"))
    teacher = list(read_jsonl(out / "teacher.jsonl"))
    cascade = list(read_jsonl(out / "cascade.jsonl"))
    t_usd = teacher_usd_per_item(run, set(gold))
    s_usd = usd_per_1000_from_seconds(student_s, CPU_USD_PER_HOUR) / 1000.0
    points = cascade_points(
        [r["confidence"] for r in student],
        [r["label"] == gold[r["id"]] for r in student],
        [r["label"] == gold[r["id"]] and r["answered_by"] != "student" for r in teacher],
        t_usd,
        s_usd,
    )
    deferred = sum(r["answered_by"] != "student" for r in cascade)
    teacher_only = points[-1]
    return {
        "setting": setting,
        "run": str(run.relative_to(ROOT)),
        "teacher": TEACHERS[setting],
        "n_test": len(gold),
        "test_file": str(test.relative_to(ROOT)),
        "dev_file": str(dev.relative_to(ROOT)),
        "student_accuracy": points[0].accuracy,
        "teacher_accuracy": teacher_only.accuracy,
        "teacher_usd_per_1000": 1000 * t_usd,
        "student_usd_per_1000": 1000 * s_usd,
        "curve": [p.to_json() for p in cascade_table(points, RATES)],
        "dev_threshold": {
            "target_accuracy_on_dev": chosen["target_accuracy"],
            "teacher_dev_accuracy": chosen["teacher_dev_accuracy"],
            "threshold": chosen["threshold"],
            "dev_defer_rate": chosen["chosen"]["defer_rate"],
            "dev_accuracy": chosen["chosen"]["accuracy"],
            "test_defer_rate": deferred / len(cascade),
            "test_accuracy": accuracy(cascade, gold),
            "test_usd_per_1000": 1000 * (s_usd + t_usd * deferred / len(cascade)),
            "test_cost_share_of_teacher_only": (s_usd + t_usd * deferred / len(cascade)) / (t_usd or 1.0),
        },
        "least_deferral_reaching": least_deferral(points, setting),
    }


def least_deferral(points: list[Any], setting: str) -> dict[str, Any] | None:
    """On test, the least deferral whose accuracy reaches the issue's target (the curve's reading, not a
    threshold choice)."""
    goal = TARGET_SHARE[setting] * points[-1].accuracy
    hit = next((p for p in points if p.accuracy >= goal - 1e-12), None)
    if hit is None:
        return None
    return {
        "goal_accuracy": goal,
        **hit.to_json(),
        "cost_share_of_teacher_only": hit.usd_per_1000 / points[-1].usd_per_1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=["fomc", "phrasebank"], required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--run", type=Path, default=None, help="the student's run (default: runs/SETTING-student)"
    )
    parser.add_argument("--note", default="", help="what the results JSON should say about the student")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = run_setting(args.setting, (args.run or RUNS / f"{args.setting}-student").resolve())
    result["student_note"] = args.note
    result["commit"] = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": args.threads,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"cascade-{args.setting}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=2))
    for p in result["curve"]:
        print(
            f"defer {p['defer_rate']:.0%}: accuracy {p['accuracy']:.3f}, ${p['usd_per_1000']:.4f} per 1,000"
        )


if __name__ == "__main__":
    main()
