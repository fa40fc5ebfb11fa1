"""Per-epoch training checkpoints that a rerun resumes only when its config and data are the same."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from llmkd.errors import warn
from llmkd.run.files import write_json
from llmkd.training.data import Example

CHECKPOINTS = ".checkpoints"
FINGERPRINT = "fingerprint.json"
NOT_FINGERPRINTED = {"resume", "output", "report_to", "onnx"}


def run_fingerprint(config: Any, examples: list[Example]) -> str:
    """SHA-256 of the training-relevant config and the examples: a checkpoint resumes only on a match."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_FINGERPRINTED}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for e in examples:
        digest.update(json.dumps([e.text, e.label, e.probs, e.rationale]).encode())
    return digest.hexdigest()


def last_checkpoint(work: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder (one with ``trainer_state.json``), or None."""
    if not work.is_dir():
        return None
    done = [
        p
        for p in work.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if p.is_dir() and p.name.rpartition("-")[2].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(done, key=lambda p: int(p.name.rpartition("-")[2])) if done else None


def prepare_checkpoints(work: Path, fingerprint: str, resume: bool) -> Path | None:
    """Keep ``work`` and return its last checkpoint when resuming the same run; else start it afresh."""
    marker = work / FINGERPRINT
    if resume and marker.is_file():
        try:
            same = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
        except (json.JSONDecodeError, AttributeError):
            same = False
        checkpoint = last_checkpoint(work) if same else None
        if checkpoint is not None:
            return checkpoint
        if not same:
            warn(f"{work}: checkpoints of another config or data; starting afresh")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"fingerprint": fingerprint})
    return None
