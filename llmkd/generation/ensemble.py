"""Combining teacher outputs: samples of one teacher, then several teachers, into one soft label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from llmkd.io.records import TeacherOutput


def empirical_distribution(labels: Sequence[str], label_set: Sequence[str]) -> dict[str, float]:
    """Share of each label among sampled answers (0 for labels never sampled)."""
    counts = Counter(labels)
    total = sum(counts[lab] for lab in label_set)
    return {lab: (counts[lab] / total if total else 0.0) for lab in label_set}


def mean_distribution(dists: Sequence[dict[str, float]], label_set: Sequence[str]) -> dict[str, float]:
    """Probability-averaged ensemble of several distributions."""
    return {lab: sum(d.get(lab, 0.0) for d in dists) / len(dists) for lab in label_set}


def _top(probs: dict[str, float], label_set: Sequence[str]) -> str:
    # Ties go to the label listed first in the task.
    return max(label_set, key=lambda lab: probs.get(lab, 0.0))


def combine_samples(outputs: Sequence[TeacherOutput], label_set: Sequence[str]) -> dict[str, Any]:
    """One teacher's view of one item from its K sampled outputs.

    With per-sample probabilities (log-probs, label scoring) they are averaged; without, the empirical
    distribution of the sampled labels is the soft label (``prob_method = "samples"``).
    """
    valid = [o for o in outputs if o.status == "ok" and o.label in label_set]
    samples = [o.label for o in valid]
    if not valid:
        last = outputs[-1] if outputs else None
        return {
            "label": None,
            "probs": None,
            "rationale": None,
            "status": "invalid",
            "prob_method": "none",
            "samples": [],
            "error": last.error if last else "no output",
            "raw": last.raw if last else "",
        }
    with_probs = [o.probs for o in valid if o.probs]
    if len(with_probs) == len(valid):
        probs = mean_distribution(with_probs, label_set)
        method = valid[0].prob_method
    elif len(valid) > 1:
        probs, method = empirical_distribution([str(s) for s in samples], label_set), "samples"
    else:
        probs, method = None, "none"
    label = _top(probs, label_set) if probs else str(valid[0].label)
    rationale = next((o.rationale for o in valid if o.label == label and o.rationale), None)
    return {
        "label": label,
        "probs": probs,
        "rationale": rationale,
        "status": "ok",
        "prob_method": method,
        "samples": samples,
    }


def combine_teachers(
    views: dict[str, dict[str, Any]], label_set: Sequence[str], weights: dict[str, float] | None = None
) -> dict[str, Any]:
    """Aggregate several teachers' views: the (``weights``-weighted) average of their distributions
    (one-hot where a teacher has none)."""
    ok = {name: v for name, v in views.items() if v["status"] == "ok"}
    if not ok:
        return {"label": None, "probs": None, "rationale": None, "status": "invalid", "prob_method": "none"}
    dists = [v["probs"] or {lab: float(lab == v["label"]) for lab in label_set} for v in ok.values()]
    w = [weights.get(name, 1.0) if weights else 1.0 for name in ok]
    probs = {
        lab: sum(wi * d.get(lab, 0.0) for wi, d in zip(w, dists, strict=True)) / sum(w) for lab in label_set
    }
    label = _top(probs, label_set)
    rationale = next((v["rationale"] for v in ok.values() if v["label"] == label and v["rationale"]), None)
    methods = sorted({v["prob_method"] for v in ok.values()})
    method = methods[0] if len(methods) == 1 else "ensemble"
    return {"label": label, "probs": probs, "rationale": rationale, "status": "ok", "prob_method": method}
