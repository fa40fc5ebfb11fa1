"""Client-side rate limits: token buckets for requests and tokens per minute, shared by all in-flight calls.

Each bucket refills continuously at ``limit / 60`` per second and holds at most one second's worth
(providers enforce per-minute limits over shorter windows), but always enough for one request. A 429
answered with ``Retry-After`` pauses every caller, not only the one that got it, so a burst of
concurrent requests does not keep hitting the wall.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """A refilling bucket; ``take(n)`` waits until ``n`` units are available (async, single event loop)."""

    def __init__(self, per_minute: float, *, burst_seconds: float = 1.0) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self, n: float) -> float:
        """Seconds until ``n`` units are available (0 if now)."""
        self._refill()
        need = min(n, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate

    def consume(self, n: float) -> None:
        """Take ``n`` units now; the level may go negative for requests larger than the bucket."""
        self._refill()
        self.level -= n

    def refund(self, n: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + n)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits for one teacher (either may be None = unlimited)."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None) -> None:
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None
        self.paused_until = 0.0
        self.waited_s = 0.0  # time the queue was held by the buckets (not by 429 pauses)
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request of about ``tokens`` tokens may be sent, then account for it."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # each label() call may run its own event loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:  # first come, first served: waiters queue in order
            while True:
                paused = self.paused_until - time.monotonic()
                limited = 0.0
                if self.requests is not None:
                    limited = self.requests.wait_time(1)
                if self.tokens is not None and tokens:
                    limited = max(limited, self.tokens.wait_time(tokens))
                wait = max(paused, limited)
                if wait <= 0:
                    break
                if limited > paused:
                    self.waited_s += wait
                await asyncio.sleep(wait)
            if self.requests is not None:
                self.requests.consume(1)
            if self.tokens is not None and tokens:
                self.tokens.consume(tokens)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once a response reports the tokens it really used: ``acquire``
        charged ``estimated``; the difference is charged (``actual`` larger) or refunded."""
        if self.tokens is None or estimated == actual:
            return
        if actual < estimated:
            self.tokens.refund(estimated - actual)
        else:
            self.tokens.consume(actual - estimated)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (after a 429 with Retry-After)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
