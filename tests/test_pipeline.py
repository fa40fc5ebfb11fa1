"""``llmkd run``: generate -> filter -> finetune -> evaluate on a user's own CSV (lexicon teacher, tiny BERT)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from llmkd.__main__ import main as llmkd_main
from llmkd.errors import ConfigError
from llmkd.pipeline import as_flags, main, parse_pipeline, stage_argv

WORDS = {
    "positive": ["profit rose", "sales grew strongly", "record growth", "raised its outlook"],
    "negative": ["profit fell", "issued a loss warning", "cut jobs", "sales dropped"],
    "neutral": ["held its annual meeting", "published a report", "is located in Helsinki", "appointed a CEO"],
}


def write_csv(path: Path, n: int, start: int) -> list[tuple[str, str, str]]:
    """A user's CSV with columns key, headline, sentiment (no 'text' or 'label' column)."""
    rows = []
    for i in range(start, start + n):
        label = list(WORDS)[i % 3]
        rows.append((f"k{i}", f"Company {i} {WORDS[label][i % 4]} in quarter {i % 4 + 1}", label))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "headline", "sentiment"])
        writer.writerows(rows)
    return rows


COLUMNS = ["--text-column", "headline", "--id-column", "key", "--label-column", "sentiment"]


def test_run_on_own_csv_end_to_end(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold_rows = write_csv(tmp_path / "gold.csv", 12, 1000)
    write_csv(tmp_path / "seed.csv", 12, 2000)
    rows = write_csv(tmp_path / "mine.csv", 45, 0)
    with (tmp_path / "mine.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["leak", gold_rows[0][1], gold_rows[0][2]])  # a gold text in the input
    run = tmp_path / "run"
    argv = ["--input", str(tmp_path / "mine.csv"), *COLUMNS, "--teacher", "lexicon", "--run", str(run)]
    argv += ["--eval", str(tmp_path / "gold.csv"), "--gold-seed", str(tmp_path / "seed.csv")]
    argv += ["--student", str(tiny_bert_dir), "--epochs", "1"]
    argv += ["--finetune-args", "--full --lr 1e-3", "--evaluate-args", "--no-time-teacher --no-plots"]
    assert llmkd_main(["run", *argv]) == 0
    out = capsys.readouterr().out
    assert f"=== llmkd filter --run {run} --exclude {tmp_path / 'gold.csv'}" in out
    assert f"=== llmkd finetune --run {run} --student {tiny_bert_dir} --epochs 1 --full --lr 1e-3" in out
    assert len((run / "labels.jsonl").read_text().splitlines()) == len(rows) + 1
    removed = [json.loads(line) for line in (run / "removed.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reasons"]) for r in removed] == [("leak", ["leakage_exact"])]  # read as 'headline'
    assert json.loads((run / "finetune_config.json").read_text())["epochs"] == 1
    seed_used = json.loads((run / "finetune_metrics.json").read_text())
    assert seed_used["n_seed_train"] + seed_used["n_seed_dev"] == 12  # the seed read with the run's columns
    report = json.loads((run / "eval.json").read_text())
    assert report["n_gold"] == len(gold_rows)  # the gold file read with the run's columns
    assert report["student"]["n"] == len(gold_rows)
    assert (run / "student" / "config.json").is_file()


def test_yaml_sections_compose_with_flags(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "generate: {input: mine.csv, teacher: [lexicon, local], text-column: headline}\n"
        "filter: {min_confidence: 0.4, balance: true}\n"
        "finetune: {epochs: 8, full: false}\n"
        "evaluate: {gold: gold.csv, time_teacher: false}\n",
        encoding="utf-8",
    )
    config, sections = parse_pipeline(
        ["--config", str(tmp_path / "p.yaml"), "--teacher", "gpt-4o", "--epochs", "2"]
    )
    assert (config.input, config.text_column, config.teacher) == ("mine.csv", "headline", ["gpt-4o"])
    argvs = stage_argv(config, sections, Path("R"))
    assert argvs["filter"] == ["--run", "R", "--min-confidence", "0.4", "--balance", "--exclude", "gold.csv"]
    assert argvs["finetune"] == ["--run", "R", "--epochs", "8", "--no-full", "--epochs", "2"]  # the flag wins
    assert argvs["evaluate"] == ["--run", "R", "--gold", "gold.csv", "--no-time-teacher"]
    assert stage_argv(parse_pipeline(["--input", "x.csv"])[0], {}, Path("R"))["evaluate"] is None


def test_as_flags() -> None:
    values = {"min_confidence": 0.6, "balance": True, "dedup": False, "exclude": ["a", "b"], "seed": None}
    assert as_flags(values) == [
        "--min-confidence",
        "0.6",
        "--balance",
        "--no-dedup",
        "--exclude",
        "a",
        "--exclude",
        "b",
    ]


def test_unknown_yaml_flag_and_section(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("finetune: {epoch: 8}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"finetune: unknown flag 'epoch' \(see llmkd finetune --help\)"):
        parse_pipeline(["--config", str(tmp_path / "p.yaml")])
    (tmp_path / "p.yaml").write_text("train: {epochs: 8}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'train' is not one of generate, filter, finetune, evaluate"):
        parse_pipeline(["--config", str(tmp_path / "p.yaml")])


def test_bad_stage_flag_stops_before_any_labelling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(tmp_path / "mine.csv", 6, 0)
    argv = ["--input", str(tmp_path / "mine.csv"), "--text-column", "headline", "--teacher", "lexicon"]
    argv += ["--run", str(tmp_path / "run"), "--finetune-args", "--epochs zero"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "argument --epochs: invalid int value: 'zero'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_input_is_required() -> None:
    with pytest.raises(ConfigError, match="--input is required"):
        main(["--teacher", "lexicon"])


def test_run_is_a_stage_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        llmkd_main(["run", "--help"])
    assert exc.value.code == 0
    shown = capsys.readouterr().out
    assert all(flag in shown for flag in ("--eval FILE", "--filter-args ARGS", "--gold-seed", "--teacher"))
