"""The generate stage's console report: the ``--dry-run`` plan, the client-side limits in force and the
per-teacher summary of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmkd.generation.plan import plan_requests
from llmkd.io.records import Item
from llmkd.run.ledger import RunLedger
from llmkd.teachers import Teacher, TeacherRequest
from llmkd.teachers.capabilities import RateLimitedTeacher, SpendingTeacher
from llmkd.teachers.pricing import ClientLimits

BINDING_SHARE = 0.1  # limiter waits above this share of a teacher's run (and a second) are reported
ESTIMATE_SAMPLE = 1000  # requests whose prompts estimate the tokens per request for the limits line


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
    limits: ClientLimits | None = None  # the client-side limits the requests went through
    limited_s: float = 0.0  # time the limiter held requests back


def describe_limits(limits: ClientLimits) -> str:
    """The limits and where each came from, e.g. ``5,000 requests/min (default), 60,000 tokens/min (--tpm)``."""
    parts = []
    for value, unit, flag, from_flag in (
        (limits.rpm, "requests/min", "--rpm", limits.rpm_flag),
        (limits.tpm, "tokens/min", "--tpm", limits.tpm_flag),
    ):
        parts.append(
            f"{value:,} {unit} ({flag if from_flag else 'default'})" if value else f"{unit} unlimited"
        )
    return ", ".join(parts)


def _tokens_per_request(teacher: RateLimitedTeacher, requests: Sequence[TeacherRequest]) -> float | None:
    if not requests or not isinstance(teacher, SpendingTeacher):
        return None
    sample = requests[:ESTIMATE_SAMPLE]
    est = teacher.estimate(sample)
    return max(1.0, (est["prompt_tokens"] + est["completion_tokens"]) / len(sample))


def limits_line(teacher: RateLimitedTeacher, requests: Sequence[TeacherRequest], samples: int) -> str:
    """One line: the client-side limits ``teacher`` sends through, where they come from, and the item
    rate they allow at most for ``requests`` (tokens per request from the teacher's estimate)."""
    limits = teacher.limits
    if not limits.rpm and not limits.tpm:
        return (
            f"{teacher.name}: no client-side rate limits (llmkd knows none for {limits.model}; "
            "--rpm/--tpm set them)"
        )
    line = f"{teacher.name}: client-side limits {describe_limits(limits)}"
    if (limits.rpm and not limits.rpm_flag) or (limits.tpm and not limits.tpm_flag):
        line += (
            f"; defaults are llmkd's for {limits.model} (llmkd/teachers/prices.yaml), "
            "--rpm/--tpm override them"
        )
    rates = [limits.rpm / 60.0] if limits.rpm else []
    if limits.tpm:
        tokens = _tokens_per_request(teacher, requests)
        if tokens is None:
            return line
        rates.append(limits.tpm / 60.0 / tokens)
    items_per_s = min(rates) / max(samples, 1)
    rate = f"{items_per_s:,.0f}" if items_per_s >= 10 else f"{items_per_s:.2g}"
    return f"{line}; at most ~{rate} items/s with these prompts"


def binding_note(run: TeacherRun) -> str | None:
    """What to do when the limiter held ``run``'s requests back for a noticeable share of it, else None."""
    if run.limits is None or run.limited_s < max(1.0, BINDING_SHARE * run.seconds):
        return None
    share = run.limited_s / max(run.seconds, 1e-9)
    return (
        f"note: {run.teacher} waited {run.limited_s:.1f} s of {run.seconds:.1f} s ({share:.0%}) on the "
        f"client-side limits ({describe_limits(run.limits)}); if your provider allows more, raise them "
        "with --rpm N and --tpm N"
    )


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
    for r in runs:
        note = binding_note(r)
        if note:
            print(note)


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
    if isinstance(teacher, SpendingTeacher):
        est = teacher.estimate(missing, batch=batch)
        line += (
            f" tokens={int(est['prompt_tokens'] + est['completion_tokens'])} "
            f"(prompt {int(est['prompt_tokens'])}, completion ~{int(est['completion_tokens'])}) "
            f"cost_usd~{est['cost_usd']:.4f}" + (" (batch price)" if batch else "")
        )
    else:
        line += " cost_usd=0 (local)"
    print(line)
    if not batch and isinstance(teacher, RateLimitedTeacher):
        print(limits_line(teacher, missing, samples))
    if augment:
        print(
            f"{teacher.name}: augment={augment} per label -> {len(teacher.task.labels)} calls "
            f"(up to 3 rounds each), then up to {augment * len(teacher.task.labels)} more items to label"
        )
