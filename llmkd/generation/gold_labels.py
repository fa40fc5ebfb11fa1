"""Label texts outside a run's input (evaluate's gold texts) with the run's teachers, as generate would:
the same specs and options (from ``generate_config.json``), every answer cached in ``RUN/ledger.sqlite``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmkd.errors import BudgetExceeded
from llmkd.generation.ensemble import combine_samples, combine_teachers
from llmkd.generation.labelling import fit_local_context, label_with_teacher, samples_for
from llmkd.generation.plan import latest_output, plan_requests
from llmkd.generation.summary import TeacherRun
from llmkd.io.records import Item
from llmkd.io.task import Task
from llmkd.run.ledger import RunLedger
from llmkd.teachers import Teacher, build_teacher
from llmkd.teachers.capabilities import SpendingTeacher
from llmkd.teachers.options import options_for, teacher_options

ID_PREFIX = "gold:"  # ledger item ids of gold texts, apart from the run's own items


@dataclass
class GoldLabelling:
    """What labelling gold texts gave: one labels.jsonl-shaped record per item, each teacher's counts,
    and the ``--max-cost-usd`` message when the cap stopped it (answers so far stay cached)."""

    records: list[dict[str, Any]]
    runs: list[TeacherRun] = field(default_factory=list)
    stopped: str | None = None

    @property
    def cost_usd(self) -> float:
        return sum(run.cost_usd for run in self.runs)


def gold_records(
    items: Sequence[Item],
    task: Task,
    chains: Mapping[str, Mapping[str, list[tuple[str, ...]]]],
    ledger: RunLedger,
) -> list[dict[str, Any]]:
    """One record per item with every teacher's view and the aggregate; ``status`` is ``incomplete``
    where some teacher has no stored answer yet (the aggregate would not be the run's teacher)."""
    records = []
    for item in items:
        views: dict[str, dict[str, Any]] = {}
        complete = True
        for name, by_item in chains.items():
            found = [latest_output(ledger, chain) for chain in by_item.get(ID_PREFIX + item.id, [])]
            complete = complete and bool(found) and all(o is not None for o in found)
            views[name] = combine_samples([o for o in found if o is not None], task.labels)
        agg = combine_teachers(views, task.labels)
        records.append(
            {
                "id": item.id,
                "text": item.text,
                "label": agg["label"],
                "probs": agg["probs"],
                "teacher": ",".join(chains),
                "status": agg["status"] if complete else "incomplete",
                "prob_method": agg["prob_method"],
                "teachers": views,
            }
        )
    return records


def _label_each(
    teachers: Sequence[tuple[str, Teacher]],
    sent: list[Item],
    ledger: RunLedger,
    settings: Mapping[str, Any],
    max_cost_usd: float | None,
) -> tuple[dict[str, dict[str, list[tuple[str, ...]]]], list[TeacherRun], str | None]:
    """Label ``sent`` with each teacher in turn; after the cap stops one, the rest only read the ledger."""
    samples, resends = int(settings.get("samples") or 1), int(settings.get("max_resends", 2))
    chains: dict[str, dict[str, list[tuple[str, ...]]]] = {}
    runs: list[TeacherRun] = []
    stopped: str | None = None
    for spec, teacher in teachers:
        n = samples_for(spec, samples)
        if stopped is None:
            if max_cost_usd is not None and isinstance(teacher, SpendingTeacher):
                teacher.budget_usd = max_cost_usd - sum(run.cost_usd for run in runs)
            try:
                chains[teacher.name], stats = label_with_teacher(
                    teacher, sent, n, ledger, max_resends=resends
                )
                runs.append(stats)
                continue
            except BudgetExceeded as exc:
                stopped = str(exc)
        chains[teacher.name] = plan_requests(teacher, sent, n, ledger, resends).chains
    return chains, runs, stopped


def label_gold(
    run_dir: Path,
    settings: Mapping[str, Any],
    task: Task,
    items: Sequence[Item],
    sent: Sequence[Item] | None = None,
    *,
    max_cost_usd: float | None = None,
) -> GoldLabelling:
    """Label ``items`` with every teacher of ``settings`` (a run's ``generate_config.json``).

    Args:
        sent: What the teachers see in place of ``items`` (e.g. redacted texts; default ``items``).
        max_cost_usd: The most the paying teachers may spend here together (cached answers are free).
    """
    specs = [str(spec) for spec in settings.get("teacher") or []]
    if not specs or not items:
        return GoldLabelling([])
    shared = teacher_options(settings)
    teachers = [(spec, build_teacher(spec, task, options_for(spec, settings, shared))) for spec in specs]
    try:
        shown = [replace(item, id=ID_PREFIX + item.id) for item in (sent or items)]
        shown = fit_local_context(shown, [t for _, t in teachers], shared.max_new_tokens)
        with RunLedger(run_dir / "ledger.sqlite") as ledger:
            chains, runs, stopped = _label_each(teachers, shown, ledger, settings, max_cost_usd)
            records = gold_records(items, task, chains, ledger)
    finally:
        for _, teacher in teachers:
            teacher.close()
    return GoldLabelling(records, runs, stopped)
