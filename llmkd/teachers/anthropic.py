"""Anthropic teachers (``claude-*``, ``anthropic:MODEL``) through ``AsyncAnthropic``.

The label comes from a forced tool call whose ``input_schema`` makes ``label`` an enum of the task's
labels. Anthropic returns no log-probs, so soft labels come from ``--samples K``: generate sends K
requests per item (``sample`` 0..K-1, default temperature 1.0) and takes the empirical distribution
(:func:`sample_distribution`); each output records ``prob_method="samples"`` and ``extra["k"]``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import anthropic
from anthropic.types import Message

from llmkd.errors import BudgetExceeded, TeacherError
from llmkd.io.records import TeacherOutput
from llmkd.io.task import Task
from llmkd.teachers.base import TeacherOptions, TeacherRequest
from llmkd.teachers.pricing import Usage, count_tokens, estimate_cost_usd
from llmkd.teachers.remote import BudgetStop, RemoteTeacher, aiohttp_transport, run_sync
from llmkd.teachers.retry import describe
from llmkd.teachers.structured import (
    TOOL_NAME,
    AnswerError,
    augment_lines,
    chat_messages,
    label_tool,
    parse_answer_data,
    reask_message,
)


def sample_distribution(labels: Sequence[str | None], task_labels: Sequence[str]) -> dict[str, float] | None:
    """Empirical distribution of K sampled labels over the task's labels (invalid samples skipped).

    Returns None when no sample is valid.
    """
    valid = [label for label in labels if label in task_labels]
    if not valid:
        return None
    return {label: valid.count(label) / len(valid) for label in task_labels}


def reask_turns(
    messages: list[dict[str, Any]], message: Message, tool_use_id: str | None, note: str
) -> list[dict[str, Any]]:
    """The conversation plus the model's bad answer and a user turn saying what was wrong: a failed
    ``tool_result`` when it called the tool, else plain text."""
    content: Any = note
    if tool_use_id is not None:
        content = [{"type": "tool_result", "tool_use_id": tool_use_id, "is_error": True, "content": note}]
    return [
        *messages,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {"role": "user", "content": content},
    ]


class AnthropicTeacher(RemoteTeacher):
    """A Claude model answering through a forced tool call, one sample per request."""

    def __init__(
        self,
        name: str,
        model: str,
        task: Task,
        options: TeacherOptions,
        *,
        api_key: str,
        base_url: str | None,
    ) -> None:
        super().__init__(name, model, task, options, api_key=api_key, base_url=base_url)
        self.max_tokens = max(options.max_new_tokens, 256 if options.rationale else 64)

    @classmethod
    def from_spec(cls, spec: str, task: Task, options: TeacherOptions) -> AnthropicTeacher:
        """Build from ``claude-...`` or ``anthropic:MODEL``.

        Raises:
            TeacherError: ``ANTHROPIC_API_KEY`` is not set.
        """
        model = spec.partition(":")[2] if spec.startswith("anthropic:") else spec
        key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
        if not key:
            raise TeacherError(
                f"teacher {spec!r} needs ANTHROPIC_API_KEY: export ANTHROPIC_API_KEY=sk-ant-... "
                "(or use a local teacher)"
            )
        base_url = options.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        return cls(f"anthropic:{model}", model, task, options, api_key=key, base_url=base_url)

    # -- requests ---------------------------------------------------------------------------------
    def system_and_messages(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        messages = chat_messages(
            self.task, text, rationale=self.options.rationale, few_shot=self.options.few_shot
        )
        return messages[0]["content"], [dict(m) for m in messages[1:]]

    @property
    def temperature(self) -> float | None:
        """None (the API default, 1.0) when sampling K answers; else the configured temperature."""
        return None if self.options.samples > 1 else self.options.temperature

    def request_payload(self, request: TeacherRequest) -> dict[str, Any]:
        system, messages = self.system_and_messages(request.item.text)
        return {
            "model": self.model,
            "prompt": {"system": system, "messages": messages},
            "params": {
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "tool": label_tool(self.task.labels, rationale=self.options.rationale),
                "samples": self.options.samples,
            },
        }

    def create_kwargs(self, system: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system,
            "messages": messages,
            "tools": [label_tool(self.task.labels, rationale=self.options.rationale)],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
        }
        if self.temperature is not None:
            kwargs["extra_body"] = {"temperature": self.temperature}
        return kwargs

    def open_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.options.timeout_s,
            http_client=aiohttp_transport(anthropic),
        )

    def _worst_case(self, system: str, messages: list[dict[str, Any]]) -> tuple[int, float]:
        prompt = count_tokens(system) + sum(count_tokens(str(m["content"])) + 4 for m in messages) + 200
        return prompt + self.max_tokens, estimate_cost_usd(self.model, prompt, self.max_tokens)

    @staticmethod
    def _usage(message: Message) -> Usage:
        usage = message.usage
        read = usage.cache_read_input_tokens or 0
        written = usage.cache_creation_input_tokens or 0
        return Usage(
            prompt_tokens=usage.input_tokens + read + written,
            completion_tokens=usage.output_tokens,
            cached_tokens=read,
            cache_write_tokens=written,
        )

    async def _answer(self, client: anthropic.AsyncAnthropic, request: TeacherRequest) -> TeacherOutput:
        labels = self.task.labels
        k = self.options.samples
        system, messages = self.system_and_messages(request.item.text)
        prompt_tokens = completion_tokens = 0
        cost = 0.0
        raw = ""
        error = "no answer"
        for round_ in range(self.options.max_reasks + 1):
            tokens, worst = self._worst_case(system, messages)
            try:
                message = await self._call(
                    functools.partial(client.messages.create, **self.create_kwargs(system, messages)),
                    tokens=tokens,
                    worst_cost=worst,
                )
            except anthropic.APIError as exc:
                return self.invalid(
                    f"{describe(exc)} (after {self.options.max_attempts} attempts)",
                    raw,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost_usd=cost,
                    extra={"k": k, "sample": request.sample, "reasks": round_},
                )
            usage = self._usage(message)
            cost += self._account(usage)
            prompt_tokens += usage.prompt_tokens
            completion_tokens += usage.completion_tokens
            tool = next((b for b in message.content if b.type == "tool_use"), None)
            raw = message.model_dump_json(include={"content"})
            try:
                if tool is None:
                    raise AnswerError(f"no {TOOL_NAME} tool call (stop_reason {message.stop_reason})")
                answer = parse_answer_data(tool.input, labels)
            except AnswerError as exc:
                error = str(exc)
                if round_ < self.options.max_reasks:
                    self.stats["reasks"] += 1
                    note = reask_message(error, labels, rationale=self.options.rationale)
                    messages = reask_turns(messages, message, tool.id if tool is not None else None, note)
                continue
            return TeacherOutput(
                label=answer.label,
                probs=None,
                rationale=answer.rationale if self.options.rationale else None,
                raw=raw,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                prob_method="samples" if k > 1 else "none",
                cost_usd=cost,
                extra={"k": k, "sample": request.sample, "reasks": round_, "logprobs": "absent"},
            )
        return self.invalid(
            f"{error} (after {self.options.max_reasks} re-asks)",
            raw,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            extra={"k": k, "sample": request.sample, "reasks": self.options.max_reasks},
        )

    def from_message(
        self, message: Message, request: TeacherRequest, *, batch: bool = False
    ) -> TeacherOutput:
        """One answer with no chance of a re-ask (Message Batches results): ``ok`` or ``invalid``."""
        k = self.options.samples
        usage = self._usage(message)
        cost = self._account(usage, batch=batch)
        fields: dict[str, Any] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": cost,
        }
        extra: dict[str, Any] = {"k": k, "sample": request.sample, "reasks": 0, "batch": batch}
        raw = message.model_dump_json(include={"content"})
        tool = next((b for b in message.content if b.type == "tool_use"), None)
        try:
            if tool is None:
                raise AnswerError(f"no {TOOL_NAME} tool call (stop_reason {message.stop_reason})")
            answer = parse_answer_data(tool.input, self.task.labels)
        except AnswerError as exc:
            return self.invalid(str(exc), raw, extra=extra, **fields)
        return TeacherOutput(
            label=answer.label,
            probs=None,
            rationale=answer.rationale if self.options.rationale else None,
            raw=raw,
            prob_method="samples" if k > 1 else "none",
            extra={**extra, "logprobs": "absent"},
            **fields,
        )

    # -- augmentation -----------------------------------------------------------------------------
    def augment(self, label: str, n: int) -> TeacherOutput:
        """``n`` new example texts for ``label`` (task.augment_prompt) in ``extra["examples"]``.

        Raises:
            BudgetExceeded: the call would pass ``budget_usd``.
        """
        return run_sync(self._augment(label, n))

    async def _augment(self, label: str, n: int) -> TeacherOutput:
        client = self.open_client()
        messages: list[dict[str, Any]] = [{"role": "user", "content": self.task.augment_prompt(label, n)}]
        tokens, worst = self._worst_case("", messages)
        try:
            message = await self._call(
                lambda: client.messages.create(model=self.model, max_tokens=80 * n, messages=messages),  # type: ignore[arg-type]
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
        usage = self._usage(message)
        text = "".join(b.text for b in message.content if b.type == "text")
        return TeacherOutput(
            label=label,
            probs=None,
            rationale=None,
            raw=text,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=self._account(usage),
            extra={"examples": augment_lines(text, n), "n": n},
        )

    def close(self) -> None:
        """Nothing to release: each ``label`` call opens and closes its own client."""
