"""generate with remote teachers at the CLI level, against loopback servers driven by the real SDKs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from llmkd.generate import main
from llmkd.run.ledger import RunLedger
from llmkd.teachers.pricing import Usage, cost_usd
from tests.servers import Faults, text_of
from tests.servers.anthropic_server import AnthropicServer
from tests.servers.openai_server import OpenAIServer
from tests.tiny_runs import read_labels

ROOT = Path(__file__).resolve().parents[1]
MINI = "openai:gpt-4o-mini"


def write_input(path: Path, n: int) -> Path:
    rows = ["text"] + [f"Company {i} reported quarterly sales up {i} percent." for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llmkd.generate", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return {**env, "OPENAI_API_KEY": "sk-loopback", **extra}


def stored_texts(run: Path) -> set[str]:
    with RunLedger(run / "ledger.sqlite") as ledger:
        return {text_of(row.request["prompt"][-1]["content"]) for row in ledger.rows() if row.kind == "label"}


def sent_texts(server) -> Counter[str]:
    return Counter(text_of(body["messages"][-1]["content"]) for body in server.record.bodies)


def openai_cost(model: str, usages: list[dict]) -> float:
    return sum(
        cost_usd(
            model,
            Usage(u["prompt_tokens"], u["completion_tokens"], u["prompt_tokens_details"]["cached_tokens"]),
        )
        for u in usages
    )


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")


def test_kill_9_then_rerun_sends_nothing_stored(tmp_path: Path) -> None:
    data, run = write_input(tmp_path / "in.csv", 60), tmp_path / "run"
    with OpenAIServer(Faults(latency_s=0.08)) as server:
        args = ["--input", str(data), "--teacher", MINI, "--base-url", server.url, "--run", str(run)]
        proc = cli([*args, "--concurrency", "4"], base_env())
        deadline = time.monotonic() + 60
        count = 0
        while count < 15 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if (run / "ledger.sqlite").exists():
                with RunLedger(run / "ledger.sqlite") as ledger:
                    count = ledger.count()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL and 15 <= count < 60
        stored = stored_texts(run)
        assert len(stored) >= 15 and not (run / "labels.jsonl").exists()
        server.record.bodies.clear()
        assert main([*args, "--concurrency", "16"]) == 0
        resent = sent_texts(server)
    assert not set(resent) & stored  # nothing whose answer was stored is asked again
    assert all(n == 1 for n in resent.values())
    out = read_labels(run)
    assert sorted(r["text"] for r in out) == sorted(
        f"Company {i} reported quarterly sales up {i} percent." for i in range(60)
    )
    assert len({r["id"] for r in out}) == 60 and all(r["status"] == "ok" for r in out)


def test_max_cost_stops_in_time_and_rerun_finishes(tmp_path: Path) -> None:
    data, run = write_input(tmp_path / "in.csv", 30), tmp_path / "run"
    cap = 0.012
    with OpenAIServer() as server:
        args = [
            "--input",
            str(data),
            "--teacher",
            "openai:gpt-4o",
            "--base-url",
            server.url,
            "--run",
            str(run),
        ]
        proc = cli([*args, "--max-cost-usd", str(cap), "--concurrency", "2"], base_env())
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2
        errors = [line for line in err.splitlines() if line.startswith("error:")]  # the rest is tqdm
        assert len(errors) == 1 and "max-cost-usd" in errors[0] and err.rstrip().endswith(errors[0])
        with RunLedger(run / "ledger.sqlite") as ledger:
            spent, done = ledger.total_cost(), ledger.count()
        assert 0 < spent <= cap and 0 < done < 30
        assert spent == pytest.approx(openai_cost("gpt-4o", server.record.usages), rel=1e-9)
        # The summary counts the calls made, and what was paid for is in labels.jsonl already.
        calls = sum(server.record.requests.values())
        assert f"total: calls={calls} " in out and calls >= done
        partial = read_labels(run)
        answered = [r for r in partial if r["status"] == "ok"]
        pending = [r for r in partial if r["status"] == "pending"]
        assert len(partial) == 30 and len(answered) == done and len(pending) == 30 - done
        assert all(r["label"] is None and "max-cost-usd" in r["error"] for r in pending)
        assert f"(0 invalid, {30 - done} pending: rerun to label them)" in out
        stored = stored_texts(run)
        server.record.bodies.clear()
        assert main([*args, "--max-cost-usd", "1.0"]) == 0
        assert not set(sent_texts(server)) & stored
    assert len(read_labels(run)) == 30 and all(r["status"] == "ok" for r in read_labels(run))


def test_dry_run_prints_plan_and_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_input(tmp_path / "in.csv", 12)
    with OpenAIServer() as server:
        argv = [
            "--input",
            str(data),
            "--teacher",
            MINI,
            "--base-url",
            server.url,
            "--run",
            str(tmp_path / "r"),
        ]
        assert main([*argv, "--dry-run", "--augment", "2", "--redact"]) == 0
        assert sum(server.record.requests.values()) == 0
    out = capsys.readouterr().out
    assert f"{MINI}: items=12 samples=1 requests=12 cached=0 calls=12" in out
    assert "tokens=" in out and "cost_usd~0.00" in out and "retries=0" in out and "augment=2" in out
    assert not (tmp_path / "r").exists()  # a dry run writes nothing, not even the run folder


def test_two_teachers_each_view_aggregate_and_exact_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = write_input(tmp_path / "in.csv", 10), tmp_path / "run"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback")
    with OpenAIServer() as oai, AnthropicServer() as ant:
        monkeypatch.setenv("OPENAI_BASE_URL", oai.url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", ant.root_url)
        argv = ["--input", str(data), "--teacher", MINI, "--teacher", "anthropic:claude-haiku-4-5"]
        assert main([*argv, "--run", str(run), "--samples", "2"]) == 0
    out = read_labels(run)
    assert len(out) == 10
    for rec in out:
        assert rec["teacher"] == f"{MINI},anthropic:claude-haiku-4-5"
        assert set(rec["teachers"]) == {MINI, "anthropic:claude-haiku-4-5"}
        assert rec["label"] in {"positive", "negative", "neutral"} and rec["status"] == "ok"
        assert abs(sum(rec["probs"].values()) - 1) < 1e-6
        assert len(rec["teachers"]["anthropic:claude-haiku-4-5"]["samples"]) == 2
    expected = openai_cost("gpt-4o-mini", oai.record.usages) + sum(
        cost_usd(
            "claude-haiku-4-5",
            Usage(
                u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"],
                u["output_tokens"],
                u["cache_read_input_tokens"],
                u["cache_creation_input_tokens"],
            ),
        )
        for u in ant.record.usages
    )
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.total_cost() == pytest.approx(expected, rel=1e-9)
        assert sum(r.output.cost_usd for r in ledger.rows()) == pytest.approx(expected, rel=1e-9)
    summary = capsys.readouterr().out
    assert (
        f"cost_usd={expected:.6f}" in summary and "calls=40 retries=0 failures=0" in summary
    )  # 10 items x 2 samples x 2


def test_missing_key_fails_in_one_line_before_any_request(tmp_path: Path) -> None:
    data = write_input(tmp_path / "in.csv", 5)
    with OpenAIServer() as server:
        argv = ["--input", str(data), "--teacher", MINI, "--teacher", "claude-haiku-4-5"]
        proc = cli([*argv, "--run", str(tmp_path / "r")], base_env(OPENAI_BASE_URL=server.url))
        _, err = proc.communicate(timeout=60)
        assert sum(server.record.requests.values()) == 0
    assert proc.returncode == 2 and err.strip().count("\n") == 0 and "ANTHROPIC_API_KEY" in err, err


def test_invalid_answers_are_resent_on_rerun_bounded(tmp_path: Path) -> None:
    data, run = write_input(tmp_path / "in.csv", 3), tmp_path / "run"
    faults = Faults(rate_out_of_set=1.0)
    with OpenAIServer(faults) as server:
        argv = ["--input", str(data), "--teacher", MINI, "--base-url", server.url, "--run", str(run)]
        assert main([*argv, "--max-resends", "1"]) == 0
        assert [r["status"] for r in read_labels(run)] == ["invalid"] * 3 and len(server.record.bodies) == 9
        assert main([*argv, "--max-resends", "1"]) == 0  # re-sent once (3 requests x 3 asks), still invalid
        assert len(server.record.bodies) == 18
        assert main([*argv, "--max-resends", "1"]) == 0  # bound reached: nothing sent
        assert len(server.record.bodies) == 18
        faults.rate_out_of_set = 0.0
        assert main([*argv, "--max-resends", "2"]) == 0  # one more try allowed: now valid
        assert len(server.record.bodies) == 21
        assert main([*argv, "--max-resends", "5"]) == 0  # ok answers are never re-sent
        assert len(server.record.bodies) == 21
    assert [r["status"] for r in read_labels(run)] == ["ok"] * 3
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == 9  # every paid answer kept


def test_limits_in_force_are_printed_and_binding_ones_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_input(tmp_path / "in.csv", 3)
    with OpenAIServer() as server:
        argv = ["--input", str(data), "--teacher", MINI, "--base-url", server.url]
        assert main([*argv, "--run", str(tmp_path / "defaults")]) == 0
        out = capsys.readouterr().out
        assert (
            f"{MINI}: client-side limits 5,000 requests/min (default), 2,000,000 tokens/min (default)" in out
        )
        assert "llmkd/teachers/prices.yaml" in out and "items/s" in out
        assert "waited" not in out  # three requests fit in the burst: the limits did not bind

        # 60 requests/min holds one request a second: the second and third wait.
        assert main([*argv, "--run", str(tmp_path / "slow"), "--rpm", "60", "--tpm", "10000000"]) == 0
        out = capsys.readouterr().out
    assert f"{MINI}: client-side limits 60 requests/min (--rpm), 10,000,000 tokens/min (--tpm)" in out
    assert "prices.yaml" not in out
    note = next(line for line in out.splitlines() if line.startswith(f"note: {MINI} waited"))
    assert "client-side limits" in note and "--rpm N and --tpm N" in note
