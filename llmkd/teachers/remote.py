"""The concurrent driver shared by the remote teachers (OpenAI, Anthropic).

Concurrency, rate limits, retries (policy in :mod:`llmkd.teachers.retry`), the budget and the counters
live here once; a backend only says how to answer one request (``_answer``), how to open its client
(``open_client``) and what a response used (``_usage``, which also corrects the tokens-per-minute bucket).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from llmkd.errors import BudgetExceeded, TeacherError
from llmkd.io.records import TeacherOutput
from llmkd.io.task import Task
from llmkd.teachers.base import ResultCallback, TeacherOptions, TeacherRequest
from llmkd.teachers.pricing import Usage, client_limits, cost_usd, estimate_cost_usd, estimate_tokens
from llmkd.teachers.ratelimit import RateLimiter
from llmkd.teachers.retry import async_retrying, describe, retry_after_s, status_code

T = TypeVar("T")
R = TypeVar("R")

FATAL_STATUS = frozenset({401, 403, 404})
STAT_NAMES = (
    "calls",
    "retries",
    "reasks",
    "ok",
    "failures",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "cost_usd",
)


class BudgetStop(Exception):
    """Internal: the next call would pass the budget, so it is not sent."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even when an event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def aiohttp_transport(sdk: Any) -> Any:
    """The SDK's aiohttp transport (``DefaultAioHttpClient``) when available, else None (its default httpx)."""
    try:
        return sdk.DefaultAioHttpClient()
    except Exception:  # aiohttp transport not installed
        return None


