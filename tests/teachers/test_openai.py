"""OpenAITeacher against a loopback server driven by the real openai SDK (fault injection, cost, budget)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from llmkd.errors import BudgetExceeded, TeacherError
from llmkd.io.records import Item, TeacherOutput
from llmkd.teachers import TeacherOptions
from llmkd.teachers.base import TeacherRequest
from llmkd.teachers.openai import OpenAITeacher
from llmkd.teachers.pricing import Usage, cost_usd, estimate_tokens, price_for
from llmkd.teachers.ratelimit import RateLimiter
from llmkd.teachers.retry import is_retryable, retry_after_s
from tests.servers import Faults
from tests.servers.openai_server import OpenAIServer

FAST = {"rpm": 10**7, "tpm": 10**10}

pytestmark = pytest.mark.usefixtures("loopback_keys")


def requests(n: int) -> list[TeacherRequest]:
    return [
        TeacherRequest(Item(id=f"id{i}", text=f"Company {i} reported sales up {i % 40} percent."))
        for i in range(n)
    ]


def teacher(spec: str, task, url: str, **options) -> OpenAITeacher:
    t = OpenAITeacher.from_spec(spec, task, TeacherOptions(base_url=url, **{**FAST, **options}))
    t.retry_initial_s = 0.01
    t.retry_max_s = 0.1
    return t


def test_missing_key_is_one_line_error(task, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(TeacherError, match="OPENAI_API_KEY") as err:
        OpenAITeacher.from_spec("gpt-4o", task, TeacherOptions())
    assert "\n" not in str(err.value)


def test_compatible_server_needs_base_url(task) -> None:
    with pytest.raises(TeacherError, match="--base-url"):
        OpenAITeacher.from_spec("vllm:qwen", task, TeacherOptions())


def test_thousand_items_with_faults_each_once_and_exact_cost(task) -> None:
    faults = Faults(
        rate_429=0.06,
        rate_500=0.07,
        rate_503=0.04,
        rate_slow=0.03,
        slow_s=2.0,
        rate_malformed=0.05,
        rate_out_of_set=0.03,
        seed=7,
    )  # 20% of HTTP attempts fail, 8% of answers are unusable
    with OpenAIServer(faults) as server:
        t = teacher("gpt-4o-mini", task, server.url, concurrency=64, timeout_s=1.0, max_attempts=8)
        answering = count_concurrent_answers(t)
        seen: Counter[str] = Counter()
        batch = requests(1000)
        outputs = t.label(batch, on_result=lambda req, out: seen.update([req.item.id]))
    assert len(outputs) == 1000 and all(isinstance(o, TeacherOutput) for o in outputs)
    assert seen == Counter(r.item.id for r in batch)  # every item exactly once
    for out in outputs:
        if out.status == "ok":
            assert out.label in task.labels and out.prob_method == "logprobs"
            assert out.probs is not None and sum(out.probs.values()) == pytest.approx(1)
        else:
            assert out.error and out.label is None
    assert sum(o.status == "ok" for o in outputs) >= 995
    outcomes = server.record.outcomes
    assert outcomes["500"] + outcomes["429"] > 100 and outcomes["slow"] > 10
    # every failed attempt was retried (the slow ones included: the client gave up on them at its 1 s
    # timeout instead of waiting out the server's 2 s), unless it was an item's last allowed attempt
    failed_attempts = outcomes["429"] + outcomes["500"] + outcomes["503"] + outcomes["slow"]
    gave_up = sum(o.status != "ok" for o in outputs)
    assert t.stats["retries"] + gave_up >= failed_attempts
    assert t.stats["reasks"] > 30
    assert answering.most == 64  # concurrency 64 really ran 64 requests at once
    # cost: every response the server sent, usage x price (cached input at its own price)
    price = price_for("gpt-4o-mini")
    assert price is not None
    expected = (
        sum(
            (u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"]) * price.input
            + u["prompt_tokens_details"]["cached_tokens"] * price.cached_input
            + u["completion_tokens"] * price.output
            for u in server.record.usages
        )
        / 1e6
    )
    assert t.stats["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert sum(o.cost_usd for o in outputs) == pytest.approx(expected, rel=1e-9)


@dataclass
class Concurrency:
    now: int = 0
    most: int = 0


def count_concurrent_answers(t: OpenAITeacher) -> Concurrency:
    """Wrap ``t._answer`` to count how many requests it is answering at once."""
    seen, answer = Concurrency(), t._answer

    async def counted(client, request):  # type: ignore[no-untyped-def]
        seen.now += 1
        seen.most = max(seen.most, seen.now)
        try:
            return await answer(client, request)
        finally:
            seen.now -= 1

    t._answer = counted  # type: ignore[method-assign]
    return seen


def test_logprobs_absent_are_reported_not_invented(task) -> None:
    with OpenAIServer(Faults(logprobs=False)) as server:
        outputs = teacher("gpt-4o", task, server.url).label(requests(5))
    assert all(
        o.probs is None and o.prob_method == "none" and o.extra["logprobs"] == "absent" for o in outputs
    )
    assert all(o.status == "ok" for o in outputs)


def test_compatible_server_without_json_schema_falls_back_to_prompt(task, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIServer(Faults(reject_json_schema=True)) as server:
        t = teacher("vllm:my-model", task, server.url, rationale=False)
        outputs = t.label(requests(10))
    assert t.structured is False and t.api_key == "EMPTY" and t.name == "vllm:my-model"
    assert all(o.status == "ok" and o.prob_method == "logprobs" for o in outputs)
    assert server.record.outcomes["400-schema"] >= 1
    assert all(o.cost_usd == 0.0 for o in outputs)  # unknown model: no price


def test_exhausted_retries_become_invalid_outputs(task) -> None:
    with OpenAIServer(Faults(rate_500=1.0)) as server:
        t = teacher("gpt-4o-mini", task, server.url, max_attempts=3)
        outputs = t.label(requests(4))
    assert [o.status for o in outputs] == ["invalid"] * 4
    assert all("500" in (o.error or "") for o in outputs)
    assert server.record.requests["chat"] == 12 and t.stats["failures"] == 4


def test_budget_stops_before_passing_the_limit(task) -> None:
    with OpenAIServer() as server:
        t = teacher("gpt-4o", task, server.url, concurrency=4)
        t.budget_usd = 0.05
        stored: list[str] = []
        with pytest.raises(BudgetExceeded, match="max-cost-usd"):
            t.label(requests(200), on_result=lambda req, out: stored.append(req.item.id))
    assert 0 < len(stored) < 200
    assert t.spent_usd <= 0.05
    assert t.spent_usd == pytest.approx(sum(price_cost(u) for u in server.record.usages))


def price_cost(u: dict) -> float:
    return cost_usd(
        "gpt-4o",
        Usage(u["prompt_tokens"], u["completion_tokens"], u["prompt_tokens_details"]["cached_tokens"]),
    )


def test_request_payload_is_stable_and_complete(task) -> None:
    t = OpenAITeacher.from_spec("gpt-4o", task, TeacherOptions())
    req = requests(1)[0]
    payload = t.request_payload(req)
    assert payload == t.request_payload(req)
    assert payload["model"] == "gpt-4o" and payload["prompt"][-1]["content"].count(req.item.text) == 1
    assert payload["params"]["logprobs"] == 20 and payload["params"]["labels"] == task.labels


def test_price_table_and_cost_arithmetic(task) -> None:
    p = price_for("gpt-4o-2024-08-06")
    assert p is not None and p.model == "gpt-4o" and (p.input, p.cached_input, p.output) == (2.5, 1.25, 10.0)
    assert price_for("openai:gpt-4o-mini").model == "gpt-4o-mini"  # type: ignore[union-attr]
    assert price_for("claude-sonnet-4-5-20250929").model == "claude-sonnet-4-5"  # type: ignore[union-attr]
    assert price_for("vllm:llama-3") is None and cost_usd("llama-3", Usage(1000, 1000)) == 0.0
    # 1000 prompt tokens of which 400 cached, 100 output on gpt-4o: 600*2.5 + 400*1.25 + 100*10 per 1M
    assert cost_usd("gpt-4o", Usage(1000, 100, 400)) == pytest.approx(3000 / 1e6)
    assert cost_usd("gpt-4o", Usage(1000, 100, 400), batch=True) == pytest.approx(1500 / 1e6)
    # Anthropic cache writes: 100 fresh*3 + 50 read*0.3 + 50 written*3.75 + 10 out*15
    assert cost_usd("claude-sonnet-4-5", Usage(200, 10, 50, 50)) == pytest.approx(
        (300 + 15 + 187.5 + 150) / 1e6
    )
    prompt, completion = estimate_tokens(task, [Item("a", "x" * 400), Item("b", "y" * 40)])
    assert prompt > 2 * 100 and completion == 120


def test_retry_helpers() -> None:
    import httpx2
    import openai

    def err(status: int, headers: dict[str, str]) -> openai.APIStatusError:
        request = httpx2.Request("POST", "http://x/v1/chat/completions")
        response = httpx2.Response(status, headers=headers, request=request)
        return openai.APIStatusError("e", response=response, body=None)

    assert retry_after_s(err(429, {"retry-after-ms": "250"})) == pytest.approx(0.25)
    assert retry_after_s(err(429, {"retry-after": "3"})) == 3.0
    assert retry_after_s(err(429, {})) is None
    assert is_retryable(err(429, {})) and is_retryable(err(503, {})) and is_retryable(err(529, {}))
    assert not is_retryable(err(400, {})) and not is_retryable(err(401, {}))
    assert is_retryable(openai.APITimeoutError(request=httpx2.Request("POST", "http://x")))


class FakeClock:
    """``time.monotonic`` and ``asyncio.sleep`` for llmkd.teachers.ratelimit: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-9)  # a real clock always moves on, even for a rounding-error wait
        await REAL_SLEEP(0)  # still yield, so that waiters queue up on the limiter's lock


