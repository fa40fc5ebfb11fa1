"""Every export format loads back with the kept records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.errors import RunError
from llmkd.export import main
from llmkd.run.files import write_json, write_jsonl

RECORDS = [
    {
        "id": "a",
        "text": "Profit rose sharply in the quarter.",
        "label": "positive",
        "probs": {"positive": 0.8, "negative": 0.1, "neutral": 0.1},
        "teacher": "local",
        "source": "input",
        "scores": {"top_prob": 0.8},
        "cluster_size": 2,
    },
    {
        "id": "b",
        "text": "The company cut 200 jobs.",
        "label": "negative",
        "probs": None,
        "teacher": "local,gpt",
        "source": "augmented",
        "scores": {"top_prob": None},
        "cluster_size": 1,
    },
]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "filtered.jsonl", RECORDS)
    write_json(tmp_path / "filter_report.json", {"n_in": 5, "removed": {"low_confidence": 3}})
    write_json(tmp_path / "filter_config.json", {"run": str(tmp_path), "min_confidence": 0.5})
    write_json(tmp_path / "generate_config.json", {"task": "fin-sentiment"})
    return tmp_path


def test_hf_export_with_card(run: Path) -> None:
    from datasets import load_from_disk

    assert main(["--run", str(run), "--format", "hf"]) == 0
    ds = load_from_disk(str(run / "export" / "hf"))
    assert ds.features["label"].names == ["positive", "negative", "neutral"]
    assert ds["label"] == [0, 1] and ds["text"][0] == RECORDS[0]["text"]
    assert ds["probs"][0] == pytest.approx([0.8, 0.1, 0.1]) and ds["probs"][1] is None
    card = (run / "export" / "hf" / "README.md").read_text()
    assert "`local`: labelled 2" in card and "`gpt`: labelled 1" in card
    assert "low_confidence 3" in card and '"min_confidence": 0.5' in card and "kept of 5" in card
    main(["--run", str(run), "--format", "hf"])  # overwriting works
    assert len(load_from_disk(str(run / "export" / "hf"))) == 2


def test_parquet_and_jsonl_exports(run: Path, tmp_path: Path) -> None:
    import pandas as pd

    main(["--run", str(run), "--format", "parquet", "--out", str(tmp_path / "x.parquet")])
    df = pd.read_parquet(tmp_path / "x.parquet")
    assert df["label"].tolist() == ["positive", "negative"] and df["label_id"].tolist() == [0, 1]
    assert df["cluster_size"].tolist() == [2, 1]
    main(["--run", str(run), "--format", "jsonl"])
    rows = [json.loads(line) for line in (run / "export" / "train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["probs"] == [0.8, 0.1, 0.1]


def test_openai_chat_export(run: Path) -> None:
    main(["--run", str(run), "--format", "openai-chat"])
    rows = [json.loads(line) for line in (run / "export" / "train_chat.jsonl").read_text().splitlines()]
    roles = [m["role"] for m in rows[0]["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert rows[0]["messages"][2]["content"] == "positive"
    assert "<text>\nProfit rose sharply in the quarter.\n</text>" in rows[0]["messages"][1]["content"]


def test_empty_or_bad_kept_set_is_a_clear_error(run: Path) -> None:
    write_jsonl(run / "filtered.jsonl", [])
    with pytest.raises(RunError, match="no kept records to export"):
        main(["--run", str(run), "--format", "jsonl"])
    write_jsonl(run / "filtered.jsonl", [{**RECORDS[0], "label": "bullish"}])
    with pytest.raises(RunError, match="label 'bullish'"):
        main(["--run", str(run), "--format", "parquet"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("generate_config.json", "{truncated", r"generate_config\.json: not valid JSON"),
        ("filtered.jsonl", '{"id": "a"}\n{oops\n', r"filtered\.jsonl:2: not valid JSON"),
        ("filtered.jsonl", "[1, 2]\n", r"filtered\.jsonl:1: not a JSON object"),
    ],
)
def test_corrupt_run_file_is_a_one_line_error(run: Path, name: str, content: str, message: str) -> None:
    (run / name).write_text(content)
    with pytest.raises(RunError, match=message):
        main(["--run", str(run), "--format", "jsonl"])


def test_task_is_never_guessed(run: Path) -> None:
    (run / "generate_config.json").unlink()
    with pytest.raises(RunError, match="pass --task"):
        main(["--run", str(run), "--format", "jsonl"])
    assert main(["--run", str(run), "--format", "jsonl", "--task", "fin-sentiment"]) == 0


def test_export_saves_its_config(run: Path) -> None:
    assert main(["--run", str(run), "--format", "jsonl"]) == 0
    saved = json.loads((run / "export_config.json").read_text(encoding="utf-8"))
    assert saved["run"] == str(run) and saved["format"] == "jsonl" and saved["out"] is None
