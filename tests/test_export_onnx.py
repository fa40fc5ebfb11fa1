"""``llmkd export --format onnx`` on a run's student, and ``evaluate --backend onnx`` on its export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmkd.students.onnx_export as onnx_export
from llmkd.errors import ConfigError, RunError
from llmkd.evaluate import main as evaluate_main
from llmkd.export import main
from llmkd.run.files import read_jsonl
from llmkd.students.onnx import META_FILE
from tests.tiny_runs import save_causal_student, save_encoder_student, write_gold, write_run


@pytest.fixture
def run(tmp_path: Path, tiny_bert_dir: Path) -> Path:
    """A run with teacher labels and an (untrained) encoder student."""
    run = write_run(tmp_path)
    save_encoder_student(run / "student", tiny_bert_dir)
    return run


def test_export_onnx_writes_the_student_folder(run: Path, capsys) -> None:
    assert main(["--run", str(run), "--format", "onnx"]) == 0
    assert "student/onnx/model" in capsys.readouterr().out
    meta = json.loads((run / "student" / "onnx" / META_FILE).read_text())
    assert meta["dev_items"] == 10  # the distinct texts of labels.jsonl
    assert json.loads((run / "export_config.json").read_text())["format"] == "onnx"


def test_export_onnx_is_atomic(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["--run", str(run), "--format", "onnx"]) == 0
    before = (run / "student" / "onnx" / META_FILE).read_text()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "choose_int8", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--run", str(run), "--format", "onnx"])
    assert (run / "student" / "onnx" / META_FILE).read_text() == before
    assert [p.name for p in (run / "student").iterdir() if p.name.startswith(".")] == []


def test_export_onnx_errors(run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--out does not apply"):
        main(["--run", str(run), "--format", "onnx", "--out", str(tmp_path / "x")])
    with pytest.raises(ConfigError, match="--min-int8-agreement"):
        main(["--run", str(run), "--format", "onnx", "--min-int8-agreement", "1.5"])
    bare = write_run(tmp_path / "bare")
    with pytest.raises(RunError, match="no student/"):
        main(["--run", str(bare), "--format", "onnx"])
    save_causal_student(bare / "student-causal" / "merged")
    with pytest.raises(RunError, match="causal student only"):
        main(["--run", str(bare), "--format", "onnx"])


def test_evaluate_backend_onnx(run: Path, tmp_path: Path) -> None:
    gold = write_gold(tmp_path)
    argv = ["--run", str(run), "--gold", str(gold), "--no-time-teacher", "--no-plots"]
    with pytest.raises(RunError, match="llmkd export --run DIR --format onnx"):
        evaluate_main([*argv, "--backend", "onnx"])
    assert main(["--run", str(run), "--format", "onnx"]) == 0
    said = {}
    for backend in ("torch", "onnx"):
        assert evaluate_main([*argv, "--backend", backend]) == 0
        result = json.loads((run / "eval.json").read_text())
        assert result["student"]["backend"] == backend and result["student"]["n"] == 7
        said[backend] = [r["student"] for r in read_jsonl(run / "predictions.jsonl")]
    assert result["student"]["device"] == "cpu"
    same = sum(a == b for a, b in zip(said["torch"], said["onnx"], strict=True))
    assert same >= 6  # ONNX (fp32: 10 texts cannot show int8 agrees) gives the torch student's labels
