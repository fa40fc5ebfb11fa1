"""Causal-LM students: LoRA SFT "distilling step-by-step" (Hsieh et al., 2023), prediction by label scoring.

Every teacher record becomes up to two chat examples on the same text:

- a label task: the user turn starts with ``[label]`` and the target is the teacher's label;
- a rationale task: the user turn starts with ``[rationale]`` and the target is the teacher's rationale
  (only for records that have one).

The loss covers the completion tokens only (prompt tokens are labelled -100). At prediction time the
student is asked the label task and each label's tokens (plus end-of-turn) are scored with
:func:`llmkd.scoring.label_scoring.label_logprobs`; no free text is parsed.

Saved as ``RUN/student-causal/adapter`` (the LoRA adapter) and ``RUN/student-causal/merged`` (a plain
causal LM with the adapter merged in, its tokenizer and ``llmkd_student.json``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from llmkd.errors import ConfigError, RunError
from llmkd.io.task import Task
from llmkd.run.files import atomic_write_text, save_config, write_json
from llmkd.scoring.label_scoring import label_logprobs, prefix_cache
from llmkd.students.encoder import quiet_transformers
from llmkd.students.lora import resolve_targets

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from llmkd.finetune import FinetuneConfig
    from llmkd.training.data import Example

MARKER = "llmkd_student.json"
LABEL_TASK = "[label]"
RATIONALE_TASK = "[rationale]"
IGNORE = -100
DEFAULT_MAX_LENGTH = 160
HELD_OUT_SCORED = 256


def student_messages(task: Task, text: str, marker: str, system_prompt: bool) -> list[dict[str, str]]:
    """The task's zero-shot chat for ``text``, its user turn prefixed with a task marker.

    Args:
        task: The classification task.
        text: The input text.
        marker: ``[label]`` or ``[rationale]``.
        system_prompt: Keep the task's system turn (longer prompts; off by default for CPU cost).
    """
    messages = [dict(m) for m in task.messages(text, few_shot=False)]
    messages[-1]["content"] = f"{marker} {messages[-1]['content']}"
    return messages if system_prompt else [m for m in messages if m["role"] != "system"]


class ChatEncoder:
    """Renders chat prompts and completions to token ids the same way for training and scoring."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        eos = tokenizer.eos_token_id
        self.end = [int(eos)] if eos is not None else []

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(str(text), add_special_tokens=False).input_ids)

    def completion_ids(self, target: str) -> list[int]:
        return list(self.tokenizer(target, add_special_tokens=False).input_ids) + self.end

    def example(self, messages: list[dict[str, str]], target: str) -> dict[str, list[int]]:
        """``input_ids``/``labels``/``attention_mask``; the prompt is cut from the left to fit."""
        completion = self.completion_ids(target)[: self.max_length // 2]
        prompt = self.prompt_ids(messages)[-(self.max_length - len(completion)) :]
        ids = prompt + completion
        return {
            "input_ids": ids,
            "labels": [IGNORE] * len(prompt) + completion,
            "attention_mask": [1] * len(ids),
        }


def build_examples(
    examples: Sequence[Example],
    task: Task,
    encoder: ChatEncoder,
    system_prompt: bool,
    rationale_share: float = 1.0,
    seed: int = 0,
) -> list[dict[str, list[int]]]:
    """Label-task examples for every record plus rationale-task examples for those with a rationale."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in examples:
        rows.append(
            encoder.example(student_messages(task, e.text, LABEL_TASK, system_prompt), task.labels[e.label])
        )
        if e.rationale and rng.random() < rationale_share:
            rows.append(
                encoder.example(student_messages(task, e.text, RATIONALE_TASK, system_prompt), e.rationale)
            )
    return rows


class CausalStudent:
    """A causal LM that classifies by scoring each label after the ``[label]`` prompt."""

    def __init__(self, model: Any, tokenizer: Any, task: Task, system_prompt: bool, max_length: int) -> None:
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.system_prompt = system_prompt
        self.encoder = ChatEncoder(tokenizer, max_length)
        self.label_ids = [self.encoder.completion_ids(label) for label in task.labels]
        self._prefix, self._cache = self._shared_prefix()

    @classmethod
    def load(cls, folder: str | Path, task: Task | None = None) -> CausalStudent:
        """Load a merged student folder written by :func:`finetune_causal`.

        Raises:
            RunError: the folder has no ``llmkd_student.json`` or no loadable model.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from llmkd.io.task import load_task

        folder = Path(folder)
        info = read_marker(folder)
        if info is None:
            raise RunError(f"{folder / MARKER}: missing; not a causal llmkd student (rerun llmkd.finetune)")
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(str(folder))
                model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise RunError(f"{folder}: not a loadable causal student ({exc}); rerun llmkd.finetune") from None
        task = task or load_task(info["task"])
        if list(info["labels"]) != task.labels:
            raise RunError(f"{folder}: the student predicts {info['labels']}, but the task has {task.labels}")
        return cls(model.eval(), tokenizer, task, bool(info["system_prompt"]), int(info["max_length"]))

    def _shared_prefix(self) -> tuple[list[int], Any]:
        """Token ids (and KV cache) shared by every label prompt: the chat up to the user's text."""
        a = self.encoder.prompt_ids(student_messages(self.task, "alpha", LABEL_TASK, self.system_prompt))
        b = self.encoder.prompt_ids(student_messages(self.task, "omega", LABEL_TASK, self.system_prompt))
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        n = max(0, n - 1)  # keep one token in every suffix
        return a[:n], None

    def predict_probs(self, texts: Sequence[str], batch_size: int = 16, progress: bool = True) -> np.ndarray:
        """``(N, L)`` label probabilities in task-label order."""
        self.model.eval()
        cache = self._cache
        if cache is None and self._prefix:
            cache = self._cache = prefix_cache(self.model, self._prefix)
        pad = int(self.tokenizer.pad_token_id)
        out: list[np.ndarray] = []
        starts = range(0, len(texts), batch_size)
        for start in tqdm(
            starts, desc="causal student", unit="batch", disable=not progress or len(starts) < 2
        ):
            prompts = [
                self.encoder.prompt_ids(student_messages(self.task, text, LABEL_TASK, self.system_prompt))
                for text in texts[start : start + batch_size]
            ]
            n = len(self._prefix)
            if n and all(ids[:n] == self._prefix for ids in prompts):
                suffixes = [ids[n:][-(self.encoder.max_length - n) :] for ids in prompts]
                logp = label_logprobs(self.model, suffixes, self.label_ids, pad, n, cache)
            else:  # a text whose tokens merge into the shared prefix: no cache for this batch
                suffixes = [ids[-self.encoder.max_length :] for ids in prompts]
                logp = label_logprobs(self.model, suffixes, self.label_ids, pad)
            out.append(torch.softmax(logp, dim=-1).numpy())
        if not out:
            return np.zeros((0, len(self.task.labels)), dtype=np.float32)
        return np.concatenate(out, axis=0)


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """``llmkd_student.json`` of a student folder, or None when absent (an encoder student)."""
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise RunError(f"{path}: not valid JSON (rerun llmkd.finetune)") from None
    if not isinstance(data, dict) or data.get("kind") != "causal":
        raise RunError(f"{path}: not a causal-student marker (rerun llmkd.finetune)")
    return data


def _padding_collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, padding=True)


