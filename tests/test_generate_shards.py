"""generate --shard I/N and --merge: the same labels as one process, each item once, resumable shards
(checked against the loopback server's request log), and one process per shard."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from llmkd.errors import BudgetExceeded, RunError
from llmkd.filter import main as filter_main
from llmkd.generate import main
from llmkd.run.label_parts import read_label_part
from llmkd.run.ledger import RunLedger
from llmkd.run.lock import RunLocked, read_holder
from tests.run.test_lock import hold_in_subprocess
from tests.servers import Faults, text_of
from tests.servers.openai_server import OpenAIServer
from tests.test_generate_remote import MINI, base_env, cli, openai_cost, sent_texts, write_input
from tests.tiny_runs import read_labels

N_ITEMS = 60


@pytest.fixture(autouse=True)
def _env(loopback_keys: None) -> None:
    """Dummy keys, no base URL from the environment."""


def args_for(data: Path, run: Path, url: str) -> list[str]:
    return ["--input", str(data), "--teacher", MINI, "--base-url", url, "--run", str(run)]


def by_id(run: Path) -> dict[str, dict]:
    records = read_labels(run)
    assert len({r["id"] for r in records}) == len(records)  # every item exactly once
    return {r["id"]: r for r in records}


def stored_texts(ledger: Path) -> set[str]:
    with RunLedger(ledger) as opened:
        return {text_of(row.request["prompt"][-1]["content"]) for row in opened.rows()}


@pytest.mark.parametrize("count", [1, 2, 4])
def test_n_shards_give_the_labels_of_one_process(
    tmp_path: Path, count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh server per run: the server draws log-probs from (content, attempt number)."""
    data = write_input(tmp_path / "in.csv", N_ITEMS)
    with OpenAIServer() as server:
        assert main(args_for(data, tmp_path / "one", server.url)) == 0
    sharded = tmp_path / "sharded"
    with OpenAIServer() as server:
        for index in range(count):
            assert main([*args_for(data, sharded, server.url), "--shard", f"{index}/{count}"]) == 0
    assert all(n == 1 for n in sent_texts(server).values())  # no shard asked another's items
    assert sum(sent_texts(server).values()) == N_ITEMS
    capsys.readouterr()
    assert main(["--merge", "--run", str(sharded)]) == 0
    assert by_id(sharded) == by_id(tmp_path / "one")
    spent = float(capsys.readouterr().out.split("cost_usd=")[1].split()[0])
    assert spent == pytest.approx(openai_cost("gpt-4o-mini", server.record.usages), abs=1e-6) and spent > 0
    parts = sorted(p.name for p in (sharded / "labels").glob("*.parquet"))
    assert parts == [f"part-{i:05d}-of-{count:05d}.parquet" for i in range(count)]


def test_merge_names_missing_shards_and_filter_merges_a_complete_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = write_input(tmp_path / "in.csv", N_ITEMS), tmp_path / "run"
    server = OpenAIServer().start()
    assert main([*args_for(data, run, server.url), "--shard", "1/3"]) == 0
    with pytest.raises(RunError, match=r"1 of 3 shards complete: 0/3 missing; 2/3 missing") as refused:
        main(["--merge", "--run", str(run)])
    assert "--allow-incomplete" in str(refused.value) and not (run / "labels.jsonl").exists()
    assert main(["--merge", "--allow-incomplete", "--merge-parquet", "--run", str(run)]) == 0
    partial = by_id(run)
    assert {r["id"]: r for r in read_label_part(run / "labels.parquet")} == partial
    assert 0 < len(partial) < N_ITEMS and "merging 1 complete of 3 shards" in capsys.readouterr().err
    (run / "labels.jsonl").unlink()
    for index in (0, 2):
        assert main([*args_for(data, run, server.url), "--shard", f"{index}/3"]) == 0
    server.stop()
    assert filter_main(["--run", str(run)]) == 0  # no labels.jsonl: filter merges the shards first
    assert len(by_id(run)) == N_ITEMS and (run / "filtered.jsonl").is_file()


