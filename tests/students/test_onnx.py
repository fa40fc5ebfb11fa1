"""The encoder student as ONNX: export, onnxruntime inference, int8 choice and loading errors (tiny BERT)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llmkd.errors import RunError
from llmkd.students.base import load_student
from llmkd.students.encoder import EncoderStudent
from llmkd.students.onnx import FP32_FILE, INT8_FILE, META_FILE, OnnxStudent, onnx_folder
from llmkd.students.onnx_export import (
    CANDIDATES,
    CARD_START,
    agreement_low,
    export_onnx_student,
    label_agreement,
    quantize,
)
from tests.tiny_runs import LABELS, PHRASES, save_causal_student, save_encoder_student

FILLER = "sales rose in the quarter and the company said the market was strong".split()  # noqa: SIM905


def texts(n: int, seed: int = 0) -> list[str]:
    """``n`` sentences of 3 to 40 words: batches of them need padding."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        phrase = rng.choice(PHRASES[LABELS[i % 3]])
        out.append(f"the company said {phrase} " + " ".join(rng.choices(FILLER, k=rng.randint(0, 37))))
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """A tiny student folder with its ONNX export (int8 chosen on ~800 texts: enough to show 99%)."""
    folder = save_encoder_student(tmp_path_factory.mktemp("onnx") / "student", tiny_bert_dir)
    export_onnx_student(folder, texts(800))
    return folder


