"""--batch: OpenAI Files + Batches and Anthropic Message Batches, resumable from the ledger's jobs table."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmkd.generate import main
from llmkd.run.ledger import RunLedger
from llmkd.teachers.batch import OpenAIBatch
from llmkd.teachers.pricing import Usage, cost_usd
from tests.servers.anthropic_server import AnthropicServer
from tests.servers.openai_server import OpenAIServer
from tests.tiny_runs import read_labels

pytestmark = pytest.mark.usefixtures("loopback_keys")


def write_input(path: Path, n: int) -> Path:
    path.write_text("text\n" + "".join(f"Firm {i} lifted its dividend by {i} cents.\n" for i in range(n)))
    return path


class Crash(Exception):
    pass


def test_openai_batch_completes_at_half_price_and_resumes_the_same_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, run = write_input(tmp_path / "in.csv", 12), tmp_path / "run"
    with OpenAIServer() as server:
        argv = ["--input", str(data), "--teacher", "gpt-4o", "--base-url", server.url, "--run", str(run)]
        argv += ["--batch", "--batch-poll-s", "0.05"]
        real_poll = OpenAIBatch.poll

        async def crash(self, client, job_id):  # the process dies right after submitting
            raise Crash(job_id)

        monkeypatch.setattr(OpenAIBatch, "poll", crash)
        with pytest.raises(Crash):
            main(argv)
        with RunLedger(run / "ledger.sqlite") as ledger:
            [job] = ledger.jobs("openai:gpt-4o")
            assert job["state"] == "submitted" and len(job["payload"]["keys"]) == 12 and ledger.count() == 0
        monkeypatch.setattr(OpenAIBatch, "poll", real_poll)
        assert main(argv) == 0
        assert server.record.batches_created == 1 and server.record.requests["chat"] == 0
        assert main(argv) == 0  # complete: nothing submitted again
        assert server.record.batches_created == 1 and server.record.requests["files"] == 1
    out = read_labels(run)
    assert len(out) == 12 and all(r["status"] == "ok" and r["prob_method"] == "logprobs" for r in out)
    full = sum(
        cost_usd(
            "gpt-4o",
            Usage(u["prompt_tokens"], u["completion_tokens"], u["prompt_tokens_details"]["cached_tokens"]),
        )
        for u in server.record.usages
    )
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.total_cost() == pytest.approx(full * 0.5, rel=1e-9)
        assert ledger.jobs("openai:gpt-4o")[0]["state"] == "done"
        assert all(row.output.extra["batch"] is True for row in ledger.rows())


def test_anthropic_message_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, run = write_input(tmp_path / "in.csv", 6), tmp_path / "run"
    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.root_url)
        argv = ["--input", str(data), "--teacher", "claude-haiku-4-5", "--run", str(run), "--samples", "3"]
        assert main([*argv, "--batch", "--batch-poll-s", "0.05"]) == 0
        assert server.record.batches_created == 1 and server.record.requests["messages"] == 0
        assert server.record.requests["batch-request"] == 18
    out = read_labels(run)
    assert len(out) == 6 and all(r["status"] == "ok" for r in out)
    assert all(len(r["teachers"]["anthropic:claude-haiku-4-5"]["samples"]) == 3 for r in out)
    full = sum(
        cost_usd(
            "claude-haiku-4-5",
            Usage(
                u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"],
                u["output_tokens"],
                u["cache_read_input_tokens"],
                u["cache_creation_input_tokens"],
            ),
        )
        for u in server.record.usages
    )
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.total_cost() == pytest.approx(full * 0.5, rel=1e-9)
