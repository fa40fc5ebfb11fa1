"""finetune --report-to: the experiment tracker handed to transformers' TrainingArguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.cli import parse_config
from llmkd.errors import ConfigError
from llmkd.training import config as training_config
from llmkd.training.common import training_arguments
from llmkd.training.config import FinetuneConfig

ROOT = Path(__file__).resolve().parents[2]


def test_report_to_none_is_the_default_and_reaches_training_arguments(tmp_path: Path) -> None:
    config = parse_config(FinetuneConfig, ["--run", str(tmp_path)], prog="finetune", description="")
    assert config.report_to == "none"
    args = training_arguments(config, tmp_path / "work", 40, True, ["labels"])
    assert args.report_to == []
    config = parse_config(
        FinetuneConfig, ["--run", str(tmp_path), "--report-to", "none"], prog="finetune", description=""
    )
    assert config.report_to == "none"


def test_report_to_a_backend_that_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_config.importlib.util, "find_spec", lambda name: object())
    config = FinetuneConfig(run=str(tmp_path), report_to="mlflow")
    args = training_arguments(config, tmp_path / "work", 40, True, ["labels"])
    assert args.report_to == ["mlflow"]


def test_report_to_a_missing_package_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_config.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"^--report-to wandb: the wandb package is not installed"):
        FinetuneConfig(report_to="wandb")


def test_cli_report_to_missing_package_exits_2_with_one_line(tmp_path: Path) -> None:
    # Hides tensorboard from find_spec, installed or not, in the child process.
    hide = tmp_path / "sitecustomize.py"
    hide.write_text(
        "import importlib.util as u\n_f = u.find_spec\n"
        "u.find_spec = lambda name, *a: None if name in ('tensorboard', 'tensorboardX') else _f(name, *a)\n"
    )
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "llmkd.finetune", "--run", str(tmp_path), "--report-to", "tensorboard"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--report-to tensorboard: the tensorboard package is not installed" in lines[0]


def test_tensorboard_logs_outlive_the_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_config.importlib.util, "find_spec", lambda name: object())
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    config = FinetuneConfig(run=str(tmp_path), report_to="tensorboard")
    args = training_arguments(config, tmp_path / ".checkpoints", 40, True, ["labels"])
    assert args.report_to == ["tensorboard"]
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "tensorboard")
