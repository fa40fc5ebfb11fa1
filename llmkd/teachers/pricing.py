"""Teacher prices and default rate limits (kept as data in ``llmkd/teachers/prices.yaml``) and cost arithmetic."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmkd.io.records import Item
from llmkd.io.task import Task

PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"
PROVIDER_PREFIXES = ("openai:", "anthropic:", "vllm:", "ollama:", "openai-compatible:", "llamacpp:")


@dataclass(frozen=True)
class Price:
    """Dollars per 1M tokens for one model family, and its default client-side limits."""

    model: str
    input: float
    cached_input: float
    output: float
    cache_write: float | None = None
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens one response used.

    Attributes:
        prompt_tokens: All prompt tokens, cached and cache-written ones included.
        completion_tokens: Output tokens (reasoning tokens included).
        cached_tokens: Prompt tokens read from the provider's cache (billed at ``cached_input``).
        cache_write_tokens: Prompt tokens written to Anthropic's cache (billed at ``cache_write``).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


@functools.lru_cache(maxsize=1)
def _table() -> tuple[dict[str, Price], float]:
    raw: dict[str, Any] = yaml.safe_load(PRICES_FILE.read_text(encoding="utf-8"))
    prices = {name: Price(model=name, **fields) for name, fields in raw["models"].items()}
    return prices, float(raw.get("batch_discount", 1.0))


def base_model(model: str) -> str:
    """``openai:gpt-4o`` -> ``gpt-4o`` (provider prefixes removed)."""
    for prefix in PROVIDER_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def price_for(model: str) -> Price | None:
    """Price of ``model``: exact name, else the longest listed prefix (dated snapshots); None if unknown."""
    prices, _ = _table()
    name = base_model(model)
    if name in prices:
        return prices[name]
    matches = [key for key in prices if name.startswith(key + "-")]
    return prices[max(matches, key=len)] if matches else None


def cost_usd(model: str, usage: Usage, *, batch: bool = False) -> float:
    """Exact dollars for one response from its usage (0.0 for models not in the table, e.g. local vLLM)."""
    price = price_for(model)
    if price is None:
        return 0.0
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    fresh = usage.prompt_tokens - cached - written
    write_price = price.cache_write if price.cache_write is not None else price.input
    dollars = (
        fresh * price.input
        + cached * price.cached_input
        + written * write_price
        + usage.completion_tokens * price.output
    ) / 1_000_000
    return dollars * (_table()[1] if batch else 1.0)


def default_limits(model: str) -> tuple[int | None, int | None]:
    """Default (requests per minute, tokens per minute) for ``model``; (None, None) when unknown."""
    price = price_for(model)
    return (price.rpm, price.tpm) if price else (None, None)


@dataclass(frozen=True)
class ClientLimits:
    """The client-side limits in force for one model, and where each came from.

    Attributes:
        rpm: Requests per minute (None = unlimited).
        tpm: Tokens per minute (None = unlimited).
        rpm_flag: ``rpm`` is the user's ``--rpm``, not llmkd's default for the model.
        tpm_flag: ``tpm`` is the user's ``--tpm``.
    """

    model: str
    rpm: int | None
    tpm: int | None
    rpm_flag: bool = False
    tpm_flag: bool = False


def client_limits(model: str, rpm: int | None = None, tpm: int | None = None) -> ClientLimits:
    """``--rpm`` / ``--tpm`` where given, else the model's defaults from ``prices.yaml``."""
    default_rpm, default_tpm = default_limits(model)
    return ClientLimits(
        model=base_model(model),
        rpm=rpm or default_rpm,
        tpm=tpm or default_tpm,
        rpm_flag=bool(rpm),
        tpm_flag=bool(tpm),
    )


def count_tokens(text: str) -> int:
    """Token count of ``text``: tiktoken's o200k_base when installed, else the chars/4 rule of thumb."""
    encoder = _encoder()
    if encoder is not None:
        return len(encoder.encode(text, disallowed_special=()))
    return max(1, (len(text) + 3) // 4)


@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    try:
        import tiktoken

        return tiktoken.get_encoding("o200k_base")
    except Exception:  # not installed, or its vocabulary cannot be downloaded offline
        return None


def estimate_tokens(
    task: Task, items: Iterable[Item], *, completion_tokens: int = 60, few_shot: bool = True
) -> tuple[int, int]:
    """Estimated (prompt, completion) tokens to label ``items`` once (for ``--dry-run``).

    Each request costs the rendered chat messages plus ~4 tokens of framing per message, and about
    ``completion_tokens`` of answer (a JSON label plus a one-sentence rationale).
    """
    prompt = 0
    n = 0
    fixed: int | None = None
    for item in items:
        messages = task.messages(item.text, few_shot=few_shot)
        if fixed is None:
            fixed = sum(count_tokens(m["content"]) + 4 for m in messages[:-1])
        prompt += fixed + count_tokens(messages[-1]["content"]) + 4
        n += 1
    return prompt, n * completion_tokens


def estimate_cost_usd(
    model: str, prompt_tokens: int, completion_tokens: int, *, batch: bool = False
) -> float:
    """Dollars for the estimated tokens (no cache hits assumed)."""
    return cost_usd(
        model, Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens), batch=batch
    )
