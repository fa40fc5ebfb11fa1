"""``--batch``: send a teacher's requests through the provider's batch API instead of one call each.

OpenAI: upload a JSONL file of chat-completion requests (Files API, purpose ``batch``), create a batch
(``/v1/batches``), poll it, download its output file and map each line's ``custom_id`` back to its
request. Anthropic: create a Message Batch, poll it, stream its results. Both bill half price.

The job id goes into the ledger's jobs table (with the custom_id -> ledger key map) right after the
job is created and before any polling, so a rerun after a crash resumes polling the same job instead
of submitting (and paying for) the work again. Batch answers get no re-ask: an unusable one is stored
as ``invalid`` (a later rerun re-sends it, see ``generate --max-resends``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from llmkd.errors import BudgetExceeded, TeacherError
from llmkd.io.records import TeacherOutput
from llmkd.run.ledger import RunLedger
from llmkd.teachers.base import ResultCallback, TeacherRequest
from llmkd.teachers.capabilities import AnthropicBatchTeacher, BatchTeacher, OpenAIBatchTeacher
from llmkd.teachers.remote import run_sync

R = TypeVar("R")
T = TypeVar("T", bound=BatchTeacher)
Todo = Sequence[tuple[str, TeacherRequest, dict[str, Any]]]


def custom_id(key: str) -> str:
    """A provider-safe request id for a ledger key (Anthropic allows ``[A-Za-z0-9_-]{1,64}``)."""
    return "r" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


class BatchBackend(Generic[T]):
    """How one provider submits, polls and returns a batch job."""

    kind = ""

    def __init__(self, teacher: T) -> None:
        self.teacher = teacher

    async def submit(self, client: Any, entries: list[tuple[str, TeacherRequest]]) -> str:
        raise NotImplementedError

    async def poll(self, client: Any, job_id: str) -> tuple[str, bool]:
        """(provider state, finished)."""
        raise NotImplementedError

    def results(self, client: Any, job_id: str) -> AsyncIterator[tuple[str, Any]]:
        """(custom_id, result) for every request the job answered."""
        raise NotImplementedError

    def parse(self, result: Any, request: TeacherRequest) -> TeacherOutput:
        raise NotImplementedError


class OpenAIBatch(BatchBackend[OpenAIBatchTeacher]):
    """OpenAI Files + Batches on ``/v1/chat/completions``."""

    kind = "openai-batch"
    failed_states = frozenset({"failed", "cancelled", "cancelling"})

    async def submit(self, client: Any, entries: list[tuple[str, TeacherRequest]]) -> str:
        t = self.teacher
        lines = [
            json.dumps(
                {
                    "custom_id": cid,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": t.create_kwargs(t.messages(req.item.text)),
                },
                ensure_ascii=False,
            )
            for cid, req in entries
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        uploaded = await client.files.create(
            file=("llmkd-batch.jsonl", data, "application/jsonl"), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        return str(batch.id)

    async def poll(self, client: Any, job_id: str) -> tuple[str, bool]:
        batch = await client.batches.retrieve(job_id)
        if batch.status in self.failed_states:
            raise TeacherError(f"{self.teacher.name}: batch {job_id} {batch.status}")
        self._files = (batch.output_file_id, batch.error_file_id)
        return str(batch.status), batch.status in {"completed", "expired"}

    async def results(self, client: Any, job_id: str) -> AsyncIterator[tuple[str, Any]]:
        for file_id in self._files:
            if not file_id:
                continue
            content = await client.files.content(file_id)
            for line in content.text.splitlines():
                if line.strip():
                    entry = json.loads(line)
                    yield entry["custom_id"], entry

    def parse(self, result: Any, request: TeacherRequest) -> TeacherOutput:
        from openai.types.chat import ChatCompletion

        response = result.get("response") or {}
        if result.get("error") or response.get("status_code") != 200:
            error = result.get("error") or (response.get("body") or {}).get("error") or response
            return self.teacher.invalid(
                f"batch request failed: {json.dumps(error)[:300]}", extra={"batch": True}
            )
        completion = ChatCompletion.model_validate(response["body"])
        output: TeacherOutput = self.teacher.from_completion(completion, batch=True)
        return output


class AnthropicBatch(BatchBackend[AnthropicBatchTeacher]):
    """Anthropic Message Batches."""

    kind = "anthropic-batch"

    async def submit(self, client: Any, entries: list[tuple[str, TeacherRequest]]) -> str:
        t = self.teacher
        requests = []
        for cid, req in entries:
            system, messages = t.system_and_messages(req.item.text)
            kwargs = t.create_kwargs(system, messages)
            params = {k: v for k, v in kwargs.items() if k != "extra_body"} | kwargs.get("extra_body", {})
            requests.append({"custom_id": cid, "params": params})
        batch = await client.messages.batches.create(requests=requests)
        return str(batch.id)

    async def poll(self, client: Any, job_id: str) -> tuple[str, bool]:
        batch = await client.messages.batches.retrieve(job_id)
        return str(batch.processing_status), batch.processing_status == "ended"

    async def results(self, client: Any, job_id: str) -> AsyncIterator[tuple[str, Any]]:
        async for entry in await client.messages.batches.results(job_id):
            yield entry.custom_id, entry.result

    def parse(self, result: Any, request: TeacherRequest) -> TeacherOutput:
        if result.type != "succeeded":
            detail = getattr(result, "error", None)
            return self.teacher.invalid(
                f"batch request {result.type}: {str(detail)[:300]}", extra={"batch": True}
            )
        output: TeacherOutput = self.teacher.from_message(result.message, request, batch=True)
        return output


def backend_for(teacher: Any) -> OpenAIBatch | AnthropicBatch:
    """The batch backend of a remote teacher.

    Raises:
        TeacherError: the teacher has no provider batch API.
    """
    if isinstance(teacher, OpenAIBatchTeacher):
        return OpenAIBatch(teacher)
    if isinstance(teacher, AnthropicBatchTeacher):
        return AnthropicBatch(teacher)
    raise TeacherError(f"--batch: teacher {teacher.name!r} has no batch API")


def run_batch(
    teacher: OpenAIBatchTeacher | AnthropicBatchTeacher,
    todo: Todo,
    ledger: RunLedger,
    *,
    on_result: ResultCallback,
    poll_s: float = 30.0,
) -> None:
    """Answer ``todo`` (ledger key, request, payload) through the batch API; ``on_result`` stores each.

    Jobs of this teacher left running in the ledger are polled and collected first; whatever they do
    not cover is submitted as one new job.

    Raises:
        BudgetExceeded: the new job's estimated cost (batch price) would pass ``teacher.budget_usd``.
        TeacherError: the provider failed or cancelled the job.
    """
    run_sync(_run(backend_for(teacher), todo, ledger, on_result, poll_s))


async def _run(
    backend: OpenAIBatch | AnthropicBatch,
    todo: Todo,
    ledger: RunLedger,
    on_result: ResultCallback,
    poll_s: float,
) -> None:
    teacher = backend.teacher
    pending = {custom_id(key): (key, req) for key, req, _ in todo}
    client = teacher.open_client()

    async def retried(send: Callable[[], Awaitable[R]]) -> R:
        async for attempt in teacher.retrying():
            with attempt:
                return await send()
        raise AssertionError("unreachable")  # pragma: no cover

    async def collect(job_id: str, payload: dict[str, Any]) -> None:
        while True:
            state, finished = await retried(lambda: backend.poll(client, job_id))
            ledger.put_job(job_id, teacher=teacher.name, kind=backend.kind, state=state, payload=payload)
            if finished:
                break
            await asyncio.sleep(poll_s)
        answered: set[str] = set()
        async for cid, result in backend.results(client, job_id):
            if cid not in pending or cid in answered:
                continue  # stored by an earlier run, or not ours
            answered.add(cid)
            _, req = pending[cid]
            on_result(req, backend.parse(result, req))
        for cid in payload["keys"]:
            if cid in pending and cid not in answered:
                _, req = pending[cid]
                on_result(req, teacher.invalid(f"no result in batch {job_id}", extra={"batch": True}))
        for cid in payload["keys"]:
            pending.pop(cid, None)
        ledger.put_job(job_id, teacher=teacher.name, kind=backend.kind, state="done", payload=payload)

    try:
        for job in ledger.jobs(teacher.name, kind=backend.kind):
            if job["state"] != "done" and any(cid in pending for cid in job["payload"]["keys"]):
                await collect(job["job_id"], job["payload"])
        if not pending:
            return
        requests = [req for _, req in pending.values()]
        estimate = teacher.estimate(requests, batch=True)["cost_usd"]
        if teacher.budget_usd is not None and teacher.spent_usd + estimate > teacher.budget_usd:
            raise BudgetExceeded(
                f"{teacher.name}: --max-cost-usd {teacher.budget_usd:g} would be passed by a batch of "
                f"{len(requests)} requests (estimated ${estimate:.4f}); rerun with a higher limit"
            )
        entries = [(cid, req) for cid, (_, req) in pending.items()]
        job_id = await retried(lambda: backend.submit(client, entries))
        payload = {"keys": {cid: key for cid, (key, _) in pending.items()}, "model": teacher.model}
        ledger.put_job(job_id, teacher=teacher.name, kind=backend.kind, state="submitted", payload=payload)
        await collect(job_id, payload)
    finally:
        await client.close()
