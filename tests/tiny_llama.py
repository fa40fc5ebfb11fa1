"""A tiny random-weight Llama-style causal LM with a word-level tokenizer and a chat template."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
WORDS = [
    "system",
    "user",
    "assistant",
    "positive",
    "negative",
    "neutral",
    "hawkish",
    "dovish",
    "classify",
    "the",
    "following",
    "text",
    "answer",
    "with",
    "one",
    "label",
    "explain",
    "why",
    "profit",
    "rose",
    "fell",
    "company",
    "sales",
    "record",
    "loss",
    "jobs",
    "cut",
    "guidance",
    "raised",
    "a",
    "an",
    "of",
    "to",
    "in",
    "is",
    "was",
    "and",
    "for",
    "on",
    ".",
    ",",
    ":",
    "-",
    "<",
    ">",
    "/",
    "(",
    ")",
    "text",
]


def make_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide Llama and its tokenizer to ``folder``; returns the folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(specials + WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=0,
        eos_token_id=3,
        bos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
