"""predict: output formats, chunked reading, resume after an interruption, bad input, the cascade (a
loopback OpenAI server as the teacher) and --calibrate."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import llmkd.predict as predict_stage
from llmkd.errors import BudgetExceeded, ConfigError, InputError, TeacherError
from llmkd.predict import main
from llmkd.run.ledger import RunLedger
from tests.servers.openai_server import OpenAIServer
from tests.tiny_runs import LABELS, PHRASES, save_encoder_student

MINI = "openai:gpt-4o-mini"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LLMKD_PRIVACY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")


@pytest.fixture(scope="module")
def student_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """A run folder with a (random-weight) tiny BERT student and a generate_config.json."""
    run = tmp_path_factory.mktemp("predict") / "run"
    save_encoder_student(run / "student", tiny_bert_dir)
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}), encoding="utf-8")
    return run


@pytest.fixture
def run(student_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of the run's settings around the shared student (its own ledger per test)."""
    fresh = tmp_path / "run"
    fresh.mkdir()
    (fresh / "student").symlink_to(student_run / "student")
    (fresh / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment"}), encoding="utf-8")
    return fresh


def texts(n: int) -> list[str]:
    return [f"{PHRASES[LABELS[i % 3]][i % 5]} in item {i}" for i in range(n)]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def input_file(tmp_path: Path, n: int = 23, **extra: Any) -> Path:
    return write_csv(
        tmp_path / "in.csv", [{"id": f"x{i}", "text": t, **extra} for i, t in enumerate(texts(n))]
    )


def predict(run: Path, source: Path, out: Path, *flags: str) -> None:
    argv = ["--run", str(run), "--input", str(source), "--output", str(out), "--id-column", "id"]
    assert main([*argv, "--no-progress", *flags]) == 0


def read_output(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["probs"], row["confidence"] = json.loads(row["probs"]), float(row["confidence"])
        return rows
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_output_format_has_the_columns_and_rows(run: Path, tmp_path: Path, suffix: str) -> None:
    source = input_file(tmp_path)
    out = tmp_path / f"out{suffix}"
    predict(run, source, out, "--chunk-rows", "5")
    rows = read_output(out)
    assert [r["id"] for r in rows] == [f"x{i}" for i in range(23)]
    assert [r["text"] for r in rows] == texts(23)
    for row in rows:
        assert set(row) == {"id", "text", "label", "probs", "confidence", "answered_by"}
        assert row["answered_by"] == "student" and row["label"] in LABELS
        assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["confidence"] == pytest.approx(max(row["probs"].values()))
        assert max(row["probs"], key=row["probs"].get) == row["label"]
    assert not (tmp_path / f".out{suffix}.partial").exists()


def test_small_chunks_give_the_same_output_as_one_chunk(run: Path, tmp_path: Path) -> None:
    source = input_file(tmp_path)
    predict(run, source, tmp_path / "one.jsonl", "--chunk-rows", "1000")
    predict(run, source, tmp_path / "many.jsonl", "--chunk-rows", "2", "--batch-size", "3")
    one, many = read_output(tmp_path / "one.jsonl"), read_output(tmp_path / "many.jsonl")
    assert [r["label"] for r in one] == [r["label"] for r in many]
    np.testing.assert_allclose([r["confidence"] for r in one], [r["confidence"] for r in many], atol=1e-5)


class Interrupt(Exception):
    pass


def counting_student(monkeypatch: pytest.MonkeyPatch, fail_at_call: int | None = None) -> list[int]:
    """Count the texts the student scores per call; raise on call number ``fail_at_call`` (1-based)."""
    calls: list[int] = []
    real = predict_stage.student_probs

    def wrapped(student: Any, batch: list[str], labels: list[str], batch_size: int) -> np.ndarray:
        calls.append(len(batch))
        if fail_at_call is not None and len(calls) == fail_at_call:
            raise Interrupt("killed")
        return real(student, batch, labels, batch_size)

    monkeypatch.setattr(predict_stage, "student_probs", wrapped)
    return calls


def test_an_interrupted_run_resumes_from_its_last_written_chunk(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = input_file(tmp_path)
    predict(run, source, tmp_path / "whole.jsonl", "--chunk-rows", "5")
    out = tmp_path / "out.jsonl"
    with monkeypatch.context() as patch:
        counting_student(patch, fail_at_call=3)  # chunks 1 and 2 written, then killed
        with pytest.raises(Interrupt):
            predict(run, source, out, "--chunk-rows", "5")
    assert not out.exists()
    assert len(list((tmp_path / ".out.jsonl.partial").glob("part-*"))) == 2
    with monkeypatch.context() as patch:
        calls = counting_student(patch)
        predict(run, source, out, "--chunk-rows", "5", "--batch-size", "4")
    assert calls == [5, 5, 3]  # chunks 3-5 only
    assert out.read_text() == (tmp_path / "whole.jsonl").read_text()
    assert not (tmp_path / ".out.jsonl.partial").exists()


def test_a_rerun_with_other_settings_starts_over(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = input_file(tmp_path)
    out = tmp_path / "out.csv"
    with monkeypatch.context() as patch:
        counting_student(patch, fail_at_call=2)
        with pytest.raises(Interrupt):
            predict(run, source, out, "--chunk-rows", "5")
    with monkeypatch.context() as patch:
        calls = counting_student(patch)
        predict(run, source, out, "--chunk-rows", "10")
    assert "settings changed since the interrupted run (chunk_rows); starting over" in capsys.readouterr().err
    assert calls == [10, 10, 3] and len(read_output(out)) == 23


def test_a_changed_input_starts_over(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    source = input_file(tmp_path)
    out = tmp_path / "out.jsonl"
    with monkeypatch.context() as patch:
        counting_student(patch, fail_at_call=2)
        with pytest.raises(Interrupt):
            predict(run, source, out, "--chunk-rows", "5")
    input_file(tmp_path, n=12)
    predict(run, source, out, "--chunk-rows", "5")
    assert "the input file changed" in capsys.readouterr().err
    assert len(read_output(out)) == 12


def test_a_bad_row_names_the_file_and_line_and_writes_no_output(run: Path, tmp_path: Path) -> None:
    rows = [{"id": f"x{i}", "text": t} for i, t in enumerate(texts(12))]
    rows[9]["text"] = "   "
    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match=rf"^{source}:11: empty text in column 'text'$"):
        predict(run, source, out, "--chunk-rows", "4")
    assert not out.exists()


def test_a_missing_column_or_file_is_one_line_naming_it(run: Path, tmp_path: Path) -> None:
    source = input_file(tmp_path)
    with pytest.raises(InputError, match=rf"^{source}:1: no column 'body'"):
        predict(run, source, tmp_path / "out.csv", "--text-column", "body")
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        predict(run, tmp_path / "nope.csv", tmp_path / "out.csv")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"id": "a", "text": "profit rose"}\n{"id": "b", "text": \n')
    with pytest.raises(InputError, match=rf"^{jsonl}:2: bad JSON"):
        predict(run, jsonl, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(ConfigError, match=r"--output out\.txt: cannot tell the format"):
        main(["--run", str(run), "--input", str(source), "--output", "out.txt"])


def ledger_rows(run: Path) -> int:
    with RunLedger(run / "ledger.sqlite") as ledger:
        return len(list(ledger.rows()))


def test_the_cascade_defers_the_least_confident_items_to_the_teacher_once(run: Path, tmp_path: Path) -> None:
    source = input_file(tmp_path, n=20)
    predict(run, source, tmp_path / "student.jsonl", "--chunk-rows", "10")
    alone = read_output(tmp_path / "student.jsonl")
    with OpenAIServer() as server:
        flags = [
            "--chunk-rows",
            "10",
            "--defer-to",
            MINI,
            "--base-url",
            server.url,
            "--defer-fraction",
            "0.3",
        ]
        predict(run, source, tmp_path / "cascade.jsonl", *flags)
        assert server.record.requests["chat"] == 6  # 3 of each chunk of 10
        rows = read_output(tmp_path / "cascade.jsonl")
        for start in (0, 10):
            chunk = alone[start : start + 10]
            least = sorted(range(10), key=lambda i: chunk[i]["confidence"])[:3]
            deferred = [i for i in range(10) if rows[start + i]["answered_by"] == MINI]
            assert sorted(deferred) == sorted(least)
            for i in range(10):
                row = rows[start + i]
                if i in least:
                    assert row["label"] == server.label_for(row["text"], LABELS)
                else:
                    assert row["answered_by"] == "student" and row["label"] == chunk[i]["label"]
        assert ledger_rows(run) == 6
        (tmp_path / "cascade.jsonl").unlink()
        predict(run, source, tmp_path / "cascade.jsonl", *flags)  # a rerun: every answer from the ledger
        assert server.record.requests["chat"] == 6 and ledger_rows(run) == 6
        assert read_output(tmp_path / "cascade.jsonl") == rows


def test_defer_below_sends_items_under_the_threshold(run: Path, tmp_path: Path) -> None:
    source = input_file(tmp_path, n=15)
    predict(run, source, tmp_path / "student.csv")
    alone = read_output(tmp_path / "student.csv")
    threshold = float(np.median([r["confidence"] for r in alone]))
    with OpenAIServer() as server:
        predict(run, source, tmp_path / "out.csv", "--defer-to", MINI, "--base-url", server.url,
                "--defer-below", str(threshold))  # fmt: skip
        rows = read_output(tmp_path / "out.csv")
    expected = [r["confidence"] < threshold for r in alone]
    assert [r["answered_by"] == MINI for r in rows] == expected and any(expected)


def test_local_only_refuses_a_public_teacher_before_any_work(run: Path, tmp_path: Path) -> None:
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment", "privacy": "local-only"}))
    source = input_file(tmp_path)
    flags = ["--defer-to", MINI, "--base-url", "https://api.openai.com/v1", "--defer-fraction", "0.5"]
    with pytest.raises(TeacherError, match="--privacy local-only refuses teacher 'openai:gpt-4o-mini'"):
        predict(run, source, tmp_path / "out.csv", *flags)
    assert not (tmp_path / "out.csv").exists() and not (run / "ledger.sqlite").exists()
    assert not (tmp_path / ".out.csv.partial").exists()
    with pytest.raises(TeacherError, match="local-only refuses"):  # the flag cannot loosen the run's mode
        predict(run, source, tmp_path / "out.csv", *flags, "--privacy", "off")


def test_the_cost_cap_stops_the_teacher_and_a_rerun_finishes_without_paying_twice(
    run: Path, tmp_path: Path
) -> None:
    source = input_file(tmp_path, n=20)
    out = tmp_path / "out.jsonl"
    with OpenAIServer() as server:
        flags = [
            "--chunk-rows",
            "10",
            "--defer-to",
            MINI,
            "--base-url",
            server.url,
            "--defer-fraction",
            "0.5",
        ]
        with pytest.raises(BudgetExceeded, match="--max-cost-usd"):
            predict(run, source, out, *flags, "--max-cost-usd", "0.000001")
        assert not out.exists()
        paid = ledger_rows(run)
        predict(run, source, out, *flags)
        assert server.record.requests["chat"] == 10 and ledger_rows(run) == 10 >= paid
    assert sum(r["answered_by"] == MINI for r in read_output(out)) == 10


def test_redaction_applies_to_what_the_teacher_sees(run: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", [{"id": "a", "text": "profit rose, mail jane.doe@bank.fi"}])
    with OpenAIServer() as server:
        predict(run, source, tmp_path / "out.jsonl", "--defer-to", MINI, "--base-url", server.url,
                "--defer-fraction", "1", "--redact")  # fmt: skip
        sent = json.dumps(server.record.bodies)
    assert "jane.doe@bank.fi" not in sent and "[EMAIL_1]" in sent
    assert read_output(tmp_path / "out.jsonl")[0]["text"] == "profit rose, mail jane.doe@bank.fi"


def test_calibrate_picks_and_saves_a_threshold_that_predict_then_uses(
    run: Path, tmp_path: Path, capsys
) -> None:
    dev = write_csv(
        tmp_path / "dev.csv", [{"text": t, "label": LABELS[i % 3]} for i, t in enumerate(texts(30))]
    )
    with OpenAIServer() as server:
        argv = ["--run", str(run), "--calibrate", str(dev), "--defer-to", MINI, "--base-url", server.url]
        assert main([*argv, "--target-accuracy", "0.5", "--no-progress"]) == 0
        saved = json.loads((run / "predict_threshold.json").read_text())
        assert saved["teacher"] == MINI and saved["n"] == 30
        # the target, or else the most accurate threshold: no row of the coarser table beats it
        assert saved["chosen"]["accuracy"] >= 0.5 or saved["chosen"]["accuracy"] >= max(
            row["accuracy"] for row in saved["table"]
        )
        assert "| deferred to the teacher |" in capsys.readouterr().out
        calls = server.record.requests["chat"]
        assert main([*argv, "--max-defer-cost", "0", "--no-progress"]) == 0  # answers from the ledger
        assert server.record.requests["chat"] == calls
        assert json.loads((run / "predict_threshold.json").read_text())["chosen"]["deferred"] == 0
        assert main([*argv, "--target-accuracy", "0.5", "--no-progress"]) == 0
        source = input_file(tmp_path, n=10)
        predict(run, source, tmp_path / "alone.jsonl")
        predict(run, source, tmp_path / "out.jsonl", "--defer-to", MINI, "--base-url", server.url)
    alone, rows = read_output(tmp_path / "alone.jsonl"), read_output(tmp_path / "out.jsonl")
    expected = [r["confidence"] < saved["threshold"] for r in alone]
    assert [r["answered_by"] == MINI for r in rows] == expected
    assert "deferring below" in capsys.readouterr().out


def test_defer_to_without_a_threshold_says_what_to_give(run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs --defer-below P, --defer-fraction F, or a threshold picked"):
        predict(run, input_file(tmp_path), tmp_path / "out.csv", "--defer-to", MINI)
    with pytest.raises(ConfigError, match="need --defer-to"):
        predict(run, input_file(tmp_path), tmp_path / "out.csv", "--defer-below", "0.5")


def test_backend_onnx_scores_with_the_exported_student(run: Path, tmp_path: Path) -> None:
    import shutil

    from llmkd.errors import RunError
    from llmkd.students.onnx_export import export_onnx_student

    with pytest.raises(RunError, match="no ONNX student"):
        predict(run, input_file(tmp_path), tmp_path / "out.csv", "--backend", "onnx")
    student = (run / "student").resolve()
    (run / "student").unlink()
    shutil.copytree(student, run / "student")
    export_onnx_student(run / "student", texts(40))
    predict(run, input_file(tmp_path), tmp_path / "torch.csv")
    predict(run, input_file(tmp_path), tmp_path / "onnx.csv", "--backend", "onnx")
    by_torch, by_onnx = read_output(tmp_path / "torch.csv"), read_output(tmp_path / "onnx.csv")
    assert [r["id"] for r in by_onnx] == [r["id"] for r in by_torch]
    same = sum(a["label"] == b["label"] for a, b in zip(by_torch, by_onnx, strict=True))
    assert same >= 0.9 * len(by_torch)


def test_backend_onnx_needs_neither_torch_nor_transformers(run: Path, tmp_path: Path) -> None:
    """A CPU deployment runs ``llmkd predict --backend onnx`` with torch and transformers unimportable."""
    import shutil
    import subprocess
    import sys
    import textwrap

    from llmkd.students.onnx_export import export_onnx_student

    student = (run / "student").resolve()
    (run / "student").unlink()
    shutil.copytree(student, run / "student")
    export_onnx_student(run / "student", texts(40))
    argv = ["--run", str(run), "--input", str(input_file(tmp_path)), "--output", str(tmp_path / "out.jsonl")]
    script = textwrap.dedent(
        f"""
        import sys

        class Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers"):
                    raise ImportError(f"{{name}} is not installed")

        sys.meta_path.insert(0, Absent())
        from llmkd.predict import main
        sys.exit(main({[*argv, "--backend", "onnx", "--no-progress"]!r}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = read_output(tmp_path / "out.jsonl")
    assert len(rows) == 23 and {row["label"] for row in rows} <= set(LABELS)
    assert all(row["answered_by"] == "student" for row in rows)
