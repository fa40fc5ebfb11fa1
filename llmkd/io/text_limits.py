"""Guards on hostile input texts: truncation to a model's limit, and delimiters a text cannot forge.

``truncate_texts`` cuts texts to a token budget (counted, so the caller can warn once with the number).
``fence_text`` makes a text safe to put between the task's ``<text>`` and ``</text>`` tags: a text can
neither close the fence early nor smuggle chat-template control tokens (``<|im_start|>``, ``[INST]``,
``<s>``) that a tokenizer would read as real role markers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmkd.io.records import Item

# <text>, </text>, < / TEXT >, and any other tag name a task might use as its fence.
FENCE_TAG = re.compile(r"<\s*(/?)\s*(text|document|data|input)\s*>", re.IGNORECASE)
# Chat-template control tokens: ChatML/Qwen/SmolLM <|...|>, Llama 2/3 [INST] <<SYS>> <s> </s>, Gemma turns.
CONTROL_TOKEN = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|\[/?INST\]|<</?SYS>>|</?s>|<start_of_turn>|<end_of_turn>", re.IGNORECASE
)

ENTITIES = str.maketrans({"<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;"})


def fence_text(text: str) -> str:
    """``text`` with fence tags and chat control tokens defused (``<>[]`` written as HTML entities).

    Ordinary texts come back unchanged, so prompts (and ledger keys) of clean data do not move.
    """
    text = FENCE_TAG.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}&gt;", text)
    return CONTROL_TOKEN.sub(lambda m: m.group(0).translate(ENTITIES), text)


def truncate_text(text: str, tokenizer: Any, max_tokens: int) -> tuple[str, bool]:
    """The longest prefix of ``text`` that fits in ``max_tokens`` tokens, and whether it was cut.

    Uses the fast tokenizer's character offsets, so the kept part is the original text verbatim.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if len(text.encode("utf-8")) <= max_tokens:  # a token never covers less than one byte
        return text, False
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= max_tokens:
        return text, False
    # Cut where the first token past the budget starts (a character split over several byte-level
    # tokens goes whole); re-check, since a tokenizer may merge differently at the new end.
    keep = max_tokens
    while keep > 0:
        cut = text[: int(offsets[keep][0])].rstrip()
        if len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= max_tokens:
            return cut, True
        keep -= 1
    return "", True


def truncate_texts(items: Sequence[Item], tokenizer: Any, max_tokens: int) -> tuple[list[Item], int]:
    """Items whose texts are cut to ``max_tokens`` tokens of ``tokenizer``, and how many were cut.

    Args:
        items: The input items.
        tokenizer: A Hugging Face *fast* tokenizer (offsets are needed to cut the original text).
        max_tokens: Token budget for the text alone (the model's limit minus the prompt around it).

    Returns:
        (items, n_truncated); items that fit are returned as they are.
    """
    out: list[Item] = []
    n_cut = 0
    for item in items:
        text, cut = truncate_text(item.text, tokenizer, max_tokens)
        n_cut += cut
        out.append(replace(item, text=text) if cut else item)
    return out, n_cut


def text_token_budget(tokenizer: Any, prompt_overhead: int, model_max: int | None = None) -> int:
    """Tokens left for a text: the model's limit (``model_max`` or ``tokenizer.model_max_length``) minus the prompt."""
    limit = model_max if model_max is not None else int(getattr(tokenizer, "model_max_length", 0) or 0)
    if limit <= 0 or limit > 1_000_000:  # tokenizers without a limit report a huge sentinel
        limit = 8192
    return max(1, limit - prompt_overhead)
