"""A saved student and the report's figures are readable as the umask allows (teammates, a serving user)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import matplotlib.pyplot as plt

from llmkd.reporting.plots import _save
from tests.tiny_runs import save_encoder_student


def test_student_folder_and_figures_follow_the_umask(tmp_path: Path, tiny_bert_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        folder = save_encoder_student(tmp_path / "student", tiny_bert_dir)
        figure = _save(plt.figure(), tmp_path / "curve.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    weights = next(folder.glob("*.safetensors"))
    assert stat.S_IMODE(weights.stat().st_mode) == 0o644
    assert stat.S_IMODE(figure.stat().st_mode) == 0o644
    assert figure.read_bytes().startswith(b"\x89PNG")
