"""Per-record scores and the policy checks that remove records (duplicates, leakage, thresholds, caps)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmkd.filtering import scores as sc
from llmkd.filtering.config import FilterConfig
from llmkd.filtering.dedup import find_duplicates
from llmkd.io.text_checks import length_ok, looks_english, non_alpha_fraction, normalize_text
from llmkd.scoring.lexicon import Lexicon


def record_scores(record: dict[str, Any], task_labels: Sequence[str], lexicon: Lexicon) -> dict[str, Any]:
    """All quality scores of one labels.jsonl record (None where a score does not apply)."""
    probs = record.get("probs") or None
    teachers = record.get("teachers") or {}
    teacher_labels = [t.get("label") for t in teachers.values()]
    samples = [t.get("samples") or [] for t in teachers.values()]
    ensemble = sc.ensemble_probs([t.get("probs") for t in teachers.values()])
    text = record.get("text") or ""
    return {
        "top_prob": sc.top_prob(probs) if probs else None,
        "label_prob": probs.get(record.get("label"), 0.0) if probs and record.get("label") else None,
        "margin": sc.margin(probs) if probs else None,
        "entropy": sc.entropy(probs) if probs else None,
        "entropy_norm": sc.normalized_entropy(probs) if probs else None,
        "self_consistency": sc.mean_self_consistency(samples),
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


def mark_duplicates(
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
        memory_mb=cfg.dedup_memory_mb,
        workdir=Path(cfg.run) if cfg.run else None,
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


def cap_labels(records: list[dict[str, Any]], reasons: list[list[str]], cfg: FilterConfig) -> None:
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


def add_dawid_skene(records: list[dict[str, Any]], task_labels: Sequence[str]) -> None:
    """With two or more teachers, add Dawid–Skene ``ds_label`` / ``ds_prob`` to every record's scores."""
    votes = [{n: t.get("label") for n, t in (r.get("teachers") or {}).items()} for r in records]
    if len({n for v in votes for n in v}) < 2 or not task_labels:
        return
    posteriors, _ = sc.dawid_skene(votes, task_labels)
    for record, post in zip(records, posteriors, strict=True):
        k = int(post.argmax())
        record["scores"]["ds_label"] = task_labels[k]
        record["scores"]["ds_prob"] = round(float(post[k]), 4)
