"""Stage 1: prompt teachers to label (and rationalise) each text, caching every call in the run ledger.

python -m llmkd.generate --input news.csv --teacher local --run artifacts/runs/news
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from llmkd.aggregate import combine_samples, combine_teachers
from llmkd.cli import parse_config, run_cli
from llmkd.errors import ConfigError
from llmkd.ledger import RunLedger, request_key
from llmkd.paths import default_runs_dir
from llmkd.records import Item, TeacherOutput
from llmkd.runio import save_config, write_jsonl
from llmkd.task import Task, load_task
from llmkd.teachers import Teacher, TeacherOptions, build_teacher, teacher_kind
from llmkd.teachers.base import TeacherRequest

DESCRIPTION = (
    "Label (and rationalise) texts with one or more teachers. Every teacher call is stored in "
    "RUN/ledger.sqlite, so rerunning the same command resumes after a crash and pays for nothing twice. "
    "Writes RUN/labels.jsonl."
)


@dataclass
class GenerateConfig:
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
            "vllm:MODEL, ollama:MODEL, openai-compatible:MODEL. Give several for an ensemble."
        },
    )
    text_column: str = field(
        default="text", metadata={"help": "Column holding the text (CSV/JSONL/Parquet/hf)."}
    )
    id_column: str | None = field(
        default=None, metadata={"help": "Column holding a unique id (default: hash of the text)."}
    )
    label_column: str | None = field(
        default=None, metadata={"help": "Column holding a gold label, kept as 'gold'."}
    )
    label_map: str | None = field(
        default=None,
        metadata={"help": "Map raw gold labels to task labels, e.g. 0=negative,1=positive,2=neutral."},
    )
    format: Literal["auto", "csv", "jsonl", "parquet", "text", "phrasebank", "hf"] = field(
        default="auto", metadata={"help": "Input format (auto: from the extension or hf: prefix)."}
    )
    limit: int | None = field(default=None, metadata={"help": "Use only the first N items."})
    rationale: bool = field(default=True, metadata={"help": "Ask the teacher for a one-sentence rationale."})
    samples: int = field(
        default=1,
        metadata={"help": "Sampled answers per item for API teachers (soft labels without log-probs)."},
    )
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature (default 0, or 1 when --samples > 1)."}
    )
    few_shot: bool = field(
        default=True, metadata={"help": "Show the task's few-shot examples to the teacher."}
    )
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
        few_shot=config.few_shot,
        base_url=config.base_url,
        concurrency=config.concurrency,
        rpm=config.rpm,
        tpm=config.tpm,
        timeout_s=config.timeout_s,
        max_attempts=config.max_attempts,
        device=config.device,
    )


def samples_for(spec: str, samples: int) -> int:
    """Local teachers score labels exactly, so repeated samples would be identical."""
    return 1 if teacher_kind(spec) in {"local", "hf"} else samples


@dataclass
class TeacherRun:
    """What one teacher did in this invocation."""

    teacher: str
    requests: int = 0
    cached: int = 0
    sent: int = 0
    invalid: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


def _keyed_requests(
    teacher: Teacher, items: Sequence[Item], samples: int
) -> list[tuple[str, TeacherRequest, dict[str, Any]]]:
    keyed = []
    for item in items:
        for sample in range(samples):
            req = TeacherRequest(item=item, sample=sample)
            payload = teacher.request_payload(req)
            keyed.append((request_key(teacher.name, teacher.model, payload, {}, sample), req, payload))
    return keyed


def label_with_teacher(
    teacher: Teacher, items: Sequence[Item], samples: int, ledger: RunLedger
) -> tuple[dict[str, list[str]], TeacherRun]:
    """Send every request the ledger lacks; return each item's ledger keys and what was done."""
    keyed = _keyed_requests(teacher, items, samples)
    have = ledger.existing(k for k, _, _ in keyed)
    todo: dict[int, tuple[str, dict[str, Any]]] = {}
    missing: list[TeacherRequest] = []
    seen: set[str] = set()
    for key, req, payload in keyed:
        if key not in have and key not in seen:  # identical texts share one request
            seen.add(key)
            todo[id(req)] = (key, payload)
            missing.append(req)
    stats = TeacherRun(teacher=teacher.name, requests=len(keyed), cached=len(keyed) - len(missing))
    keys_by_item: dict[str, list[str]] = {}
    for key, req, _ in keyed:
        keys_by_item.setdefault(req.item.id, [])
        if key not in keys_by_item[req.item.id]:
            keys_by_item[req.item.id].append(key)
    if not missing:
        return keys_by_item, stats

    bar = tqdm(total=len(missing), desc=f"{teacher.name}", unit="req", dynamic_ncols=True)
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
        bar.set_postfix(tokens=stats.prompt_tokens + stats.completion_tokens, usd=f"{stats.cost_usd:.4f}")

    try:
        teacher.label(missing, on_result=store)
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - start
    return keys_by_item, stats


