"""Remote-teacher throughput against a loopback OpenAI-compatible server (not a timed test).

Scenario 1: 300 ms latency per request, 1,000 items at concurrency 64, with log-probs (top 20) and every
result stored in a RunLedger as it arrives; ceiling = 64 / 0.3 s ~ 213 items/s.
Scenario 2: same server answering 10% of requests with HTTP 500 and enforcing 3,000 requests/minute with
429 + Retry-After; ceiling ~ 50 req/s x 0.9 = 45 good items/s; nothing may be lost.

Peers: with ``bench/.venv-peers`` present (``make bench-peers``: distilabel 1.5.3 and bespokelabs-curator
0.1.31, installed there only), both scenarios also run them against the same server process, sending the
same request bodies (messages, json_schema, log-probs top 20), right after llmkd.

Run: ``.venv/bin/python bench/remote_throughput.py`` (writes bench/results/remote_throughput.json).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmkd.io.records import Item, TeacherOutput  # noqa: E402
from llmkd.io.task import load_task  # noqa: E402
from llmkd.run.ledger import RunLedger, request_key  # noqa: E402
from llmkd.teachers import TeacherOptions  # noqa: E402
from llmkd.teachers.base import TeacherRequest  # noqa: E402
from llmkd.teachers.openai import OpenAITeacher  # noqa: E402


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.openai_server", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    return proc, f"http://127.0.0.1:{port}/v1"


def run(url: str, n: int, options: TeacherOptions, run_dir: Path) -> dict[str, Any]:
    task = load_task("fin-sentiment")
    teacher = OpenAITeacher.from_spec("openai-compatible:bench-model", task, options)
    ledger = RunLedger(run_dir / "ledger.sqlite")
    batch = [
        TeacherRequest(Item(id=f"b{i}", text=f"Company {i} said sales rose {i % 50} percent."))
        for i in range(n)
    ]

    def store(req: TeacherRequest, out: TeacherOutput) -> None:
        payload = teacher.request_payload(req)
        key = request_key(teacher.name, teacher.model, payload["prompt"], payload["params"], req.sample)
        ledger.put(
            key,
            teacher=teacher.name,
            model=teacher.model,
            item_id=req.item.id,
            sample=req.sample,
            kind="label",
            request=payload,
            output=out,
        )

    start = time.perf_counter()
    cpu0 = time.process_time()
    outputs = teacher.label(batch, on_result=store)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    good = sum(o.status == "ok" for o in outputs)
    stored = ledger.count()
    ledger.close()
    return {
        "items": n,
        "seconds": round(elapsed, 2),
        "items_per_s": round(n / elapsed, 1),
        "good_items_per_s": round(good / elapsed, 1),
        "ok": good,
        "invalid": n - good,
        "stored_in_ledger": stored,
        "lost": n - len(outputs),
        "with_logprobs": sum(o.prob_method == "logprobs" for o in outputs),
        "client_cpu_s": round(cpu, 2),
        "stats": teacher.stats,
    }


def raw_aiohttp(url: str, n: int, concurrency: int) -> dict[str, Any]:
    """The same requests from a bare aiohttp client (no SDK, no parsing, no ledger): what the server and
    the CPU allow, i.e. the practical ceiling next to the theoretical one."""
    import asyncio

    import aiohttp

    bodies = request_bodies("Raw", n)

    async def go() -> float:
        gate = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def one(body: dict[str, Any]) -> None:
                async with gate, session.post(f"{url}/chat/completions", json=body) as response:
                    await response.read()

            start = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            return time.perf_counter() - start

    elapsed = asyncio.run(go())
    return {"items": n, "seconds": round(elapsed, 2), "items_per_s": round(n / elapsed, 1)}


PEERS_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"


def request_bodies(prefix: str, n: int) -> list[dict[str, Any]]:
    """The chat-completion bodies llmkd sends for ``n`` texts starting with ``prefix`` (each client gets
    its own texts, so no server-side cache effect)."""
    task = load_task("fin-sentiment")
    teacher = OpenAITeacher.from_spec(
        "openai-compatible:bench-model", task, TeacherOptions(base_url="http://127.0.0.1:1/v1")
    )
    return [
        teacher.create_kwargs(teacher.messages(f"{prefix} {i} said sales rose {i % 50} percent."))
        for i in range(n)
    ]


def run_peer(script: str, *args: str) -> dict[str, Any]:
    """One peer runner in the peers' environment; its last stdout line is its JSON result."""
    proc = subprocess.run(
        [str(PEERS_PYTHON), script, *args],
        cwd=ROOT / "bench" / "peers",
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-500:]}
    return dict(json.loads(lines[-1]))


def peers(url: str, bodies: Path, rpm: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not PEERS_PYTHON.exists():
        return out
    extra = [str(rpm)] if rpm else []
    out["bespokelabs-curator 0.1.31, concurrency 64"] = run_peer(
        "curator_run.py", url, str(bodies), "64", *extra
    )
    for size in (64, 250):
        out[f"distilabel 1.5.3, input_batch_size {size}"] = run_peer(
            "distilabel_run.py", url, str(bodies), str(size)
        )
    return out


def main() -> None:
    os.environ.pop("OPENAI_API_KEY", None)
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {os.cpu_count()} CPUs",
        "python": sys.version.split()[0],
    }
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.json"
        bodies.write_text(json.dumps(request_bodies("Peer", 1000)))
        proc, url = start_server("--latency", "0.3")
        try:
            opts = TeacherOptions(base_url=url, concurrency=64, timeout_s=30)
            run(url, 64, opts, Path(tmp) / "warm")  # warm-up (imports, connections)
            r1 = run(url, 1000, opts, Path(tmp) / "s1")
            r1["ceiling_items_per_s"] = round(64 / 0.3, 1)
            r1["fraction_of_ceiling"] = round(r1["items_per_s"] / r1["ceiling_items_per_s"], 3)
            raw = raw_aiohttp(url, 1000, 64)
            r1["raw_aiohttp_items_per_s"] = raw["items_per_s"]
            r1["fraction_of_raw_aiohttp"] = round(r1["items_per_s"] / raw["items_per_s"], 3)
            r1["peers"] = peers(url, bodies)
            results["latency_300ms_c64"] = r1
        finally:
            proc.terminate()
        proc, url = start_server("--latency", "0.3", "--rate-500", "0.1", "--rpm", "3000")
        try:
            opts = TeacherOptions(base_url=url, concurrency=64, timeout_s=30, rpm=3000, max_attempts=8)
            r2 = run(url, 1000, opts, Path(tmp) / "s2")
            r2["ceiling_good_items_per_s"] = 45.0
            r2["peers"] = peers(url, bodies, rpm=3000)
            results["errors10_rpm3000_c64"] = r2
        finally:
            proc.terminate()
    out = ROOT / "bench" / "results" / "remote_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