def test_fp32_onnx_matches_torch(exported: Path) -> None:
    sample = texts(23, seed=1)
    torch_probs = EncoderStudent.load(exported).predict_probs(sample, batch_size=5, progress=False)
    meta = OnnxStudent.load(exported).meta
    for bucket in (True, False):
        fp32 = OnnxStudent(onnx_folder(exported), meta, FP32_FILE, bucket=bucket)
        probs = fp32.predict_probs(sample, batch_size=7, progress=False)
        np.testing.assert_allclose(probs, torch_probs, atol=1e-5)
    assert probs.shape == (23, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_export_records_what_it_chose(exported: Path) -> None:
    folder = onnx_folder(exported)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["labels"] == LABELS and meta["opset"] == 17 and meta["dev_items"] == len(set(texts(800)))
    assert meta["agreement"]["fp32"] == 1.0
    assert meta["model"] == INT8_FILE and meta["quantization"]["name"] == CANDIDATES[0].name
    assert meta["agreement"][CANDIDATES[0].name] >= meta["agreement_low"][CANDIDATES[0].name] >= 0.99
    assert {p.name for p in folder.iterdir()} == {FP32_FILE, INT8_FILE, META_FILE, "tokenizer.json"}
    card = (exported / "README.md").read_text()
    assert card.count(CARD_START) == 1 and "agree with the PyTorch student" in card


def test_int8_labels_agree_with_torch(exported: Path, tmp_path: Path) -> None:
    sample = texts(40, seed=2)
    torch_probs = EncoderStudent.load(exported).predict_probs(sample, progress=False)
    student = load_student(exported, backend="onnx")
    assert isinstance(student, OnnxStudent) and student.model_file == INT8_FILE
    assert student.kind == "encoder" and student.device == "cpu" and student.labels == LABELS
    assert student.parameter_count() == EncoderStudent.load(exported).parameter_count()
    assert 0 < student.size_mb() < (onnx_folder(exported) / FP32_FILE).stat().st_size / 1e6
    assert label_agreement(student.predict_probs(sample, progress=False), torch_probs) >= 0.9
    for setting in CANDIDATES:  # every candidate gives a runnable graph
        quantize(onnx_folder(exported) / FP32_FILE, tmp_path / "q.onnx", setting)
        assert (tmp_path / "q.onnx").stat().st_size > 0


def test_agreement_bar_is_the_wilson_lower_bound() -> None:
    z2 = 1.959964**2
    for n in (20, 380, 381, 2000):  # every label agrees: the lower end is n / (n + z^2)
        assert agreement_low(n, n) == pytest.approx(n / (n + z2), abs=1e-6)
    assert agreement_low(380, 380) < 0.99 <= agreement_low(381, 381)
    assert agreement_low(507, 512) < 0.99  # 99.0% measured on 512 texts does not show 99%
    assert agreement_low(1989, 2000) >= 0.99 > agreement_low(1988, 2000)
    assert agreement_low(99, 100) < agreement_low(990, 1000) < 0.99 == pytest.approx(990 / 1000)
    assert agreement_low(0, 0) == 0.0


def test_fp32_fallback_when_int8_loses_agreement(tmp_path: Path, tiny_bert_dir: Path, capsys) -> None:
    folder = save_encoder_student(tmp_path / "student", tiny_bert_dir)
    meta = export_onnx_student(folder, texts(60))  # too few texts to show 99% agreement, even at 100%
    assert meta.model == FP32_FILE and meta.quantization is None and meta.dev_items == 60
    assert meta.agreement_low == {}  # no setting is worth quantising when even 60 of 60 could not show it
    assert not (onnx_folder(folder) / INT8_FILE).exists()
    assert "60 training texts cannot show int8 agreeing" in capsys.readouterr().err
    assert load_student(folder, backend="onnx").model_file == FP32_FILE  # type: ignore[attr-defined]
    export_onnx_student(folder, texts(20))  # a second export replaces the card's section
    assert (folder / "README.md").read_text().count(CARD_START) == 1


def test_load_student_onnx_errors(tmp_path: Path, tiny_bert_dir: Path) -> None:
    folder = save_encoder_student(tmp_path / "student", tiny_bert_dir)
    with pytest.raises(RunError, match=r"no ONNX student; run `llmkd export --run DIR --format onnx`"):
        load_student(folder, backend="onnx")
    causal = save_causal_student(tmp_path / "causal")
    with pytest.raises(RunError, match="encoder student only"):
        load_student(causal, backend="onnx")
    with pytest.raises(RunError, match="encoder student only"):
        export_onnx_student(causal, texts(5))


def test_onnx_student_runs_without_torch(exported: Path) -> None:
    """The folder is usable with onnxruntime and tokenizers alone (torch made unimportable)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        import json, numpy as np, onnxruntime as ort
        from tokenizers import Tokenizer
        folder = {str(onnx_folder(exported))!r}
        meta = json.load(open(folder + "/onnx_student.json"))
        tokenizer = Tokenizer.from_file(folder + "/tokenizer.json")
        tokenizer.enable_truncation(meta["max_length"])
        tokenizer.enable_padding(pad_id=meta["pad_id"])
        batch = tokenizer.encode_batch(["the company said profit rose", "jobs cut"])
        arrays = {{"input_ids": [e.ids for e in batch], "attention_mask": [e.attention_mask for e in batch],
                  "token_type_ids": [e.type_ids for e in batch]}}
        session = ort.InferenceSession(folder + "/" + meta["model"])
        feed = {{i.name: np.array(arrays[i.name], dtype=np.int64) for i in session.get_inputs()}}
        logits = session.run(["logits"], feed)[0]
        print(json.dumps([meta["labels"][i] for i in logits.argmax(1)]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    expected = OnnxStudent.load(exported).predict_probs(["the company said profit rose", "jobs cut"])
    assert json.loads(done.stdout) == [LABELS[i] for i in expected.argmax(1)]


def test_the_fp32_warning_names_the_bar_that_would_keep_int8(
    tmp_path: Path, tiny_bert_dir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmkd.students.onnx_export as onnx_export

    calls: list[int] = []

    def humbler(agree: int, n: int, confidence: float = 0.95) -> float:
        """Past the first check (could any agreement show the bar?), 2 points under the measured rate."""
        calls.append(agree)
        return 1.0 if len(calls) == 1 else agree / n - 0.02

    monkeypatch.setattr(onnx_export, "agreement_low", humbler)
    folder = save_encoder_student(tmp_path / "student", tiny_bert_dir)
    meta = export_onnx_student(folder, texts(300))
    assert meta.quantization is None and len(meta.agreement_low) == len(CANDIDATES)
    bar = float(capsys.readouterr().err.split("--min-int8-agreement ")[1].split()[0])
    assert max(meta.agreement_low.values()) - 0.001 < bar <= max(meta.agreement_low.values())
    monkeypatch.undo()
    kept = export_onnx_student(folder, texts(300), min_agreement=bar)
    assert kept.quantization is not None and kept.model == INT8_FILE
