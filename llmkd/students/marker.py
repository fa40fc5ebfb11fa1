"""``llmkd_student.json``: the marker that tells a causal student folder from an encoder one (no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmkd.errors import RunError

MARKER = "llmkd_student.json"


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """``llmkd_student.json`` of a student folder, or None when absent (an encoder student)."""
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise RunError(f"{path}: not valid JSON (rerun llmkd.finetune)") from None
    if not isinstance(data, dict) or data.get("kind") != "causal":
        raise RunError(f"{path}: not a causal-student marker (rerun llmkd.finetune)")
    return data
