"""Which backends offer which capabilities, and that checking them loads no weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from llmkd.io.task import load_task
from llmkd.teachers import TeacherOptions, build_teacher
from llmkd.teachers.capabilities import (
    AnthropicBatchTeacher,
    AugmentingTeacher,
    LocalModelTeacher,
    OpenAIBatchTeacher,
    PromptedTeacher,
    RateLimitedTeacher,
    SpendingTeacher,
)
from llmkd.teachers.local import LocalTeacher
from llmkd.teachers.options import options_for, teacher_options
from tests.tiny_models import make_tiny_llama

ALL = (
    SpendingTeacher,
    RateLimitedTeacher,
    OpenAIBatchTeacher,
    AnthropicBatchTeacher,
    AugmentingTeacher,
    PromptedTeacher,
    LocalModelTeacher,
)


@pytest.fixture(scope="module")
def task():
    return load_task("fin-sentiment")


def offered(teacher: object) -> set[str]:
    return {cap.__name__ for cap in ALL if isinstance(teacher, cap)}


def test_remote_backends(task, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    remote = {"SpendingTeacher", "RateLimitedTeacher", "AugmentingTeacher"}
    assert offered(build_teacher("gpt-4o-mini", task, TeacherOptions())) == remote | {"OpenAIBatchTeacher"}
    assert offered(build_teacher("claude-haiku-4-5", task, TeacherOptions())) == remote | {
        "AnthropicBatchTeacher"
    }


def test_lexicon_offers_nothing_beyond_labelling(task) -> None:
    assert offered(build_teacher("lexicon", task, TeacherOptions())) == set()


def test_local_teacher_is_prompted_and_the_check_loads_no_weights(task, tmp_path: Path) -> None:
    teacher = LocalTeacher.from_spec(f"hf:{make_tiny_llama(tmp_path / 'tiny')}", task, TeacherOptions())
    assert isinstance(teacher, PromptedTeacher) and teacher._lm is None
    assert isinstance(teacher, LocalModelTeacher) and teacher._lm is not None  # lm: loads the model
    assert not isinstance(teacher, SpendingTeacher | AugmentingTeacher | RateLimitedTeacher)


def test_options_from_a_saved_generate_config() -> None:
    assert teacher_options({}) == TeacherOptions()
    saved = {"samples": 5, "temperature": None, "few_shot": None, "rpm": 60, "teacher": ["local"]}
    options = teacher_options(saved)
    assert options.temperature == 1.0 and options.samples == 5 and options.few_shot and options.rpm == 60
    assert teacher_options({"few_shot": False, "temperature": 0.3}).few_shot is False
    # --few-shot unset: the embedded SmolLM2 goes without examples, API teachers and pools use them.
    assert options_for("local", saved, options).few_shot is False
    assert options_for("gpt-4o", saved, options).few_shot is True
    assert options_for("local", {**saved, "few_shot_pool": "pool.txt"}, options).few_shot is True
    assert options_for("local", {**saved, "few_shot": True}, options) is options
    # --device auto (generate's default): a local teacher runs on the GPU when there is one.
    auto = replace(options, device="auto")
    assert options_for("local", saved, auto).device == ("cuda" if torch.cuda.is_available() else "cpu")
