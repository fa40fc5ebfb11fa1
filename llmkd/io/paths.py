"""Where llmkd finds its shipped files and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def prompts_dir() -> Path:
    """The ``prompts/`` folder: inside the wheel, or beside the package in a source checkout."""
    for candidate in (PACKAGE_DIR / "prompts", PACKAGE_DIR.parent / "prompts"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("llmkd's prompts/ folder is missing from this installation")


def demo_dir() -> Path:
    """The demo sample shipped in the package."""
    return PACKAGE_DIR / "demo"


def cache_dir() -> Path:
    """User cache for converted models and other reusable downloads (``LLMKD_CACHE`` overrides)."""
    root = os.environ.get("LLMKD_CACHE") or user_cache_dir("llmkd")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_runs_dir() -> Path:
    """Where runs go without ``--run``: ``artifacts/runs`` under the current directory."""
    return Path("artifacts") / "runs"
