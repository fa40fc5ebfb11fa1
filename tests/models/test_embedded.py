"""The embedded models (llmkd/models/embedded.py): SmolLM2's GGUF is converted once into a reusable folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmkd.models import embedded
from llmkd.models.embedded import smollm2_path

pytestmark = pytest.mark.integration


def test_gguf_converts_once_into_a_reusable_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LLMKD_CACHE", str(tmp_path))
    folder = smollm2_path()
    assert folder.is_relative_to(tmp_path) and (folder / "config.json").is_file()
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    weights = (folder / "model.safetensors").stat()

    def convert_again(*args: object) -> None:
        raise AssertionError("the GGUF was converted a second time")

    monkeypatch.setattr(embedded, "_convert_gguf", convert_again)
    assert smollm2_path() == folder  # second call reuses the folder
    again = (folder / "model.safetensors").stat()
    assert (again.st_ino, again.st_mtime_ns) == (weights.st_ino, weights.st_mtime_ns)  # weights untouched
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
