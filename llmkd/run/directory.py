"""The run directory every stage works in: ``--run`` checked in one place, and what earlier stages recorded."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from llmkd.errors import ConfigError, RunError
from llmkd.io.spec import InputColumns
from llmkd.io.task import Task, load_task

C = TypeVar("C", bound=InputColumns)
COLUMN_FLAGS = ("text_column", "id_column", "label_column", "label_map", "format")

STAGE_HINTS = {
    "labels.jsonl": "python -m llmkd.generate --run {run} ...",
    "filtered.jsonl": "python -m llmkd.filter --run {run}",
}


def run_directory(run: str | None, *, needs: str | None = None) -> Path:
    """The ``--run`` folder, which must exist (and hold ``needs``, when given).

    Raises:
        ConfigError: ``--run`` was not given.
        RunError: the folder, or the file it needs, is missing; the message says which command makes it.
    """
    if not run:
        what = f" (the run directory holding {needs})" if needs else ""
        raise ConfigError(f"--run DIR is required{what}")
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory (check --run)")
    if needs and not (run_dir / needs).is_file():
        hint = STAGE_HINTS.get(needs, "")
        command = f" (run `{hint.format(run=run_dir)}` first)" if hint else ""
        raise RunError(f"{run_dir / needs}: missing{command}")
    return run_dir


def stage_config(run_dir: Path, stage: str) -> dict[str, Any] | None:
    """``RUN/<stage>_config.json`` as saved by that stage, or None when the stage has not run.

    Raises:
        RunError: the file exists but is not a JSON object.
    """
    path = run_dir / f"{stage}_config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(
            f"{path}: not valid JSON ({exc}); rerun that stage or pass the flag explicitly"
        ) from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a JSON object; rerun that stage or pass the flag explicitly")
    return data


def resolve_task(run_dir: Path, task: str | None) -> Task:
    """``--task`` when given, else the task recorded by generate (or finetune) in the run.

    Raises:
        RunError: no stage recorded a task (the message says to pass ``--task``).
    """
    if task:
        return load_task(task)
    for stage in ("generate", "finetune"):
        name = (stage_config(run_dir, stage) or {}).get("task")
        if name:
            return load_task(str(name))
    raise RunError(f"{run_dir}: no generate_config.json or finetune_config.json names the task (pass --task)")


def remembered_columns(
    run_dir: Path, columns: C, given: Collection[str], path: str, names: Collection[str] = COLUMN_FLAGS
) -> C:
    """``columns`` with each setting in ``names`` that the user did not give taken from the run's
    generate_config.json, so the column flags given once to generate also read the run's other files
    (``--gold``, ``--exclude``). ``--format`` carries over only to a ``path`` with the input's suffix.
    """
    recorded = stage_config(run_dir, "generate") or {}
    same_kind = Path(str(recorded.get("input") or "")).suffix.lower() == Path(path).suffix.lower()
    values = {
        name: recorded[name]
        for name in names
        if name not in given
        and recorded.get(name) is not None
        and (name != "format" or same_kind)
        and name in {f.name for f in dataclasses.fields(columns)}
    }
    return dataclasses.replace(columns, **values) if values else columns