def build_records(
    items: Sequence[Item],
    task: Task,
    keys: dict[str, dict[str, list[str]]],
    ledger: RunLedger,
) -> list[dict[str, Any]]:
    """One labels.jsonl record per item, with every teacher's view and the aggregate."""
    records = []
    for item in items:
        views: dict[str, dict[str, Any]] = {}
        for teacher_name, by_item in keys.items():
            outputs = [o for o in (ledger.get(k) for k in by_item.get(item.id, [])) if o is not None]
            views[teacher_name] = combine_samples(outputs, task.labels)
        agg = combine_teachers(views, task.labels)
        records.append(
            {
                "id": item.id,
                "text": item.text,
                "label": agg["label"],
                "probs": agg["probs"],
                "rationale": agg["rationale"],
                "teacher": ",".join(keys),
                "source": item.source,
                "status": agg["status"],
                "prob_method": agg["prob_method"],
                "gold": item.label,
                "teachers": views,
            }
        )
    return records


def print_summary(runs: Sequence[TeacherRun], records: Sequence[dict[str, Any]], out: Path) -> None:
    invalid = sum(r["status"] != "ok" for r in records)
    print(f"\nwrote {len(records)} records to {out} ({invalid} invalid)")
    print(
        f"{'teacher':36} {'requests':>8} {'cached':>7} {'sent':>6} {'invalid':>7} {'tokens':>9} {'usd':>9} {'s':>7}"
    )
    for r in runs:
        tokens = r.prompt_tokens + r.completion_tokens
        print(
            f"{r.teacher:36} {r.requests:8d} {r.cached:7d} {r.sent:6d} {r.invalid:7d} {tokens:9d} "
            f"{r.cost_usd:9.4f} {r.seconds:7.1f}"
        )


def run_generate(config: GenerateConfig) -> Path:
    """Run the stage; returns the run directory."""
    from llmkd.readers import InputSpec, read_items

    if not config.input:
        raise ConfigError("--input is required (a file or hf:NAME); see --help")
    if config.samples < 1:
        raise ConfigError("--samples must be at least 1")
    task = load_task(config.task)
    spec = InputSpec(
        path=config.input,
        text_column=config.text_column,
        id_column=config.id_column,
        label_column=config.label_column,
        label_map=config.label_map,
        format=config.format,
        limit=config.limit,
    )
    items = read_items(spec, labels=task.labels)
    for spec_name in config.teacher:
        teacher_kind(spec_name)  # fail on an unknown teacher before any work
    run_dir = Path(config.run) if config.run else default_run_dir(config)
    if config.run is None:
        config.run = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(run_dir, "generate", config)
    options = teacher_options(config)

    runs: list[TeacherRun] = []
    keys: dict[str, dict[str, list[str]]] = {}
    with RunLedger(run_dir / "ledger.sqlite") as ledger:
        for spec_name in config.teacher:
            teacher = build_teacher(spec_name, task, options)
            try:
                n_samples = samples_for(spec_name, config.samples)
                if config.dry_run:
                    print_plan(teacher, items, n_samples, ledger)
                    continue
                if config.max_cost_usd is not None and hasattr(teacher, "budget_usd"):
                    teacher.budget_usd = config.max_cost_usd - ledger.total_cost()
                by_item, stats = label_with_teacher(teacher, items, n_samples, ledger)
                keys[teacher.name] = by_item
                runs.append(stats)
            finally:
                teacher.close()
        if config.dry_run:
            return run_dir
        records = build_records(items, task, keys, ledger)
    out = run_dir / "labels.jsonl"
    write_jsonl(out, records)
    print_summary(runs, records, out)
    return run_dir


def print_plan(teacher: Teacher, items: Sequence[Item], samples: int, ledger: RunLedger) -> None:
    """--dry-run: what would be sent, and what it would cost where the teacher can estimate it."""
    keyed = _keyed_requests(teacher, items, samples)
    have = ledger.existing(k for k, _, _ in keyed)
    missing = list({k: req for k, req, _ in keyed if k not in have}.values())
    line = f"{teacher.name}: {len(items)} items x {samples} samples = {len(keyed)} requests, {len(missing)} to send"
    estimate = getattr(teacher, "estimate", None)
    if callable(estimate):
        line += f"; estimated {estimate(missing)}"
    print(line)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(GenerateConfig, argv, "python -m llmkd.generate", DESCRIPTION)
    run_generate(config)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
