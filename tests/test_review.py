"""review: the doubtful records out to CSV, Label Studio and Argilla, the reviewers' labels back into the
run's gold seed."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from llmkd.errors import InputError
from llmkd.io.review_formats import read_corrections
from llmkd.review import main, rank_doubtful
from llmkd.run.files import read_jsonl
from llmkd.training.data import seed_examples
from tests.tiny_runs import LABELS, save_encoder_student

ROOT = Path(__file__).resolve().parents[1]


def _record(rid: str, text: str, label: str | None, top: float = 0.95, **extra: Any) -> dict[str, Any]:
    others = [x for x in LABELS if x != label]
    probs = {label: top, others[0]: 1 - top, others[1]: 0.0} if label else None
    return {"id": rid, "text": text, "label": label, "probs": probs, "status": "ok", "teachers": {}, **extra}


def _views(a: str, b: str) -> dict[str, Any]:
    return {"t1": {"label": a, "status": "ok"}, "t2": {"label": b, "status": "ok"}}


RECORDS = [
    _record("sure", "Profit rose sharply.", "positive"),
    _record("unsure", "Results were mixed.", "neutral", top=0.45),
    _record(
        "split", "Sales fell but margins grew.", "negative", top=0.9, teachers=_views("negative", "positive")
    ),
    _record("failed", "???", None, status="invalid", error="unparseable answer"),
    _record("later", "Not yet asked.", None, status="pending"),
    _record("sure2", "Jobs were cut.", "negative"),
]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}), encoding="utf-8")
    (run / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return run


def _seed(run: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in read_jsonl(run / "gold_seed.jsonl")}


def test_ranking_most_doubtful_first_with_reasons() -> None:
    ranked = rank_doubtful(RECORDS, min_confidence=0.8)
    assert [it.id for it in ranked] == ["failed", "split", "unsure"]  # confident and pending ones are not
    assert "no valid teacher label (unparseable answer)" in ranked[0].reason and ranked[0].suggested is None
    assert "teachers disagree (t1: negative, t2: positive)" in ranked[1].reason
    assert ranked[2].reason == "low confidence 0.45" and ranked[2].confidence == pytest.approx(0.45)
    student = {"sure": ("negative", 0.9), "sure2": ("negative", 0.99)}
    with_student = rank_doubtful(RECORDS, 0.8, student)
    assert "sure" in [it.id for it in with_student] and "sure2" not in [it.id for it in with_student]
    assert (
        "student says negative p=0.90, teacher positive"
        in next(i for i in with_student if i.id == "sure").reason
    )


def test_csv_round_trip_into_gold_seed(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--run", str(run), "--limit", "2"]) == 0
    out = run / "review" / "review.csv"
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["failed", "split"] and all(r["gold"] == "" for r in rows)
    assert (run / "review_export_config.json").is_file()
    rows[0]["gold"], rows[1]["gold"] = "neutral", "positive"
    rows[1]["text"] = "  Sales fell but   margins grew. "  # a spreadsheet's copy; the run's text wins
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["import", "--run", str(run), str(out)]) == 0
    seed = _seed(run)
    assert seed == {
        "failed": {"id": "failed", "text": "???", "label": "neutral", "source": "review"},
        "split": {
            "id": "split",
            "text": "Sales fell but margins grew.",
            "label": "positive",
            "source": "review",
        },
    }
    assert "2 added to, 0 replaced" in capsys.readouterr().out
    examples = seed_examples(list(seed.values()), LABELS)  # what finetune trains on as gold
    assert [LABELS[e.label] for e in examples] == ["neutral", "positive"]
    # A second review of the same record replaces it; reviewed records are not exported again.
    rows[1]["gold"] = "negative"
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[1:])
    assert main(["import", "--run", str(run), str(out)]) == 0
    assert _seed(run)["split"]["label"] == "negative" and len(_seed(run)) == 2
    assert main(["export", "--run", str(run)]) == 0
    assert [r["id"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["unsure"]


def test_label_studio_round_trip(run: Path) -> None:
    assert main(["export", "--run", str(run), "--format", "label-studio"]) == 0
    tasks_path = run / "review" / "label_studio_tasks.json"
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    assert [t["data"]["record_id"] for t in tasks] == ["failed", "split", "unsure"]
    assert tasks[0]["predictions"] == []  # no label to suggest
    pre = tasks[1]["predictions"][0]["result"][0]
    assert (
        pre["from_name"] == "label" and pre["to_name"] == "text" and pre["value"] == {"choices": ["negative"]}
    )
    config = ET.fromstring(tasks_path.with_suffix(".xml").read_text(encoding="utf-8"))
    choices = config.find("Choices")
    assert choices is not None and choices.get("name") == "label" and choices.get("toName") == "text"
    assert [c.get("value") for c in choices] == LABELS
    assert config.find("Text").get("value") == "$text"  # type: ignore[union-attr]
    # What Label Studio's JSON export gives back: each task with its annotations (newest last).
    exported = []
    for i, task in enumerate(tasks):
        choice = {"from_name": "label", "to_name": "text", "type": "choices"}
        annotations = [
            {"result": [{**choice, "value": {"choices": ["negative"]}}], "was_cancelled": False},
            {"result": [{**choice, "value": {"choices": ["positive"]}}], "was_cancelled": i == 1},
        ]
        exported.append({"id": 100 + i, **task, "annotations": annotations if i < 2 else []})
    export = run / "ls_export.json"
    export.write_text(json.dumps(exported, indent=2), encoding="utf-8")
    assert main(["import", "--run", str(run), str(export)]) == 0
    assert {k: v["label"] for k, v in _seed(run).items()} == {"failed": "positive", "split": "negative"}
    # JSON-MIN export: the data keys and the choice flattened.
    minimal = run / "ls_min.json"
    minimal.write_text(
        json.dumps([{"id": 7, "record_id": "unsure", "text": "Results were mixed.", "label": "neutral"}])
    )
    assert main(["import", "--run", str(run), str(minimal)]) == 0
    assert _seed(run)["unsure"]["label"] == "neutral"


def test_argilla_round_trip(run: Path) -> None:
    assert main(["export", "--run", str(run), "--format", "argilla", "--min-confidence", "0.5"]) == 0
    path = run / "review" / "argilla_records.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    settings = json.loads((run / "review" / "argilla_records.settings.json").read_text(encoding="utf-8"))
    assert settings["questions"] == [
        {"name": "label", "type": "label_selection", "labels": LABELS, "required": True}
    ]
    assert [r["id"] for r in records] == ["failed", "split", "unsure"]
    assert records[1]["fields"] == {"text": "Sales fell but margins grew."}
    assert records[1]["suggestions"]["label"]["value"] == "negative" and records[0]["suggestions"] == {}
    assert "teachers disagree" in records[1]["metadata"]["reason"]
    records[0]["responses"] = {"label": [{"value": "negative", "user_id": "u1", "status": "submitted"}]}
    records[1]["responses"] = {
        "label": [
            {"value": "positive", "user_id": "u1", "status": "submitted"},
            {"value": "neutral", "user_id": "u2", "status": "draft"},  # not submitted: not counted
            {"value": "positive", "user_id": "u3", "status": "submitted"},
        ]
    }
    path.write_text(json.dumps(records), encoding="utf-8")
    assert main(["import", "--run", str(run), str(path)]) == 0
    assert {k: v["label"] for k, v in _seed(run).items()} == {"failed": "negative", "split": "positive"}
    flat = run / "argilla_flat.json"
    flat.write_text(
        json.dumps(
            [
                {
                    "id": "unsure",
                    "text": "Results were mixed.",
                    "label.responses": ["negative"],
                    "status": "completed",
                }
            ]
        )
    )
    assert main(["import", "--run", str(run), str(flat)]) == 0
    assert _seed(run)["unsure"]["label"] == "negative"


def test_student_predictions_join_the_doubts(
    run: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions = [
        {"id": "sure", "text": "Profit rose sharply.", "student": "negative", "confidence": 0.7},
        {"id": "sure2", "text": "An evaluation text whose id clashes.", "student": "positive"},
    ]
    (run / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
    assert main(["export", "--run", str(run)]) == 0
    rows = list(csv.DictReader((run / "review" / "review.csv").open(encoding="utf-8")))
    assert (
        "student says negative p=0.70, teacher positive"
        in next(r for r in rows if r["id"] == "sure")["reason"]
    )
    assert "sure2" not in [r["id"] for r in rows]  # matched by text, not by a clashing id
    (run / "predictions.jsonl").unlink()
    save_encoder_student(run / "student", tiny_bert_dir)
    assert main(["export", "--run", str(run), "--limit", "0", "--device", "cpu"]) == 0
    assert "compared with the student on 4" in capsys.readouterr().out  # the records with a teacher label
    for row in csv.DictReader((run / "review" / "review.csv").open(encoding="utf-8")):
        if "student says" in row["reason"]:
            assert not row["reason"].split("student says ")[1].startswith(row["suggested"])
    assert main(["export", "--run", str(run), "--student", "none"]) == 0
    assert all("student" not in r["reason"] for r in csv.DictReader((run / "review" / "review.csv").open()))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "id,text,gold\nx,Some text,bullish\n", "a.csv:2: unknown label 'bullish'"),
        ("b.csv", "id,text,label\nx,Some text,positive\n", "b.csv:1: no column 'gold'"),
        ("c.csv", 'id,text,gold\nx,"unclosed,positive\n', "c.csv:2: bad CSV row"),
        ("d.json", '[\n {"record_id": "x", "text": "t", "label": "up"}\n]', "d.json:2: unknown label 'up'"),
        ("e.json", '[\n {"data": {"text": "t"},\n  "annotations": [}\n]', "e.json:3: bad JSON"),
        (
            "f.json",
            '[\n {"fields": {"text": "t"}, "responses": {"label": [{"value": "positive"}]}}\n]',
            "f.json:2: a reviewed record has no id",
        ),
        ("g.json", '[\n {"something": "else"}\n]', "g.json:2: not a review record"),
        (
            "h.json",
            '[\n {"record_id": "x", "text": "t", "label": "positive"}\n',
            "h.json:3: bad JSON (the array is not closed",
        ),
    ],
)
def test_bad_review_files_are_one_line_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_corrections(path, LABELS)
    assert str(err.value).startswith(str(tmp_path / message)) and "\n" not in str(err.value)


def test_cli_error_is_one_line_and_exit_2(run: Path) -> None:
    bad = run / "bad.csv"
    bad.write_text("id,text,gold\nsure,Profit rose sharply.,bullish\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "llmkd", "review", "import", "--run", str(run), str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}:2: unknown label 'bullish' (the task's labels: positive, negative, neutral)"
    ]
    assert not (run / "gold_seed.jsonl").exists()
