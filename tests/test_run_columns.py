"""Column flags given once to generate (saved in generate_config.json) also read the run's --gold and
--exclude files; a flag given to the later stage wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.cli import given_flags
from llmkd.errors import InputError
from llmkd.evaluate import EvaluateConfig
from llmkd.evaluate import main as evaluate_main
from llmkd.filter import main as filter_main
from llmkd.io.spec import InputColumns
from llmkd.run.directory import remembered_columns
from tests.tiny_runs import TEACHER, write_run

GENERATE = {"task": "fin-sentiment", "input": "mine.csv", "text_column": "headline", "id_column": "key"}


def remember(run: Path, **extra: object) -> None:
    (run / "generate_config.json").write_text(json.dumps({**GENERATE, **extra}), encoding="utf-8")


def test_exclude_file_read_with_the_runs_text_column(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    remember(run)
    (tmp_path / "gold.csv").write_text(f"key,headline\ng1,{TEACHER[0][1]}\n", encoding="utf-8")
    assert filter_main(["--run", str(run), "--exclude", str(tmp_path / "gold.csv"), "--no-progress"]) == 0
    removed = [json.loads(line) for line in (run / "removed.jsonl").read_text().splitlines()]
    assert [r["id"] for r in removed if "leakage_exact" in r["reasons"]] == [TEACHER[0][0]]


def test_gold_file_read_with_the_runs_columns_unless_given(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    remember(run, label_column="sentiment", label_map="pos=positive,neg=negative,neu=neutral")
    gold = tmp_path / "gold.csv"
    gold.write_text(
        f"key,headline,sentiment\ng1,{TEACHER[0][1]},pos\ng2,{TEACHER[1][1]},neg\n", encoding="utf-8"
    )
    flags = ["--run", str(run), "--gold", str(gold), "--no-plots", "--no-time-teacher"]
    assert evaluate_main(flags) == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["n_gold"] == 2 and report["teacher"]["accuracy"] == 1.0
    with pytest.raises(InputError, match="sentence"):  # an explicit column is not overridden
        evaluate_main([*flags, "--text-column", "sentence"])


def test_remembered_columns_rules(tmp_path: Path) -> None:
    remember(tmp_path, format="csv", label_column=None)
    given = given_flags(EvaluateConfig, ["--run", "R", "--id-column=id"])
    assert given == {"run", "id_column"}
    columns = remembered_columns(tmp_path, EvaluateConfig(run="R", id_column="id"), given, "gold.csv")
    assert (columns.text_column, columns.id_column, columns.label_column, columns.format) == (
        "headline",
        "id",
        None,
        "csv",
    )
    assert remembered_columns(tmp_path, InputColumns(), set(), "gold.jsonl").format == "auto"  # other suffix
    assert remembered_columns(tmp_path / "absent", InputColumns(), set(), "g.csv") == InputColumns()
