"""One ``Student`` for both kinds: load_student picks encoder or causal from the folder (tiny random models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmkd.errors import RunError
from llmkd.students.base import Student, load_student, student_kind
from llmkd.students.causal import MARKER, CausalStudent
from llmkd.students.encoder import EncoderStudent
from tests.tiny_runs import save_causal_student, save_encoder_student

LABELS = ["positive", "negative", "neutral"]
TEXTS = ["the company said profit rose", "jobs cut", "the annual meeting"]


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("students")
    return {
        "encoder": save_encoder_student(root / "encoder", tiny_bert_dir),
        "causal": save_causal_student(root / "causal"),
    }


@pytest.mark.parametrize("kind", ["encoder", "causal"])
def test_load_student_returns_a_student_of_the_folders_kind(students, kind):
    student = load_student(students[kind], device="cpu", max_length=32)
    assert isinstance(student, Student) and student.kind == kind == student_kind(students[kind])
    assert isinstance(student, EncoderStudent if kind == "encoder" else CausalStudent)
    assert student.labels == LABELS and student.device == "cpu"
    probs = student.predict_probs(TEXTS, batch_size=2, progress=False)
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert student.parameter_count() > 1000 and student.size_mb() > 0
    if kind == "causal":
        assert student.max_batch_size is not None
    else:
        assert student.max_batch_size is None


def test_encoder_student_columns_follow_its_own_labels(tmp_path, tiny_bert_dir):
    folder = save_encoder_student(tmp_path / "s", tiny_bert_dir, ["neutral", "positive", "negative"])
    assert load_student(folder, device="cpu").labels == ["neutral", "positive", "negative"]


def test_a_bad_marker_or_folder_is_a_run_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MARKER).write_text("{not json", encoding="utf-8")
    with pytest.raises(RunError, match="not valid JSON"):
        load_student(tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not a loadable student"):
        load_student(tmp_path / "empty")
