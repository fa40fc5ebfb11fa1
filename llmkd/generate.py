"""Stage 1: prompt teachers to label (and rationalise) each text, caching every call in the run ledger.

python -m llmkd.generate --input news.csv --teacher local --run artifacts/runs/news
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmkd.cli import parse_config, run_cli
from llmkd.errors import BudgetExceeded, ConfigError
from llmkd.evaluation.audit import audit_seed_records, correction_lines, seed_only_baseline
from llmkd.generation.augment import augment_with
from llmkd.generation.ensemble import combine_samples, combine_teachers
from llmkd.generation.labelling import (
    LabellingStopped,
    fit_local_context,
    label_with_teacher,
    mark_pending,
    samples_for,
    set_budget,
)
from llmkd.generation.plan import latest_output, plan_requests
from llmkd.generation.seed import SeedCorrections, learn_corrections, seed_cost_per_1000, seed_rows
from llmkd.generation.summary import TeacherRun, print_plan, print_summary
from llmkd.io.paths import default_runs_dir
from llmkd.io.readers import InputColumns, InputSpec, read_items
from llmkd.io.records import Item
from llmkd.io.seed import SEED_FILE, read_gold_seed
from llmkd.io.task import Task, load_task
from llmkd.privacy.policy import check_privacy
from llmkd.privacy.redact import redact_items
from llmkd.run.files import save_config, update_report_section, write_json, write_jsonl
from llmkd.run.ledger import RunLedger
from llmkd.teachers import Teacher, build_teacher, teacher_kind
from llmkd.teachers.options import options_for, teacher_options

DESCRIPTION = (
    "Label (and rationalise) texts with one or more teachers. Every teacher call is stored in "
    "RUN/ledger.sqlite, so rerunning the same command resumes after a crash and pays for nothing twice. "
    "Writes RUN/labels.jsonl."
)


@dataclass
class GenerateConfig(InputColumns):
    """Flags of ``python -m llmkd.generate``."""

    input: str | None = field(
        default=None,
        metadata={
            "help": "Texts to label: .csv, .jsonl, .parquet, .txt (one per line), PhraseBank "
            "'sentence@label' .txt, or hf:NAME[:CONFIG][:SPLIT].",
            "required": True,
        },
    )
    run: str | None = field(
        default=None,
        metadata={"help": "Run directory (default: artifacts/runs/<input name>-<task>). Reuse it to resume."},
    )
    task: str = field(
        default="fin-sentiment", metadata={"help": "Task name in prompts/ or a path to a task YAML."}
    )
    teacher: list[str] = field(
        default_factory=lambda: ["local"],
        metadata={
            "help": "Teacher: local, hf:PATH_OR_ID, gpt-4o, openai:MODEL, claude-..., anthropic:MODEL, "
            "vllm:MODEL, ollama:MODEL, openai-compatible:MODEL, or lexicon[:PATH] (a finance polarity "
            "lexicon for positive/negative/neutral tasks: a heuristic that flatters Financial PhraseBank and "
            "is near the majority class on tweets; audit it with --gold-seed). Give several for an ensemble."
        },
    )
    rationale: bool = field(default=True, metadata={"help": "Ask the teacher for a one-sentence rationale."})
    samples: int = field(
        default=1,
        metadata={"help": "Sampled answers per item for API teachers (soft labels without log-probs)."},
    )
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature (default 0, or 1 when --samples > 1)."}
    )
    few_shot: bool | None = field(
        default=None,
        metadata={
            "help": "Show few-shot examples to the teacher (default: on for API teachers; per model for local "
            "ones: off for the embedded SmolLM2, the task's 6 for Qwen; on with --few-shot-pool)."
        },
    )
    calibrate: bool | None = field(
        default=None,
        metadata={
            "help": "Local teachers: contextual calibration, dividing out the label prior measured on "
            "content-free inputs (N/A, empty, [MASK]) (default: per model; on for the embedded SmolLM2)."
        },
    )
    label_prefix: str | None = field(
        default=None,
        metadata={
            "help": "Local teachers: text scored before each label, e.g. ' ' (default: per model; ' ' for Qwen)."
        },
    )
    few_shot_pool: str | None = field(
        default=None,
        metadata={
            "help": "Local teachers: labelled file (PhraseBank .txt, or CSV/JSONL/Parquet with text,label columns) "
            "to draw few-shot examples from instead of the task's."
        },
    )
    few_shot_k: int = field(default=6, metadata={"help": "Examples drawn from --few-shot-pool."})
    few_shot_select: Literal["random", "similar"] = field(
        default="random",
        metadata={
            "help": "random: one seeded draw balanced per label, shared by every item; similar: the nearest pool "
            "examples by TF-IDF for each item."
        },
    )
    few_shot_seed: int = field(default=0, metadata={"help": "Seed of --few-shot-select random."})
    max_new_tokens: int = field(default=64, metadata={"help": "Token limit for generated rationales."})
    batch_size: int = field(default=16, metadata={"help": "Items per forward pass for local teachers."})
    base_url: str | None = field(
        default=None, metadata={"help": "API base URL (OpenAI-compatible servers; default OPENAI_BASE_URL)."}
    )
    concurrency: int = field(default=16, metadata={"help": "API requests in flight at once."})
    rpm: int | None = field(
        default=None, metadata={"help": "Requests-per-minute limit (default: per model)."}
    )
    tpm: int | None = field(default=None, metadata={"help": "Tokens-per-minute limit (default: per model)."})
    timeout_s: float = field(default=60.0, metadata={"help": "Per-request timeout in seconds."})
    max_attempts: int = field(default=6, metadata={"help": "Attempts per request on 429/5xx/timeouts."})
    max_cost_usd: float | None = field(
        default=None, metadata={"help": "Stop before the next request would take the run's spend past this."}
    )
    dry_run: bool = field(
        default=False, metadata={"help": "Print the plan (requests, tokens, dollars); call nothing."}
    )
    device: str = field(
        default="auto", metadata={"help": "Torch device for local teachers ('auto': cuda when available)."}
    )
    privacy: Literal["off", "local-only"] = field(
        default="off",
        metadata={
            "help": "local-only: refuse, before any request, every teacher that is not local (local, hf:) "
            "or on a loopback/private --base-url (127.0.0.1, 10.x, 192.168.x, localhost, [::1], unix:). "
            "LLMKD_PRIVACY=local-only in the environment forces it."
        },
    )
    redact: bool = field(
        default=False,
        metadata={
            "help": "Replace e-mails, phone numbers, IBANs, card and account numbers and national ids with "
            "typed placeholders ([EMAIL_1]) before any text reaches a teacher; the mapping stays in "
            "RUN/redaction_map.json and the ledger holds what was sent."
        },
    )
    augment: int = field(
        default=0,
        metadata={
            "help": "Have the (first) teacher write N new examples per label, deduplicated against the "
            "input, then label them like any item (source: augmented)."
        },
    )
    batch: bool = field(
        default=False,
        metadata={
            "help": "Send remote requests through the provider's batch API (OpenAI Batch, Anthropic "
            "Message Batches): half price, results within 24 h; a rerun resumes the running job."
        },
    )
    batch_poll_s: float = field(default=30.0, metadata={"help": "Seconds between batch-job status polls."})
    max_resends: int = field(
        default=2,
        metadata={"help": "Reruns re-send a request stored as invalid, at most this many times per request."},
    )
    gold_seed: str | None = field(
        default=None,
        metadata={
            "help": "A few hundred of your own texts labelled by hand (any input format, read with the column "
            "flags above; its label column defaults to 'label'). Every teacher labels it first: an audit "
            "(RUN/audit.json, report.md) scores each against the majority class and a seed-only student; "
            "corrections of each teacher's soft labels are learned on it (--correct); finetune trains and "
            "selects the student on it. Keep it apart from your evaluation set.",
            "metavar": "FILE",
        },
    )
    correct: bool = field(
        default=True,
        metadata={
            "help": "With --gold-seed: correct each teacher's soft labels (calibration or label-noise "
            "transition) and weigh the teachers, each only where it beats the raw labels on held-out folds "
            "of the seed."
        },
    )
    audit_only: bool = field(
        default=False,
        metadata={
            "help": "With --gold-seed: label and audit the seed only, then stop (spend nothing on --input)."
        },
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


def run_generate(config: GenerateConfig) -> Path:
    """Run the stage; returns the run directory.

    Raises:
        BudgetExceeded: ``--max-cost-usd`` stopped the run (everything answered is in the ledger).
    """
    if not config.input:
        raise ConfigError("--input is required (a file or hf:NAME); see --help")
    _check_flags(config)
    task = load_task(config.task)
    spec = InputSpec.of(config.input, config)
    items = read_items(spec, labels=task.labels)
    seed_items = read_gold_seed(config.gold_seed, config, task.labels) if config.gold_seed else []
    if config.audit_only and not seed_items:
        raise ConfigError("--audit-only needs --gold-seed FILE")
    teachers = _build_teachers(config, task)
    run_dir = Path(config.run) if config.run else default_run_dir(config)
    if config.run is None:
        config.run = str(run_dir)
    if not config.dry_run:  # a dry run writes nothing, not even the run folder
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run_dir, "generate", config)
    sent = redact_items(items, run_dir, save=not config.dry_run) if config.redact else items  # to teachers
    sent = fit_local_context(sent, teachers, config.max_new_tokens)
    try:
        ledger_path = run_dir / "ledger.sqlite"
        with RunLedger(ledger_path if ledger_path.is_file() or not config.dry_run else ":memory:") as ledger:
            if config.dry_run:
                _print_plans(config, teachers, seed_items + sent, ledger)
                return run_dir
            learned = _audit_seed(config, task, teachers, seed_items, run_dir, ledger) if seed_items else None
            if config.audit_only:
                return run_dir
            items, chains, runs, stopped = _label_all(config, task, teachers, items, sent, ledger)
            records = build_records(items, task, chains, ledger, learned)
            if stopped is not None:
                mark_pending(records, chains, ledger, f"not labelled yet: {stopped}")
            ledger_cost = ledger.total_cost()
    finally:
        for teacher in teachers:
            teacher.close()
    out = run_dir / "labels.jsonl"
    write_jsonl(out, records)
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
    chains, costs = {}, {}
    for spec_name, teacher in zip(config.teacher, teachers, strict=True):
        set_budget(teacher, config.max_cost_usd, ledger)
        chains[teacher.name], _ = label_with_teacher(
            teacher, sent, samples_for(spec_name, config.samples), ledger, max_resends=config.max_resends
        )
        costs[teacher.name] = seed_cost_per_1000(ledger, chains[teacher.name], len(seed_items))
    raw = build_records(seed_items, task, chains, ledger)
    learned = learn_corrections(raw, task.labels) if config.correct else SeedCorrections()
    write_jsonl(run_dir / SEED_FILE, seed_rows(seed_items))
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


def main(argv: list[str] | None = None) -> int:
    config = parse_config(GenerateConfig, argv, "python -m llmkd.generate", DESCRIPTION)
    run_generate(config)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
