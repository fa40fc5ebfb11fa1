"""Which backend a ``--teacher`` spec names, and which backends run on this machine."""

from __future__ import annotations

from llmkd.errors import TeacherError

LOCAL_KINDS = frozenset({"local", "hf", "lexicon"})  # backends that run on this machine


def teacher_kind(spec: str) -> str:
    """Which backend a ``--teacher`` spec names: local, hf, lexicon, openai, anthropic or openai-compatible."""
    prefix, _, rest = spec.partition(":")
    if spec == "local" or prefix == "local":
        return "local"
    if prefix == "lexicon":
        return "lexicon"
    if prefix == "hf" and rest:
        return "hf"
    if prefix in {"vllm", "ollama", "openai-compatible", "llamacpp"} and rest:
        return "openai-compatible"
    if prefix == "openai" and rest:
        return "openai"
    if prefix == "anthropic" and rest:
        return "anthropic"
    if not rest and (spec.startswith(("gpt-", "o1", "o3", "o4", "chatgpt-"))):
        return "openai"
    if not rest and spec.startswith("claude-"):
        return "anthropic"
    raise TeacherError(
        f"unknown teacher {spec!r}: use local, hf:PATH_OR_ID, lexicon, gpt-4o, openai:MODEL, claude-..., "
        "anthropic:MODEL, vllm:MODEL, ollama:MODEL or openai-compatible:MODEL"
    )
