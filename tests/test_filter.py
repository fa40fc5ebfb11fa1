"""The filter stage end to end on small hand-made runs: every reason fires where planted, and only there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmkd.errors import ConfigError, RunError
from llmkd.filter import main, parse_args
from llmkd.run.files import read_jsonl, replace_section, write_jsonl

LABELS = ["positive", "negative", "neutral"]

SENTENCES = [
    (
        "Kestrel Logistics raised its full-year outlook after operating profit climbed 42 percent.",
        "positive",
    ),
    (
        "Norvik Paper has signed a five-year supply deal worth USD 90 million with a Canadian publisher.",
        "positive",
    ),
    (
        "Altamira Foods will close its bakery in Lyon and cut 210 jobs after sales fell in the first half.",
        "negative",
    ),
    (
        "Halvard Marine warned that its operating profit will be clearly below last year because of delays.",
        "negative",
    ),
    (
        "Brightwater Utilities will publish its half-year report on 24 July and hold a webcast for analysts.",
        "neutral",
    ),
    (
        "Solberg Retail Group operates 140 stores in Sweden and Norway and employs about 3,800 people.",
        "neutral",
    ),
    ("Quayside Bank reported a net loss for the quarter as credit impairments rose sharply.", "negative"),
    (
        "Pinecrest Hotels doubled its dividend after occupancy reached a record high in the summer.",
        "positive",
    ),
    ("The annual general meeting of Eskola Chemicals will be held in Helsinki on 12 April.", "neutral"),
    ("Merikoski Dairy lost a major retail customer and expects lower sales in the coming year.", "negative"),
]


def record(
    rid: str,
    text: str,
    label: str | None,
    top: float | None = 0.9,
    *,
    source: str = "input",
    status: str = "ok",
    teachers: dict[str, Any] | None = None,
    rationale: str | None = None,
    gold: str | None = None,
) -> dict[str, Any]:
    probs = None
    if top is not None and label is not None:
        rest = [x for x in LABELS if x != label]
        probs = {label: top, rest[0]: (1 - top) * 0.75, rest[1]: (1 - top) * 0.25}
    return {
        "id": rid,
        "text": text,
        "label": label,
        "probs": probs,
        "rationale": rationale,
        "teacher": ",".join(teachers or {"t1": None}),
        "source": source,
        "status": status,
        "prob_method": "label-scoring" if probs else "none",
        "gold": gold,
        "teachers": teachers
        or {
            "t1": {
                "label": label,
                "probs": probs,
                "rationale": rationale,
                "status": status,
                "prob_method": "label-scoring",
                "samples": [],
            }
        },
    }


def base_records() -> list[dict[str, Any]]:
    return [record(f"s{i}", text, label, gold=label) for i, (text, label) in enumerate(SENTENCES)]


def run_dir(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    write_jsonl(tmp_path / "labels.jsonl", records)
    return tmp_path


def outputs(run: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    kept = {r["id"]: r for r in read_jsonl(run / "filtered.jsonl")}
    removed = {r["id"]: r for r in read_jsonl(run / "removed.jsonl")}
    report = json.loads((run / "filter_report.json").read_text())
    return kept, removed, report


def test_planted_duplicates_removed_and_nothing_else(tmp_path: Path) -> None:
    records = base_records()
    records.append(record("exact", SENTENCES[0][0].upper().replace(",", ""), "positive", 0.99))
    near_text = SENTENCES[2][0].replace("in Lyon", "in Lille")
    records.append(record("near", near_text, "negative", 0.8))
    # an augmented copy with higher confidence still loses to the input record
    records.append(record("aug", SENTENCES[4][0] + " ", "neutral", 0.99, source="augmented"))
    run = run_dir(tmp_path, records)
    assert main(["--run", str(run), "--no-progress"]) == 0
    kept, removed, report = outputs(run)
    assert set(removed) == {"s0", "near", "aug"}  # s0 loses to its more confident exact copy
    assert removed["s0"]["reasons"] == ["exact_duplicate"] and removed["s0"]["duplicate_of"] == "exact"
    assert removed["near"]["reasons"] == ["near_duplicate"] and removed["near"]["duplicate_of"] == "s2"
    assert removed["aug"]["reasons"] == ["exact_duplicate"] and removed["aug"]["duplicate_of"] == "s4"
    assert kept["exact"]["cluster_size"] == 2 and kept["s2"]["cluster_size"] == 2
    assert kept["s1"]["cluster_size"] == 1
    assert report["removed"] == {"exact_duplicate": 2, "near_duplicate": 1}
    assert report["n_in"] == 13 and report["n_kept"] == 10
    assert {c["size"] for c in report["near_duplicate_clusters"]} == {2}
    assert set(kept["s1"]["scores"]) >= {
        "top_prob",
        "margin",
        "entropy",
        "self_consistency",
        "teacher_agreement",
        "rationale_consistency",
        "length_ok",
    }


def test_mask_numbers_catches_templates(tmp_path: Path) -> None:
    records = base_records()
    records.append(record("t1", "Net sales rose 5 % to EUR 12 million.", "positive"))
    records.append(record("t2", "Net sales rose 7 % to EUR 19 million.", "positive", 0.8))
    run = run_dir(tmp_path, records)
    main(["--run", str(run), "--no-progress"])
    assert "t2" not in outputs(run)[1]
    main(["--run", str(run), "--no-progress", "--mask-numbers"])
    assert outputs(run)[1]["t2"]["reasons"] == ["exact_duplicate"]


def test_exclude_removes_leakage(tmp_path: Path) -> None:
    run = run_dir(tmp_path / "run", base_records())
    gold = tmp_path / "eval.csv"
    near_copy = SENTENCES[3][0].replace("because of delays", "because of long delays")
    gold.write_text(
        f'text,label\n"{SENTENCES[1][0].lower()}",positive\n"{near_copy}",negative\n'
        '"An unrelated sentence about the weather in Oslo today.",neutral\n',
        encoding="utf-8",
    )
    main(["--run", str(run), "--no-progress", "--exclude", str(gold)])
    _, removed, report = outputs(run)
    assert {k: v["reasons"] for k, v in removed.items()} == {"s1": ["leakage_exact"], "s3": ["leakage_near"]}
    assert report["removed"] == {"leakage_exact": 1, "leakage_near": 1}


def test_every_policy_reason_fires_and_is_reported(tmp_path: Path) -> None:
    records = base_records()
    three = {
        "a": {"label": "positive", "probs": None, "samples": ["positive", "negative", "negative"]},
        "b": {"label": "negative", "probs": None, "samples": []},
        "c": {"label": "neutral", "probs": None, "samples": []},
    }
    records += [
        record(
            "conf",
            "Ylva Cosmetics opened a new flagship store in central Stockholm this week.",
            "positive",
            0.4,
        ),
        record("marg", "Eskola Chemicals moved its research unit to a new campus near Tampere.", "positive"),
        record(
            "inv",
            "Valo Lighting published a statement about its plans for the next year.",
            None,
            None,
            status="invalid",
        ),
        record(
            "agree",
            "Hollis Packaging completed the move of its head office to a new building.",
            "positive",
            teachers=three,
        ),
        record("short", "Up.", "positive"),
        record("long", "The company said that its profit rose in the quarter. " * 8, "positive"),
        record("sym", "EUR 12.5m / 3.2% +++ 2024-03-01 ### 1,234", "neutral"),
        record(
            "lang",
            "Der Umsatz des Unternehmens stieg im dritten Quartal deutlich auf Millionen Euro an.",
            "positive",
        ),
        record(
            "rat",
            "Isokari Wind appointed a new chief technology officer effective in June.",
            "positive",
            rationale="Sales fell, losses widened and jobs were cut.",
        ),
        record("many", "x1 #2", None, None, status="invalid"),
    ]
    records[-9]["probs"] = {"positive": 0.52, "negative": 0.45, "neutral": 0.03}  # "marg": margin 0.07
    run = run_dir(tmp_path, records)
    args = [
        "--run",
        str(run),
        "--no-progress",
        "--min-margin",
        "0.1",
        "--max-chars",
        "300",
        "--rationale-check",
        "--min-self-consistency",
        "0.9",
    ]
    assert main(args) == 0
    kept, removed, report = outputs(run)
    reasons = {k: v["reasons"] for k, v in removed.items()}
    assert reasons["conf"] == ["low_confidence", "low_margin"]  # top is 0.45 (negative), margin 0.05
    assert reasons["marg"] == ["low_margin"]
    assert reasons["inv"] == ["invalid"]
    assert reasons["agree"] == ["low_agreement", "low_self_consistency"]  # 1 of 3 teachers; 1 of 3 samples
    assert reasons["short"] == ["too_short"]
    assert reasons["long"] == ["too_long"]
    assert reasons["sym"] == ["non_alphabetic"]
    assert reasons["lang"] == ["not_english"]
    assert reasons["rat"] == ["rationale_inconsistent"]
    assert reasons["many"] == ["invalid", "too_short", "non_alphabetic"]  # all reasons, report order
    assert set(kept) == {f"s{i}" for i in range(10)}
    fired = {x for v in reasons.values() for x in v}
    assert set(report["removed"]) == fired
    assert set(report["examples"]) == fired
    md = (run / "report.md").read_text()
    for reason in fired:
        assert f"| {reason} |" in md
    assert (run / "filter_confidence.png").stat().st_size > 1000
    config = json.loads((run / "filter_config.json").read_text())
    assert config["min_margin"] == 0.1 and config["rationale_check"] is True
    assert report["gold_accuracy"]["kept"] == {"n": 10, "accuracy": 1.0}


def test_balance_and_max_per_label(tmp_path: Path) -> None:
    run = run_dir(tmp_path, base_records())  # 3 positive, 4 negative, 3 neutral
    main(["--run", str(run), "--no-progress", "--balance"])
    _, _, report = outputs(run)
    assert report["kept_per_label"] == {"positive": 3, "negative": 3, "neutral": 3}
    assert report["removed"] == {"label_cap": 1}
    main(["--run", str(run), "--no-progress", "--max-per-label", "2"])
    assert outputs(run)[2]["kept_per_label"] == {"positive": 2, "negative": 2, "neutral": 2}


def test_report_section_is_replaced_not_repeated(tmp_path: Path) -> None:
    run = run_dir(tmp_path, base_records())
    (run / "report.md").write_text(
        "# Run\n\n<!-- llmkd:evaluate -->\n## Evaluate\nacc\n<!-- /llmkd:evaluate -->\n"
    )
    main(["--run", str(run), "--no-progress"])
    main(["--run", str(run), "--no-progress", "--min-confidence", "0.85"])
    md = (run / "report.md").read_text()
    assert md.count("## Filter") == 1 and "## Evaluate" in md
    assert "min_confidence=0.85" in md
    assert (
        replace_section("", "filter", "## X")
        == "# llmkd run report\n\n<!-- llmkd:filter -->\n## X\n<!-- /llmkd:filter -->\n"
    )


def test_policy_yaml_and_flag_precedence(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy:\n  min-confidence: 0.7\n  balance: true\n  exclude: [a.csv]\n")
    cfg = parse_args(["--run", "r", "--config", str(policy)])
    assert cfg.min_confidence == 0.7 and cfg.balance and cfg.exclude == ["a.csv"]
    cfg = parse_args(["--run", "r", "--config", str(policy), "--min-confidence", "0.2", "--no-balance"])
    assert cfg.min_confidence == 0.2 and not cfg.balance
    policy.write_text("policy:\n  min_confidance: 0.7\n")
    with pytest.raises(ConfigError, match="unknown policy key 'min_confidance'"):
        parse_args(["--run", "r", "--config", str(policy)])
    with pytest.raises(ConfigError, match="--min-confidence must be between 0 and 1"):
        parse_args(["--run", "r", "--min-confidence", "2"])
    with pytest.raises(
        ConfigError, match=r"^--run is required \(Run directory holding labels\.jsonl\); see "
    ):
        parse_args([])


def test_empty_input_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "labels.jsonl").write_text("")
    with pytest.raises(RunError, match="no records to filter"):
        main(["--run", str(tmp_path), "--no-progress"])
    with pytest.raises(RunError, match=r"nope: no such run directory \(check --run\)"):
        main(["--run", str(tmp_path / "nope"), "--no-progress"])
    (tmp_path / "labels.jsonl").unlink()
    with pytest.raises(RunError, match=r"labels\.jsonl: missing \(run `python -m llmkd.generate"):
        main(["--run", str(tmp_path), "--no-progress"])


def test_all_removed_writes_outputs_and_exits_with_one_line(tmp_path: Path) -> None:
    run = run_dir(tmp_path, base_records())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmkd.filter",
            "--run",
            str(run),
            "--min-confidence",
            "0.95",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert "all 10 records were removed (low_confidence 10)" in proc.stderr
    assert proc.stderr.strip().endswith("lower --min-confidence")
    assert (run / "filtered.jsonl").read_text() == ""
    assert json.loads((run / "filter_report.json").read_text())["n_kept"] == 0


def test_help_renders() -> None:
    from llmkd.cli import build_parser
    from llmkd.filter import FilterConfig

    text = build_parser(FilterConfig, "filter", "").format_help()
    assert "--near-dup-threshold" in text and "--no-drop-invalid" in text and "--exclude" in text