REAL_SLEEP = asyncio.sleep


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from llmkd.teachers import ratelimit

    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=fake.monotonic))
    fake_asyncio = SimpleNamespace(
        sleep=fake.sleep, Lock=asyncio.Lock, get_running_loop=asyncio.get_running_loop
    )
    monkeypatch.setattr(ratelimit, "asyncio", fake_asyncio)
    return fake


def test_rate_limiter_holds_requests_per_minute(clock: FakeClock) -> None:
    limiter = RateLimiter(rpm=600)  # 10/s, burst of 10
    granted: list[float] = []

    async def run(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()
            granted.append(clock.now)

    asyncio.run(run(15))
    assert granted[:10] == [0.0] * 10  # the burst goes at once
    assert granted[10:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])  # then one per 1/10 s
    limiter.pause(2.0)  # a 429 asked for Retry-After: 2
    asyncio.run(run(1))
    assert granted[-1] == pytest.approx(2.5)


def test_rate_limited_teacher_survives_several_label_calls(clock: FakeClock) -> None:
    """generate hands a teacher windows of work, each label() in its own event loop."""
    limiter = RateLimiter(rpm=60_000)  # 1,000/s, one second of burst: the 1,100 acquires contend
    granted: list[list[float]] = []

    async def burst() -> None:
        times: list[float] = []
        granted.append(times)

        async def one() -> None:
            await limiter.acquire()
            times.append(clock.now)

        await asyncio.gather(*(one() for _ in range(1_100)))

    for _ in range(2):  # the second loop must not trip over a lock bound to the first
        asyncio.run(burst())
    first, second = granted
    assert len(first) == len(second) == 1_100
    assert first[:1_000] == [0.0] * 1_000 and first[-1] == pytest.approx(0.1)  # burst, then 100 at 1,000/s
    assert second[0] > first[-1] and second[-1] == pytest.approx(
        1.2
    )  # the bucket was empty: 1,100 at 1,000/s