def add_causal_lora(model: Any, r: int, alpha: int, dropout: float, targets: str = "auto") -> Any:
    """Wrap a causal LM in LoRA adapters; ``targets`` is ``--lora-targets``, the LM head never gets one."""
    from peft import LoraConfig, TaskType, get_peft_model

    modules = resolve_targets(model, targets, skip=["lm_head"])
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=modules
    )
    with quiet_transformers():
        return get_peft_model(model, config)


def model_card(
    config: FinetuneConfig, task: Task, base: str, counts: dict[str, Any], acc: float | None
) -> str:
    shown = f"{acc:.4f}" if acc is not None else "n/a"
    return f"""---
library_name: transformers
base_model: {config.student}
pipeline_tag: text-generation
tags: [llmkd, knowledge-distillation, distilling-step-by-step, lora]
---

# llmkd causal student: {task.name}

A causal LM fine-tuned by llmkd with LoRA on teacher labels and rationales ("distilling step-by-step",
Hsieh et al. 2023), the loss on completion tokens only.

- Base model: `{config.student}` (loaded from `{base}`)
- Labels: {", ".join(task.labels)}
- Training data: {counts["n_train"]} teacher-labelled texts from `{counts["source"]}` → {
        counts["n_label_examples"]
    }
  label examples and {counts["n_rationale_examples"]} rationale examples; {counts["n_val"]} held out
- Held-out accuracy (agreement with the teacher, label scoring): {shown}

## Usage

Ask the label task — the user turn `{LABEL_TASK} ` + the task's user prompt{
        " after the task's system prompt" if config.causal_system_prompt else ""
    } — and score each label's tokens (`llmkd.students.causal.CausalStudent.load(path).predict_probs(texts)`).
"""


