"""What a teacher can do beyond labelling, as protocols the stages check with ``isinstance``.

A runtime check looks up every member; before Python 3.12 that evaluates properties, so
:class:`LocalModelTeacher` (whose ``lm`` loads the weights) is checked only where the model is about to
be used, and :class:`PromptedTeacher` (tokenizer and prompt, no weights) everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from llmkd.io.records import TeacherOutput
from llmkd.io.task import Task
from llmkd.teachers.base import TeacherRequest
from llmkd.teachers.pricing import ClientLimits
from llmkd.teachers.ratelimit import RateLimiter


@runtime_checkable
class SpendingTeacher(Protocol):
    """A teacher that pays per request: a budget it stops at, an estimate before sending, counters after.

    ``stats`` counts ``calls`` (HTTP attempts), ``retries``, tokens and ``cost_usd`` since construction.
    """

    name: str
    budget_usd: float | None
    stats: dict[str, float]

    @property
    def spent_usd(self) -> float: ...

    def estimate(self, requests: Sequence[TeacherRequest], *, batch: bool = False) -> dict[str, float]:
        """``prompt_tokens``, ``completion_tokens`` and ``cost_usd`` expected for ``requests``."""
        ...


@runtime_checkable
class RateLimitedTeacher(Protocol):
    """A teacher whose requests pass a client-side limiter (``limits`` says which and from where)."""

    name: str
    limits: ClientLimits
    limiter: RateLimiter


@runtime_checkable
class BatchTeacher(SpendingTeacher, Protocol):
    """What the batch driver needs of any provider: a client, retries, and invalid outputs."""

    model: str

    def open_client(self) -> Any: ...

    def retrying(self) -> Any: ...

    def invalid(self, error: str, raw: str = "", **fields: Any) -> TeacherOutput: ...


@runtime_checkable
class OpenAIBatchTeacher(BatchTeacher, Protocol):
    """A teacher that can go through OpenAI Files + Batches (chat-completion requests)."""

    def messages(self, text: str) -> list[dict[str, str]]: ...

    def create_kwargs(self, messages: list[dict[str, Any]]) -> dict[str, Any]: ...

    def from_completion(self, completion: Any, *, batch: bool = False) -> TeacherOutput: ...


@runtime_checkable
class AnthropicBatchTeacher(BatchTeacher, Protocol):
    """A teacher that can go through Anthropic Message Batches."""

    def system_and_messages(self, text: str) -> tuple[str, list[dict[str, Any]]]: ...

    def create_kwargs(self, system: str, messages: list[dict[str, Any]]) -> dict[str, Any]: ...

    def from_message(
        self, message: Any, request: TeacherRequest, *, batch: bool = False
    ) -> TeacherOutput: ...


BATCH_TEACHERS = (OpenAIBatchTeacher, AnthropicBatchTeacher)


@runtime_checkable
class AugmentingTeacher(Protocol):
    """A teacher that writes new examples itself: ``augment(label, n)`` returns them in
    ``extra["examples"]``."""

    name: str

    def augment(self, label: str, n: int) -> TeacherOutput: ...


@runtime_checkable
class PromptedTeacher(Protocol):
    """A teacher that renders its own prompt for a tokenizer with a bounded context (local models)."""

    name: str
    tokenizer: Any

    @property
    def context_length(self) -> int | None: ...

    def prompt(self, text: str, content_free: bool = False) -> str: ...


@runtime_checkable
class LocalModelTeacher(PromptedTeacher, Protocol):
    """A teacher running a causal LM in this process (``isinstance`` loads ``lm`` before Python 3.12)."""

    task: Task

    @property
    def lm(self) -> Any: ...
