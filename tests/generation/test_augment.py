"""--augment: teacher-written examples, cached in the ledger, deduplicated, labelled as ``augmented``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.generate import main
from llmkd.generation.augment import augment_id, augment_items, local_augment, normalise_text
from llmkd.io.task import load_task
from llmkd.run.ledger import RunLedger
from llmkd.teachers import TeacherOptions
from llmkd.teachers.local import LocalTeacher
from tests.servers.openai_server import OpenAIServer


def test_normalise_text_and_ids() -> None:
    assert normalise_text("  Profit   ROSE. ") == "profit rose" == normalise_text('"profit rose"')
    assert normalise_text("Ｐｒｏｆｉｔ rose!") == "profit rose"  # NFKC folds full-width letters
    assert normalise_text("profit rose 5%") != normalise_text("profit rose 6%")
    assert augment_id("Profit rose.") == augment_id("profit  rose") and augment_id("x").startswith("aug-")


def test_generate_augment_dedups_labels_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    data = tmp_path / "in.csv"
    data.write_text("text\nProfit rose.\nSales fell sharply.\n", encoding="utf-8")
    run = tmp_path / "run"
    with OpenAIServer() as server:
        argv = ["--input", str(data), "--teacher", "gpt-4o-mini", "--base-url", server.url, "--run", str(run)]
        assert main([*argv, "--augment", "3"]) == 0
        # each answer has 1 new line of 3 (a case variant and "Profit rose." are duplicates): 3 rounds per label
        assert sum(server.record.augment_prompts.values()) == 9
        label_calls = len(server.record.bodies)
        records = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
        assert main([*argv, "--augment", "3"]) == 0  # rerun: everything cached
        assert sum(server.record.augment_prompts.values()) == 9 and len(server.record.bodies) == label_calls
    augmented = [r for r in records if r["source"] == "augmented"]
    assert len(records) == 2 + 9 and len(augmented) == 9 and label_calls == 11
    norms = [normalise_text(r["text"]) for r in records]
    assert len(set(norms)) == len(norms)  # no duplicates, none equal to an input
    assert all(r["id"] == augment_id(r["text"]) and r["gold"] is None for r in augmented)
    assert all(r["status"] == "ok" and r["label"] is not None for r in augmented)
    for label in ("positive", "negative", "neutral"):
        assert sum(f"Nordic {label} Oy" in r["text"] for r in augmented) == 3
    with RunLedger(run / "ledger.sqlite") as ledger:
        aug_rows = [row for row in ledger.rows() if row.kind == "augment"]
    assert len(aug_rows) == 9 and all(row.output.cost_usd > 0 for row in aug_rows)
    assert "augmented 9 items (9 calls" in capsys.readouterr().out


def test_local_teacher_augments_by_sampling(tmp_path: Path, tiny_llama: Path) -> None:
    folder = tiny_llama
    task = load_task("fin-sentiment")
    teacher = LocalTeacher.from_spec(f"hf:{folder}", task, TeacherOptions())
    first = local_augment(teacher, "positive", 3, seed=1, max_new_tokens=6)
    again = local_augment(teacher, "positive", 3, seed=1, max_new_tokens=6)
    examples = first.extra["examples"]
    assert first.label == "positive" and 1 <= len(examples) <= 3 and all(e.strip() for e in examples)
    assert examples == again.extra["examples"]  # seeded
    written: list[int] = []
    chunked = local_augment(
        teacher, "positive", 3, seed=1, max_new_tokens=6, chunk=2, on_written=written.append
    )
    assert written == [2, 1] and 1 <= len(chunked.extra["examples"]) <= 3
    with RunLedger(tmp_path / "ledger.sqlite") as ledger:
        new, counts = augment_items(teacher, task, [], 1, ledger, max_rounds=1, local_max_new_tokens=6)
        assert counts["calls"] == 3 and all(i.source == "augmented" for i in new)
        again_new, again_counts = augment_items(teacher, task, [], 1, ledger, max_rounds=1)
    assert again_counts["calls"] == 0 and [i.text for i in again_new] == [i.text for i in new]
