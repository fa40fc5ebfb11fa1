"""``llmkd STAGE`` / ``python -m llmkd STAGE`` runs the stage; no or an unknown stage is a usage error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.__main__ import STAGES, main
from llmkd.errors import RunError


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmkd", *args], capture_output=True, text=True, timeout=120)


def test_no_stage_prints_usage_and_exits_2() -> None:
    done = run()
    assert done.returncode == 2
    assert "no stage given" in done.stderr
    assert all(f"llmkd {name}" in done.stderr for name in STAGES)


def test_unknown_stage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["genrate"]) == 2
    assert "unknown stage 'genrate'" in capsys.readouterr().err


def test_stage_runs_with_its_flags(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no such run directory"):
        main(["export", "--run", str(tmp_path / "absent")])
    done = run("export", "--run", str(tmp_path / "absent"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'absent'}: no such run directory (check --run)"
    helped = run("filter", "--help")
    assert helped.returncode == 0
    assert "--min-confidence" in helped.stdout
