"""Encoder students: build, wrap in LoRA, merge, save, load and run a sequence classifier."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from llmkd.errors import ConfigError, RunError
from llmkd.models.embedded import resolve_encoder_model
from llmkd.run.files import atomic_dir
from llmkd.students.lora import resolve_targets
from llmkd.students.pooled import PooledClassifierConfig, mean_pooled_classifier, trained_pooling

CLASSIFIER_HEADS = ("pre_classifier", "classifier", "score")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


DEFAULT_EVAL_LENGTH = 128  # students saved without a recorded length
LENGTH_KEY = "llmkd_max_length"  # config.json: the tokens per text the student was trained on

EMBEDDED_NAMES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}


def student_name(spec: str) -> str:
    """A readable name for the base model: the hub id of an embedded model, else ``spec`` itself."""
    return EMBEDDED_NAMES.get(spec, spec)


def resolve_student(spec: str) -> str:
    """``minilm`` -> the embedded MiniLM folder; any other value is a local path or hub id."""
    return resolve_encoder_model(spec)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence load/save chatter: "newly initialized weights" warnings, weight-loading progress bars and
    deprecation warnings raised inside transformers/peft (not by llmkd's own calls)."""
    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def weights_size_mb(folder: Path) -> float:
    """Megabytes of model weights directly in ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES) / 1e6


Pooling = Literal["auto", "head", "mean"]


def resolve_pooling(path: str, pooling: Pooling) -> Literal["head", "mean"]:
    """``auto`` -> ``mean`` for a sentence-transformers folder trained with mean pooling, else ``head``."""
    if pooling != "auto":
        return pooling
    return "mean" if trained_pooling(path) == "mean" else "head"


def load_classifier(
    spec: str, labels: Sequence[str], pooling: Pooling = "head"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A fresh sequence classifier over ``labels`` (new head) and its tokenizer.

    ``pooling``: ``head`` = the architecture's own classification head (``[CLS]``/pooler), ``mean`` = a
    linear head on the masked mean of the token states (:mod:`llmkd.students.pooled`), ``auto`` = what
    the checkpoint was trained with (:func:`resolve_pooling`).

    Raises:
        ConfigError: the checkpoint cannot be loaded (the message names ``--student``).
    """
    path = resolve_student(spec)
    id2label = dict(enumerate(labels))
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path)
            if resolve_pooling(path, pooling) == "mean":
                model: PreTrainedModel = mean_pooled_classifier(path, id2label)
            else:
                model = AutoModelForSequenceClassification.from_pretrained(
                    path,
                    num_labels=len(labels),
                    id2label=id2label,
                    label2id={label: i for i, label in id2label.items()},
                    ignore_mismatched_sizes=True,
                )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--student {spec!r}: cannot load an encoder classifier from {path}: {exc}"
        ) from None
    return model, tokenizer


def head_modules(model: torch.nn.Module) -> list[str]:
    """Names of the classification-head modules, trained in full next to the LoRA adapters.

    A BERT-style ``pooler`` (dense + tanh on ``[CLS]``) feeds the classifier and counts as head: frozen,
    it leaves LoRA a ``[CLS]`` summary that sentence-embedding checkpoints never trained. A mean-pooled
    student's encoder keeps its pooler unused, so there it is not head.
    """
    children = {name for name, _ in model.named_children()}
    heads = [name for name in CLASSIFIER_HEADS if name in children]
    feeds_head = not isinstance(getattr(model, "config", None), PooledClassifierConfig)
    if feeds_head and any(name.split(".")[-1] == "pooler" for name, _ in model.named_modules()):
        heads.append("pooler")
    return heads


