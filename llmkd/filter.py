"""Stage 2: score every teacher label, remove duplicates, leakage and doubtful labels, and report why.

``python -m llmkd.filter --run DIR`` reads ``DIR/labels.jsonl`` and writes:

* ``DIR/filtered.jsonl``: the kept records, each with ``scores`` and ``cluster_size`` added;
* ``DIR/removed.jsonl``: every removed record with ``reasons`` (all of them) and its ``scores``;
* ``DIR/filter_report.json``: counts per reason and label, examples, duplicate clusters, the policy;
* a ``## Filter`` section in ``DIR/report.md`` and ``DIR/filter_confidence.png``;
* ``DIR/filter_config.json``: the resolved policy.

Records without probabilities (``prob_method`` none) pass the confidence and margin checks: there is
nothing to judge them by. When every record is removed the outputs are still written and the stage
ends with a one-line error (exit 2) naming the reasons, so a pipeline stops before fine-tuning.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from llmkd.cli import build_parser, read_yaml_config, run_cli
from llmkd.errors import ConfigError, RunError
from llmkd.filtering.config import HINTS, FilterConfig
from llmkd.filtering.policy import add_dawid_skene, cap_labels, mark_duplicates, policy_reasons, record_scores
from llmkd.filtering.report import REASONS, write_filter_report
from llmkd.generation.merge import merge_if_sharded
from llmkd.io.seed import check_run_seed
from llmkd.run.directory import remembered_columns, run_directory
from llmkd.run.files import read_jsonl, save_config, write_jsonl
from llmkd.run.lineage import check_fresh, record_output
from llmkd.run.lock import run_dir_lock
from llmkd.scoring.lexicon import load_lexicon


@dataclass
class FilterResult:
    """What :func:`run_filter` produced."""

    kept: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    report: dict[str, Any]


def read_exclude_texts(paths: Sequence[str], text_column: str | None, run: Path | None = None) -> list[str]:
    """Texts of the ``--exclude`` files, read with llmkd.io.readers (any input format), from
    ``text_column``, else the ``--text-column`` (and ``--format``) the ``run`` was generated with, else
    ``text``."""
    from llmkd.io.readers import InputColumns, InputSpec, iter_items

    texts: list[str] = []
    for path in paths:
        if not path.startswith("hf:") and not Path(path).exists():
            raise ConfigError(f"--exclude {path}: no such file")
        columns = InputColumns(text_column=text_column or "text")
        if run is not None:
            given = {"text_column"} if text_column else set()
            columns = remembered_columns(run, columns, given, path, ("text_column", "format"))
        texts.extend(item.text for item in iter_items(InputSpec.of(path, columns)))
    return texts


def run_filter(cfg: FilterConfig) -> FilterResult:
    """Score and filter ``cfg.run/labels.jsonl`` (merged from the run's shards first when it has only
    those), under the run lock; write every output (see the module docstring).

    Raises:
        RunError: labels.jsonl is missing or empty, or every record was removed (outputs still written).
        RunLocked: another live process holds the run.
    """
    with run_dir_lock(cfg.run):
        merge_if_sharded(cfg.run)
        return _filter(cfg)


def _filter(cfg: FilterConfig) -> FilterResult:
    run = run_directory(cfg.run, needs="labels.jsonl")
    labels_path = run / "labels.jsonl"
    check_fresh(run, labels_path)
    records = list(read_jsonl(labels_path))
    if not records:
        raise RunError(f"{labels_path}: no records to filter (did the generate stage label anything?)")
    reference = read_exclude_texts(cfg.exclude, cfg.exclude_text_column, run) if cfg.exclude else []
    check_run_seed(run, reference, f"--exclude {', '.join(cfg.exclude)}")
    task_labels = _task_labels(records)
    lexicon = load_lexicon(cfg.lexicon) if cfg.lexicon else load_lexicon()
    reasons: list[list[str]] = []
    for record in tqdm(records, desc="score", unit="rec", disable=not cfg.progress):
        record["scores"] = record_scores(record, task_labels, lexicon)
        reasons.append(policy_reasons(record, record["scores"], cfg))
    add_dawid_skene(records, task_labels)
    sizes = mark_duplicates(records, reasons, cfg, reference)
    cap_labels(records, reasons, cfg)
    kept, removed = [], []
    for record, why, size in zip(records, reasons, sizes, strict=True):
        record["cluster_size"] = size
        if why:
            removed.append({**record, "reasons": sorted(set(why), key=REASONS.index)})
        else:
            kept.append(record)
    write_jsonl(run / "filtered.jsonl", kept)
    record_output(run, run / "filtered.jsonl", "filter", cfg, f"llmkd filter --run {run}", [labels_path])
    write_jsonl(run / "removed.jsonl", removed)
    save_config(run, "filter", cfg)
    report = write_filter_report(run, kept, removed, _policy(cfg), task_labels)
    if not kept:
        counts = Counter(x for r in removed for x in r["reasons"]).most_common(3)
        top = ", ".join(f"{r} {n}" for r, n in counts)
        hint = HINTS.get(counts[0][0], "loosen the policy")
        raise RunError(
            f"{run / 'filtered.jsonl'}: all {len(records)} records were removed ({top}); "
            f"see {run / 'filter_report.json'}; {hint}"
        )
    return FilterResult(kept=kept, removed=removed, report=report)


def _task_labels(records: Sequence[dict[str, Any]]) -> list[str]:
    """The label set seen in the records (aggregate probabilities first, in their order)."""
    seen: dict[str, None] = {}
    for r in records:
        for label in r.get("probs") or {}:
            seen.setdefault(label)
    for r in records:
        if r.get("label") is not None:
            seen.setdefault(r["label"])
    return list(seen)


def _policy(cfg: FilterConfig) -> dict[str, Any]:
    skip = {"run", "config", "progress"}
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip}


def load_policy(path: str) -> dict[str, Any]:
    """Read a policy YAML (a ``policy:`` block, or a top-level mapping) into FilterConfig field values."""
    data = read_yaml_config(path)
    policy = data.get("policy", data) if isinstance(data, dict) else None
    if not isinstance(policy, dict):
        raise ConfigError(f"--config {path}: expected a mapping under 'policy:'")
    fields = {f.name: f for f in dataclasses.fields(FilterConfig)}
    values: dict[str, Any] = {}
    for key, value in policy.items():
        name = str(key).replace("-", "_")
        if name not in fields or name in ("run", "config"):
            raise ConfigError(f"--config {path}: unknown policy key {key!r}")
        values[name] = [str(v) for v in value] if name == "exclude" and isinstance(value, list) else value
    return values


def parse_args(argv: Sequence[str] | None) -> FilterConfig:
    """Flags > ``--config`` policy YAML > defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    parser = build_parser(FilterConfig, "python -m llmkd.filter", __doc__.splitlines()[0] if __doc__ else "")
    if known.config:
        parser.set_defaults(**load_policy(known.config))
    values = vars(parser.parse_args(argv))
    if values.get("exclude") is None:
        values["exclude"] = []
    if not values.get("run"):
        run_directory(None, needs="labels.jsonl")  # raises the one --run message
    try:
        return FilterConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad policy value: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m llmkd.filter --run DIR [policy flags]``."""
    cfg = parse_args(argv)
    result = run_filter(cfg)
    report = result.report
    removed = ", ".join(f"{k} {v}" for k, v in report["removed"].items()) or "none"
    print(f"kept {report['n_kept']} of {report['n_in']} records (removed: {removed})")
    print(f"wrote {Path(cfg.run) / 'filtered.jsonl'} and {Path(cfg.run) / 'filter_report.json'}")
    print(json.dumps(report["kept_per_label"]))
    return 0


if __name__ == "__main__":
    run_cli(main)
