"""Batched, prefix-cached label scoring equals naive one-sequence-at-a-time scoring."""

from __future__ import annotations

import warnings

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from llmkd.scoring.label_scoring import label_logprobs, prefix_cache


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(config).eval()


def naive(model: LlamaForCausalLM, prompt: list[int], label: list[int]) -> float:
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt + label])).logits[0], -1)
    return sum(logp[len(prompt) - 1 + k, tok].item() for k, tok in enumerate(label))


PREFIX = [3, 4, 5, 6]
SUFFIXES = [[7, 8, 9], [10, 11, 12, 13, 14], [15]]


@pytest.mark.parametrize(
    "labels",
    [
        [[20], [21], [22]],  # single-token labels: one forward pass
        [[20], [21, 22], [23, 24, 25]],  # ragged multi-token labels
        [[30, 31], [30, 32]],  # labels whose first tokens collide
    ],
)
def test_cached_scoring_matches_naive(model: LlamaForCausalLM, labels: list[list[int]]) -> None:
    expected = torch.tensor([[naive(model, PREFIX + s, lab) for lab in labels] for s in SUFFIXES])
    cache = prefix_cache(model, PREFIX)
    got = label_logprobs(model, SUFFIXES, labels, pad_id=0, prefix_len=len(PREFIX), cache=cache)
    assert got.shape == (3, len(labels))
    assert torch.allclose(got, expected, atol=1e-4)
    # The cache is not consumed: a second batch gives the same answer.
    again = label_logprobs(model, SUFFIXES, labels, pad_id=0, prefix_len=len(PREFIX), cache=cache)
    assert torch.allclose(again, expected, atol=1e-4)


def test_without_shared_prefix(model: LlamaForCausalLM) -> None:
    labels = [[20], [21, 22]]
    prompts = [PREFIX + s for s in SUFFIXES]
    expected = torch.tensor([[naive(model, p, lab) for lab in labels] for p in prompts])
    assert torch.allclose(label_logprobs(model, prompts, labels, pad_id=0), expected, atol=1e-4)


def test_peft_wrapped_model_uses_the_current_cache_argument(model: LlamaForCausalLM) -> None:
    labels = [[20], [21, 22]]
    expected = torch.tensor([[naive(model, PREFIX + s, lab) for lab in labels] for s in SUFFIXES])
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))  # B = 0: same outputs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = prefix_cache(wrapped, PREFIX)
        got = label_logprobs(wrapped, SUFFIXES, labels, pad_id=0, prefix_len=len(PREFIX), cache=cache)
    wrapped.unload()
    assert torch.allclose(got, expected, atol=1e-4)
    assert not [w for w in caught if "past_key_values" in str(w.message)]