def finetune_causal(config: FinetuneConfig, callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    """LoRA SFT of a causal student on label and rationale targets; saves adapter and merged model.

    Raises:
        ConfigError: the base model cannot be loaded.
        RunError: the run has no usable records.
    """
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, set_seed
    from transformers.trainer_callback import ProgressCallback

    from llmkd.cli import warn
    from llmkd.finetune import (
        DEFAULT_LR_CAUSAL,
        _QuietProgress,
        load_examples,
        record_counts,
        training_arguments,
    )
    from llmkd.models.embedded import resolve_causal_model
    from llmkd.reporting import plots
    from llmkd.training.checkpoints import CHECKPOINTS, prepare_checkpoints, run_fingerprint
    from llmkd.training.data import split_examples

    if config.full or config.class_weights != "none":
        raise ConfigError("--full and --class-weights apply to encoder students, not --student-kind causal")
    run_dir, source, task, records, examples = load_examples(config)
    spec = "local" if config.student == "minilm" else config.student
    max_length = config.max_length or DEFAULT_MAX_LENGTH
    lr = config.lr if config.lr is not None else DEFAULT_LR_CAUSAL
    output = Path(config.output or run_dir / "student-causal")
    config = dataclasses.replace(
        config, student=spec, lr=lr, max_length=max_length, task=task.name, output=str(output), full=False
    )
    set_seed(config.seed)
    train, val = split_examples(examples, config.val_fraction, config.seed)
    if not val:
        warn("no held-out split (fewer than 5 records or --val-fraction 0): the last epoch is kept")
    base = resolve_causal_model(spec)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(base)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--student {spec!r}: cannot load a causal LM from {base}: {exc}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(f"--student {spec!r}: the tokenizer has no chat template")
    encoder = ChatEncoder(tokenizer, max_length)
    share = config.rationale_weight
    train_rows = build_examples(train, task, encoder, config.causal_system_prompt, share, config.seed)
    val_rows = build_examples(val, task, encoder, config.causal_system_prompt, 0.0, config.seed)
    n_rationale = len(train_rows) - len(train)
    model = add_causal_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    work = run_dir / CHECKPOINTS
    args = training_arguments(config, work, len(train_rows), bool(val), lr, ["labels"])
    args.metric_for_best_model = "loss" if val else None
    args.greater_is_better = False if val else None
    checkpoint = prepare_checkpoints(work, run_fingerprint(config, examples), config.resume)
    if checkpoint is not None:
        print(f"finetune: resuming from {checkpoint}")
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val else None,
        processing_class=tokenizer,
        data_collator=_padding_collator(tokenizer),
        callbacks=callbacks,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_QuietProgress)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    history = list(trainer.state.log_history)
    runtime = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return {}

    peft_model: Any = trainer.model
    held_out_accuracy = None
    if val:
        scored = val[:HELD_OUT_SCORED]
        student = CausalStudent(peft_model, tokenizer, task, config.causal_system_prompt, max_length)
        probs = student.predict_probs([e.text for e in scored], progress=False)
        held_out_accuracy = float((probs.argmax(1) == np.array([e.label for e in scored])).mean())
    counts = {
        **record_counts(source, records, examples, train, val, task.labels),
        "n_label_examples": len(train),
        "n_rationale_examples": n_rationale,
    }
    marker = {
        "kind": "causal",
        "task": task.name,
        "labels": task.labels,
        "system_prompt": config.causal_system_prompt,
        "max_length": max_length,
        "label_task": LABEL_TASK,
        "rationale_task": RATIONALE_TASK,
        "base_model": base,
    }
    save_causal(
        peft_model, tokenizer, output, marker, model_card(config, task, base, counts, held_out_accuracy)
    )
    plots.training_curves(history, run_dir / "training_curves_causal.png")
    metrics = {
        **counts,
        "task": task.name,
        "student": str(output / "merged"),
        "student_kind": "causal",
        "base_model": base,
        "method": "lora",
        "resumed_from": checkpoint.name if checkpoint else None,
        "held_out_accuracy": held_out_accuracy,
        "held_out_scored": min(len(val), HELD_OUT_SCORED),
        "train_loss": result.training_loss,
        "runtime_s": round(runtime, 2),
        "trainable_parameters": trainable,
        "parameters": sum(p.numel() for p in peft_model.get_base_model().parameters()),
        "log_history": history,
    }
    write_json(run_dir / "finetune_metrics.json", metrics)
    save_config(run_dir, "finetune", config)
    shutil.rmtree(work, ignore_errors=True)
    shown = f"{held_out_accuracy:.3f}" if held_out_accuracy is not None else "n/a"
    print(
        f"finetune: causal student saved to {output} (held-out accuracy vs teacher {shown}, {runtime:.1f} s)"
    )
    return metrics


def save_causal(peft_model: Any, tokenizer: Any, output: Path, marker: dict[str, Any], card: str) -> None:
    """Write ``output/adapter`` and ``output/merged`` into a temp folder, then swap it in."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with quiet_transformers():
            peft_model.save_pretrained(tmp / "adapter")
            tokenizer.save_pretrained(tmp / "adapter")
            merged = peft_model.merge_and_unload()
            merged.save_pretrained(tmp / "merged")
            tokenizer.save_pretrained(tmp / "merged")
        for folder in (tmp / "merged", tmp):
            write_json(folder / MARKER, marker)
        atomic_write_text(tmp / "merged" / "README.md", card)
        old = output.parent / f".{output.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if output.exists():
            output.rename(old)
        tmp.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
