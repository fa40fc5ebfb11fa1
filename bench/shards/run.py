"""Shard throughput: 1, 2, 4 ``generate --shard I/N`` processes at once on one machine, per worker and in
total, against the loopback OpenAI server with a fixed latency and with the tiny local teacher.

Input: the first ``--items`` tweets of ``shared/data/tfns/sent_train.csv`` (training side; nothing is
chosen on it), written under ``bench/shards/runs/`` (gitignored). Every setting starts from an empty run
folder (nothing cached) and a fresh server. Each shard is its own process; wall time counts from the
start of the first process to the end of the last, start-up (imports, model load) included; CPU seconds
come from ``wait4``. The merge is timed apart.

    nice -n 5 python bench/shards/run.py            # writes bench/shards/results.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNS = HERE / "runs"
TWEETS = ROOT.parent / "shared" / "data" / "tfns" / "sent_train.csv"
sys.path.insert(0, str(ROOT))


def prepare(items: int) -> Path:
    path = RUNS / f"tweets-{items}.csv"
    RUNS.mkdir(parents=True, exist_ok=True)
    with TWEETS.open(encoding="utf-8") as handle, path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        for i, row in enumerate(csv.DictReader(handle)):
            if i >= items:
                break
            writer.writerow([row["text"]])
    return path


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "tests.servers.openai_server", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    return proc, f"http://127.0.0.1:{port}/v1"


def run_shards(count: int, args: list[str], run: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start ``count`` shard processes at once; per-shard wall, CPU and rows, and the total."""
    shutil.rmtree(run, ignore_errors=True)
    start = time.perf_counter()
    procs = []
    for index in range(count):
        cmd = [
            sys.executable,
            "-m",
            "llmkd.generate",
            *args,
            "--run",
            str(run),
            "--shard",
            f"{index}/{count}",
        ]
        procs.append(
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )
    shards = []
    for index, proc in enumerate(procs):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"shard {index}/{count} failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        rows = json.loads((run / "shards" / f"shard-{index:05d}-of-{count:05d}.json").read_text())["rows"]
        cpu = usage.ru_utime + usage.ru_stime
        shards.append({"shard": f"{index}/{count}", "items": rows, "wall_s": round(wall, 2),
                       "cpu_s": round(cpu, 2), "items_per_s": round(rows / wall, 1)})  # fmt: skip
    total = time.perf_counter() - start
    merge_start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "llmkd.generate", "--merge", "--run", str(run)], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    items = sum(s["items"] for s in shards)
    return {
        "shards": count,
        "items": items,
        "wall_s": round(total, 2),
        "items_per_s": round(items / total, 1),
        "items_per_s_per_worker": round(items / total / count, 1),
        "cpu_s": round(sum(s["cpu_s"] for s in shards), 2),
        "merge_s": round(time.perf_counter() - merge_start, 2),
        "per_shard": shards,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1200, help="tweets for the API teacher")
    parser.add_argument("--local-items", type=int, default=400, help="tweets for the tiny local teacher")
    parser.add_argument("--latency", type=float, default=0.2, help="loopback server latency per request (s)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight per shard")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    opts = parser.parse_args()
    from tests.tiny_models import make_tiny_llama

    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(OPENAI_API_KEY="sk-loopback", TOKENIZERS_PARALLELISM="false")
    load_before = os.getloadavg()
    api_input, local_input = prepare(opts.items), prepare(opts.local_items)
    results: dict[str, Any] = {"api": [], "local_tiny": []}
    for count in opts.counts:
        server, url = start_server(opts.latency)
        try:
            args = ["--input", str(api_input), "--teacher", "openai:gpt-4o-mini", "--base-url", url,
                    "--concurrency", str(opts.concurrency)]  # fmt: skip
            results["api"].append(run_shards(count, args, RUNS / f"api-{count}", env))
        finally:
            server.terminate()
            server.wait(10)
        print(json.dumps(results["api"][-1] | {"per_shard": "..."}), flush=True)
    tiny = make_tiny_llama(RUNS / "tiny-llama") if not (RUNS / "tiny-llama").is_dir() else RUNS / "tiny-llama"
    for count in opts.counts:
        args = ["--input", str(local_input), "--teacher", f"hf:{tiny}", "--max-new-tokens", "3"]
        results["local_tiny"].append(run_shards(count, args, RUNS / f"local-{count}", env))
        print(json.dumps(results["local_tiny"][-1] | {"per_shard": "..."}), flush=True)
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    results["settings"] = {
        "input": "first N tweets of shared/data/tfns/sent_train.csv (train file)",
        "items_api": opts.items, "items_local": opts.local_items, "latency_s": opts.latency,
        "concurrency_per_shard": opts.concurrency, "api_teacher": "openai:gpt-4o-mini on tests.servers.openai_server",
        "local_teacher": "hf: tiny random Llama (2 layers, hidden 32; tests/tiny_models.py), --batch-size 16",
        "commit": commit.strip(), "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "torch_threads_per_process": torch.get_num_threads(),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "nice": os.nice(0),
    }  # fmt: skip
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
