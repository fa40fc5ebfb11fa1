"""Stage 1: prompt teachers to label (and rationalise) each text, caching every call in the run ledger.

python -m llmkd.generate --input news.csv --teacher local --run artifacts/runs/news
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmkd.cli import parse_config, run_cli
from llmkd.errors import BudgetExceeded, ConfigError
from llmkd.evaluation.audit import audit_seed_records, correction_lines, seed_only_baseline
from llmkd.generation.active import active_plan, label_actively
from llmkd.generation.augment import augment_with
from llmkd.generation.config import GenerateConfig
from llmkd.generation.ensemble import combine_samples, combine_teachers
from llmkd.generation.labelling import (
    LabellingStopped,
    fit_local_context,
    label_with_teacher,
    mark_pending,
    samples_for,
    set_budget,
)
from llmkd.generation.merge import merge_command, merge_main
from llmkd.generation.plan import latest_output, plan_requests
from llmkd.generation.seed import SeedCorrections, learn_corrections, seed_cost_per_1000, seed_rows
from llmkd.generation.sharding import check_shard_flags, generate_lock, run_layout, shard_items, write_labels
from llmkd.generation.summary import TeacherRun, print_plan, print_summary
from llmkd.io.paths import default_runs_dir
from llmkd.io.readers import InputSpec, read_items
from llmkd.io.records import Item
from llmkd.io.seed import SEED_FILE, read_gold_seed
from llmkd.io.task import Task, load_task
from llmkd.privacy.policy import check_privacy
from llmkd.privacy.redact import redact_items
from llmkd.run.files import read_jsonl, save_config, update_report_section, write_json, write_jsonl
from llmkd.run.ledger import RunLedger
from llmkd.teachers import Teacher, build_teacher, teacher_kind
from llmkd.teachers.options import options_for, teacher_options

DESCRIPTION = (
    "Label (and rationalise) texts with one or more teachers. Every teacher call is stored in "
    "RUN/ledger.sqlite, so rerunning the same command resumes after a crash and pays for nothing twice. "
    "Writes RUN/labels.jsonl."
)


def default_run_dir(config: GenerateConfig) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(config.input).split(":")[-1]).stem).strip("-") or "input"
    return default_runs_dir() / f"{stem}-{Path(config.task).stem}"


def build_records(
    items: Sequence[Item],
    task: Task,
    chains: dict[str, dict[str, list[tuple[str, ...]]]],
    ledger: RunLedger,
    learned: SeedCorrections | None = None,
) -> list[dict[str, Any]]:
    """One labels.jsonl record per item, with every teacher's view (corrected by what the gold seed
    taught, when ``learned``) and the aggregate."""
    records = []
    for item in items:
        views: dict[str, dict[str, Any]] = {}
        for teacher_name, by_item in chains.items():
            found = (latest_output(ledger, chain) for chain in by_item.get(item.id, []))
            views[teacher_name] = combine_samples([o for o in found if o is not None], task.labels)
        if learned is not None:
            views = learned.apply(views, task.labels)
        agg = combine_teachers(views, task.labels, learned.weights if learned is not None else None)
        records.append(
            {
                "id": item.id,
                "text": item.text,
                "label": agg["label"],
                "probs": agg["probs"],
                "rationale": agg["rationale"],
                "teacher": ",".join(chains),
                "source": item.source,
                "status": agg["status"],
                "prob_method": agg["prob_method"],
                "gold": item.label,
                "teachers": views,
            }
        )
    return records


def run_generate(config: GenerateConfig, teachers: Sequence[Teacher] | None = None) -> Path:
    """Run the stage (or ``--merge``, or the shards on Ray) under the run's or shard's lock; returns the
    run directory. ``teachers``: already built ones to use (and leave open), as a Ray actor passes.

    Raises:
        BudgetExceeded: ``--max-cost-usd`` stopped the run (everything answered is in the ledger).
        RunLocked: another live process holds the run (or the shard).
    """
    if config.merge:
        return merge_command(
            config.run, allow_incomplete=config.allow_incomplete, parquet=config.merge_parquet
        )
    if config.engine == "ray":
        from llmkd.generation.ray_engine import run_on_ray

        return run_on_ray(config, run_generate, _build_teachers)
    check_shard_flags(config)
    if not config.input:
        return _generate(config, teachers)
    with generate_lock(
        Path(config.run) if config.run else default_run_dir(config), config.shard, config.dry_run
    ):
        return _generate(config, teachers)


def _generate(config: GenerateConfig, prebuilt: Sequence[Teacher] | None) -> Path:
    if not config.input:
        raise ConfigError("--input is required (a file or hf:NAME); see --help")
    _check_flags(config)
    task = load_task(config.task)
    spec = InputSpec.of(config.input, config)
    items = shard_items(read_items(spec, labels=task.labels), config.shard)
    seed_items = read_gold_seed(config.gold_seed, config, task.labels) if config.gold_seed else []
    if config.audit_only and not seed_items:
        raise ConfigError("--audit-only needs --gold-seed FILE")
    teachers = list(prebuilt) if prebuilt else _build_teachers(config, task)
    run_dir = Path(config.run) if config.run else default_run_dir(config)
    if config.run is None:
        config.run = str(run_dir)
    if not config.dry_run:  # a dry run writes nothing, not even the run folder
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run_dir, run_layout(run_dir, config.shard).config_stage, config)
    sent = redact_items(items, run_dir, save=not config.dry_run) if config.redact else items  # to teachers
    sent = fit_local_context(sent, teachers, config.max_new_tokens)
    try:
        ledger_path = run_layout(run_dir, config.shard).ledger
        with RunLedger(ledger_path if ledger_path.is_file() or not config.dry_run else ":memory:") as ledger:
            if config.dry_run:
                planned = active_plan(config, teachers, sent) if config.budget is not None else sent
                _print_plans(config, teachers, seed_items + planned, ledger)
                return run_dir
            learned = _audit_seed(config, task, teachers, seed_items, run_dir, ledger) if seed_items else None
            if config.audit_only:
                return run_dir
            if config.budget is not None:  # active distillation: label only what the rounds choose
                items, sent = label_actively(
                    config, task.labels, teachers, items, sent, seed_items, run_dir, ledger
                )
            items, chains, runs, stopped = _label_all(config, task, teachers, items, sent, ledger)
            records = build_records(items, task, chains, ledger, learned)
            if stopped is not None:
                mark_pending(records, chains, ledger, f"not labelled yet: {stopped}")
            ledger_cost = ledger.total_cost()
    finally:
        for teacher in teachers if not prebuilt else ():
            teacher.close()
    out = write_labels(run_dir, records, config)
    invalid = sum(r["status"] == "invalid" for r in records)
    pending = sum(r["status"] == "pending" for r in records)
    print(
        f"\nwrote {len(records)} records to {out} ({invalid} invalid"
        + (f", {pending} pending: rerun to label them)" if pending else ")")
    )
    print_summary(runs, ledger_cost)
    if stopped is not None:
        raise stopped
    return run_dir


def _audit_seed(
    config: GenerateConfig,
    task: Task,
    teachers: Sequence[Teacher],
    seed_items: list[Item],
    run_dir: Path,
    ledger: RunLedger,
) -> SeedCorrections:
    """Every teacher labels the gold seed (cached like any call); learn the corrections, write the seed,
    its labels, the corrections and the audit, and print the audit table."""
    sent = redact_items(seed_items, run_dir) if config.redact else seed_items
    chains: dict[str, dict[str, list[tuple[str, ...]]]] = {}
    _label_each(config, teachers, sent, ledger, chains, [])
    costs = {name: seed_cost_per_1000(ledger, by_item, len(seed_items)) for name, by_item in chains.items()}
    raw = build_records(seed_items, task, chains, ledger)
    learned = learn_corrections(raw, task.labels) if config.correct else SeedCorrections()
    previous = list(read_jsonl(run_dir / SEED_FILE)) if (run_dir / SEED_FILE).is_file() else []
    write_jsonl(run_dir / SEED_FILE, seed_rows(seed_items, previous))
    write_jsonl(run_dir / "seed_labels.jsonl", build_records(seed_items, task, chains, ledger, learned))
    write_json(run_dir / "correction.json", learned.to_json())
    audit = audit_seed_records(raw, task.labels, costs, seed_only_baseline(seed_items, task.labels))
    audit["corrections"] = learned.to_json()["teachers"]
    section = audit.pop("markdown") + correction_lines(audit["corrections"])
    write_json(run_dir / "audit.json", audit)
    update_report_section(run_dir, "audit", section)
    print(f"\n{section}")
    return learned


def _check_flags(config: GenerateConfig) -> None:
    if config.samples < 1:
        raise ConfigError("--samples must be at least 1")
    if config.augment < 0:
        raise ConfigError("--augment must be 0 or more")


def _build_teachers(config: GenerateConfig, task: Task) -> list[Teacher]:
    """Every ``--teacher``, after the specs and the privacy policy are checked (keys checked here)."""
    for spec_name in config.teacher:
        teacher_kind(spec_name)  # fail on an unknown teacher before any work
    check_privacy(config.teacher, config.base_url, config.privacy)  # before any teacher is built
    settings = vars(config)
    options = teacher_options(settings)
    return [build_teacher(s, task, options_for(s, settings, options)) for s in config.teacher]


def _print_plans(
    config: GenerateConfig, teachers: Sequence[Teacher], sent: list[Item], ledger: RunLedger
) -> None:
    for spec_name, teacher in zip(config.teacher, teachers, strict=True):
        print_plan(
            teacher,
            sent,
            samples_for(spec_name, config.samples),
            ledger,
            max_resends=config.max_resends,
            batch=config.batch,
            augment=config.augment,
        )


def _label_all(
    config: GenerateConfig,
    task: Task,
    teachers: Sequence[Teacher],
    items: list[Item],
    sent: list[Item],
    ledger: RunLedger,
) -> tuple[list[Item], dict[str, dict[str, list[tuple[str, ...]]]], list[TeacherRun], BudgetExceeded | None]:
    """Augment (``--augment``), then label with every teacher; returns the items (augmented ones
    included), every teacher's key chains, what each teacher did, and the ``--max-cost-usd`` stop (None
    when nothing stopped the run)."""
    runs: list[TeacherRun] = []
    chains: dict[str, dict[str, list[tuple[str, ...]]]] = {}
    try:
        if config.augment:
            set_budget(teachers[0], config.max_cost_usd, ledger)
            new = augment_with(teachers[0], task, sent, config.augment, ledger)
            items, sent = items + new, sent + new
        _label_each(config, teachers, sent, ledger, chains, runs)
    except BudgetExceeded as exc:
        if isinstance(exc, LabellingStopped):
            chains[exc.run.teacher] = exc.chains
            runs.append(exc.run)
        for spec_name, teacher in zip(config.teacher, teachers, strict=True):
            if teacher.name not in chains:
                samples = samples_for(spec_name, config.samples)
                chains[teacher.name] = plan_requests(
                    teacher, sent, samples, ledger, config.max_resends
                ).chains
        return items, chains, runs, exc
    return items, chains, runs, None


def _label_each(
    config: GenerateConfig,
    teachers: Sequence[Teacher],
    sent: list[Item],
    ledger: RunLedger,
    chains: dict[str, dict[str, list[tuple[str, ...]]]],
    runs: list[TeacherRun],
) -> None:
    """Every teacher labels ``sent`` in turn, within the budget; fills ``chains`` and ``runs`` as it goes
    (so a budget stop keeps what the teachers before it did)."""
    for spec_name, teacher in zip(config.teacher, teachers, strict=True):
        set_budget(teacher, config.max_cost_usd, ledger)
        chains[teacher.name], stats = label_with_teacher(
            teacher,
            sent,
            samples_for(spec_name, config.samples),
            ledger,
            max_resends=config.max_resends,
            batch=config.batch,
            batch_poll_s=config.batch_poll_s,
        )
        runs.append(stats)


def main(argv: list[str] | None = None) -> int:
    if (merged := merge_main(argv)) is not None:
        return merged
    config = parse_config(GenerateConfig, argv, "python -m llmkd.generate", DESCRIPTION)
    run_generate(config)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
