"""Retries for remote teachers, in one place, on tenacity, and the concurrent driver that uses them.

Retried: HTTP 408/409/429, every 5xx (Anthropic's 529 "overloaded" included), timeouts and dropped
connections. Not retried: other 4xx (bad request, auth, unknown model), which are the caller's to handle.
The wait honours ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date) when the server sends one,
else full-jitter exponential back-off; the number of attempts is bounded. The SDKs' own retries must be
off (``max_retries=0``) so these are the only ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import anthropic
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

from llmkd.errors import BudgetExceeded, TeacherError
from llmkd.pricing import Usage, cost_usd
from llmkd.records import TeacherOutput
from llmkd.task import Task
from llmkd.teachers.base import ResultCallback, TeacherRequest
from llmkd.teachers.ratelimit import RateLimiter

T = TypeVar("T")
R = TypeVar("R")

RETRY_STATUS = frozenset({408, 409, 429})
MAX_RETRY_AFTER_S = 120.0
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    anthropic.APIConnectionError,
    TimeoutError,
    ConnectionError,
)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error, if it carries one."""
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is transient: rate limit, server error, timeout or lost connection."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    code = status_code(exc)
    return code is not None and (code in RETRY_STATUS or code >= 500)


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, then ``Retry-After``), or None."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if scale == 1.0 else None
            if parsed is None:
                continue
            seconds = parsed.timestamp() - time.time()
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    return None


class wait_retry_after(wait_base):
    """Wait what ``Retry-After`` says (plus a little jitter), else jittered exponential back-off."""

    def __init__(self, *, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.fallback = wait_random_exponential(multiplier=initial, max=maximum)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        asked = retry_after_s(exc) if exc is not None else None
        if asked is not None:
            return asked + float(self.fallback(retry_state)) * 0.1
        return float(self.fallback(retry_state))


def async_retrying(
    max_attempts: int,
    *,
    on_retry: Callable[[BaseException, float], None] | None = None,
    initial_wait_s: float = 0.5,
    max_wait_s: float = 30.0,
) -> AsyncRetrying:
    """A tenacity ``AsyncRetrying`` for one API call.

    Args:
        max_attempts: Total tries, the first one included.
        on_retry: Called with the error and the seconds about to be slept before each retry.
        initial_wait_s: Scale of the exponential back-off.
        max_wait_s: Cap of the back-off (``Retry-After`` is capped separately at 120 s).

    Returns:
        A retrying object; use ``async for attempt in retrying: with attempt: ...``. The last error is
        re-raised when the attempts run out.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        if exc is not None:
            on_retry(exc, float(sleep))

    kwargs: dict[str, Any] = {
        "retry": retry_if_exception(is_retryable),
        "stop": stop_after_attempt(max(1, max_attempts)),
        "wait": wait_retry_after(initial=initial_wait_s, maximum=max_wait_s),
        "before_sleep": before_sleep,
        "reraise": True,
    }
    return AsyncRetrying(**kwargs)


# --------------------------------------------------------------------------------------------------
# The concurrent driver shared by the remote teachers (OpenAI, Anthropic): concurrency, rate limits,
# retries, budget and counters live here once; a backend only says how to answer one request.
# --------------------------------------------------------------------------------------------------

FATAL_STATUS = frozenset({401, 403, 404})


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


def describe(exc: BaseException) -> str:
    """One line naming an SDK error: class, status and message."""
    code = status_code(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}" + (f" {code}" if code else "") + f": {str(message).splitlines()[0][:300]}"


class RemoteTeacher:
    """Base of the remote teachers: answers a batch with ``options.concurrency`` requests in flight.

    Subclasses set ``name``, ``model``, ``task``, ``options`` and implement ``_open_client`` and
    ``_answer`` (one request, re-asks included, using :meth:`_call` for each API call).

    Attributes set by the caller (generate):
        budget_usd: Stop sending once spent + in-flight + the next call's worst case would pass it;
            ``label`` then raises :class:`~llmkd.errors.BudgetExceeded` after in-flight calls finish.
        ledger: The run ledger (for batch-API job ids).
    """

    name: str
    model: str
    task: Task
    options: Any

    retry_initial_s = 0.5
    retry_max_s = 30.0

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.limiter = RateLimiter(rpm, tpm)
        self.budget_usd: float | None = None
        self.ledger: Any = None
        self.stats: dict[str, float] = dict.fromkeys(
            (
                "calls",
                "retries",
                "reasks",
                "ok",
                "failures",
                "prompt_tokens",
                "cached_tokens",
                "completion_tokens",
                "cost_usd",
            ),
            0,
        )
        self._reserved = 0.0
        self._budget_hit = False
        self._fatal: BaseException | None = None

    @property
    def spent_usd(self) -> float:
        return float(self.stats["cost_usd"])

    # -- hooks ------------------------------------------------------------------------------------
    def _open_client(self) -> Any:
        raise NotImplementedError

    async def _answer(self, client: Any, request: TeacherRequest) -> TeacherOutput:
        raise NotImplementedError

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
            async for attempt in async_retrying(
                self.options.max_attempts,
                on_retry=self._on_retry,
                initial_wait_s=self.retry_initial_s,
                max_wait_s=self.retry_max_s,
            ):
                with attempt:
                    await self.limiter.acquire(tokens)
                    self.stats["calls"] += 1
                    return await send()
        except Exception as exc:
            if status_code(exc) in FATAL_STATUS:
                self._fatal = TeacherError(f"{self.name}: {describe(exc)}")
                raise self._fatal from None
            raise
        finally:
            self._reserved -= worst_cost
        raise AssertionError("unreachable")  # pragma: no cover

    def _account(self, usage: Usage, *, batch: bool = False) -> float:
        """Add one response's usage to the counters; returns its cost in dollars."""
        cost = cost_usd(self.model, usage, batch=batch)
        self.stats["prompt_tokens"] += usage.prompt_tokens
        self.stats["cached_tokens"] += usage.cached_tokens
        self.stats["completion_tokens"] += usage.completion_tokens
        self.stats["cost_usd"] += cost
        return cost

    def _invalid(self, error: str, raw: str = "", **fields: Any) -> TeacherOutput:
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
        client = self._open_client()
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
