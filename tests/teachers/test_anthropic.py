"""AnthropicTeacher against a loopback Messages server driven by the real anthropic SDK."""

from __future__ import annotations

from collections import Counter

import pytest

from llmkd.errors import TeacherError
from llmkd.io.records import Item
from llmkd.teachers import TeacherOptions
from llmkd.teachers.anthropic import AnthropicTeacher, sample_distribution
from llmkd.teachers.base import TeacherRequest
from llmkd.teachers.pricing import price_for
from tests.servers import Faults
from tests.servers.anthropic_server import AnthropicServer

pytestmark = pytest.mark.usefixtures("loopback_keys")


def teacher(task, url: str, **options) -> AnthropicTeacher:
    t = AnthropicTeacher.from_spec(
        "claude-haiku-4-5", task, TeacherOptions(base_url=url, rpm=10**7, tpm=10**10, **options)
    )
    t.retry_initial_s, t.retry_max_s = 0.01, 0.1
    return t


def items(n: int) -> list[Item]:
    return [Item(id=f"a{i}", text=f"Firm {i} cut {i} jobs after a weak quarter.") for i in range(n)]


def test_missing_key_is_one_line_error(task, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(TeacherError, match="ANTHROPIC_API_KEY") as err:
        AnthropicTeacher.from_spec("claude-sonnet-4-5", task, TeacherOptions())
    assert "\n" not in str(err.value)


def test_faults_every_item_once_and_exact_cost(task) -> None:
    faults = Faults(
        rate_429=0.05, rate_500=0.08, rate_503=0.07, rate_malformed=0.05, rate_out_of_set=0.05, seed=3
    )
    with AnthropicServer(faults) as server:
        t = teacher(task, server.root_url, concurrency=32, max_attempts=8)
        batch = [TeacherRequest(item) for item in items(300)]
        seen: Counter[str] = Counter()
        outputs = t.label(batch, on_result=lambda req, out: seen.update([req.item.id]))
    assert seen == Counter(r.item.id for r in batch)
    assert sum(o.status == "ok" for o in outputs) >= 298
    assert all(o.label in task.labels for o in outputs if o.status == "ok")
    assert all(o.probs is None and o.extra["logprobs"] == "absent" for o in outputs if o.status == "ok")
    assert t.stats["reasks"] >= 10 and t.stats["retries"] >= 30
    price = price_for("claude-haiku-4-5")
    assert price is not None and price.cache_write is not None
    expected = (
        sum(
            u["input_tokens"] * price.input
            + u["cache_read_input_tokens"] * price.cached_input
            + u["cache_creation_input_tokens"] * price.cache_write
            + u["output_tokens"] * price.output
            for u in server.record.usages
        )
        / 1e6
    )
    assert t.spent_usd == pytest.approx(expected, rel=1e-9)
    assert sum(o.cost_usd for o in outputs) == pytest.approx(expected, rel=1e-9)


def test_samples_give_an_empirical_distribution(task) -> None:
    k = 8
    with AnthropicServer() as server:
        t = teacher(task, server.root_url, samples=k)
        item = items(1)[0]
        outputs = t.label([TeacherRequest(item, sample=s) for s in range(k)])
    assert all(o.prob_method == "samples" and o.extra["k"] == k for o in outputs)
    assert sorted(o.extra["sample"] for o in outputs) == list(range(k))
    assert "temperature" not in t.create_kwargs("s", []).get("extra_body", {})  # API default 1.0
    dist = sample_distribution([o.label for o in outputs], task.labels)
    assert dist is not None and sum(dist.values()) == pytest.approx(1)
    assert set(dist) == set(task.labels)
    assert len({o.label for o in outputs}) > 1  # sampled, not repeated


def test_sample_distribution_by_hand() -> None:
    dist = sample_distribution(["a", "b", "a", None, "a"], ["a", "b", "c"])
    assert dist == {"a": 0.75, "b": 0.25, "c": 0.0}
    assert sample_distribution([None, "zzz"], ["a", "b"]) is None


def test_out_of_set_answers_are_reasked_then_invalid(task) -> None:
    with AnthropicServer(Faults(rate_out_of_set=1.0)) as server:
        t = teacher(task, server.root_url, max_reasks=2)
        [out] = t.label([TeacherRequest(items(1)[0])])
    assert out.status == "invalid" and "bullish" in (out.error or "") and "bullish" in out.raw
    assert server.record.requests["messages"] == 3 and t.stats["reasks"] == 2
