"""Load test: 100,000 items through the generate CLI's OpenAI path against a loopback server with 10% faults.

The server (own process, so it does not share the client's GIL) answers 10% of requests with a fault:
2% HTTP 429 with retry-after-ms, 3% HTTP 500, 2% HTTP 503, 2% truncated/malformed JSON, 1% a label
outside the task's set. The client is ``llmkd.generate.run_generate`` exactly as the CLI runs it
(``--teacher openai-compatible:loopback --base-url ... --no-rationale``): reader, RunLedger, retries,
re-asks, labels.jsonl. Counted afterwards: items lost (input ids missing from labels.jsonl, or with no
ledger row), duplicates (repeated ids in labels.jsonl, items with two ledger rows), invalid records,
faults the server injected, peak RSS of the client (and of the server).

Run: ``.venv/bin/python bench/load_100k.py [--items 100000]`` (writes bench/results/load_100k.json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import platform
import random
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAULTS = {
    "rate_429": 0.02,
    "retry_after_s": 0.05,
    "rate_500": 0.03,
    "rate_503": 0.02,
    "rate_malformed": 0.02,
    "rate_out_of_set": 0.01,
}
COMPANIES = ["Kestrel", "Norvik", "Altamira", "Halvard", "Brightwater", "Solberg", "Aurora", "Vantaa"]
EVENTS = [
    "raised its outlook after profit climbed {p} percent",
    "cut {n} jobs after sales fell {p} percent",
    "will publish its report on {d} May",
    "signed a supply deal worth EUR {n} million",
    "warned that operating profit will fall by {p} percent",
    "operates {n} stores and employs {m} people",
]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def serve(faults: dict[str, float], port_queue: Any) -> None:
    """Server process: the loopback OpenAI server plus GET /v1/stats."""
    from aiohttp import web

    from tests.servers import Faults
    from tests.servers.openai_server import OpenAIServer

    class StatsServer(OpenAIServer):
        def routes(self, app: web.Application) -> None:
            super().routes(app)
            app.router.add_get("/v1/stats", self.stats)

        async def stats(self, request: web.Request) -> web.Response:
            texts = self.record.texts
            return web.json_response(
                {
                    "requests": sum(self.record.requests.values()),
                    "outcomes": dict(self.record.outcomes),
                    "distinct_texts_answered": len(texts),
                    "texts_answered_more_than_once": sum(1 for c in texts.values() if c > 1),
                    "peak_rss_mb": round(rss_mb(), 1),
                }
            )

    server = StatsServer(Faults(**faults, seed=7))  # type: ignore[arg-type]
    server.start()
    port_queue.put(server.port)
    while True:
        time.sleep(3600)


def make_input(path: Path, n: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for i in range(n):
            event = rng.choice(EVENTS).format(
                p=rng.randint(1, 90), n=rng.randint(2, 900), m=rng.randint(100, 9000), d=rng.randint(1, 28)
            )
            handle.write(f"r{i},{rng.choice(COMPANIES)} {i} {event}.\n")


class RssSampler(threading.Thread):
    """Current RSS every second (to show memory is bounded, not just its peak)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.start_time = time.perf_counter()

    def run(self) -> None:
        import psutil

        proc = psutil.Process()
        while not self.stop.wait(1.0):
            self.samples.append((time.perf_counter() - self.start_time, proc.memory_info().rss / 2**20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "load_100k.json"))
    args = parser.parse_args()

    import urllib.request

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    server = ctx.Process(target=serve, args=(FAULTS, queue), daemon=True)
    server.start()
    port = queue.get(timeout=60)
    url = f"http://127.0.0.1:{port}/v1"

    from llmkd.generate import GenerateConfig, run_generate

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        make_input(tmp_path / "items.csv", args.items)
        run = tmp_path / "run"
        config = GenerateConfig(
            input=str(tmp_path / "items.csv"),
            id_column="id",
            run=str(run),
            teacher=["openai-compatible:loopback"],
            base_url=url,
            rationale=False,
            few_shot=False,
            concurrency=args.concurrency,
            max_attempts=8,
            timeout_s=30.0,
        )
        sampler = RssSampler()
        rss_before = rss_mb()
        sampler.start()
        start = time.perf_counter()
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run_generate(config)
        seconds = time.perf_counter() - start
        sampler.stop.set()
        peak = rss_mb()

        records = [json.loads(line) for line in (run / "labels.jsonl").open(encoding="utf-8")]
        ids = [r["id"] for r in records]
        statuses = Counter(r["status"] for r in records)
        out_of_set = sum(r["label"] not in {"positive", "negative", "neutral", None} for r in records)
        expected = {f"r{i}" for i in range(args.items)}
        conn = sqlite3.connect(run / "ledger.sqlite")
        per_item = Counter(row[0] for row in conn.execute("SELECT item_id FROM requests"))
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        with urllib.request.urlopen(f"{url}/stats") as response:
            server_stats = json.loads(response.read())
    server.terminate()

    injected = {k: v for k, v in server_stats["outcomes"].items() if k != "ok"}
    result = {
        "machine": f"{platform.machine()} {mp.cpu_count()} CPUs (shared)",
        "python": platform.python_version(),
        "items": args.items,
        "concurrency": args.concurrency,
        "fault_rates": FAULTS,
        "faults_injected": sum(injected.values()),
        "faults_by_kind": injected,
        "server_requests": server_stats["requests"],
        "records_written": len(ids),
        "items_lost": len(expected - set(ids)) + len(expected - set(per_item)),
        "duplicate_records": len(ids) - len(set(ids)),
        "items_with_duplicate_ledger_rows": sum(1 for c in per_item.values() if c > 1),
        "unexpected_ids": len(set(ids) - expected),
        "status": dict(statuses),
        "labels_outside_set": out_of_set,
        "ledger_journal_mode": journal,
        "wall_s": round(seconds, 1),
        "items_per_s": round(args.items / seconds, 1),
        "client_rss_before_mb": round(rss_before, 1),
        "client_peak_rss_mb": round(peak, 1),
        "client_rss_samples_mb": [
            round(m, 1) for _, m in sampler.samples[:: max(1, len(sampler.samples) // 20)]
        ],
        "server_peak_rss_mb": server_stats["peak_rss_mb"],
        "summary": printed.getvalue().strip().splitlines()[-3:],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
