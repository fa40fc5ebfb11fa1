"""Label probabilities from a causal LM by scoring each label's continuation.

For a batch of B prompts that share a prefix (system prompt and few-shot turns) and L labels:

1. the shared prefix runs through the model once and its KV cache is reused for every batch;
2. the B item-specific suffixes run in one forward pass on top of it (left-padded inside the suffix,
   positions counted from the prefix), giving each label's first-token log-prob;
3. labels of several tokens continue from the cache, repeated L times, in one more forward pass.

A label's score is the sum of its token log-probs; the label distribution is the softmax over labels.
Inputs go to the model's device (CPU or GPU); the scores come back on the CPU.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import torch


def _cache_kwarg(model: Any) -> str:
    """transformers 5.x names the KV-cache argument ``cache``; 4.x names it ``past_key_values``.

    A peft wrapper passes keyword arguments through, so its base model's signature decides.
    """
    base = model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _returned_cache(out: Any) -> Any:
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def _device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def _expand_cache(cache: Any, batch: int) -> Any:
    expanded = copy.deepcopy(cache)
    if batch > 1:
        expanded.batch_repeat_interleave(batch)
    return expanded


@torch.inference_mode()
def prefix_cache(model: Any, prefix_ids: list[int]) -> Any | None:
    """KV cache of the shared prefix (batch 1), or None for an empty prefix."""
    if not prefix_ids:
        return None
    ids = torch.tensor([prefix_ids], device=_device(model))
    return _returned_cache(model(input_ids=ids, use_cache=True))


def _left_padded(suffixes: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)``, each ``(B, S)``: the prompts right-aligned, so every last position is a prompt end."""
    width = max(len(s) for s in suffixes)
    ids = torch.full((len(suffixes), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(suffixes), width), dtype=torch.long)
    for row, suffix in enumerate(suffixes):
        ids[row, width - len(suffix) :] = torch.tensor(list(suffix))
        mask[row, width - len(suffix) :] = 1
    return ids, mask


def _continuations(
    labels: Sequence[Sequence[int]], rest: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per label ``(inputs, mask, targets)``, each ``(L, rest)``: tokens 0..n-2 fed, 1..n-1 scored (-1: none)."""
    cont = torch.full((len(labels), rest), pad_id, dtype=torch.long)
    cont_mask = torch.zeros((len(labels), rest), dtype=torch.long)
    targets = torch.full((len(labels), rest), -1, dtype=torch.long)
    for j, lab in enumerate(labels):
        n = len(lab) - 1
        if n:
            cont[j, :n] = torch.tensor(list(lab[:-1]))
            cont_mask[j, :n] = 1
            targets[j, :n] = torch.tensor(list(lab[1:]))
    return cont, cont_mask, targets


@torch.inference_mode()
def label_logprobs(
    model: Any,
    suffixes: Sequence[Sequence[int]],
    labels: Sequence[Sequence[int]],
    pad_id: int,
    prefix_len: int = 0,
    cache: Any | None = None,
) -> torch.Tensor:
    """Log-probability of each label's token sequence after each prompt.

    Args:
        model: A causal LM returning ``logits`` and accepting ``past_key_values``.
        suffixes: Token ids of each prompt after the shared prefix (B lists, non-empty).
        labels: Token ids of each label continuation (L lists, non-empty).
        pad_id: Token used for padding (masked out).
        prefix_len: Length of the shared prefix held in ``cache`` (0 for none).
        cache: KV cache of the shared prefix with batch size 1, from :func:`prefix_cache`.

    Returns:
        Tensor (B, L) of summed log-probs, on the CPU.
    """
    dev = _device(model)
    b, n_labels = len(suffixes), len(labels)
    ids, mask = _left_padded(suffixes, pad_id)  # (B, S)
    positions = (prefix_len + mask.cumsum(-1) - 1).clamp(min=prefix_len)  # (B, S)
    full_mask = torch.cat([torch.ones((b, prefix_len), dtype=torch.long), mask], dim=1)  # (B, P+S)
    past = _expand_cache(cache, b) if cache is not None else None
    out = model(
        input_ids=ids.to(dev),
        attention_mask=full_mask.to(dev),
        position_ids=positions.to(dev),
        use_cache=True,
        **{_cache_kwarg(model): past},
    )
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # (B, V)
    first_ids = torch.tensor([lab[0] for lab in labels], device=first.device)
    scores = first[:, first_ids]  # (B, L)
    longest = max(len(lab) for lab in labels)
    if longest == 1:
        return scores.cpu()

    # Continue every (prompt, label) pair from the cache, rows prompt-major (B*L, ...): feeding
    # label tokens 0..n-2 scores tokens 1..n-1 (token 0 is scored above).
    rest = longest - 1
    cont, cont_mask, targets = _continuations(labels, rest, pad_id)  # (L, rest) each
    cache_after = _returned_cache(out)
    cache_after.batch_repeat_interleave(n_labels)
    real_len = (mask.sum(-1) + prefix_len).repeat_interleave(n_labels)  # (B*L,) tokens before the label
    positions2 = real_len[:, None] + torch.arange(rest)[None, :]  # (B*L, rest)
    attn = torch.cat([full_mask.repeat_interleave(n_labels, dim=0), cont_mask.repeat(b, 1)], dim=1)
    out2 = model(
        input_ids=cont.repeat(b, 1).to(dev),
        attention_mask=attn.to(dev),
        position_ids=positions2.to(dev),
        use_cache=False,
        **{_cache_kwarg(model): cache_after},
    )
    logp = torch.log_softmax(out2.logits.float(), dim=-1)  # (B*L, rest, V)
    tgt = targets.repeat(b, 1).to(logp.device)  # (B*L, rest)
    picked = logp.gather(-1, tgt.clamp(min=0)[..., None]).squeeze(-1) * (tgt >= 0)  # (B*L, rest)
    return (scores + picked.sum(-1).view(b, n_labels)).cpu()
