"""Retry policy for remote teachers, in one place, on tenacity (the driver is in ``remote.py``).

Retried: HTTP 408/409/429, every 5xx (Anthropic's 529 "overloaded" included), timeouts and dropped
connections. Not retried: other 4xx (bad request, auth, unknown model), which are the caller's to handle.
The wait honours ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date) when the server sends one,
else full-jitter exponential back-off; the number of attempts is bounded. The SDKs' own retries must be
off (``max_retries=0``) so these are the only ones.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import anthropic
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

from llmkd.io.secrets import scrub_secrets

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


def describe(exc: BaseException) -> str:
    """One line naming an SDK error: class, status and message."""
    code = status_code(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    first = scrub_secrets(str(message).splitlines()[0] if str(message) else "")[:300]
    return f"{type(exc).__name__}" + (f" {code}" if code else "") + f": {first}"
