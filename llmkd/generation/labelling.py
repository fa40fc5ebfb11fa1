"""One teacher's share of a generate run: fit the texts to its context, set its budget, send what the
ledger lacks (one request at a time or through a provider batch job) and count what happened."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from llmkd.errors import BudgetExceeded, warn
from llmkd.generation.plan import latest_output, plan_requests
from llmkd.generation.summary import TeacherRun, limits_line
from llmkd.io.records import Item, TeacherOutput
from llmkd.io.text_limits import text_token_budget, truncate_texts
from llmkd.run.ledger import RunLedger
from llmkd.teachers import LOCAL_KINDS, Teacher, TeacherRequest, teacher_kind
from llmkd.teachers.capabilities import (
    BATCH_TEACHERS,
    PromptedTeacher,
    RateLimitedTeacher,
    SpendingTeacher,
)

LABEL_WINDOW = 4096  # requests handed to a teacher at once


def samples_for(spec: str, samples: int) -> int:
    """Local teachers score labels exactly, so repeated samples would be identical."""
    return 1 if teacher_kind(spec) in LOCAL_KINDS else samples


def fit_local_context(items: list[Item], teachers: Sequence[Teacher], max_new_tokens: int) -> list[Item]:
    """Cut texts that would overflow a local teacher's context, with a counted warning on stderr (API
    teachers are left to their provider's limit)."""
    for teacher in teachers:
        if not isinstance(teacher, PromptedTeacher):
            continue
        tokenizer = teacher.tokenizer
        overhead = (
            len(tokenizer(teacher.prompt(""), add_special_tokens=False).input_ids) + max_new_tokens + 64
        )
        budget = text_token_budget(tokenizer, overhead, teacher.context_length)
        items, n_cut = truncate_texts(items, tokenizer, budget)
        if n_cut:
            warn(f"{n_cut} texts longer than {budget} tokens were truncated for {teacher.name}")
    return items


def set_budget(teacher: Teacher, max_cost_usd: float | None, ledger: RunLedger) -> None:
    """Give a paying teacher what is left of ``--max-cost-usd`` after the ledger's spend."""
    if max_cost_usd is not None and isinstance(teacher, SpendingTeacher):
        teacher.budget_usd = max_cost_usd - ledger.total_cost()


class LabellingStopped(BudgetExceeded):
    """``--max-cost-usd`` stopped a teacher: its key chains and what it did before the stop come along."""

    def __init__(self, message: str, chains: dict[str, list[tuple[str, ...]]], run: TeacherRun) -> None:
        super().__init__(message)
        self.chains, self.run = chains, run


def mark_pending(
    records: list[dict[str, Any]],
    chains: dict[str, dict[str, list[tuple[str, ...]]]],
    ledger: RunLedger,
    reason: str,
) -> int:
    """Mark ``pending`` (no label, ``error`` = ``reason``) every record some teacher has not answered yet,
    so a partial ensemble never passes for the whole one; returns how many."""
    marked = 0
    for record in records:
        waiting = any(
            latest_output(ledger, chain) is None
            for by_item in chains.values()
            for chain in by_item.get(record["id"], [])
        )
        if waiting:
            record.update(label=None, probs=None, rationale=None, status="pending", error=reason)
            marked += 1
    return marked


class _Recorder:
    """Stores each answer in the ledger as it arrives, counts it and moves the progress bar."""

    def __init__(
        self,
        teacher: Teacher,
        todo: Sequence[tuple[str, TeacherRequest, dict[str, Any]]],
        ledger: RunLedger,
        stats: TeacherRun,
    ) -> None:
        self.teacher, self.ledger, self.stats = teacher, ledger, stats
        self.todo = {id(req): (key, payload) for key, req, payload in todo}
        self.bar = tqdm(
            total=len(todo), desc=f"{teacher.name}", unit="req", dynamic_ncols=True, mininterval=0.5
        )

    def __call__(self, req: TeacherRequest, output: TeacherOutput) -> None:
        key, payload = self.todo[id(req)]
        self.ledger.put(
            key,
            teacher=self.teacher.name,
            model=self.teacher.model,
            item_id=req.item.id,
            sample=req.sample,
            kind="label",
            request=payload,
            output=output,
        )
        stats = self.stats
        stats.sent += 1
        stats.invalid += output.status != "ok"
        stats.prompt_tokens += output.prompt_tokens
        stats.completion_tokens += output.completion_tokens
        stats.cost_usd += output.cost_usd
        self.bar.update(1)
        if self.bar.n % 16 == 0 or self.bar.n == self.bar.total:
            self.bar.set_postfix(
                tokens=stats.prompt_tokens + stats.completion_tokens,
                usd=f"{stats.cost_usd:.4f}",
                refresh=False,
            )


def label_with_teacher(
    teacher: Teacher,
    items: Sequence[Item],
    samples: int,
    ledger: RunLedger,
    *,
    max_resends: int = 2,
    batch: bool = False,
    batch_poll_s: float = 30.0,
) -> tuple[dict[str, list[tuple[str, ...]]], TeacherRun]:
    """Send every request the ledger lacks (or holds as invalid); return each item's key chains and stats.

    Before sending through a rate-limited teacher, prints the limits in force; ``TeacherRun.limited_s``
    is how long they held requests back.
    """
    plan = plan_requests(teacher, items, samples, ledger, max_resends)
    stats = TeacherRun(teacher=teacher.name, requests=plan.requests, cached=plan.requests - len(plan.todo))
    if not plan.todo:
        return plan.chains, stats
    missing = [req for _, req, _ in plan.todo]
    by_batch = batch and isinstance(teacher, BATCH_TEACHERS)
    limiter, waited_before = None, 0.0
    if not by_batch and isinstance(teacher, RateLimitedTeacher):
        print(limits_line(teacher, missing, samples))
        stats.limits, limiter = teacher.limits, teacher.limiter
        waited_before = limiter.waited_s
    record = _Recorder(teacher, plan.todo, ledger, stats)
    start = time.perf_counter()
    try:
        if batch and isinstance(teacher, BATCH_TEACHERS):
            from llmkd.teachers.batch import run_batch

            run_batch(teacher, plan.todo, ledger, on_result=record, poll_s=batch_poll_s)
        else:
            # Windows bound memory (requests in flight, futures) on very large inputs.
            for start_at in range(0, len(missing), LABEL_WINDOW):
                teacher.label(missing[start_at : start_at + LABEL_WINDOW], on_result=record)
    except BudgetExceeded as exc:
        raise LabellingStopped(str(exc), plan.chains, stats) from None  # `finally` completes stats first
    finally:
        record.bar.close()
        stats.seconds = time.perf_counter() - start
        if isinstance(teacher, SpendingTeacher):
            stats.calls, stats.retries = int(teacher.stats["calls"]), int(teacher.stats["retries"])
        else:
            stats.calls = stats.sent
        if limiter is not None:
            stats.limited_s = limiter.waited_s - waited_before
    return plan.chains, stats
