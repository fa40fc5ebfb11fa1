"""RUN/lineage.json: what each output was made from, and the one-line refusal when that has changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmkd.errors import RunError
from llmkd.run.lineage import check_fresh, config_hash, read_lineage, record_output


def made(run: Path, generate: dict, filter_: dict) -> None:
    (run / "labels.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    record_output(run, run / "labels.jsonl", "generate", generate, "llmkd generate --run R", [])
    (run / "filtered.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    record_output(
        run, run / "filtered.jsonl", "filter", filter_, "llmkd filter --run R", [run / "labels.jsonl"]
    )


def test_untouched_and_touched_inputs_pass(tmp_path: Path) -> None:
    made(tmp_path, {"teacher": ["lexicon"]}, {"min_confidence": 0.5})
    check_fresh(tmp_path, tmp_path / "filtered.jsonl")
    stat = (tmp_path / "labels.jsonl").stat()
    os.utime(tmp_path / "labels.jsonl", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes
    check_fresh(tmp_path, tmp_path / "filtered.jsonl")
    check_fresh(tmp_path, tmp_path / "unknown.jsonl")  # no lineage entry: nothing to compare


def test_rewritten_input_is_refused_with_the_refresh_command(tmp_path: Path) -> None:
    made(tmp_path, {"teacher": ["lexicon"]}, {})
    (tmp_path / "labels.jsonl").write_text('{"id": 2}\n', encoding="utf-8")
    with pytest.raises(RunError) as exc:
        check_fresh(tmp_path, tmp_path / "filtered.jsonl")
    assert str(exc.value) == (
        f"{tmp_path / 'filtered.jsonl'} was made from an older labels.jsonl; rerun `llmkd filter --run R`"
    )


def test_same_content_from_another_configuration_is_refused(tmp_path: Path) -> None:
    made(tmp_path, {"teacher": ["lexicon"]}, {})
    record_output(tmp_path, tmp_path / "labels.jsonl", "generate", {"teacher": ["gpt-4o"]}, "g", [])
    with pytest.raises(RunError, match=r"made from a labels\.jsonl of another generate configuration"):
        check_fresh(tmp_path, tmp_path / "filtered.jsonl")


def test_the_earliest_stale_output_is_named(tmp_path: Path) -> None:
    made(tmp_path, {}, {})
    (tmp_path / "student").mkdir()
    record_output(
        tmp_path,
        tmp_path / "student",
        "finetune",
        {},
        "llmkd finetune --run R",
        [tmp_path / "filtered.jsonl"],
    )
    (tmp_path / "labels.jsonl").write_text('{"id": 3}\n', encoding="utf-8")
    with pytest.raises(
        RunError, match=r"filtered.jsonl was made from an older labels.jsonl; rerun `llmkd filter"
    ):
        check_fresh(tmp_path, tmp_path / "student")
    assert set(read_lineage(tmp_path)) == {"labels.jsonl", "filtered.jsonl", "student"}


def test_config_hash_ignores_how_a_stage_ran() -> None:
    assert config_hash({"teacher": ["a"], "concurrency": 4, "run": "x"}) == config_hash({"teacher": ["a"]})
    assert config_hash({"teacher": ["a"]}) != config_hash({"teacher": ["b"]})