def test_parse_completion_validates_falls_back_and_keeps_non_json_text(task) -> None:
    import json
    import random

    from llmkd.teachers.openai import parse_completion
    from tests.servers import Draw

    server = OpenAIServer()
    teacher = OpenAITeacher.from_spec(
        "openai-compatible:m", task, TeacherOptions(base_url="http://127.0.0.1:9/v1")
    )
    body = teacher.create_kwargs(teacher.messages("Sales rose 5 percent."))
    data = server.answer(body, Draw("ok", random.Random(0)))

    strict = parse_completion(json.dumps(data).encode())
    assert strict.choices[0].logprobs is not None
    sent = data["choices"][0]["logprobs"]["content"]
    assert [len(step.top_logprobs) for step in strict.choices[0].logprobs.content] == [
        len(step["top_logprobs"]) for step in sent
    ]

    # a compatible server's off-spec answer (no 'created', a finish reason this SDK does not know)
    loose = dict(data, choices=[dict(data["choices"][0], finish_reason="eos_token")])
    del loose["created"]
    lenient = parse_completion(json.dumps(loose).encode())
    assert lenient.choices[0].finish_reason == "eos_token"
    assert lenient.choices[0].message.content == strict.choices[0].message.content
    assert lenient.choices[0].logprobs.content[0].top_logprobs[0].token == (
        strict.choices[0].logprobs.content[0].top_logprobs[0].token
    )

    garbage = parse_completion(b"<html>502 Bad Gateway</html>")
    assert garbage.choices[0].message.content == "<html>502 Bad Gateway</html>"
    assert garbage.usage is None
    assert teacher.from_completion(garbage).status == "invalid"
    assert teacher.from_completion(garbage).raw == "<html>502 Bad Gateway</html>"
