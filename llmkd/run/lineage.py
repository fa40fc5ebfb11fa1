"""What each stage output was made from, so that a later stage refuses an output its inputs have outgrown.

``RUN/lineage.json`` maps every output a stage wrote (``labels.jsonl``, ``filtered.jsonl``, a student
folder) to the stage, the hash of the stage's configuration, the command that remakes it, and the
fingerprint (size, mtime, sha256, producing configuration) of each run file it read. Before a stage reads
an output, :func:`check_fresh` compares those fingerprints with the files as they are now.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from llmkd.errors import RunError
from llmkd.run.files import write_json

LINEAGE = "lineage.json"
# Flags that change how a stage runs, not what it writes: a rerun with other values is the same output.
OPERATIONAL = {
    "run", "dry_run", "progress", "resume", "plots", "device", "concurrency", "rpm", "tpm", "timeout_s",
    "max_attempts", "max_cost_usd", "batch_poll_s",
}  # fmt: skip


def config_hash(config: Any) -> str:
    """sha256 of a stage configuration (a dataclass or a mapping), keys sorted, ``OPERATIONAL`` left out."""
    is_instance = dataclasses.is_dataclass(config) and not isinstance(config, type)
    data = dataclasses.asdict(config) if is_instance else dict(config)
    kept = {k: v for k, v in data.items() if k not in OPERATIONAL}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(run_dir: Path, path: str | Path) -> str:
    """A path relative to the run when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def read_lineage(run_dir: Path) -> dict[str, Any]:
    """``RUN/lineage.json`` (empty when no stage has written one, or it is unreadable)."""
    try:
        data = json.loads((run_dir / LINEAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def fingerprint(run_dir: Path, path: Path) -> dict[str, Any]:
    """Size, mtime, sha256 of ``path`` and the configuration hash of the stage that made it."""
    stat = path.stat()
    made = read_lineage(run_dir).get(_key(run_dir, path)) or {}
    return {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": _sha256(path),
        "config": made.get("config"),
    }


def record_output(
    run_dir: Path, output: str | Path, stage: str, config: Any, command: str, inputs: list[Path]
) -> None:
    """Note in ``RUN/lineage.json`` that ``stage`` (run as ``command``) wrote ``output`` from ``inputs``."""
    entry = {
        "stage": stage,
        "config": config_hash(config),
        "command": command,
        "inputs": {_key(run_dir, p): fingerprint(run_dir, p) for p in inputs if p.is_file()},
    }
    lineage = read_lineage(run_dir)
    lineage[_key(run_dir, output)] = entry
    write_json(run_dir / LINEAGE, lineage)


def _changed(run_dir: Path, name: str, seen: dict[str, Any], lineage: dict[str, Any]) -> str | None:
    """Why the run file ``name`` is not what was read (None: unchanged)."""
    path = Path(name) if Path(name).is_absolute() else run_dir / name
    if not path.is_file():
        return f"a {Path(name).name} that no longer exists"
    stat = path.stat()
    same_file = stat.st_size == seen.get("size") and stat.st_mtime_ns == seen.get("mtime_ns")
    if not same_file and (stat.st_size != seen.get("size") or _sha256(path) != seen.get("sha256")):
        return f"an older {Path(name).name}"
    made = (lineage.get(name) or {}).get("config")
    if made and seen.get("config") and made != seen["config"]:
        stage = (lineage.get(name) or {}).get("stage", "the previous stage")
        return f"a {Path(name).name} of another {stage} configuration"
    return None


def check_fresh(run_dir: Path, target: str | Path) -> None:
    """Refuse to read ``target`` when a run file it was made from changed since (checked back to the start).

    Outputs without a lineage entry (made before lineage was kept, or by hand) pass.

    Raises:
        RunError: one line naming the stale output, what changed and the command that remakes it.
    """
    lineage = read_lineage(run_dir)
    _check(run_dir, _key(run_dir, target), lineage, set())


def _check(run_dir: Path, name: str, lineage: dict[str, Any], done: set[str]) -> None:
    entry = lineage.get(name)
    if not isinstance(entry, dict) or name in done:
        return
    done.add(name)
    inputs = entry.get("inputs") or {}
    for source in inputs:
        _check(run_dir, source, lineage, done)  # the earliest stale output is the one to remake first
    for source, seen in inputs.items():
        why = _changed(run_dir, source, seen, lineage)
        if why:
            where = name if Path(name).is_absolute() else run_dir / name
            command = entry.get("command") or "the stage that writes it"
            raise RunError(f"{where} was made from {why}; rerun `{command}`")
