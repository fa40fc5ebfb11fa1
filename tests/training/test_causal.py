"""Training the causal student: step-by-step examples, LoRA SFT, save, and evaluate by label scoring."""

from __future__ import annotations

import json

import numpy as np

from llmkd.evaluate import main as evaluate_main
from llmkd.finetune import main
from llmkd.io.task import load_task
from llmkd.students.causal import IGNORE, CausalStudent, ChatEncoder, read_marker
from llmkd.training.causal import build_examples
from llmkd.training.data import Example
from tests.tiny_runs import make_run


def test_every_record_gets_a_label_task_and_rationales_a_rationale_task(tiny_llama):
    from transformers import AutoTokenizer

    task = load_task("fin-sentiment")
    encoder = ChatEncoder(AutoTokenizer.from_pretrained(tiny_llama), max_length=64)
    examples = [Example("profit rose", 0, [1, 0, 0], "profit rose ."), Example("loss", 1, [0, 1, 0], None)]
    rows = build_examples(examples, task, encoder, system_prompt=False)
    targets = [[t for t in row["labels"] if t != IGNORE] for row in rows]
    # a label task for each record, and a rationale task after the record that has a rationale
    assert targets == [encoder.completion_ids(t) for t in ("positive", "profit rose .", "negative")]
    assert len(build_examples(examples, task, encoder, False, rationale_share=0.0)) == 2


def test_causal_student_trains_saves_and_predicts(tmp_path, tiny_llama):
    run = make_run(tmp_path, n=24)
    lines = [json.loads(x) for x in (run / "labels.jsonl").read_text().splitlines()]
    for row in lines[:12]:
        row["rationale"] = "profit rose ."
    (run / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    args = ["--run", str(run), "--student-kind", "causal", "--student", str(tiny_llama)]
    assert main([*args, "--epochs", "1", "--batch-size", "8", "--max-length", "96"]) == 0
    out = run / "student-causal"
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "merged" / "config.json").is_file()
    info = read_marker(out / "merged")
    assert info is not None and info["labels"] == ["positive", "negative", "neutral"]
    metrics = json.loads((run / "finetune_metrics.json").read_text())
    assert metrics["student_kind"] == "causal" and metrics["n_rationale_examples"] > 0
    assert metrics["trainable_parameters"] < metrics["parameters"]
    assert 0.0 <= metrics["held_out_accuracy"] <= 1.0
    student = CausalStudent.load(out / "merged")
    probs = student.predict_probs(["the company said profit rose", "jobs cut", "a"], batch_size=2)
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert not (run / ".checkpoints").exists()

    # evaluate detects the causal student by its marker and times the run's local teacher
    settings = {"task": "fin-sentiment", "teacher": [f"hf:{tiny_llama}"], "rationale": False, "batch_size": 4}
    (run / "generate_config.json").write_text(json.dumps(settings))
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"text": "the company said profit rose", "label": "positive"},
        {"text": "jobs cut", "label": "negative"},
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows * 3))
    argv = ["--run", str(run), "--gold", str(gold), "--teacher-timing-items", "4", "--no-plots"]
    assert evaluate_main(argv) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["student"]["kind"] == "causal" and result["student"]["n"] == 6
    assert result["student"]["parameters"] > 1000
    [timed] = result["teacher_speed"].values()
    assert timed["items"] == 4 and timed["throughput_items_per_s"] > 0 and timed["parameters"] > 1000
    assert result["speedup_vs_local_teacher"] > 0
    assert result["cost"]["local_teachers_usd_per_1000"] and result["cost"]["student_usd_per_1000"] > 0
