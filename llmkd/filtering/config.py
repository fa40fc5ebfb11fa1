"""The filtering policy: every threshold of ``python -m llmkd.filter``, with its help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from llmkd.errors import ConfigError

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

    run: str = field(default="", metadata={"help": "Run directory holding labels.jsonl.", "required": True})
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
    dedup_memory_mb: float = field(
        default=2048,
        metadata={
            "help": "Working memory for near-duplicate search (MB). When searching in memory would take more "
            "(about 400 bytes per text), MinHash band keys and candidate pairs go to a temporary folder in "
            "the run and are processed a partition at a time: same result, slower."
        },
    )
    mask_numbers: bool = field(
        default=False,
        metadata={"help": "Treat all numbers as equal when comparing texts ('rose 5 pct' = 'rose 7 pct')."},
    )
    exclude: list[str] = field(
        default_factory=list,
        metadata={"help": "Evaluation/gold file (any input format) whose texts must not leak into training."},
    )
    exclude_text_column: str | None = field(
        default=None,
        metadata={
            "help": "Text column of the --exclude files (default: the --text-column the run was generated "
            "with, else 'text')."
        },
    )
    min_chars: int = field(default=8, metadata={"help": "Remove texts shorter than this many characters."})
    max_chars: int = field(
        default=100_000,
        metadata={
            "help": "Remove texts longer than this many characters. The default keeps long filings and notes "
            "(finetune reads the first --max-length tokens of each and warns with a count) and removes only "
            "what is likely a whole document in one cell."
        },
    )
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
