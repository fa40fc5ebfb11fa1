"""Causal-LM students: chat encoding of the label and rationale tasks, and prediction by label scoring.

A causal student is asked in a chat whose user turn starts with a task marker: ``[label]`` (answer with
the label) or ``[rationale]`` (explain it; a training task only, :mod:`llmkd.training.causal`). At
prediction time each label's tokens (plus end-of-turn) are scored after the label-task prompt with
:func:`llmkd.scoring.label_scoring.label_logprobs`; no free text is parsed.

Saved as ``RUN/student-causal/adapter`` (the LoRA adapter) and ``RUN/student-causal/merged`` (a plain
causal LM with the adapter merged in, its tokenizer and ``llmkd_student.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from llmkd.errors import ConfigError, RunError
from llmkd.io.task import Task
from llmkd.models.embedded import resolve_causal_model
from llmkd.run.files import atomic_dir, atomic_write_text, write_json
from llmkd.scoring.label_scoring import label_logprobs, prefix_cache
from llmkd.students.encoder import quiet_transformers, weights_size_mb
from llmkd.students.lora import resolve_targets
from llmkd.students.marker import MARKER, read_marker

LABEL_TASK = "[label]"
RATIONALE_TASK = "[rationale]"
IGNORE = -100
MAX_BATCH_SIZE = 16  # label scoring pads every prompt to the longest: small batches are faster


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


class CausalStudent:
    """A causal LM that classifies by scoring each label after the ``[label]`` prompt.

    A :class:`llmkd.students.base.Student`; ``folder`` is where it was loaded from (None while training).
    """

    kind = "causal"
    max_batch_size: int | None = MAX_BATCH_SIZE

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        task: Task,
        system_prompt: bool,
        max_length: int,
        folder: Path | None = None,
    ) -> None:
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.system_prompt = system_prompt
        self.folder = folder
        self.encoder = ChatEncoder(tokenizer, max_length)
        self.label_ids = [self.encoder.completion_ids(label) for label in task.labels]
        self._prefix, self._cache = self._shared_prefix()

    @property
    def labels(self) -> list[str]:
        """The labels, in the column order of :meth:`predict_probs` (the task's order)."""
        return self.task.labels

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def size_mb(self) -> float:
        """Megabytes of weights in :attr:`folder` (0 for a student not saved yet)."""
        return weights_size_mb(self.folder) if self.folder is not None else 0.0

    @classmethod
    def load(cls, folder: str | Path, task: Task | None = None) -> CausalStudent:
        """Load a merged student folder written by :func:`llmkd.training.causal.train_causal`.

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
        system_prompt, max_length = bool(info["system_prompt"]), int(info["max_length"])
        return cls(model.eval(), tokenizer, task, system_prompt, max_length, folder)

    def _shared_prefix(self) -> tuple[list[int], Any]:
        """Token ids (and KV cache) shared by every label prompt: the chat up to the user's text."""
        a = self.encoder.prompt_ids(student_messages(self.task, "alpha", LABEL_TASK, self.system_prompt))
        b = self.encoder.prompt_ids(student_messages(self.task, "omega", LABEL_TASK, self.system_prompt))
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        n = max(0, n - 1)  # keep one token in every suffix
        return a[:n], None

    def predict_probs(
        self, texts: Sequence[str], batch_size: int = MAX_BATCH_SIZE, progress: bool = True
    ) -> np.ndarray:
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


def load_causal_lm(spec: str) -> tuple[Any, Any, str]:
    """The base causal LM for ``--student spec`` (float32), its tokenizer (padding with end-of-text when
    it has no pad token) and the folder or hub id it was loaded from.

    Raises:
        ConfigError: the model cannot be loaded or its tokenizer has no chat template.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
    return model, tokenizer, base


def student_marker(task: Task, system_prompt: bool, max_length: int, base: str) -> dict[str, Any]:
    """The ``llmkd_student.json`` of a causal student: what :meth:`CausalStudent.load` needs."""
    return {
        "kind": "causal",
        "task": task.name,
        "labels": task.labels,
        "system_prompt": system_prompt,
        "max_length": max_length,
        "label_task": LABEL_TASK,
        "rationale_task": RATIONALE_TASK,
        "base_model": base,
    }


def add_causal_lora(model: Any, r: int, alpha: int, dropout: float, targets: str = "auto") -> Any:
    """Wrap a causal LM in LoRA adapters; ``targets`` is ``--lora-targets``, the LM head never gets one."""
    from peft import LoraConfig, TaskType, get_peft_model

    modules = resolve_targets(model, targets, skip=["lm_head"])
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=modules
    )
    with quiet_transformers():
        return get_peft_model(model, config)


def save_causal(peft_model: Any, tokenizer: Any, output: Path, marker: dict[str, Any], card: str) -> None:
    """Write ``output/adapter`` and ``output/merged`` into a temp folder, then swap it in."""
    with atomic_dir(output) as tmp:
        with quiet_transformers():
            peft_model.save_pretrained(tmp / "adapter")
            tokenizer.save_pretrained(tmp / "adapter")
            merged = peft_model.merge_and_unload()
            merged.save_pretrained(tmp / "merged")
            tokenizer.save_pretrained(tmp / "merged")
        for folder in (tmp / "merged", tmp):
            write_json(folder / MARKER, marker)
        atomic_write_text(tmp / "merged" / "README.md", card)
