"""generate --gold-seed: every teacher labels the seed first, the audit says how good each is, corrections
learned on the seed reach labels.jsonl, and the seed stays out of every evaluation set."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import llmkd.generate as generate_stage
from llmkd.errors import ConfigError
from llmkd.evaluate import main as evaluate_main
from llmkd.filter import main as filter_main
from llmkd.generate import main
from llmkd.run.ledger import RunLedger

POSITIVE = [
    "Profit rose sharply.",
    "Sales grew strongly.",
    "The outlook was raised.",
    "Record growth in orders.",
]
NEGATIVE = ["Profit fell sharply.", "Sales dropped.", "A loss warning was issued.", "Orders declined."]
NEUTRAL = [
    "The meeting is on Monday.",
    "The report was published.",
    "The office is in Oulu.",
    "A CEO was named.",
]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    calls: list[int] = []

    def baseline(items: Any, labels: Any, student: str = "minilm") -> dict[str, Any]:
        calls.append(len(items))
        return {"folds": 5, "accuracy": 0.5, "macro_f1": 0.4}

    monkeypatch.setattr(generate_stage, "seed_only_baseline", baseline)  # the real one loads MiniLM
    seed = (
        [(t, "positive") for t in POSITIVE]
        + [(t, "negative") for t in NEGATIVE]
        + [(t, "neutral") for t in NEUTRAL]
    )
    texts = [(f"{t} (item {i})", "") for i, t in enumerate(POSITIVE + NEGATIVE + NEUTRAL)]
    return write_csv(tmp_path / "seed.csv", seed), write_csv(tmp_path / "input.csv", texts)


def test_seed_is_audited_corrected_and_recorded(
    tmp_path: Path, files: tuple[Path, Path], capsys: Any
) -> None:
    seed, source = files
    run = tmp_path / "run"
    args = ["--input", str(source), "--teacher", "lexicon", "--run", str(run), "--no-rationale"]
    assert main([*args, "--gold-seed", str(seed)]) == 0
    out = capsys.readouterr().out
    assert "Teacher audit on the gold seed (12 items)" in out
    audit = json.loads((run / "audit.json").read_text())
    lexicon = audit["teachers"]["lexicon"]
    assert lexicon["n"] == 12 and 0.0 <= lexicon["accuracy"] <= 1.0
    low, high = lexicon["interval_95"]["accuracy"]
    assert low <= lexicon["accuracy"] <= high
    assert audit["baselines"] == {
        "majority class (positive)": pytest.approx(1 / 3),
        "seed-only student (5-fold CV)": 0.5,
    }
    assert any(v.startswith("lexicon:") for v in audit["verdicts"])
    gold_seed = [json.loads(line) for line in (run / "gold_seed.jsonl").read_text().splitlines()]
    assert [r["label"] for r in gold_seed].count("neutral") == 4
    correction = json.loads((run / "correction.json").read_text())["teachers"]["lexicon"]
    assert correction["method"] in {"none", "temperature", "vector", "transition"}
    records = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    assert len(records) == 12
    if correction["method"] != "none":  # the corrected soft label reached the training data
        view = records[0]["teachers"]["lexicon"]
        assert view["correction"] == correction["method"] and "probs_raw" in view
    assert "<!-- llmkd:audit -->" in (run / "report.md").read_text()
    with RunLedger(run / "ledger.sqlite") as ledger:
        stored = ledger.count()
    assert main([*args, "--gold-seed", str(seed)]) == 0  # a rerun asks nothing again
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == stored == 24


def test_audit_only_spends_nothing_on_the_input(tmp_path: Path, files: tuple[Path, Path]) -> None:
    seed, source = files
    run = tmp_path / "run"
    base = ["--input", str(source), "--teacher", "lexicon", "--run", str(run)]
    assert main([*base, "--gold-seed", str(seed), "--audit-only"]) == 0
    assert (run / "audit.json").is_file() and not (run / "labels.jsonl").exists()
    with pytest.raises(ConfigError, match="--audit-only needs --gold-seed"):
        main([*base, "--audit-only"])


def test_seed_must_stay_out_of_evaluation_sets(tmp_path: Path, files: tuple[Path, Path]) -> None:
    seed, source = files
    run = tmp_path / "run"
    assert (
        main(["--input", str(source), "--teacher", "lexicon", "--run", str(run), "--gold-seed", str(seed)])
        == 0
    )
    overlapping = write_csv(tmp_path / "test.csv", [(POSITIVE[0], "positive"), ("Something new.", "neutral")])
    with pytest.raises(ConfigError, match=r"share 1 text\(s\), e\.g\. 'Profit rose sharply\.'"):
        evaluate_main(["--run", str(run), "--gold", str(overlapping), "--no-time-teacher"])
    with pytest.raises(ConfigError, match="--exclude"):
        filter_main(["--run", str(run), "--exclude", str(overlapping), "--no-progress"])
