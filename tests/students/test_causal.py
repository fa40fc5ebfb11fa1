"""The causal-LM student: chat encoding, completion-only labels, LoRA placement (tiny Llama)."""

from __future__ import annotations

from llmkd.io.task import load_task
from llmkd.students.causal import IGNORE, LABEL_TASK, RATIONALE_TASK, ChatEncoder, student_messages


def test_messages_and_completion_only_labels(tiny_llama):
    from transformers import AutoTokenizer

    task = load_task("fin-sentiment")
    messages = student_messages(task, "profit rose", LABEL_TASK, system_prompt=False)
    assert [m["role"] for m in messages] == ["user"] and messages[0]["content"].startswith("[label] ")
    assert student_messages(task, "x", RATIONALE_TASK, system_prompt=True)[0]["role"] == "system"
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    encoder = ChatEncoder(tokenizer, max_length=64)
    row = encoder.example(messages, "positive")
    completion = encoder.completion_ids("positive")
    assert completion[-1] == tokenizer.eos_token_id and len(completion) == 2
    assert row["labels"][-len(completion) :] == completion
    assert set(row["labels"][: -len(completion)]) == {IGNORE}
    assert row["input_ids"][-len(completion) :] == completion and len(row["input_ids"]) <= 64


def test_causal_lora_goes_on_every_linear_layer_but_the_lm_head(tiny_llama):
    from transformers import AutoModelForCausalLM

    from llmkd.students.causal import add_causal_lora

    def adapted(targets: str) -> set[str]:
        model = AutoModelForCausalLM.from_pretrained(tiny_llama)
        wrapped = add_causal_lora(model, 4, 8, 0.0, targets)
        assert not any(p.requires_grad for n, p in wrapped.named_parameters() if "lora_" not in n)
        names = [n for n, _ in wrapped.named_parameters() if "lora_A" in n]
        return {n.split(".lora_A")[0].split(".")[-1] for n in names}

    every = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert adapted("auto") == adapted("all-linear") == every
    assert adapted("q_proj,v_proj") == {"q_proj", "v_proj"}
