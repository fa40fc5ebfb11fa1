"""kill -9 at random points, then the same command again: the outputs equal an uninterrupted run's.

Covers ``python -m llmkd.generate`` (tiny random llama teacher), ``python -m llmkd.filter`` and
``python -m llmkd.finetune --resume`` (tiny BERT), plus the two mechanisms underneath: the ledger is in
WAL mode, and outputs are written to a temporary file and renamed (no partial file after a kill).
Kill points are drawn at random; the seed is in every assertion message to replay a failure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmkd.filter import main as filter_main
from llmkd.finetune import main as finetune_main
from llmkd.generate import main as generate_main
from tests.tiny_models import LLAMA_WORDS

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("LLMKD_CRASH_SEED", time.time_ns() % 1_000_000))
N_ITEMS = 32


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def run_to_end(cmd: list[str], timeout: float = 120) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return time.perf_counter() - start


def run_and_kill(cmd: list[str], when: Callable[[float], bool], timeout: float = 120) -> bool:
    """Start ``cmd``; SIGKILL it as soon as ``when(elapsed_s)`` is true. True if it was killed."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    start = time.perf_counter()
    try:
        while proc.poll() is None:
            if when(time.perf_counter() - start):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if time.perf_counter() - start > timeout:
                raise AssertionError(f"{cmd} ran past {timeout}s")
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return False


def ledger_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
    except sqlite3.Error:
        return 0


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_whole_or_absent(path: Path, n: int) -> None:
    """A killed stage leaves its output absent or complete, never a part (temp file + rename)."""
    if path.exists():
        rows = jsonl(path)  # every line parses
        assert len(rows) == n, f"{path}: {len(rows)} of {n} rows (seed {SEED})"


