"""Stage 1: prompt teachers to label (and rationalise) each text, caching every call in the run ledger.

python -m llmkd.generate --input news.csv --teacher local --run artifacts/runs/news
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from llmkd.cli import parse_config, run_cli
from llmkd.errors import BudgetExceeded, ConfigError
from llmkd.generation.ensemble import combine_samples, combine_teachers
from llmkd.generation.plan import latest_output, plan_requests
from llmkd.generation.summary import TeacherRun, print_plan, print_summary
from llmkd.io.paths import default_runs_dir
from llmkd.io.readers import InputColumns, InputSpec, read_items
from llmkd.io.records import Item, TeacherOutput
from llmkd.io.task import Task, load_task
from llmkd.io.text_limits import text_token_budget, truncate_texts
from llmkd.models.embedded import local_profile
from llmkd.privacy.policy import check_privacy
from llmkd.privacy.redact import redact_items
from llmkd.run.files import save_config, write_jsonl
from llmkd.run.ledger import RunLedger
from llmkd.teachers import LOCAL_KINDS, Teacher, TeacherOptions, build_teacher, teacher_kind
from llmkd.teachers.base import TeacherRequest

LABEL_WINDOW = 4096  # requests handed to a teacher at once

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
            "'sentence@label' .txt, or hf:NAME[:CONFIG][:SPLIT]. Required."
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
            "lexicon, positive/negative/neutral tasks). Give several for an ensemble."
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
    device: str = field(default="cpu", metadata={"help": "Torch device for local teachers."})
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


def default_run_dir(config: GenerateConfig) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(config.input).split(":")[-1]).stem).strip("-") or "input"
    return default_runs_dir() / f"{stem}-{Path(config.task).stem}"


def teacher_options(config: GenerateConfig) -> TeacherOptions:
    temperature = (
        config.temperature if config.temperature is not None else (1.0 if config.samples > 1 else 0.0)
    )
    return TeacherOptions(
        rationale=config.rationale,
        samples=config.samples,
        temperature=temperature,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        few_shot=config.few_shot is not False,
        calibrate=config.calibrate,
        label_prefix=config.label_prefix,
        few_shot_pool=config.few_shot_pool,
        few_shot_k=config.few_shot_k,
        few_shot_select=config.few_shot_select,
        few_shot_seed=config.few_shot_seed,
        base_url=config.base_url,
        concurrency=config.concurrency,
        rpm=config.rpm,
        tpm=config.tpm,
        timeout_s=config.timeout_s,
        max_attempts=config.max_attempts,
        device=config.device,
    )


def options_for(spec: str, config: GenerateConfig, options: TeacherOptions) -> TeacherOptions:
    """--few-shot unset: API teachers use the task's examples; local ones their model's default (or the pool)."""
    if config.few_shot is None and teacher_kind(spec) in {"local", "hf"}:
        return replace(options, few_shot=bool(config.few_shot_pool) or local_profile(spec).few_shot)
    return options


def fit_local_context(items: list[Item], teachers: Sequence[Teacher], max_new_tokens: int) -> list[Item]:
    """Cut texts that would overflow a local teacher's context, with a counted warning (API teachers
    are left to their provider's limit)."""
    for teacher in teachers:
        tokenizer = getattr(teacher, "tokenizer", None)
        prompt = getattr(teacher, "prompt", None)
        if tokenizer is None or not callable(prompt):
            continue
        overhead = len(tokenizer(prompt(""), add_special_tokens=False).input_ids) + max_new_tokens + 64
        budget = text_token_budget(tokenizer, overhead, getattr(teacher, "context_length", None))
        items, n_cut = truncate_texts(items, tokenizer, budget)
        if n_cut:
            print(f"warning: {n_cut} texts longer than {budget} tokens were truncated for {teacher.name}")
    return items


def samples_for(spec: str, samples: int) -> int:
    """Local teachers score labels exactly, so repeated samples would be identical."""
    return 1 if teacher_kind(spec) in LOCAL_KINDS else samples


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
    """Send every request the ledger lacks (or holds as invalid); return each item's key chains and stats."""
    plan = plan_requests(teacher, items, samples, ledger, max_resends)
    stats = TeacherRun(teacher=teacher.name, requests=plan.requests, cached=plan.requests - len(plan.todo))
    if not plan.todo:
        return plan.chains, stats
    todo = {id(req): (key, payload) for key, req, payload in plan.todo}
    missing = [req for _, req, _ in plan.todo]
    bar = tqdm(total=len(missing), desc=f"{teacher.name}", unit="req", dynamic_ncols=True, mininterval=0.5)
    start = time.perf_counter()

    def store(req: TeacherRequest, output: TeacherOutput) -> None:
        key, payload = todo[id(req)]
        ledger.put(
            key,
            teacher=teacher.name,
            model=teacher.model,
            item_id=req.item.id,
            sample=req.sample,
            kind="label",
            request=payload,
            output=output,
        )
        stats.sent += 1
        stats.invalid += output.status != "ok"
        stats.prompt_tokens += output.prompt_tokens
        stats.completion_tokens += output.completion_tokens
        stats.cost_usd += output.cost_usd
        bar.update(1)
        if bar.n % 16 == 0 or bar.n == bar.total:
            bar.set_postfix(
                tokens=stats.prompt_tokens + stats.completion_tokens,
                usd=f"{stats.cost_usd:.4f}",
                refresh=False,
            )

    try:
        if batch and (hasattr(teacher, "from_completion") or hasattr(teacher, "from_message")):
            from llmkd.teachers.batch import run_batch

            run_batch(teacher, plan.todo, ledger, on_result=store, poll_s=batch_poll_s)
        else:
            # Windows bound memory (requests in flight, futures) on very large inputs.
            for start_at in range(0, len(missing), LABEL_WINDOW):
                teacher.label(missing[start_at : start_at + LABEL_WINDOW], on_result=store)
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - start
        counters = getattr(teacher, "stats", None)
        stats.calls = int(counters["calls"]) if counters else stats.sent
        stats.retries = int(counters["retries"]) if counters else 0
    return plan.chains, stats


