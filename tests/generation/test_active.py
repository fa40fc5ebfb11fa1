"""generate --budget: active distillation end to end, against the loopback OpenAI server (real SDK) with a
tiny random-weight encoder for the embeddings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from llmkd.errors import ConfigError
from llmkd.filter import main as filter_main
from llmkd.finetune import main as finetune_main
from llmkd.generate import main
from llmkd.generation.active import read_rounds
from llmkd.run.ledger import RunLedger
from llmkd.students.probe import ProbeStudent, embed
from tests.servers import Faults, text_of
from tests.servers.openai_server import OpenAIServer
from tests.tiny_runs import LABELS, PHRASES, read_labels

ROOT = Path(__file__).resolve().parents[2]
MINI = "openai:gpt-4o-mini"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")


def write_pool(path: Path, n: int = 30) -> Path:
    labels = [LABELS[i % 3] for i in range(n)]
    rows = ["text"] + [f"Firm {i}: {PHRASES[lab][i % 5]} this quarter" for i, lab in enumerate(labels)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def sent(server: OpenAIServer) -> Counter[str]:
    return Counter(text_of(body["messages"][-1]["content"]) for body in server.record.bodies)


def args_for(data: Path, run: Path, server: OpenAIServer, student: Path, *extra: str) -> list[str]:
    return [
        "--input", str(data), "--teacher", MINI, "--base-url", server.url, "--run", str(run),
        "--select-student", str(student), *extra,
    ]  # fmt: skip


def test_budget_spent_exactly_and_every_round_recorded(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    with OpenAIServer() as server:
        flags = ["--budget", "10", "--rounds", "3", "--select", "mix"]
        assert main(args_for(data, run, server, tiny_bert_dir, *flags)) == 0
        asked = sent(server)
    rounds = read_rounds(run)
    assert [r["size"] for r in rounds] == [4, 3, 3] and all(r["status"] == "done" for r in rounds)
    picks = [i for r in rounds for i in r["chosen"]]
    assert len(picks) == len(set(picks)) == 10 and len(asked) == 10 and set(asked.values()) == {1}
    assert [r["calls"] for r in rounds] == [4, 7, 10]
    records = read_labels(run)
    assert sorted(r["id"] for r in records) == sorted(picks) and all(r["status"] == "ok" for r in records)
    assert {r["text"] for r in records} == set(asked)
    assert rounds[0]["selected_by"] == "embeddings only" and rounds[1]["selected_by"] == "quick student"
    for r in rounds[1:]:
        assert len(r["chosen_margins"]) == r["size"] and "previous_student_agreement" in r
    probe = ProbeStudent.load(run / "active" / rounds[-1]["probe"])
    assert probe.labels == LABELS
    # The pool's embeddings are computed once and reused: a rerun sends nothing and picks the same items.
    stamp = (run / "active" / "embeddings.npy").stat().st_mtime_ns
    with OpenAIServer() as server:
        assert main(args_for(data, run, server, tiny_bert_dir, *flags)) == 0
        assert not server.record.bodies
    assert (run / "active" / "embeddings.npy").stat().st_mtime_ns == stamp
    assert [r["chosen"] for r in read_rounds(run)] == [r["chosen"] for r in rounds]


def test_dry_run_shows_the_plan_and_sends_nothing(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    with OpenAIServer() as server:
        flags = ["--budget", "12", "--rounds", "5", "--dry-run"]
        assert main(args_for(data, run, server, tiny_bert_dir, *flags)) == 0
        assert not server.record.bodies and sum(server.record.requests.values()) == 0
    out = capsys.readouterr().out
    assert "12 of 30 items (40.0%) in 5 rounds of 3, 3, 2, 2, 2" in out
    assert "items=12 " in out and "calls=12 " in out and "cost_usd~" in out
    assert not run.exists()


def test_explore_mixes_random_items_into_later_rounds(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    flags = ["--budget", "12", "--rounds", "3", "--explore", "0.5"]
    with OpenAIServer() as server:
        assert main(args_for(data, run, server, tiny_bert_dir, *flags, "--dry-run")) == 0
        assert "50% of each round the probe picks drawn at random" in capsys.readouterr().out
        assert main(args_for(data, run, server, tiny_bert_dir, *flags)) == 0
        assert len(sent(server)) == 12
    rounds = read_rounds(run)
    assert [r["size"] for r in rounds] == [4, 4, 4] and {r["explore"] for r in rounds} == {0.5}
    # The quick student's two least-sure items come first, then two drawn from the rest of the pool.
    margins = rounds[1]["chosen_margins"]
    assert margins[:2] == sorted(margins[:2]) and max(margins[:2]) <= min(margins[2:]) + 1e-9
    with pytest.raises(ConfigError, match="--explore must be between 0 and 1"):
        main(args_for(data, tmp_path / "bad", server, tiny_bert_dir, "--budget", "4", "--explore", "1.5"))


def test_gold_seed_counts_as_labelled(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    seed_rows = [(f"Seed {i}: {PHRASES[lab][i]} in the year", lab) for i in range(2) for lab in LABELS]
    seed = tmp_path / "seed.csv"
    seed.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in seed_rows), encoding="utf-8")
    with OpenAIServer() as server:
        flags = ["--budget", "6", "--rounds", "2", "--select", "uncertainty", "--gold-seed", str(seed)]
        assert main(args_for(data, run, server, tiny_bert_dir, *flags)) == 0
        asked = sent(server)
    first = read_rounds(run)[0]
    assert first["selected_by"] == "quick student"  # the seed alone trains the round-0 student
    # Round 0 takes the items a student trained on the seed alone is least sure of.
    pool_texts = [line for line in data.read_text().splitlines()[1:]]
    student = ProbeStudent.fit(
        embed([t for t, _ in seed_rows], str(tiny_bert_dir)), [lab for _, lab in seed_rows], LABELS
    )
    probs = student.probabilities(np.load(run / "active" / "embeddings.npy"))
    top = np.sort(probs, axis=1)
    expected = np.argsort(top[:, -1] - top[:, -2], kind="stable")[:3]
    picked_texts = {r["text"] for r in read_labels(run) if r["id"] in first["chosen"]}
    assert picked_texts == {pool_texts[i] for i in expected}
    # Seed items are asked once (the audit) and are not part of the budget: 6 pool items + 6 seed items.
    assert len(asked) == 12 and len(read_labels(run)) == 6


def test_filter_and_finetune_take_the_result(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    with OpenAIServer() as server:
        assert main(args_for(data, run, server, tiny_bert_dir, "--budget", "12", "--rounds", "2")) == 0
    assert filter_main(["--run", str(run), "--no-progress"]) == 0
    tune = ["--run", str(run), "--student", str(tiny_bert_dir), "--epochs", "1", "--batch-size", "8"]
    assert finetune_main(tune) == 0
    assert (run / "student").is_dir()
    kept = [json.loads(line) for line in (run / "filtered.jsonl").read_text().splitlines()]
    assert 0 < len(kept) <= 12


def test_batch_api_sends_one_job_per_round(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    with OpenAIServer(Faults(batch_s=0.05)) as server:
        flags = ["--budget", "9", "--rounds", "3", "--batch", "--batch-poll-s", "0.05"]
        assert main(args_for(data, run, server, tiny_bert_dir, *flags)) == 0
        assert server.record.requests["files"] == 3 and server.record.requests["batch-request"] == 9
    assert len(read_labels(run)) == 9


def test_killed_mid_round_resumes_without_paying_twice(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data, run = write_pool(tmp_path / "in.csv", 24), tmp_path / "run"
    with OpenAIServer(Faults(latency_s=0.15)) as server:
        flags = ["--budget", "12", "--rounds", "3", "--concurrency", "1"]
        args = args_for(data, run, server, tiny_bert_dir, *flags)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_BASE_URL")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmkd.generate", *args],
            cwd=ROOT,
            env={**env, "OPENAI_API_KEY": "sk-loopback", "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline, count = time.monotonic() + 90, 0
        while count < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.03)
            if (run / "ledger.sqlite").exists():
                with RunLedger(run / "ledger.sqlite") as ledger:
                    count = ledger.count()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert 4 < count < 8  # killed inside round 1 (rounds of 4)
        with RunLedger(run / "ledger.sqlite") as ledger:
            paid = {text_of(row.request["prompt"][-1]["content"]) for row in ledger.rows()}
        server.record.bodies.clear()
        stored = read_rounds(run)
        assert stored[1]["status"] == "sending"
        assert main(args) == 0
        resent = sent(server)
    rounds = read_rounds(run)
    assert rounds[1]["chosen"] == stored[1]["chosen"] and all(r["status"] == "done" for r in rounds)
    # Nothing whose answer was stored is asked again (a request in flight at the kill is lost, as with
    # any killed client), and the run ends with exactly the budget's items.
    assert not set(resent) & paid and set(resent.values()) == {1}
    assert len(paid | set(resent)) == 12 and len(read_labels(run)) == 12


def test_evaluate_shows_the_learning_curve(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from llmkd.evaluate import main as evaluate_main

    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    with OpenAIServer() as server:
        assert main(args_for(data, run, server, tiny_bert_dir, "--budget", "12", "--rounds", "3")) == 0
    gold_rows = [
        (f"Other firm {i}: {PHRASES[lab][i % 5]} last year", lab) for i, lab in enumerate(LABELS * 4)
    ]
    gold = tmp_path / "gold.csv"
    gold.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in gold_rows), encoding="utf-8")
    assert evaluate_main(["--run", str(run), "--gold", str(gold)]) == 0
    curve = json.loads((run / "eval.json").read_text())["learning_curve"]
    rounds = read_rounds(run)
    assert [p["calls"] for p in curve["points"]] == [r["calls"] for r in rounds if r["probe"]]
    vectors = embed([t for t, _ in gold_rows], str(tiny_bert_dir))
    last = ProbeStudent.load(run / "active" / rounds[-1]["probe"])
    expected = np.mean([p == lab for p, (_, lab) in zip(last.predict(vectors), gold_rows, strict=True)])
    assert curve["points"][-1]["accuracy"] == pytest.approx(expected)
    assert (run / "learning_curve.png").is_file()
    assert "Learning curve" in (run / "report.md").read_text()


def test_local_teacher_labels_only_the_budget(tmp_path: Path, tiny_bert_dir: Path, tiny_llama: Path) -> None:
    data, run = write_pool(tmp_path / "in.csv", 12), tmp_path / "run"
    flags = ["--input", str(data), "--teacher", f"hf:{tiny_llama}", "--run", str(run), "--no-rationale"]
    flags += ["--select-student", str(tiny_bert_dir), "--budget", "5", "--rounds", "2", "--device", "cpu"]
    assert main(flags) == 0
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == 5
    rounds = read_rounds(run)
    assert [r["size"] for r in rounds] == [3, 2] and len(read_labels(run)) == 5


def test_max_cost_stop_inside_a_round_then_rerun_finishes(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from llmkd.errors import BudgetExceeded

    data, run = write_pool(tmp_path / "in.csv"), tmp_path / "run"
    with OpenAIServer() as server:
        flags = ["--budget", "10", "--rounds", "2", "--concurrency", "1"]
        args = args_for(data, run, server, tiny_bert_dir, *flags)
        with pytest.raises(BudgetExceeded):
            main([*args, "--max-cost-usd", "0.0003"])
        partial = read_labels(run)
        first = read_rounds(run)
        assert len(first) == 1 and first[0]["status"] == "sending"
        assert sorted(r["id"] for r in partial) == sorted(first[0]["chosen"])
        assert any(r["status"] == "pending" for r in partial)
        assert main([*args, "--max-cost-usd", "1.0"]) == 0
        asked = sent(server)
    assert set(asked.values()) == {1} and len(asked) == 10
    assert len(read_labels(run)) == 10 and all(r["status"] == "ok" for r in read_labels(run))
