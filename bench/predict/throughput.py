"""predict's throughput and peak memory as the row count grows (target: memory flat in the row count).

Generated CSV files of financial-news-like sentences (templates with random figures, seeded) of several
sizes go through ``python -m llmkd.predict`` in a fresh process each; the peak RSS of that process comes
from ``os.wait4``. Two students:
- ``tiny``: a random-weight BERT (hidden 32, 2 layers, ``tests/tiny_models.py``): the plumbing (reading,
  tokenising, writing, chunking) at 10k / 100k / 1M rows, where the model costs next to nothing;
- ``minilm``: the default MiniLM-L6 student architecture (its classification head untrained: the speed
  does not depend on the weights) at a smaller count, for the rate a real student reaches.

    python bench/predict/throughput.py --student tiny --rows 10000 100000 1000000
    python bench/predict/throughput.py --student minilm --rows 2000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llmkd.models.embedded import minilm_path  # noqa: E402
from tests.tiny_models import make_tiny_bert  # noqa: E402
from tests.tiny_runs import save_encoder_student  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS, RESULTS = HERE / "runs", HERE / "results"
COMPANIES = ["Nokia", "Kone", "Fortum", "Wartsila", "Outokumpu", "Stora Enso", "UPM", "Sampo", "Neste"]
TEMPLATES = [
    "{c} said operating profit rose to EUR {x} mn from EUR {y} mn a year earlier.",
    "{c} cut {n} jobs after net sales fell by {p} percent in the quarter.",
    "{c} will hold its annual general meeting on {d} May in Helsinki.",
    "Shares in {c} jumped {p} percent after the company raised its full-year outlook.",
    "{c} reported a pre-tax loss of EUR {x} mn, compared with a profit of EUR {y} mn.",
    "The board of {c} proposes a dividend of EUR 0.{n} per share.",
]


def make_rows(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` generated rows (columns id, text) written to ``path`` once."""
    if path.is_file():
        return path
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(n):
            text = rng.choice(TEMPLATES).format(
                c=rng.choice(COMPANIES),
                x=rng.randint(1, 900),
                y=rng.randint(1, 900),
                n=rng.randint(10, 99),
                p=rng.randint(1, 40),
                d=rng.randint(1, 28),
            )
            writer.writerow([f"r{i}", text])
    tmp.rename(path)
    return path


def student_run(kind: str) -> Path:
    """A run folder holding a ``kind`` student (built once)."""
    run = RUNS / f"throughput-{kind}"
    if not (run / "student" / "config.json").is_file():
        base = make_tiny_bert(RUNS / "tiny-bert") if kind == "tiny" else minilm_path()
        save_encoder_student(run / "student", base)
        (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}), encoding="utf-8")
    return run


def run_predict(
    run: Path, rows: Path, out: Path, batch_size: int, chunk_rows: int, threads: int
) -> dict[str, Any]:
    """One predict process; its wall time, peak RSS (``os.wait4``) and the items/s it reports."""
    command = [sys.executable, "-m", "llmkd.predict", "--run", str(run), "--input", str(rows)]
    command += ["--output", str(out), "--id-column", "id", "--batch-size", str(batch_size)]
    command += ["--chunk-rows", str(chunk_rows), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    stdout = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"predict failed ({process.returncode}): {stdout}")
    rate = re.search(r"(\d+) items/s", stdout)
    return {
        "wall_s": round(wall, 1),
        "items_per_s_scoring": int(rate.group(1)) if rate else None,
        "items_per_s_wall": None,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "output_mib": round(out.stat().st_size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", choices=["tiny", "minilm"], default="tiny")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 tiny, 32 minilm")
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    batch = args.batch_size or (256 if args.student == "tiny" else 32)
    run = student_run(args.student)
    results = []
    for n in args.rows:
        rows = make_rows(RUNS / "data" / f"rows-{n}.csv", n)
        one = {
            "rows": n,
            **run_predict(
                run, rows, RUNS / f"out-{args.student}-{n}.parquet", batch, args.chunk_rows, args.threads
            ),
        }
        one["items_per_s_wall"] = round(n / one["wall_s"], 1)
        one["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(one))
        results.append(one)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    report = {
        "benchmark": "predict throughput and peak RSS vs row count",
        "student": args.student,
        "student_note": "random-weight tiny BERT (hidden 32, 2 layers): plumbing only"
        if args.student == "tiny"
        else "MiniLM-L6 encoder student architecture (untrained head; speed does not depend on weights)",
        "settings": {
            "batch_size": batch,
            "chunk_rows": args.chunk_rows,
            "threads": args.threads,
            "output": "parquet",
        },
        "input": "generated CSV rows (id, text), seeded templates",
        "results": results,
        "commit": commit,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"throughput-{args.student}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
