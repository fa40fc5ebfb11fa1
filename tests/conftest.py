"""Shared fixtures: tiny models (built once per session), the stock task, loopback API keys.

Plain builders live in tests/tiny_models.py (models) and tests/tiny_runs.py (run directories).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmkd.io.task import Task, load_task
from tests.tiny_models import make_tiny_bert, make_tiny_llama


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight BERT (hidden 32, 2 layers) + WordPiece tokenizer, saved as an HF folder."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama (hidden 32, 2 layers, seed 0) + word-level tokenizer, saved as an HF folder."""
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def task() -> Task:
    """The stock ``fin-sentiment`` task."""
    return load_task("fin-sentiment")


@pytest.fixture
def loopback_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy OpenAI and Anthropic keys, and no ``*_BASE_URL`` from the environment (servers are passed explicitly)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
