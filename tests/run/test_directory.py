"""``--run`` is checked in one place; the task and stage configs are read from the run, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.errors import ConfigError, RunError
from llmkd.run.directory import resolve_task, run_directory, stage_config


def test_run_directory_checks_flag_folder_and_needed_file(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"--run DIR is required \(the run directory holding labels\.jsonl\)"
    ):
        run_directory(None, needs="labels.jsonl")
    with pytest.raises(RunError, match="no such run directory"):
        run_directory(str(tmp_path / "absent"))
    with pytest.raises(RunError, match=r"filtered\.jsonl: missing \(run `python -m llmkd\.filter --run"):
        run_directory(str(tmp_path), needs="filtered.jsonl")
    (tmp_path / "filtered.jsonl").write_text("{}\n")
    assert run_directory(str(tmp_path), needs="filtered.jsonl") == tmp_path


def test_resolve_task_prefers_the_flag_then_generate_then_finetune(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="pass --task"):
        resolve_task(tmp_path, None)
    (tmp_path / "finetune_config.json").write_text(json.dumps({"task": "monetary-policy"}))
    assert resolve_task(tmp_path, None).name == "monetary-policy"
    (tmp_path / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}))
    assert resolve_task(tmp_path, None).name == "fin-sentiment"
    assert resolve_task(tmp_path, "monetary-policy").name == "monetary-policy"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_corrupt_stage_config_is_a_one_line_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "generate_config.json").write_text(content)
    with pytest.raises(RunError, match=r"generate_config\.json: not"):
        stage_config(tmp_path, "generate")
    with pytest.raises(RunError, match=r"generate_config\.json: not"):
        resolve_task(tmp_path, None)