def add_lora(model: PreTrainedModel, r: int, alpha: int, dropout: float, targets: str = "auto") -> Any:
    """Wrap ``model`` in LoRA adapters (sequence classification); the head stays fully trainable.

    ``targets`` is ``--lora-targets`` (:func:`llmkd.students.lora.resolve_targets`).
    """
    from peft import LoraConfig, TaskType, get_peft_model

    heads = head_modules(model)
    skip = [*heads, "pooler"]  # a pooler is head, or (mean-pooled student) unused
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=resolve_targets(model, targets, skip),
        modules_to_save=heads,
    )
    with quiet_transformers():
        return get_peft_model(model, config)


def merged(model: Any) -> PreTrainedModel:
    """The plain transformers model: LoRA weights merged in when ``model`` is a peft model."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def save_student(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: str | Path, card: str
) -> Path:
    """Save model, tokenizer and model card into ``target``: written to a temp dir, then renamed.

    An existing ``target`` is replaced only once the new one is complete.
    """
    target = Path(target)
    with atomic_dir(target) as tmp:
        with quiet_transformers():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return target


def load_student(path: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a saved student (model in eval mode + tokenizer).

    Raises:
        RunError: ``path`` is not a loadable classifier folder.
    """
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForSequenceClassification.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: not a loadable student model ({exc}); rerun llmkd.finetune") from None
    model.eval()
    return model, tokenizer


def predict_probs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
    progress: bool = True,
) -> np.ndarray:
    """``(N, C)`` class probabilities for ``texts``, in the model's label-id order."""
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    starts = range(0, len(texts), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="student", unit="batch", disable=not progress or len(starts) < 2):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            logits = model(**batch).logits  # (b, C)
            out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    if not out:
        return np.zeros((0, int(model.config.num_labels or 0)), dtype=np.float32)
    return np.concatenate(out, axis=0)


def token_lengths(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[int]:
    """Tokens per text (special tokens included) before any truncation."""
    if not texts:
        return []
    with quiet_transformers():
        ids = tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
    return [len(x) for x in ids]


def truncation_warning(lengths: Sequence[int], max_length: int, limit: int | None, hint: str) -> str | None:
    """``N of M texts exceed L tokens and are cut ...`` naming a longer length (``hint`` with ``{n}``) up
    to the model's ``limit``; None when no text is cut. Texts keep their head: the first tokens."""
    cut = sum(n > max_length for n in lengths)
    if not cut:
        return None
    message = (
        f"{cut:,} of {len(lengths):,} texts exceed {max_length} tokens and are cut "
        f"(the student reads the first {max_length})"
    )
    want = 1 << (max(lengths) - 1).bit_length()
    want = min(want, limit) if limit else want
    return message + (": " + hint.format(n=want) if want > max_length else "")


class EncoderStudent:
    """A saved sequence-classifier student (a :class:`llmkd.students.base.Student`)."""

    kind = "encoder"
    max_batch_size: int | None = None

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path, max_length: int
    ) -> None:
        self.model, self.tokenizer, self.folder, self.max_length = model, tokenizer, folder, max_length
        id2label = {int(k): v for k, v in (model.config.id2label or {}).items()}
        self.labels = [id2label[i] for i in range(len(id2label))]

    @classmethod
    def load(cls, folder: str | Path, max_length: int | None = None) -> EncoderStudent:
        """Load a student folder written by the encoder trainer; texts are cut at ``max_length`` tokens
        (default: the length it was trained with, recorded in its config.json; 128 when none is).

        Raises:
            RunError: ``folder`` is not a loadable classifier folder.
        """
        model, tokenizer = load_student(folder)
        recorded = getattr(model.config, LENGTH_KEY, None)
        return cls(model, tokenizer, Path(folder), int(max_length or recorded or DEFAULT_EVAL_LENGTH))

    @property
    def position_limit(self) -> int | None:
        """The most tokens the model can read (its position embeddings)."""
        return getattr(self.model.config, "max_position_embeddings", None)

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def size_mb(self) -> float:
        return weights_size_mb(self.folder)

    def predict_probs(self, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """``(N, C)`` class probabilities, columns in :attr:`labels` order."""
        return predict_probs(self.model, self.tokenizer, texts, batch_size, self.max_length, progress)