def build_records(
    items: Sequence[Item],
    task: Task,
    chains: dict[str, dict[str, list[tuple[str, ...]]]],
    ledger: RunLedger,
) -> list[dict[str, Any]]:
    """One labels.jsonl record per item, with every teacher's view and the aggregate."""
    records = []
    for item in items:
        views: dict[str, dict[str, Any]] = {}
        for teacher_name, by_item in chains.items():
            found = (latest_output(ledger, chain) for chain in by_item.get(item.id, []))
            views[teacher_name] = combine_samples([o for o in found if o is not None], task.labels)
        agg = combine_teachers(views, task.labels)
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
    if config.samples < 1:
        raise ConfigError("--samples must be at least 1")
    if config.augment < 0:
        raise ConfigError("--augment must be 0 or more")
    task = load_task(config.task)
    spec = InputSpec.of(config.input, config)
    items = read_items(spec, labels=task.labels)
    for spec_name in config.teacher:
        teacher_kind(spec_name)  # fail on an unknown teacher before any work
    check_privacy(config.teacher, config.base_url, config.privacy)  # before any teacher is built
    options = teacher_options(config)
    teachers = [
        build_teacher(s, task, options_for(s, config, options)) for s in config.teacher
    ]  # keys checked here
    run_dir = Path(config.run) if config.run else default_run_dir(config)
    if config.run is None:
        config.run = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(run_dir, "generate", config)
    sent = redact_items(items, run_dir) if config.redact else items  # what teachers see
    sent = fit_local_context(sent, teachers, config.max_new_tokens)

    runs: list[TeacherRun] = []
    chains: dict[str, dict[str, list[tuple[str, ...]]]] = {}
    try:
        with RunLedger(run_dir / "ledger.sqlite") as ledger:
            if config.dry_run:
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
                return run_dir
            try:
                if config.augment:
                    new = _augment(teachers[0], task, sent, config, ledger)
                    items, sent = items + new, sent + new
                for spec_name, teacher in zip(config.teacher, teachers, strict=True):
                    _set_budget(teacher, config, ledger)
                    by_item, stats = label_with_teacher(
                        teacher,
                        sent,
                        samples_for(spec_name, config.samples),
                        ledger,
                        max_resends=config.max_resends,
                        batch=config.batch,
                        batch_poll_s=config.batch_poll_s,
                    )
                    chains[teacher.name] = by_item
                    runs.append(stats)
            except BudgetExceeded:
                print_summary(runs, ledger.total_cost())
                raise
            records = build_records(items, task, chains, ledger)
            ledger_cost = ledger.total_cost()
    finally:
        for teacher in teachers:
            teacher.close()
    out = run_dir / "labels.jsonl"
    write_jsonl(out, records)
    invalid = sum(r["status"] != "ok" for r in records)
    print(f"\nwrote {len(records)} records to {out} ({invalid} invalid)")
    print_summary(runs, ledger_cost)
    return run_dir


def _set_budget(teacher: Teacher, config: GenerateConfig, ledger: RunLedger) -> None:
    if config.max_cost_usd is not None and hasattr(teacher, "budget_usd"):
        teacher.budget_usd = config.max_cost_usd - ledger.total_cost()


def _augment(
    teacher: Teacher, task: Task, items: list[Item], config: GenerateConfig, ledger: RunLedger
) -> list[Item]:
    from llmkd.generation.augment import augment_items

    _set_budget(teacher, config, ledger)
    new, counts = augment_items(teacher, task, items, config.augment, ledger)
    print(
        f"{teacher.name}: augmented {len(new)} items ({int(counts['calls'])} calls, {int(counts['cached'])} "
        f"cached, {int(counts['duplicates'])} duplicates dropped, ${counts['cost_usd']:.4f})"
    )
    return new


def main(argv: list[str] | None = None) -> int:
    config = parse_config(GenerateConfig, argv, "python -m llmkd.generate", DESCRIPTION)
    run_generate(config)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
