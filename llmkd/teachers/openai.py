"""OpenAI and OpenAI-compatible teachers (vLLM, Ollama, llama.cpp server, ...) through ``AsyncOpenAI``.

Each request asks for strict structured output (a JSON schema whose ``label`` is an enum of the task's
labels) and for token log-probs (``top_logprobs=20``), which :mod:`llmkd.teachers.logprobs` turns into
a probability per label. A compatible server that rejects ``json_schema`` (or ``logprobs``) is asked
again without it, for the rest of the run. Transport: the SDK's aiohttp client (several times faster
than its default httpx pool at high concurrency); the SDK's own retries are off, ours are in
:mod:`llmkd.teachers.retry`.
"""

from __future__ import annotations

import json
import os
from typing import Any, cast

import openai
import pydantic
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice

from llmkd.errors import BudgetExceeded, TeacherError
from llmkd.io.records import TeacherOutput
from llmkd.io.task import Task
from llmkd.teachers.base import TeacherOptions, TeacherRequest
from llmkd.teachers.logprobs import LABEL_VALUE, label_probabilities, steps_from_openai
from llmkd.teachers.pricing import Usage, base_model, count_tokens, estimate_cost_usd
from llmkd.teachers.remote import BudgetStop, RemoteTeacher, aiohttp_transport, run_sync
from llmkd.teachers.retry import describe, status_code
from llmkd.teachers.specs import teacher_kind
from llmkd.teachers.structured import (
    AnswerError,
    augment_lines,
    chat_messages,
    parse_answer,
    reask_message,
    response_format,
)

TOP_LOGPROBS = 20
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def parse_completion(body: bytes) -> ChatCompletion:
    """The SDK's ``ChatCompletion`` from a response body.

    Validated from the JSON in pydantic-core (~0.3 ms for an answer with 20 top log-probs per token),
    not through the SDK's lenient recursive ``construct`` (~1.1 ms, half of the client's CPU per item at
    200 requests/s). A body that does not validate (a compatible server omitting a field, a value newer
    than this SDK) is still built the lenient way, as the SDK would; a body that is not JSON at all
    becomes one answer holding its text, which then fails like any malformed answer (re-ask, then
    ``invalid`` with the raw text).
    """
    try:
        return ChatCompletion.model_validate_json(body)
    except pydantic.ValidationError:
        pass
    try:
        data = json.loads(body)
    except ValueError:
        message = ChatCompletionMessage.construct(
            role="assistant", content=body.decode("utf-8", errors="replace")
        )
        choice = Choice.construct(index=0, finish_reason="stop", message=message, logprobs=None)
        return cast(ChatCompletion, ChatCompletion.construct(choices=[choice], usage=None))
    return cast(ChatCompletion, ChatCompletion.construct(**data))


