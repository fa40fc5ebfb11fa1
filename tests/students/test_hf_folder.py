"""A saved student folder is what the Hugging Face ecosystem expects: pipeline() loads it with llmkd's
labels, the model card carries the hub metadata, and push_to_hub finds every file it needs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmkd.io.task import Task
from llmkd.students.encoder import EncoderStudent, load_classifier, save_student
from llmkd.students.onnx import OnnxStudent
from llmkd.students.onnx_export import export_onnx_student
from llmkd.training.config import FinetuneConfig
from llmkd.training.model_card import encoder_model_card
from tests.tiny_runs import LABELS, PHRASES

TEXTS = [f"the company said {phrase} in the quarter" for phrases in PHRASES.values() for phrase in phrases]


@pytest.mark.parametrize("pooling", ["head", "mean"])
def test_pipeline_gives_the_labels_llmkd_gives(tmp_path: Path, tiny_bert_dir: Path, pooling: str) -> None:
    from transformers import pipeline

    model, tokenizer = load_classifier(str(tiny_bert_dir), LABELS, pooling)  # type: ignore[arg-type]
    folder = save_student(model, tokenizer, tmp_path / "student", "# card\n")
    export_onnx_student(folder, TEXTS)  # an onnx/ subfolder does not disturb transformers
    classify = pipeline("text-classification", model=str(folder), device="cpu", trust_remote_code=True)
    said = [out["label"] for out in classify(TEXTS)]
    probs = EncoderStudent.load(folder).predict_probs(TEXTS, progress=False)
    assert said == [LABELS[i] for i in probs.argmax(axis=1)]
    exported = OnnxStudent.load(folder)
    fp32 = OnnxStudent(exported.folder, exported.meta, "model.onnx")
    np.testing.assert_allclose(fp32.predict_probs(TEXTS, progress=False), probs, atol=1e-5)
    types = {"token_type_ids"} if pooling == "head" else set()  # the mean-pooled forward takes none
    assert set(fp32.inputs) == {"input_ids", "attention_mask"} | types


def test_model_card_and_push_to_hub_files(tmp_path: Path, tiny_bert_dir: Path, task: Task) -> None:
    counts = {
        "label_counts": {"positive": 3, "negative": 3, "neutral": 3},
        "teachers": ["openai:gpt-4o"],
        "source": "filtered.jsonl",
        "n_used": 9,
        "n_records": 10,
        "n_train": 8,
        "n_val": 1,
    }
    card = encoder_model_card(FinetuneConfig(run="run", student="minilm"), task, "minilm", counts, 0.875)
    model, tokenizer = load_classifier(str(tiny_bert_dir), LABELS)
    folder = save_student(model, tokenizer, tmp_path / "student", card)
    export_onnx_student(folder, TEXTS)
    text = (folder / "README.md").read_text()
    header = text.split("---\n")[1]
    assert "library_name: transformers" in header and "pipeline_tag: text-classification" in header
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in header
    assert "Held-out accuracy" in text and "0.8750" in text and "openai:gpt-4o" in text
    assert "## ONNX (CPU inference)" in text and "Label agreement with PyTorch per graph" in text
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "positive", "1": "negative", "2": "neutral"}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in folder.iterdir()
    }


def test_a_mean_pooled_student_loads_after_importing_llmkd_students_pooled(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    """What the model card says: without trust_remote_code, importing llmkd.students.pooled is enough."""
    import subprocess
    import sys

    model, tokenizer = load_classifier(str(tiny_bert_dir), LABELS, "mean")
    folder = save_student(model, tokenizer, tmp_path / "student", "# card\n")
    script = (
        "import llmkd.students.pooled\n"
        "from transformers import AutoModelForSequenceClassification\n"
        f"model = AutoModelForSequenceClassification.from_pretrained({str(folder)!r})\n"
        "print(type(model).__name__, sorted(model.config.label2id))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "PooledClassifier" and all(label in done.stdout for label in LABELS)
