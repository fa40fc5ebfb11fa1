"""Loopback HTTP servers that speak the providers' wire formats, with deterministic fault injection.

Each server runs an ``aiohttp.web`` app on its own event loop in a daemon thread, bound to
127.0.0.1 on a free port. Faults are drawn from a RNG seeded by (seed, request content, attempt
number), so a given request fails the same way in every run, and its retry gets a fresh draw.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

try:
    import orjson
except ImportError:  # the standard encoder is fine for tests; the benchmark wants the speed
    orjson = None

FIN_LABELS = ["positive", "negative", "neutral"]


@dataclass
class Faults:
    """Fault-injection knobs (fractions of requests, drawn independently per attempt)."""

    rate_429: float = 0.0
    retry_after_s: float = 0.05
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_slow: float = 0.0
    slow_s: float = 2.0
    rate_malformed: float = 0.0
    rate_out_of_set: float = 0.0
    latency_s: float = 0.0
    rpm: int | None = None
    batch_s: float = 0.2  # a batch job completes this long after it is created
    logprobs: bool = True
    reject_json_schema: bool = False
    seed: int = 0


@dataclass
class Draw:
    """What happens to one request."""

    kind: str  # ok | 429 | 500 | 503 | slow | malformed | out_of_set
    rng: random.Random


class ServerRateLimit:
    """Server-side requests-per-minute bucket (one second of burst), answered with 429 + Retry-After."""

    def __init__(self, rpm: int) -> None:
        self.rate = rpm / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 if admitted, else the seconds until a slot frees up."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / self.rate


@dataclass
class Record:
    """What the server saw and sent (for assertions)."""

    requests: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    usages: list[dict[str, Any]] = field(default_factory=list)
    texts: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every label request body, in order
    augment_prompts: Counter[str] = field(default_factory=Counter)
    batches_created: int = 0


class LoopbackServer:
    """Base: subclasses add routes in :meth:`routes`. Use as a context manager; ``url`` is the base URL."""

    api_prefix = "/v1"

    def __init__(self, faults: Faults | None = None, labels: list[str] | None = None) -> None:
        self.faults = faults or Faults()
        self.labels = labels or list(FIN_LABELS)
        self.record = Record()
        self.attempts: Counter[str] = Counter()
        self.limit = ServerRateLimit(self.faults.rpm) if self.faults.rpm else None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.gate = threading.Event()  # chat answers wait while it is clear (a test holds a client mid-run)
        self.gate.set()

    async def wait_for_gate(self) -> None:
        """Hold the answer while :attr:`gate` is clear."""
        while not self.gate.is_set():
            await asyncio.sleep(0.01)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.api_prefix}"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application(client_max_size=256 * 1024**2)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        runner = self._runner
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def serve_until_interrupted(self) -> None:
        """Start, print the port (for a parent process to read), and serve until Ctrl-C."""
        self.start()
        print(self.port, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stop()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------------------
    def draw(self, body: Any) -> Draw:
        """Decide this request's fate from (seed, content, attempt number)."""
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        self.attempts[key] += 1
        rng = random.Random(f"{self.faults.seed}:{key}:{self.attempts[key]}")
        f = self.faults
        r = rng.random()
        for kind, rate in (
            ("429", f.rate_429),
            ("500", f.rate_500),
            ("503", f.rate_503),
            ("slow", f.rate_slow),
            ("malformed", f.rate_malformed),
            ("out_of_set", f.rate_out_of_set),
        ):
            if r < rate:
                return Draw(kind, rng)
            r -= rate
        return Draw("ok", rng)

    def rate_limited(self) -> float:
        """Seconds to wait if the server-side RPM limit refuses this request, else 0."""
        return self.limit.take() if self.limit is not None else 0.0

    def label_for(self, text: str, labels: list[str]) -> str:
        """The deterministic 'right' answer for a text."""
        digest = int(hashlib.md5(text.encode()).hexdigest()[:8], 16)
        return labels[digest % len(labels)]


def json_reply(data: Any) -> web.Response:
    """A 200 JSON response, encoded with orjson where installed (the benchmark server's hot path)."""
    if orjson is None:
        return web.json_response(data)
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def text_of(content: Any) -> str:
    """The text between <text> and </text> in a user message (string or content blocks)."""
    if isinstance(content, list):
        content = " ".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    content = str(content)
    if "<text>" in content and "</text>" in content:
        return content.split("<text>", 1)[1].split("</text>", 1)[0].strip()
    return content.strip()


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


AUGMENT = re.compile(r"Write (\d+) new.*?label is (\w+)", re.S)


def augment_answer(prompt: str, round_: int) -> str | None:
    """Lines a teacher would write for an augmentation prompt (None if ``prompt`` is not one).

    Deliberately includes a case/space variant of its first line and the fixed sentence
    ``Profit rose.``, so that deduplication has work to do; ``round_`` varies the rest.
    """
    match = AUGMENT.search(prompt)
    if match is None:
        return None
    n, label = int(match.group(1)), match.group(2)
    lines = [f"{i + 1}. Nordic {label} Oy said item {i} of round {round_} changed." for i in range(n)]
    first = lines[0].split(". ", 1)[1]
    return "\n".join([*lines[: max(1, n - 2)], "  " + first.upper() + "  ", "- Profit rose."])