class RemoteTeacher:
    """Base of the remote teachers: answers a batch with ``options.concurrency`` requests in flight.

    Subclasses set ``name``, ``model``, ``task``, ``options`` and implement ``open_client``, ``_usage``
    and ``_answer`` (one request, re-asks included, using :meth:`_call` for each API call).

    Attributes set by the caller (generate):
        budget_usd: Stop sending once spent + in-flight + the next call's worst case would pass it;
            ``label`` then raises :class:`~llmkd.errors.BudgetExceeded` after in-flight calls finish.
        ledger: The run ledger (for batch-API job ids).
    """

    name: str
    model: str
    task: Task
    options: Any

    retry_initial_s = 0.1
    retry_max_s = 30.0
    expected_completion_tokens = 40  # a JSON label and a one-sentence rationale (dry-run estimate)

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
        self.name, self.model, self.task, self.options = name, model, task, options
        self.api_key, self.base_url = api_key, base_url
        self.limits = client_limits(model, options.rpm, options.tpm)
        self.limiter = RateLimiter(self.limits.rpm, self.limits.tpm)
        self.budget_usd: float | None = None
        self.ledger: Any = None
        self.stats: dict[str, float] = dict.fromkeys(STAT_NAMES, 0)
        self._reserved = 0.0
        self._budget_hit = False
        self._fatal: BaseException | None = None

    def retrying(self) -> Any:
        """A tenacity async iterator with this teacher's attempts, back-off and retry hook."""
        return async_retrying(
            self.options.max_attempts,
            on_retry=self._on_retry,
            initial_wait_s=self.retry_initial_s,
            max_wait_s=self.retry_max_s,
        )

    @property
    def spent_usd(self) -> float:
        return float(self.stats["cost_usd"])

    # -- hooks ------------------------------------------------------------------------------------
    def open_client(self) -> Any:
        """A new async SDK client (the caller closes it)."""
        raise NotImplementedError

    def _usage(self, response: Any) -> Usage:
        """The tokens one API response reports."""
        raise NotImplementedError

    async def _answer(self, client: Any, request: TeacherRequest) -> TeacherOutput:
        raise NotImplementedError

    # -- planning ---------------------------------------------------------------------------------
    def estimate(self, requests: Sequence[TeacherRequest], *, batch: bool = False) -> dict[str, float]:
        """Estimated prompt/completion tokens and dollars to answer ``requests`` (for ``--dry-run``)."""
        completion = self.expected_completion_tokens if self.options.rationale else 12
        prompt, completion_total = estimate_tokens(
            self.task,
            (r.item for r in requests),
            completion_tokens=completion,
            few_shot=self.options.few_shot,
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_total,
            "cost_usd": estimate_cost_usd(self.model, prompt, completion_total, batch=batch),
        }

    # -- helpers for subclasses -------------------------------------------------------------------
    def _on_retry(self, exc: BaseException, sleep: float) -> None:
        self.stats["retries"] += 1
        if status_code(exc) == 429:
            asked = retry_after_s(exc)
            if asked:
                self.limiter.pause(asked)

    async def _call(self, send: Callable[[], Awaitable[R]], *, tokens: int, worst_cost: float) -> R:
        """One API call: budget check, rate limit, bounded retries. Fatal HTTP errors become TeacherError."""
        if self._fatal is not None:
            raise BudgetStop
        if self.budget_usd is not None and self.spent_usd + self._reserved + worst_cost > self.budget_usd:
            self._budget_hit = True
            raise BudgetStop
        self._reserved += worst_cost
        try:
            async for attempt in self.retrying():
                with attempt:
                    await self.limiter.acquire(tokens)
                    self.stats["calls"] += 1
                    response = await send()
                    self._settle(tokens, response)
                    return response
        except Exception as exc:
            if status_code(exc) in FATAL_STATUS:
                self._fatal = TeacherError(f"{self.name}: {describe(exc)}")
                raise self._fatal from None
            raise
        finally:
            self._reserved -= worst_cost
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, charged: int, response: Any) -> None:
        """Charge the tokens-per-minute bucket what the response really used instead of ``charged``
        (a response that reports no usage keeps the charge)."""
        usage = self._usage(response)
        used = usage.prompt_tokens + usage.completion_tokens
        if used:
            self.limiter.settle(charged, used)

    def _account(self, usage: Usage, *, batch: bool = False) -> float:
        """Add one response's usage to the counters; returns its cost in dollars."""
        cost = cost_usd(self.model, usage, batch=batch)
        self.stats["prompt_tokens"] += usage.prompt_tokens
        self.stats["cached_tokens"] += usage.cached_tokens
        self.stats["completion_tokens"] += usage.completion_tokens
        self.stats["cost_usd"] += cost
        return cost

    def invalid(self, error: str, raw: str = "", **fields: Any) -> TeacherOutput:
        """An ``invalid`` output for a request that got no usable answer (counted as a failure)."""
        self.stats["failures"] += 1
        return TeacherOutput(
            label=None, probs=None, rationale=None, raw=raw, status="invalid", error=error, **fields
        )

    # -- the protocol -----------------------------------------------------------------------------
    def label(
        self, batch: Sequence[TeacherRequest], on_result: ResultCallback | None = None
    ) -> list[TeacherOutput]:
        """Answer every request (concurrently); ``on_result`` is called as each one completes.

        Raises:
            BudgetExceeded: ``budget_usd`` stopped new calls; every completed output was delivered first.
            TeacherError: the provider refused the key, the model or the endpoint (401/403/404).
        """
        if not batch:
            return []
        return run_sync(self._label_all(list(batch), on_result))

    async def _label_all(
        self, batch: list[TeacherRequest], on_result: ResultCallback | None
    ) -> list[TeacherOutput]:
        self._budget_hit = False
        self._fatal = None
        client = self.open_client()
        results: list[TeacherOutput | None] = [None] * len(batch)
        gate = asyncio.Semaphore(max(1, int(self.options.concurrency)))

        async def one(i: int, request: TeacherRequest) -> None:
            async with gate:
                if self._budget_hit or self._fatal is not None:
                    return
                try:
                    output = await self._answer(client, request)
                except BudgetStop:
                    return
            if output.status == "ok":
                self.stats["ok"] += 1
            results[i] = output
            if on_result is not None:
                on_result(request, output)

        try:
            outcomes = await asyncio.gather(*(one(i, r) for i, r in enumerate(batch)), return_exceptions=True)
        finally:
            await client.close()
        if self._fatal is not None:
            raise self._fatal
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if self._budget_hit:
            done = sum(r is not None for r in results)
            raise BudgetExceeded(
                f"{self.name}: --max-cost-usd {self.budget_usd:g} reached after ${self.spent_usd:.4f} "
                f"({done}/{len(batch)} requests answered); rerun with a higher limit to continue"
            )
        return [r for r in results if r is not None]