def test_kill_9_of_one_shard_then_rerun_sends_nothing_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = write_input(tmp_path / "in.csv", N_ITEMS), tmp_path / "run"
    ledger = run / "ledger" / "shard-00001-of-00002.sqlite"
    with OpenAIServer(Faults(latency_s=0.08)) as slow:
        args = [*args_for(data, run, slow.url), "--shard", "1/2", "--concurrency", "2"]
        proc = cli(args, base_env())
        count, deadline = 0, time.monotonic() + 60
        while count < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if ledger.exists():
                with RunLedger(ledger) as opened:
                    count = opened.count()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stored = stored_texts(ledger)
        assert proc.returncode == -signal.SIGKILL and len(stored) >= 8
        assert not (run / "labels" / "part-00001-of-00002.parquet").exists()
        slow.record.bodies.clear()
        assert main([*args_for(data, run, slow.url), "--shard", "1/2", "--concurrency", "8"]) == 0
        resent = sent_texts(slow)
        assert f"took over the lock left by pid {proc.pid} on " in capsys.readouterr().err
        assert main([*args_for(data, run, slow.url), "--shard", "0/2"]) == 0
    assert not set(resent) & stored and all(n == 1 for n in resent.values())
    assert main(["--merge", "--run", str(run)]) == 0
    records = by_id(run)
    assert len(records) == N_ITEMS and all(r["status"] == "ok" for r in records.values())


def test_second_process_on_a_shard_exits_2_and_the_first_finishes(tmp_path: Path) -> None:
    data, run = write_input(tmp_path / "in.csv", N_ITEMS), tmp_path / "run"
    lock = run / "ledger" / "shard-00000-of-00002.lock"
    with OpenAIServer(Faults(latency_s=0.01)) as slow:
        slow.gate.clear()  # the first process's requests wait until the second one has been refused
        args = [*args_for(data, run, slow.url), "--shard", "0/2", "--concurrency", "2"]
        first = cli(args, base_env())
        deadline = time.monotonic() + 60
        while not read_holder(lock) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        second = cli(args, base_env())
        _, err = second.communicate(timeout=60)
        assert first.poll() is None, "the first process ended before the second one was refused"
        slow.gate.set()
        out, first_err = first.communicate(timeout=120)
        texts = Counter(text_of(body["messages"][-1]["content"]) for body in slow.record.bodies)
    assert second.returncode == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (
        len(errors) == 1 and f"in use by pid {first.pid} on " in errors[0] and "llmkd.generate" in errors[0]
    )
    assert first.returncode == 0, first_err[-2000:]
    assert "wrote" in out and all(n == 1 for n in texts.values())


def test_an_unsharded_run_is_locked_for_generate_and_filter(tmp_path: Path) -> None:
    data, run = write_input(tmp_path / "in.csv", 5), tmp_path / "run"
    run.mkdir()
    holder = hold_in_subprocess(run / "run.lock")
    try:
        with pytest.raises(RunLocked, match=rf"in use by pid {holder.pid} on "):
            main(["--input", str(data), "--teacher", "lexicon", "--run", str(run)])
        with pytest.raises(RunLocked, match=rf"in use by pid {holder.pid} on "):
            filter_main(["--run", str(run)])
    finally:
        holder.kill()
        holder.wait(10)
    assert not (run / "ledger.sqlite").exists()  # refused before anything was written
    assert main(["--input", str(data), "--teacher", "lexicon", "--run", str(run)]) == 0


def test_merge_refuses_shards_run_with_other_flags_and_pending_ones(tmp_path: Path) -> None:
    data, run = write_input(tmp_path / "in.csv", 30), tmp_path / "run"
    lexicon = ["--input", str(data), "--teacher", "lexicon", "--run", str(run)]
    assert main([*lexicon, "--shard", "0/2"]) == 0
    assert main([*lexicon, "--shard", "1/2", "--max-new-tokens", "10"]) == 0
    with pytest.raises(RunError, match=r"shards 1/2 ran with other flags than shards 0/2"):
        main(["--merge", "--run", str(run)])
    paid = tmp_path / "paid"
    with OpenAIServer() as server:
        args = [
            "--input",
            str(data),
            "--teacher",
            "openai:gpt-4o",
            "--base-url",
            server.url,
            "--run",
            str(paid),
        ]
        for index in range(2):
            with pytest.raises(BudgetExceeded):
                main([*args, "--shard", f"{index}/2", "--max-cost-usd", "0.004", "--concurrency", "1"])
    with pytest.raises(RunError, match=r"0 of 2 shards complete: 0/2 incomplete \(\d+ of \d+ pending\)"):
        main(["--merge", "--run", str(paid)])
