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
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from tqdm.auto import tqdm

from llmkd.cli import build_parser, run_cli
from llmkd.errors import ConfigError, RunError
from llmkd.filtering import scores as sc
from llmkd.filtering.dedup import find_duplicates
from llmkd.filtering.report import REASONS, write_filter_report
from llmkd.io.text_checks import length_ok, looks_english, non_alpha_fraction, normalize_text
from llmkd.run.directory import run_directory
from llmkd.run.files import read_jsonl, save_config, write_jsonl
from llmkd.scoring.lexicon import Lexicon, load_lexicon

# What to change when one reason removes everything.
HINTS = {
    "invalid": "the teacher gave no usable labels: check generate's output, or use --no-drop-invalid",
    "leakage_exact": "the input is the --exclude set itself: check the --exclude files",
    "leakage_near": "the input overlaps the --exclude set: check --exclude or raise --near-dup-threshold",
    "low_confidence": "lower --min-confidence",
    "low_margin": "lower --min-margin",
    "low_agreement": "lower --min-agreement",
    "low_self_consistency": "lower --min-self-consistency",
    "rationale_inconsistent": "use --no-rationale-check",
    "too_short": "lower --min-chars",
    "too_long": "raise --max-chars",
    "non_alphabetic": "raise --max-non-alpha-fraction",
    "not_english": "use --language any",
}


