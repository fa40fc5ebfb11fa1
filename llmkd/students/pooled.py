"""A sequence classifier over the attention-masked mean of an encoder's token states.

Sentence-transformers checkpoints (the embedded all-MiniLM-L6-v2 among them) were trained to be read
through mean pooling; their ``[CLS]`` state and BERT pooler are left over from pre-training. A linear head
on the mean reads them as they were trained. On Financial PhraseBank it was within seed noise of the
``[CLS]`` head (``bench/quality/README.md``), so ``llmkd.finetune`` uses it only with ``--pooling mean|auto``.

The class registers itself with ``AutoConfig`` / ``AutoModelForSequenceClassification``, so a saved
student loads with the usual ``from_pretrained`` once ``llmkd.students.pooled`` (or ``llmkd.students.encoder``)
is imported; the saved folder also
holds a copy of this file, so without llmkd it loads with ``trust_remote_code=True``. Keep this module
free of llmkd imports for that reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutput

POOLING_CONFIG = Path("1_Pooling") / "config.json"


class PooledClassifierConfig(PretrainedConfig):
    """``encoder``: the base encoder's config as a dict; ``pooling``: how token states become one vector."""

    model_type = "llmkd-pooled-classifier"

    def __init__(
        self,
        encoder: dict[str, Any] | None = None,
        pooling: str = "mean",
        classifier_dropout: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder = dict(encoder or {})
        self.pooling = pooling
        self.classifier_dropout = classifier_dropout

    def encoder_config(self) -> PretrainedConfig:
        """The base encoder's own config object."""
        settings = dict(self.encoder)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


class PooledClassifier(PreTrainedModel):
    """Encoder -> masked mean of the last hidden states -> dropout -> linear head."""

    config_class = PooledClassifierConfig
    base_model_prefix = "encoder"
    supports_gradient_checkpointing = True

    def __init__(self, config: PooledClassifierConfig, encoder: PreTrainedModel | None = None) -> None:
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder_config())
        hidden = int(self.encoder.config.hidden_size)
        self.dropout = torch.nn.Dropout(config.classifier_dropout)
        self.classifier = torch.nn.Linear(hidden, int(config.num_labels or 2))
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        if module is getattr(self, "classifier", None):
            torch.nn.init.normal_(module.weight, std=0.02)
            torch.nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.get_input_embeddings()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        kwargs.pop("num_items_in_batch", None)
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(states.shape[:2], dtype=states.dtype, device=states.device)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, L, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
        logits = self.classifier(self.dropout(pooled))  # (B, C)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(PooledClassifierConfig.model_type, PooledClassifierConfig)
AutoModelForSequenceClassification.register(PooledClassifierConfig, PooledClassifier)
# save_pretrained copies this file next to the weights: loadable without llmkd via trust_remote_code=True
PooledClassifierConfig.register_for_auto_class()
PooledClassifier.register_for_auto_class("AutoModelForSequenceClassification")


def trained_pooling(path: str | Path) -> str | None:
    """The pooling a sentence-transformers folder was trained with (``"mean"``, ``"cls"``, ...), else None."""
    config = Path(path) / POOLING_CONFIG
    if not config.is_file():
        return None
    settings = json.loads(config.read_text(encoding="utf-8"))
    for mode in ("mean", "cls", "max"):
        if settings.get(f"pooling_mode_{mode}_tokens") or settings.get(f"pooling_mode_{mode}_token"):
            return mode
    return None


def mean_pooled_classifier(path: str | Path, id2label: dict[int, str]) -> PooledClassifier:
    """A :class:`PooledClassifier` on the pretrained encoder at ``path`` with a fresh head."""
    encoder = AutoModel.from_pretrained(str(path))
    config = PooledClassifierConfig(
        encoder=encoder.config.to_dict(),
        id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
    )
    return PooledClassifier(config, encoder)
