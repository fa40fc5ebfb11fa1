"""The generate stage's console report: the ``--dry-run`` plan and the per-teacher summary of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmkd.generation.plan import plan_requests
from llmkd.io.records import Item
from llmkd.run.ledger import RunLedger
from llmkd.teachers import Teacher


@dataclass
class TeacherRun:
    """What one teacher did in this invocation (``calls`` counts HTTP attempts, re-asks included)."""

    teacher: str
    requests: int = 0
    cached: int = 0
    sent: int = 0
    invalid: int = 0
    calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


def print_summary(runs: Sequence[TeacherRun], ledger_cost: float) -> None:
    """Per teacher: requests, cached, sent, HTTP calls, retries, failures, tokens, dollars, seconds."""
    print(
        f"{'teacher':32} {'requests':>8} {'cached':>7} {'sent':>6} {'calls':>6} {'retries':>7} "
        f"{'failures':>8} {'tokens':>9} {'usd':>9} {'s':>7}"
    )
    for r in runs:
        tokens = r.prompt_tokens + r.completion_tokens
        print(
            f"{r.teacher:32} {r.requests:8d} {r.cached:7d} {r.sent:6d} {r.calls:6d} {r.retries:7d} "
            f"{r.invalid:8d} {tokens:9d} {r.cost_usd:9.4f} {r.seconds:7.1f}"
        )
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in runs)
    print(
        f"total: calls={sum(r.calls for r in runs)} retries={sum(r.retries for r in runs)} "
        f"failures={sum(r.invalid for r in runs)} tokens={tokens} "
        f"cost_usd={sum(r.cost_usd for r in runs):.6f} (this run; ledger total {ledger_cost:.6f})"
    )


def print_plan(
    teacher: Teacher,
    items: Sequence[Item],
    samples: int,
    ledger: RunLedger,
    *,
    max_resends: int,
    batch: bool,
    augment: int,
) -> None:
    """--dry-run: what would be sent and what it would cost; calls nothing."""
    plan = plan_requests(teacher, items, samples, ledger, max_resends)
    missing = [req for _, req, _ in plan.todo]
    line = (
        f"{teacher.name}: items={len(items)} samples={samples} requests={plan.requests} "
        f"cached={plan.requests - len(missing)} calls={len(missing)} (resends={plan.resends}) retries=0"
    )
    estimate = getattr(teacher, "estimate", None)
    if callable(estimate):
        est = estimate(missing, batch=batch)
        line += (
            f" tokens={int(est['prompt_tokens'] + est['completion_tokens'])} "
            f"(prompt {int(est['prompt_tokens'])}, completion ~{int(est['completion_tokens'])}) "
            f"cost_usd~{est['cost_usd']:.4f}" + (" (batch price)" if batch else "")
        )
    else:
        line += " cost_usd=0 (local)"
    print(line)
    if augment:
        print(
            f"{teacher.name}: augment={augment} per label -> {len(teacher.task.labels)} calls "
            f"(up to 3 rounds each), then up to {augment * len(teacher.task.labels)} more items to label"
        )