class OpenAITeacher(RemoteTeacher):
    """A teacher behind the OpenAI chat-completions API (OpenAI itself or a compatible server)."""

    def __init__(
        self,
        name: str,
        model: str,
        task: Task,
        options: TeacherOptions,
        *,
        api_key: str,
        base_url: str | None,
        compatible: bool = False,
    ) -> None:
        super().__init__(name, model, task, options, api_key=api_key, base_url=base_url)
        self.compatible = compatible
        self.reasoning = base_model(model).startswith(REASONING_PREFIXES)
        self.structured = True  # switched off if a compatible server rejects json_schema
        self.want_logprobs = not self.reasoning
        self.max_tokens = max(options.max_new_tokens, 256 if options.rationale else 32)

    @classmethod
    def from_spec(cls, spec: str, task: Task, options: TeacherOptions) -> OpenAITeacher:
        """Build from ``gpt-4o``, ``openai:M``, ``vllm:M``, ``ollama:M`` or ``openai-compatible:M``.

        Raises:
            TeacherError: ``OPENAI_API_KEY`` is missing (OpenAI), or no base URL for a compatible server.
        """
        kind = teacher_kind(spec)
        rest = spec.partition(":")[2]
        model = rest if rest else spec
        base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or None
        if kind == "openai-compatible":
            if not base_url:
                raise TeacherError(
                    f"teacher {spec!r} needs the server's address: pass --base-url http://HOST:PORT/v1 "
                    "(or set OPENAI_BASE_URL)"
                )
            key = os.environ.get("OPENAI_API_KEY") or "EMPTY"
            return cls(spec, model, task, options, api_key=key, base_url=base_url, compatible=True)
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if not key:
            raise TeacherError(
                f"teacher {spec!r} needs OPENAI_API_KEY: export OPENAI_API_KEY=sk-... "
                "(or use a local teacher)"
            )
        return cls(f"openai:{model}", model, task, options, api_key=key, base_url=base_url)

    # -- requests ---------------------------------------------------------------------------------
    def messages(self, text: str) -> list[dict[str, str]]:
        return chat_messages(
            self.task, text, rationale=self.options.rationale, few_shot=self.options.few_shot
        )

    @property
    def temperature(self) -> float:
        return 1.0 if self.options.samples > 1 else self.options.temperature

    def params(self) -> dict[str, Any]:
        """Everything besides the messages that determines the answer (part of the ledger key)."""
        return {
            "temperature": None if self.reasoning else self.temperature,
            "max_tokens": self.max_tokens,
            "logprobs": TOP_LOGPROBS if self.want_logprobs else 0,
            "format": "json_schema",
            "labels": self.task.labels,
            "rationale": self.options.rationale,
        }

    def request_payload(self, request: TeacherRequest) -> dict[str, Any]:
        return {"model": self.model, "prompt": self.messages(request.item.text), "params": self.params()}

    def create_kwargs(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Arguments of ``chat.completions.create`` for ``messages`` in the current mode."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.reasoning:
            kwargs["max_completion_tokens"] = self.max_tokens * 8  # reasoning tokens count too
        else:
            kwargs["max_tokens"] = self.max_tokens
            kwargs["temperature"] = self.temperature
        if self.want_logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = TOP_LOGPROBS
        if self.structured:
            kwargs["response_format"] = response_format(self.task.labels, rationale=self.options.rationale)
        return kwargs

    def open_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.options.timeout_s,
            http_client=aiohttp_transport(openai),
        )

    def _worst_case(self, messages: list[dict[str, Any]]) -> tuple[int, float]:
        prompt = sum(count_tokens(str(m["content"])) + 4 for m in messages)
        return prompt + self.max_tokens, estimate_cost_usd(self.model, prompt, self.max_tokens)

    def _degrade(self, exc: BaseException) -> bool:
        """After a 400/422 from a compatible server, drop json_schema or logprobs; True if worth retrying."""
        if not self.compatible or status_code(exc) not in {400, 422}:
            return False
        text = str(exc).lower()
        if self.want_logprobs and "logprob" in text:
            self.want_logprobs = False
            return True
        if self.structured and any(
            word in text for word in ("response_format", "json_schema", "schema", "json")
        ):
            self.structured = False
            return True
        return False

    async def _complete(self, client: openai.AsyncOpenAI, messages: list[dict[str, Any]]) -> ChatCompletion:
        while True:
            tokens, worst = self._worst_case(messages)
            mode = (self.structured, self.want_logprobs)
            try:
                return await self._call(
                    lambda: self._post(client, self.create_kwargs(messages)),
                    tokens=tokens,
                    worst_cost=worst,
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                switched = mode != (self.structured, self.want_logprobs)  # another request already degraded
                if not (self.compatible and switched) and not self._degrade(exc):
                    raise

    @staticmethod
    async def _post(client: openai.AsyncOpenAI, body: dict[str, Any]) -> ChatCompletion:
        """``chat.completions.create`` without the SDK's request transform.

        ``create`` walks every request body against its TypedDict annotations (``_transform``), which
        cost ~25 ms of CPU per request here (messages plus the JSON schema): most of the client's CPU
        at 200 req/s. Our bodies are plain JSON already, so they go through ``client.post`` (the
        SDK's documented route for raw requests) with the same errors and timeout; the body comes back
        as bytes for :func:`parse_completion`.
        """
        return parse_completion(await client.post("/chat/completions", cast_to=bytes, body=body))

    def _usage(self, completion: ChatCompletion) -> Usage:
        usage = completion.usage
        if usage is None:
            return Usage()
        details = usage.prompt_tokens_details
        return Usage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=(details.cached_tokens or 0) if details is not None else 0,
        )

    async def _answer(self, client: openai.AsyncOpenAI, request: TeacherRequest) -> TeacherOutput:
        labels = self.task.labels
        messages: list[dict[str, Any]] = list(self.messages(request.item.text))
        prompt_tokens = completion_tokens = 0
        cost = 0.0
        raw = ""
        error = "no answer"
        for round_ in range(self.options.max_reasks + 1):
            try:
                completion = await self._complete(client, messages)
            except openai.APIError as exc:
                return self.invalid(
                    f"{describe(exc)} (after {self.options.max_attempts} attempts)",
                    raw,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost_usd=cost,
                    extra={"reasks": round_},
                )
            usage = self._usage(completion)
            cost += self._account(usage)
            prompt_tokens += usage.prompt_tokens
            completion_tokens += usage.completion_tokens
            choice = completion.choices[0] if completion.choices else None
            content = choice.message.content if choice is not None else None
            raw = content or (choice.message.refusal if choice is not None else None) or ""
            try:
                answer = parse_answer(content, labels, allow_bare=not self.structured)
            except AnswerError as exc:
                error = (
                    str(exc) if choice is None or choice.finish_reason != "length" else f"truncated: {exc}"
                )
                if round_ < self.options.max_reasks:
                    self.stats["reasks"] += 1
                    messages += [
                        {"role": "assistant", "content": raw},
                        {
                            "role": "user",
                            "content": reask_message(error, labels, rationale=self.options.rationale),
                        },
                    ]
                continue
            return self._accepted(
                answer,
                choice,
                raw,
                {"reasks": round_},
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost,
            )
        return self.invalid(
            f"{error} (after {self.options.max_reasks} re-asks)",
            raw,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            extra={"reasks": self.options.max_reasks},
        )

    def _accepted(
        self, answer: Any, choice: Any, raw: str, extra: dict[str, Any], **fields: Any
    ) -> TeacherOutput:
        """An ``ok`` output for a parsed answer, with label probabilities from the choice's log-probs."""
        probs, how = self._probs(choice, raw)
        return TeacherOutput(
            label=answer.label,
            probs=probs,
            rationale=answer.rationale if self.options.rationale else None,
            raw=raw,
            prob_method="logprobs" if probs is not None else "none",
            extra={**extra, "logprobs": how},
            **fields,
        )

    def _probs(self, choice: Any, raw: str) -> tuple[dict[str, float] | None, str]:
        """Label probabilities from a choice's log-probs, and whether they were used, unusable or absent."""
        steps = choice.logprobs.content if choice is not None and choice.logprobs is not None else None
        if not steps:
            return None, "absent"
        probs = label_probabilities(
            steps_from_openai(steps), self.task.labels, json_value=LABEL_VALUE.search(raw) is not None
        )
        return probs, ("used" if probs is not None else "unusable")

    def from_completion(self, completion: ChatCompletion, *, batch: bool = False) -> TeacherOutput:
        """One answer with no chance of a re-ask (Batch API results): ``ok`` or ``invalid``."""
        usage = self._usage(completion)
        cost = self._account(usage, batch=batch)
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice is not None else None
        raw = content or (choice.message.refusal if choice is not None else None) or ""
        fields: dict[str, Any] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": cost,
        }
        try:
            answer = parse_answer(content, self.task.labels, allow_bare=not self.structured)
        except AnswerError as exc:
            return self.invalid(str(exc), raw, extra={"reasks": 0, "batch": batch}, **fields)
        return self._accepted(answer, choice, raw, {"reasks": 0, "batch": batch}, **fields)

    # -- augmentation -----------------------------------------------------------------------------
    def augment_kwargs(self, label: str, n: int) -> dict[str, Any]:
        """Arguments of ``chat.completions.create`` asking for ``n`` new examples of ``label``."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.task.augment_prompt(label, n)}],
        }
        if self.reasoning:
            kwargs["max_completion_tokens"] = 200 * n
        else:
            kwargs.update(max_tokens=80 * n, temperature=1.0)
        return kwargs

    def augment(self, label: str, n: int) -> TeacherOutput:
        """``n`` new example texts for ``label`` (task.augment_prompt) in ``extra["examples"]``.

        Raises:
            BudgetExceeded: the call would pass ``budget_usd``.
        """
        return run_sync(self._augment(label, n))

    async def _augment(self, label: str, n: int) -> TeacherOutput:
        client = self.open_client()
        kwargs = self.augment_kwargs(label, n)
        tokens, worst = self._worst_case(kwargs["messages"])
        try:
            completion = await self._call(
                lambda: client.chat.completions.create(**kwargs),
                tokens=tokens + 80 * n,
                worst_cost=worst + estimate_cost_usd(self.model, 0, 80 * n),
            )
        except BudgetStop:
            raise BudgetExceeded(
                f"{self.name}: --max-cost-usd {self.budget_usd:g} reached while augmenting; "
                "rerun with a higher limit to continue"
            ) from None
        finally:
            await client.close()
        usage = self._usage(completion)
        content = (completion.choices[0].message.content if completion.choices else None) or ""
        return TeacherOutput(
            label=label,
            probs=None,
            rationale=None,
            raw=content,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=self._account(usage),
            extra={"examples": augment_lines(content, n), "n": n},
        )

    def close(self) -> None:
        """Nothing to release: each ``label`` call opens and closes its own client."""
