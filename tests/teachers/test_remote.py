"""The remote driver: the tokens-per-minute bucket follows each response's real usage."""

from __future__ import annotations

from typing import Any

import pytest

from llmkd.io.records import Item, TeacherOutput
from llmkd.io.task import load_task
from llmkd.teachers import TeacherOptions, TeacherRequest
from llmkd.teachers.openai import OpenAITeacher
from llmkd.teachers.pricing import Usage
from llmkd.teachers.ratelimit import TokenBucket
from llmkd.teachers.remote import RemoteTeacher
from tests.servers.openai_server import OpenAIServer

TPM = 600_000  # a bucket of 10,000 tokens: the charges below never wait


@pytest.fixture(autouse=True)
def _frozen_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    """No refill, so a bucket's level moves only by what is charged and refunded."""
    monkeypatch.setattr(TokenBucket, "_refill", lambda self: None)


class _Client:
    async def close(self) -> None:
        pass


class Scripted(RemoteTeacher):
    """Charges the limiter ``estimate`` tokens per request; each response reports ``used`` tokens."""

    def __init__(self, estimate: int, used: int) -> None:
        options = TeacherOptions(tpm=TPM)
        super().__init__(
            "scripted", "scripted", load_task("fin-sentiment"), options, api_key="", base_url=None
        )
        self.estimate_tokens, self.used = estimate, used

    def open_client(self) -> Any:
        return _Client()

    def _usage(self, response: Any) -> Usage:
        return Usage(prompt_tokens=response - 10, completion_tokens=10) if response else Usage()

    async def _answer(self, client: Any, request: TeacherRequest) -> TeacherOutput:
        async def send() -> int:
            return self.used

        await self._call(send, tokens=self.estimate_tokens, worst_cost=0.0)
        return TeacherOutput(label="neutral", probs=None, rationale=None, raw="")


def charged(teacher: RemoteTeacher) -> float:
    bucket = teacher.limiter.tokens
    assert bucket is not None
    return bucket.capacity - bucket.level


def requests(n: int) -> list[TeacherRequest]:
    return [TeacherRequest(Item(id=str(i), text=f"text {i}")) for i in range(n)]


@pytest.mark.parametrize(("estimate", "used"), [(100, 1_000), (1_000, 100)])
def test_tpm_bucket_is_charged_the_real_usage(estimate: int, used: int) -> None:
    teacher = Scripted(estimate, used)
    teacher.label(requests(3))
    assert charged(teacher) == 3 * used  # more than estimated is charged, less is refunded


def test_response_without_usage_keeps_the_estimate() -> None:
    teacher = Scripted(100, 0)
    teacher.label(requests(2))
    assert charged(teacher) == 200


def test_openai_teacher_settles_to_the_reported_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    task = load_task("fin-sentiment")
    with OpenAIServer() as server:
        options = TeacherOptions(base_url=server.url, rpm=10**7, tpm=TPM)
        teacher = OpenAITeacher.from_spec("openai:gpt-4o-mini", task, options)
        teacher.label(requests(4))
    reported = sum(u["prompt_tokens"] + u["completion_tokens"] for u in server.record.usages)
    assert len(server.record.usages) == 4 and charged(teacher) == reported
