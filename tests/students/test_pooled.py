"""The mean-pooled encoder student (tiny random BERT marked as a mean-pooled sentence-transformers folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmkd.finetune import main
from llmkd.students.encoder import load_classifier, load_student, predict_probs, resolve_pooling
from llmkd.students.pooled import PooledClassifier, trained_pooling
from tests.tiny_runs import LABELS, PHRASES, make_run


def pooling_folder(tiny_bert_dir: Path, root: Path, **modes: bool) -> Path:
    """A copy of the tiny BERT with a sentence-transformers ``1_Pooling/config.json``."""
    folder = root / "st-bert"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "1_Pooling").mkdir()
    settings = {"word_embedding_dimension": 32, "pooling_mode_cls_token": False}
    settings.update({f"pooling_mode_{mode}_tokens": on for mode, on in modes.items()})
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


def test_auto_pooling_follows_the_sentence_transformers_config(tmp_path, tiny_bert_dir) -> None:
    mean = pooling_folder(tiny_bert_dir, tmp_path / "a", mean=True)
    maxed = pooling_folder(tiny_bert_dir, tmp_path / "b", mean=False, max=True)
    assert trained_pooling(mean) == "mean" and trained_pooling(maxed) == "max"
    assert trained_pooling(tiny_bert_dir) is None
    assert resolve_pooling(str(mean), "auto") == "mean"
    assert resolve_pooling(str(maxed), "auto") == "head"
    assert resolve_pooling(str(tiny_bert_dir), "auto") == "head"
    assert resolve_pooling(str(tiny_bert_dir), "mean") == "mean"
    model, _ = load_classifier(str(mean), LABELS, pooling="auto")
    assert isinstance(model, PooledClassifier)
    head, _ = load_classifier(str(mean), LABELS)  # the default: a plain transformers classifier
    assert type(head).__name__ == "BertForSequenceClassification"


def test_padding_does_not_change_a_prediction(tmp_path, tiny_bert_dir) -> None:
    model, tokenizer = load_classifier(str(tiny_bert_dir), LABELS, pooling="mean")
    model.eval()
    short = "profit rose"
    alone = predict_probs(model, tokenizer, [short], progress=False)
    padded = predict_probs(
        model, tokenizer, [short, "the company said sales grew strong in the year"], progress=False
    )
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)


def test_mean_pooled_student_learns_saves_and_loads_without_llmkd(tmp_path, tiny_bert_dir) -> None:
    base = pooling_folder(tiny_bert_dir, tmp_path, mean=True)
    run = make_run(tmp_path, n=60)
    args = ["--run", str(run), "--student", str(base), "--pooling", "auto", "--full", "--lr", "1e-2"]
    assert main([*args, "--epochs", "8", "--batch-size", "8", "--val-fraction", "0"]) == 0
    student = run / "student"
    config = json.loads((student / "config.json").read_text())
    assert config["model_type"] == "llmkd-pooled-classifier" and config["pooling"] == "mean"
    assert (student / "pooled.py").is_file()
    assert "trust_remote_code=True" in (student / "README.md").read_text()
    assert json.loads((run / "finetune_config.json").read_text())["pooling"] == "mean"

    texts = [f"the company said {p} in the year" for label in LABELS for p in PHRASES[label]]
    expected = [label for label in LABELS for _ in PHRASES[label]]
    model, tokenizer = load_student(student)
    probs = predict_probs(model, tokenizer, texts, progress=False)
    predicted = [LABELS[i] for i in probs.argmax(-1)]
    assert sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(texts) >= 0.8

    # a process that never imports llmkd loads the folder through its own copy of the module
    script = (
        "import json, sys, torch\n"
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
        "m = AutoModelForSequenceClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()\n"
        "t = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "b = t(json.loads(sys.argv[2]), padding=True, truncation=True, max_length=128, return_tensors='pt')\n"
        "with torch.inference_mode():\n"
        "    print(json.dumps(torch.softmax(m(**b).logits, -1).tolist()))\n"
        "assert not any(name.startswith('llmkd') for name in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(student), json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    np.testing.assert_allclose(np.array(json.loads(out.stdout.strip().splitlines()[-1])), probs, atol=1e-5)


def test_mean_pooled_lora_trains_adapters_and_head_only(tmp_path, tiny_bert_dir) -> None:
    base = pooling_folder(tiny_bert_dir, tmp_path, mean=True)
    run = make_run(tmp_path)
    args = ["--run", str(run), "--student", str(base), "--pooling", "mean", "--epochs", "1"]
    assert main([*args, "--batch-size", "8"]) == 0
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["method"] == "lora"
    assert metrics["trainable_parameters"] < metrics["parameters"] / 2
    model, _ = load_student(run / "student")
    assert isinstance(model, PooledClassifier)
    assert not any("lora" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize("flag, value", [("--warmup-ratio", "1.5"), ("--weight-decay", "-0.1")])
def test_bad_schedule_flags_are_config_errors(flag: str, value: str, tmp_path) -> None:
    from llmkd.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{flag} must be"):
        main(["--run", str(tmp_path), flag, value])