def same_labels(got: list[dict], want: list[dict]) -> None:
    assert [r["id"] for r in got] == [r["id"] for r in want], f"seed {SEED}"
    for a, b in zip(got, want, strict=True):
        assert (a["text"], a["label"], a["status"], a["gold"]) == (
            b["text"],
            b["label"],
            b["status"],
            b["gold"],
        )
        for label, p in b["probs"].items():
            assert abs(a["probs"][label] - p) < 1e-4, f"{a['id']} {label} (seed {SEED})"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> tuple[list[str], Path]:
    """The generate command's flags and an uninterrupted reference run of it."""
    rng = random.Random(0)
    words = [w for w in LLAMA_WORDS if w.isalpha()]
    lines = ["text,label"]
    for i in range(N_ITEMS):
        label = ["positive", "negative", "neutral"][i % 3]
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + f" {i},{label}")
    folder = tmp_path_factory.mktemp("crash-gen")
    (folder / "in.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["--input", str(folder / "in.csv"), "--label-column", "label", "--teacher", f"hf:{tiny_llama}"]
    args += ["--batch-size", "4", "--max-new-tokens", "3"]
    ref = folder / "reference"
    assert generate_main([*args, "--run", str(ref)]) == 0  # in-process: same code, no start-up cost
    return args, ref


def test_generate_killed_twice_then_rerun_equals_uninterrupted(
    tmp_path: Path, generated: tuple[list[str], Path]
) -> None:
    args, ref = generated
    rng = random.Random(SEED)
    run = tmp_path / "run"
    cmd = _python("llmkd.generate", *args, "--run", str(run))
    ledger = run / "ledger.sqlite"
    # 1: killed mid-labelling, once a random number of answers is stored
    k = rng.randint(4, N_ITEMS - 8)
    kill_time: list[float] = []
    killed = run_and_kill(cmd, lambda t: ledger_rows(ledger) >= k and not kill_time.append(t))
    assert killed, f"finished before {k} rows (seed {SEED})"
    stored = ledger_rows(ledger)
    assert k <= stored < N_ITEMS, f"seed {SEED}"
    assert_whole_or_absent(run / "labels.jsonl", N_ITEMS)
    # 2: the rerun is killed at a random moment (start-up, labelling, or writing)
    at = rng.uniform(0.3, 1.5) * kill_time[0]
    run_and_kill(cmd, lambda t: t >= at)
    assert ledger_rows(ledger) >= stored  # nothing already answered was lost
    assert_whole_or_absent(run / "labels.jsonl", N_ITEMS)
    # 3: the same command again completes, and equals the uninterrupted run
    assert generate_main([*args, "--run", str(run)]) == 0
    same_labels(jsonl(run / "labels.jsonl"), jsonl(ref / "labels.jsonl"))
    assert ledger_rows(ledger) == N_ITEMS
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_filter_killed_then_rerun_equals_uninterrupted(
    tmp_path: Path, generated: tuple[list[str], Path]
) -> None:
    _, ref = generated
    rng = random.Random(SEED + 1)
    flags = ["--min-confidence", "0", "--language", "any", "--min-chars", "1", "--no-progress"]
    dirs = {}
    for name in ("reference", "run"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        for file in ("labels.jsonl", "generate_config.json"):
            (dirs[name] / file).write_bytes((ref / file).read_bytes())
    seconds = run_to_end(_python("llmkd.filter", "--run", str(dirs["reference"]), *flags))
    cmd = _python("llmkd.filter", "--run", str(dirs["run"]), *flags)
    for _ in range(1):
        at = rng.uniform(0.3, 1.0) * seconds
        run_and_kill(cmd, lambda t, at=at: t >= at)
        for out in ("filtered.jsonl", "removed.jsonl"):
            path = dirs["run"] / out
            if path.exists():
                jsonl(path)  # parses: never half-written
        if (dirs["run"] / "filter_report.json").exists():
            json.loads((dirs["run"] / "filter_report.json").read_text())
    assert filter_main(["--run", str(dirs["run"]), *flags]) == 0
    for out in ("filtered.jsonl", "removed.jsonl"):
        assert jsonl(dirs["run"] / out) == jsonl(dirs["reference"] / out), f"{out} (seed {SEED})"
    report = json.loads((dirs["run"] / "filter_report.json").read_text())
    want = json.loads((dirs["reference"] / "filter_report.json").read_text())
    assert report["n_kept"] == want["n_kept"] and report["removed"] == want["removed"]


def test_finetune_killed_after_checkpoint_resumes_to_same_metrics(
    tmp_path: Path, generated: tuple[list[str], Path], tiny_bert_dir: Path
) -> None:
    _, ref = generated
    dirs = {}
    for name in ("reference", "run"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        for file in ("labels.jsonl", "generate_config.json"):
            (dirs[name] / file).write_bytes((ref / file).read_bytes())
    flags = ["--student", str(tiny_bert_dir), "--epochs", "2", "--batch-size", "8", "--full", "--lr", "1e-3"]
    assert finetune_main(["--run", str(dirs["reference"]), *flags]) == 0
    cmd = _python("llmkd.finetune", "--run", str(dirs["run"]), *flags)
    work = dirs["run"] / ".checkpoints"
    killed = run_and_kill(cmd, lambda _t: len(list(work.glob("checkpoint-*/trainer_state.json"))) >= 1, 240)
    assert killed, "finished before the first checkpoint"
    assert finetune_main(["--run", str(dirs["run"]), *flags]) == 0
    got = json.loads((dirs["run"] / "finetune_metrics.json").read_text())
    want = json.loads((dirs["reference"] / "finetune_metrics.json").read_text())
    assert got["resumed_from"] is not None and got["n_train"] == want["n_train"]
    assert got["held_out_accuracy"] == pytest.approx(want["held_out_accuracy"], abs=0.05)
    assert got["held_out_loss"] == pytest.approx(want["held_out_loss"], rel=0.02, abs=1e-3)
    assert (dirs["run"] / "student" / "config.json").is_file() and not work.exists()


WRITER = """
import sys
from llmkd.run.files import write_jsonl
path = sys.argv[1]
for generation in range(10**6):
    write_jsonl(path, ({"g": generation, "i": i, "pad": "x" * 40} for i in range(20000)))
"""


def test_atomic_writes_survive_kill(tmp_path: Path) -> None:
    """A writer rewriting a 1 MB JSONL in a loop, killed at random: the file is always one whole version."""
    rng = random.Random(SEED + 2)
    path = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, env=env)
        deadline = time.perf_counter() + 30
        while not path.exists() and time.perf_counter() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        rows = jsonl(path)
        assert len(rows) == 20000 and len({r["g"] for r in rows}) == 1, f"seed {SEED}"