@dataclass
class FilterConfig:
    """Filtering policy. Defaults work as they are; a YAML ``policy:`` block (``--config``) can set them."""

    run: str = field(default="", metadata={"help": "Run directory holding labels.jsonl (required)."})
    config: str | None = field(
        default=None,
        metadata={"help": "YAML file whose 'policy:' block sets any of these options; flags override it."},
    )
    min_confidence: float = field(
        default=0.5, metadata={"help": "Remove records whose top label probability is below this (0 = off)."}
    )
    min_margin: float = field(
        default=0.0, metadata={"help": "Remove records whose top-1 minus top-2 probability is below this."}
    )
    min_agreement: float = field(
        default=0.5,
        metadata={
            "help": "With 2+ teachers: remove records where fewer than this fraction agree with the label."
        },
    )
    min_self_consistency: float = field(
        default=0.0,
        metadata={
            "help": "With sampled labels: remove records whose majority holds in fewer than this fraction."
        },
    )
    max_per_label: int | None = field(
        default=None, metadata={"help": "Keep at most this many records per label (random, --seed)."}
    )
    balance: bool = field(
        default=False, metadata={"help": "Cap every label at the size of the smallest kept label."}
    )
    drop_invalid: bool = field(
        default=True,
        metadata={
            "help": "Remove records whose status is invalid (records with no label are always removed)."
        },
    )
    dedup: bool = field(
        default=True, metadata={"help": "Remove exact and near duplicates (one kept per cluster)."}
    )
    near_dup_threshold: float = field(
        default=0.8,
        metadata={"help": "Jaccard similarity of word shingles above which texts are near duplicates."},
    )
    num_perm: int = field(default=128, metadata={"help": "MinHash permutations for near-duplicate search."})
    shingle_size: int = field(default=2, metadata={"help": "Words per shingle for near-duplicate search."})
    mask_numbers: bool = field(
        default=False,
        metadata={"help": "Treat all numbers as equal when comparing texts ('rose 5 pct' = 'rose 7 pct')."},
    )
    exclude: list[str] = field(
        default_factory=list,
        metadata={"help": "Evaluation/gold file (any input format) whose texts must not leak into training."},
    )
    exclude_text_column: str = field(default="text", metadata={"help": "Text column of the --exclude files."})
    min_chars: int = field(default=8, metadata={"help": "Remove texts shorter than this many characters."})
    max_chars: int = field(default=2000, metadata={"help": "Remove texts longer than this many characters."})
    max_non_alpha_fraction: float = field(
        default=0.5,
        metadata={"help": "Remove texts where more than this share of characters are not letters."},
    )
    language: Literal["en", "any"] = field(
        default="en", metadata={"help": "Remove texts that do not look English ('any' turns the check off)."}
    )
    rationale_check: bool = field(
        default=False,
        metadata={"help": "Remove records whose rationale's lexicon polarity contradicts the label."},
    )
    lexicon: str | None = field(
        default=None,
        metadata={"help": "Polarity lexicon YAML (default: llmkd/scoring/finance_polarity.yaml)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed for per-label caps and MinHash."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self) -> None:
        for name in (
            "min_confidence",
            "min_margin",
            "min_agreement",
            "min_self_consistency",
            "max_non_alpha_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be between 0 and 1, got {getattr(self, name)}"
                )
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise ConfigError(f"--near-dup-threshold must be in (0, 1], got {self.near_dup_threshold}")
        if self.num_perm < 8 or self.shingle_size < 1:
            raise ConfigError("--num-perm must be at least 8 and --shingle-size at least 1")
        if self.max_per_label is not None and self.max_per_label < 1:
            raise ConfigError(f"--max-per-label must be at least 1, got {self.max_per_label}")
        if not 0 <= self.min_chars <= self.max_chars:
            raise ConfigError(
                f"--min-chars ({self.min_chars}) must be between 0 and --max-chars ({self.max_chars})"
            )


@dataclass
class FilterResult:
    """What :func:`run_filter` produced."""

    kept: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    report: dict[str, Any]


def record_scores(record: dict[str, Any], task_labels: Sequence[str], lexicon: Lexicon) -> dict[str, Any]:
    """All quality scores of one labels.jsonl record (None where a score does not apply)."""
    probs = record.get("probs") or None
    teachers = record.get("teachers") or {}
    teacher_labels = [t.get("label") for t in teachers.values()]
    samples = [s for t in teachers.values() for s in (t.get("samples") or [])]
    ensemble = sc.ensemble_probs([t.get("probs") for t in teachers.values()])
    text = record.get("text") or ""
    return {
        "top_prob": sc.top_prob(probs) if probs else None,
        "label_prob": probs.get(record.get("label"), 0.0) if probs and record.get("label") else None,
        "margin": sc.margin(probs) if probs else None,
        "entropy": sc.entropy(probs) if probs else None,
        "entropy_norm": sc.normalized_entropy(probs) if probs else None,
        "self_consistency": sc.self_consistency(samples),
        "teacher_agreement": sc.teacher_agreement(teacher_labels, record.get("label")),
        "majority_label": sc.majority_vote(teacher_labels, task_labels),
        "ensemble_label": sc.argmax_label(ensemble) if ensemble else None,
        "rationale_consistency": sc.rationale_consistency(
            record.get("rationale"), record.get("label"), task_labels, lexicon
        ),
        "length_ok": None,  # filled by text_reasons (needs the policy's bounds)
        "non_alpha_fraction": round(non_alpha_fraction(text), 4),
        "english": looks_english(text),
    }


def policy_reasons(record: dict[str, Any], s: dict[str, Any], cfg: FilterConfig) -> list[str]:
    """Reasons (other than duplicates, leakage and caps) for which ``record`` fails the policy."""
    reasons = []
    if record.get("label") is None or (cfg.drop_invalid and record.get("status") == "invalid"):
        reasons.append("invalid")
    if s["top_prob"] is not None and s["top_prob"] < cfg.min_confidence:
        reasons.append("low_confidence")
    if s["margin"] is not None and s["margin"] < cfg.min_margin:
        reasons.append("low_margin")
    if s["teacher_agreement"] is not None and s["teacher_agreement"] < cfg.min_agreement:
        reasons.append("low_agreement")
    if s["self_consistency"] is not None and s["self_consistency"] < cfg.min_self_consistency:
        reasons.append("low_self_consistency")
    if cfg.rationale_check and s["rationale_consistency"] is False:
        reasons.append("rationale_inconsistent")
    text = record.get("text") or ""
    s["length_ok"] = length_ok(text, cfg.min_chars, cfg.max_chars)
    if not s["length_ok"]:
        reasons.append("too_short" if len(text.strip()) < cfg.min_chars else "too_long")
    if s["non_alpha_fraction"] > cfg.max_non_alpha_fraction:
        reasons.append("non_alphabetic")
    if cfg.language == "en" and not s["english"]:
        reasons.append("not_english")
    return reasons


def read_exclude_texts(paths: Sequence[str], text_column: str) -> list[str]:
    """Texts of the ``--exclude`` files, read with llmkd.io.readers (any input format)."""
    from llmkd.io.readers import InputSpec, iter_items

    texts: list[str] = []
    for path in paths:
        if not path.startswith("hf:") and not Path(path).exists():
            raise ConfigError(f"--exclude {path}: no such file")
        texts.extend(item.text for item in iter_items(InputSpec(path=path, text_column=text_column)))
    return texts


def _mark_duplicates(
    records: list[dict[str, Any]], reasons: list[list[str]], cfg: FilterConfig, reference: Sequence[str]
) -> list[int]:
    """Add duplicate and leakage reasons in place; returns each record's cluster size.

    In each cluster the representative is the record with no other reason, then from the input
    (augmented copies lose), then with the highest top probability, then the earliest.
    """
    norm = [normalize_text(r.get("text") or "", mask_numbers=cfg.mask_numbers) for r in records]
    ref = [normalize_text(t, mask_numbers=cfg.mask_numbers) for t in reference]
    dups = find_duplicates(
        norm,
        ref,
        threshold=cfg.near_dup_threshold,
        num_perm=cfg.num_perm,
        shingle_size=cfg.shingle_size,
        seed=cfg.seed,
        near=cfg.dedup,
        progress=cfg.progress,
    )
    for i in range(len(records)):
        if dups.leaked_exact[i]:
            reasons[i].append("leakage_exact")
        elif dups.leaked_near[i]:
            reasons[i].append("leakage_near")
    sizes = [1] * len(records)
    if not cfg.dedup:
        return sizes
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(dups.cluster.tolist()):
        members[c].append(i)
    for group in members.values():
        if len(group) == 1:
            continue

        def rank(i: int) -> tuple[bool, bool, float, int]:
            top = records[i]["scores"]["top_prob"]
            return (
                not reasons[i],
                records[i].get("source") != "augmented",
                top if top is not None else -1.0,
                -i,
            )

        rep = max(group, key=rank)
        for i in group:
            sizes[i] = len(group)
            if i != rep:
                exact = dups.exact_group[i] == dups.exact_group[rep]
                reasons[i].append("exact_duplicate" if exact else "near_duplicate")
                records[i]["duplicate_of"] = records[rep].get("id")
    return sizes


def _cap_labels(records: list[dict[str, Any]], reasons: list[list[str]], cfg: FilterConfig) -> None:
    """Apply ``--max-per-label`` / ``--balance`` to the records still kept (random choice, seeded)."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if not reasons[i]:
            by_label[r["label"]].append(i)
    if not by_label:
        return
    cap = cfg.max_per_label
    if cfg.balance:
        smallest = min(len(v) for v in by_label.values())
        cap = smallest if cap is None else min(cap, smallest)
    if cap is None:
        return
    rng = random.Random(cfg.seed)
    for idx in by_label.values():
        if len(idx) > cap:
            for i in rng.sample(idx, len(idx) - cap):
                reasons[i].append("label_cap")


def run_filter(cfg: FilterConfig) -> FilterResult:
    """Score and filter ``cfg.run/labels.jsonl``; write every output (see the module docstring).

    Raises:
        RunError: labels.jsonl is missing or empty, or every record was removed (outputs still written).
    """
    run = run_directory(cfg.run, needs="labels.jsonl")
    labels_path = run / "labels.jsonl"
    records = list(read_jsonl(labels_path))
    if not records:
        raise RunError(f"{labels_path}: no records to filter (did the generate stage label anything?)")
    reference = read_exclude_texts(cfg.exclude, cfg.exclude_text_column) if cfg.exclude else []
    task_labels = _task_labels(records)
    lexicon = load_lexicon(cfg.lexicon) if cfg.lexicon else load_lexicon()
    reasons: list[list[str]] = []
    for record in tqdm(records, desc="score", unit="rec", disable=not cfg.progress):
        record["scores"] = record_scores(record, task_labels, lexicon)
        reasons.append(policy_reasons(record, record["scores"], cfg))
    _add_dawid_skene(records, task_labels)
    sizes = _mark_duplicates(records, reasons, cfg, reference)
    _cap_labels(records, reasons, cfg)
    kept, removed = [], []
    for record, why, size in zip(records, reasons, sizes, strict=True):
        record["cluster_size"] = size
        if why:
            removed.append({**record, "reasons": sorted(set(why), key=REASONS.index)})
        else:
            kept.append(record)
    write_jsonl(run / "filtered.jsonl", kept)
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


def _add_dawid_skene(records: list[dict[str, Any]], task_labels: Sequence[str]) -> None:
    """With two or more teachers, add Dawid–Skene ``ds_label`` / ``ds_prob`` to every record's scores."""
    votes = [{n: t.get("label") for n, t in (r.get("teachers") or {}).items()} for r in records]
    if len({n for v in votes for n in v}) < 2 or not task_labels:
        return
    posteriors, _ = sc.dawid_skene(votes, task_labels)
    for record, post in zip(records, posteriors, strict=True):
        k = int(post.argmax())
        record["scores"]["ds_label"] = task_labels[k]
        record["scores"]["ds_prob"] = round(float(post[k]), 4)


def _policy(cfg: FilterConfig) -> dict[str, Any]:
    skip = {"run", "config", "progress"}
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip}


def load_policy(path: str) -> dict[str, Any]:
    """Read a policy YAML (a ``policy:`` block, or a top-level mapping) into FilterConfig field values."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML: {str(exc).splitlines()[0]}") from None
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
