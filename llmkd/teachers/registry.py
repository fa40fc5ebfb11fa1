"""Build the backend a ``--teacher`` spec names (backends are imported only when used)."""

from __future__ import annotations

from llmkd.io.task import Task
from llmkd.teachers.base import Teacher, TeacherOptions
from llmkd.teachers.specs import teacher_kind


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
