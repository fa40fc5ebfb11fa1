"""generate: labels every item, resumes from the ledger without calling the teacher, fails cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.generate import main
from llmkd.run.ledger import RunLedger
from llmkd.teachers.local import LocalTeacher
from tests.tiny_runs import read_labels

TEXTS = ["profit rose", "sales fell", "record loss", "jobs cut", "guidance raised", "profit rose"]


@pytest.fixture
def csv_input(tmp_path: Path) -> Path:
    path = tmp_path / "news.csv"
    rows = ["text,label"] + [
        f"{t},{'positive' if 'rose' in t or 'raised' in t else 'negative'}" for t in TEXTS
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_generate_then_rerun_calls_no_teacher(
    tiny_llama: Path, csv_input: Path, tmp_path: Path, monkeypatch
) -> None:
    run = tmp_path / "run"
    argv = [
        "--input",
        str(csv_input),
        "--label-column",
        "label",
        "--teacher",
        f"hf:{tiny_llama}",
        "--run",
        str(run),
        "--max-new-tokens",
        "4",
        "--batch-size",
        "4",
    ]
    assert main(argv) == 0
    records = read_labels(run)
    assert len(records) == len(TEXTS)
    for rec in records:
        assert {"id", "text", "label", "probs", "rationale", "teacher", "source", "gold"} <= rec.keys()
        assert rec["label"] in {"positive", "negative", "neutral"} and rec["source"] == "input"
        assert set(rec["probs"]) == {"positive", "negative", "neutral"}
        assert abs(sum(rec["probs"].values()) - 1) < 1e-5
        assert rec["label"] == max(rec["probs"], key=rec["probs"].get)
        assert rec["teachers"][f"hf:{tiny_llama}"]["prob_method"] == "label-scoring"
        assert isinstance(rec["rationale"], str)
    assert records[0]["gold"] == "positive"
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == len(set(TEXTS))  # the repeated text is asked once
    config = json.loads((run / "generate_config.json").read_text())
    assert config["teacher"] == [f"hf:{tiny_llama}"] and config["batch_size"] == 4 and config["samples"] == 1

    def no_calls(*args, **kwargs):
        raise AssertionError("the teacher was called on a fully cached rerun")

    monkeypatch.setattr(LocalTeacher, "label", no_calls)
    monkeypatch.setattr(LocalTeacher, "lm", property(no_calls))
    before = (run / "labels.jsonl").read_text()
    assert main(argv) == 0
    assert (run / "labels.jsonl").read_text() == before


def test_changed_prompt_parameters_are_new_requests(
    tiny_llama: Path, csv_input: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    base = ["--input", str(csv_input), "--teacher", f"hf:{tiny_llama}", "--run", str(run), "--no-rationale"]
    main(base)
    main([*base, "--no-few-shot"])
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == 2 * len(set(TEXTS))


def test_task_with_other_labels(tiny_llama: Path, tmp_path: Path) -> None:
    src = tmp_path / "fed.txt"
    src.write_text("rates raised\nrates cut\n", encoding="utf-8")
    run = tmp_path / "run"
    main(
        [
            "--input",
            str(src),
            "--task",
            "monetary-policy",
            "--teacher",
            f"hf:{tiny_llama}",
            "--run",
            str(run),
            "--no-rationale",
        ]
    )
    assert {r["label"] for r in read_labels(run)} <= {"hawkish", "dovish", "neutral"}
    assert all(set(r["probs"]) == {"hawkish", "dovish", "neutral"} for r in read_labels(run))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llmkd.generate", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    ("content", "flags", "needle"),
    [
        ('text,label\nok,positive\n"broken,positive\nmore,negative\n', [], ":3"),
        ("body\nhello\n", [], "text"),
        ("text,label\nfine,positive\nbad,sideways\n", ["--label-column", "label"], ":3"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, content: str, flags: list[str], needle: str
) -> None:
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    run = tmp_path / "run"
    proc = _cli("--input", str(src), "--run", str(run), *flags, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert "in.csv" in lines[0] and needle in lines[0]
    assert not (run / "labels.jsonl").exists()


def test_unknown_teacher_and_missing_input(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("hello\n", encoding="utf-8")
    proc = _cli("--input", str(src), "--teacher", "mystery-model", "--run", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown teacher 'mystery-model'" in proc.stderr
    proc = _cli("--run", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 2 and "--input is required" in proc.stderr


def test_help_explains_every_flag(tmp_path: Path) -> None:
    proc = _cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for flag in [
        "--input",
        "--run",
        "--task",
        "--teacher",
        "--label-map",
        "--rationale",
        "--no-rationale",
        "--samples",
        "--concurrency",
        "--max-cost-usd",
        "--dry-run",
    ]:
        assert flag in proc.stdout
    text = " ".join(proc.stdout.split())
    assert "(default: None)" not in text  # no noise for flags without a default
    assert "(repeatable; default: local)" in text
    assert "(default: fin-sentiment)" in text


def test_overlong_texts_are_truncated_with_a_count(tiny_llama: Path, tmp_path: Path, capsys) -> None:
    from transformers import AutoConfig, AutoTokenizer

    limit = AutoConfig.from_pretrained(tiny_llama).max_position_embeddings  # 2,048
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    src = tmp_path / "long.txt"
    long_text = " ".join(["profit rose"] * 2000)  # 4,000 words
    src.write_text(f"sales fell\n{long_text}\n", encoding="utf-8")
    run = tmp_path / "run"
    main(["--input", str(src), "--teacher", f"hf:{tiny_llama}", "--run", str(run), "--no-rationale"])
    out, err = capsys.readouterr()
    assert "warning: 1 texts longer than" in err and "warning" not in out  # warnings go to stderr
    records = read_labels(run)
    assert [r["text"] for r in records] == ["sales fell", long_text]  # labels.jsonl keeps the input
    with RunLedger(run / "ledger.sqlite") as ledger:
        prompts = [row.request["prompt"] for row in ledger.rows()]
    assert max(len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts) <= limit
