"""Evaluate's speed and cost figures: local-teacher throughput, ledger spend and cost per 1,000 items."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from llmkd.errors import LlmkdError
from llmkd.evaluation import metrics
from llmkd.io.records import Item
from llmkd.io.task import Task


def generate_settings(run_dir: Path) -> dict[str, Any]:
    """``generate_config.json`` of the run ({} when absent or unreadable)."""
    path = run_dir / "generate_config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def time_local_teachers(
    run_dir: Path, task: Task, items: list[Item], max_items: int
) -> dict[str, dict[str, Any]]:
    """Throughput of each local teacher of the run (generate's spec and options) on up to
    ``max_items`` (``--teacher-timing-items``) gold texts, after a warm-up batch that loads the model."""
    from llmkd.teachers import LOCAL_KINDS, TeacherRequest, build_teacher, teacher_kind
    from llmkd.teachers.capabilities import LocalModelTeacher, PromptedTeacher
    from llmkd.teachers.options import options_for, teacher_options

    settings = generate_settings(run_dir)
    specs = [str(t) for t in settings.get("teacher") or []]
    local = [spec for spec in specs if teacher_kind(spec) in LOCAL_KINDS]
    if not local or not items:
        return {}
    shared = teacher_options(settings)
    sample = items[: max(1, max_items)]
    timed: dict[str, dict[str, Any]] = {}
    for spec in local:
        options = options_for(spec, settings, shared)
        teacher = build_teacher(spec, task, options)
        try:
            warm = sample[: max(1, min(len(sample), options.batch_size))]
            teacher.label([TeacherRequest(item) for item in warm])
            started = time.perf_counter()
            teacher.label([TeacherRequest(item) for item in sample])
            elapsed = max(time.perf_counter() - started, 1e-9)
            lm = teacher.lm if isinstance(teacher, LocalModelTeacher) else None
            timed[teacher.name] = {
                "items": len(sample),
                "throughput_items_per_s": len(sample) / elapsed,
                "latency_ms_per_item": 1000.0 * elapsed / len(sample),
                "parameters": int(sum(p.numel() for p in lm.parameters())) if lm is not None else None,
                # None: the teacher writes no rationales whatever the flag (the lexicon)
                "rationale": options.rationale if isinstance(teacher, PromptedTeacher) else None,
                "batch_size": options.batch_size,
                "device": options.device,
            }
        finally:
            teacher.close()
    return timed


def combined_teachers(local: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's local teachers as one labeller (``time_local_teachers`` entries): every teacher labels
    each item, so seconds per item and parameters add up. {} when none was timed."""
    if not local:
        return {}
    seconds = sum(1.0 / t["throughput_items_per_s"] for t in local.values())
    params = [t["parameters"] for t in local.values() if t.get("parameters")]
    return {
        "throughput_items_per_s": 1.0 / seconds,
        "latency_ms_per_item": 1000.0 * seconds,
        "parameters": sum(params) if params else None,
    }


def speedup(student_items_per_s: float, local: dict[str, dict[str, Any]]) -> float:
    """Student throughput over the local teachers' together (:func:`combined_teachers`)."""
    return student_items_per_s / combined_teachers(local)["throughput_items_per_s"]


def ledger_spend(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Dollars and distinct items per teacher in ``RUN/ledger.sqlite`` ({} without a ledger)."""
    from llmkd.run.ledger import RunLedger

    path = run_dir / "ledger.sqlite"
    if not path.is_file():
        return {}
    spend: dict[str, dict[str, Any]] = {}
    with RunLedger(path) as ledger:
        for row in ledger.rows():
            entry = spend.setdefault(row.teacher, {"usd": 0.0, "items": set(), "requests": 0})
            entry["usd"] += float(row.output.cost_usd or 0.0)
            entry["items"].add(row.item_id)
            entry["requests"] += 1
    return {
        name: {
            "usd": round(e["usd"], 6),
            "items": len(e["items"]),
            "requests": e["requests"],
            "usd_per_1000": metrics.usd_per_1000_from_spend(e["usd"], len(e["items"])),
        }
        for name, e in spend.items()
    }


def cost_summary(
    student: dict[str, Any] | None,
    local: dict[str, dict[str, Any]],
    spend: dict[str, dict[str, Any]],
    usd_per_hour: float,
) -> dict[str, Any]:
    """Cost per 1,000 items: API teachers from the ledger, CPU models from measured time x ``usd_per_hour``."""
    from llmkd.teachers import LOCAL_KINDS, teacher_kind

    def cpu(latency_ms: float) -> float:
        return metrics.usd_per_1000_from_seconds(latency_ms / 1000.0, usd_per_hour)

    api = {}
    for name, entry in spend.items():
        try:
            kind = teacher_kind(name)
        except LlmkdError:
            kind = "unknown"
        if kind not in LOCAL_KINDS:
            api[name] = entry
    return {
        "cpu_usd_per_hour": usd_per_hour,
        "student_usd_per_1000": cpu(student["latency_ms_per_item"]) if student else None,
        "local_teachers_usd_per_1000": {n: cpu(t["latency_ms_per_item"]) for n, t in local.items()},
        "api_teachers": api,
    }
