"""The run ledger stores each request once, survives reopening, and runs in WAL mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmkd.io.records import TeacherOutput
from llmkd.run.ledger import RunLedger, request_key


def _out(label: str) -> TeacherOutput:
    return TeacherOutput(label=label, probs={"a": 0.9, "b": 0.1}, rationale="r", raw=label, cost_usd=0.25)


def test_key_depends_on_everything() -> None:
    base = request_key("t", "m", "prompt", {"temp": 0}, 0)
    assert base == request_key("t", "m", "prompt", {"temp": 0}, 0)
    assert (
        len(
            {
                base,
                request_key("t2", "m", "prompt", {"temp": 0}, 0),
                request_key("t", "m2", "prompt", {"temp": 0}, 0),
                request_key("t", "m", "prompt2", {"temp": 0}, 0),
                request_key("t", "m", "prompt", {"temp": 1}, 0),
                request_key("t", "m", "prompt", {"temp": 0}, 1),
            }
        )
        == 6
    )


def test_put_get_resume(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with RunLedger(path) as ledger:
        ledger.put(
            "k1",
            teacher="t",
            model="m",
            item_id="i1",
            sample=0,
            kind="label",
            request={"p": 1},
            output=_out("a"),
        )
        ledger.put(
            "k1",
            teacher="t",
            model="m",
            item_id="i1",
            sample=0,
            kind="label",
            request={"p": 1},
            output=_out("b"),
        )
        assert ledger.count() == 1  # first write wins
    with RunLedger(path) as ledger:
        assert ledger.existing(["k1", "k2"]) == {"k1"}
        got = ledger.get("k1")
        assert got is not None and got.label == "a" and got.probs == {"a": 0.9, "b": 0.1}
        assert ledger.get("k2") is None
        assert ledger.total_cost() == 0.25
        rows = list(ledger.rows())
        assert [r.item_id for r in rows] == ["i1"] and rows[0].request == {"p": 1}
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_jobs_upsert(tmp_path: Path) -> None:
    with RunLedger(tmp_path / "l.sqlite") as ledger:
        ledger.put_job("batch_1", teacher="t", kind="openai-batch", state="running", payload={"n": 3})
        ledger.put_job("batch_1", teacher="t", kind="openai-batch", state="done", payload={"n": 3})
        assert ledger.jobs("t") == [
            {"job_id": "batch_1", "kind": "openai-batch", "state": "done", "payload": {"n": 3}}
        ]
        assert ledger.jobs("other") == []
