"""Audit of teachers on a gold seed: how good is each one on the user's own data, before paying for all of it.

Every figure comes with a bootstrap 95% interval, and each teacher is compared with the two baselines a
user has for free: always answering the majority class, and a student trained on the seed alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmkd.errors import warn
from llmkd.evaluation.metrics import classification_metrics, confusion_matrix, expected_calibration_error
from llmkd.io.records import Item, teacher_view_matrix

BOOTSTRAP_ROUNDS = 1000


def _macro_f1(confusion: np.ndarray) -> float:
    """Macro-F1 from a ``(K, K)`` gold x predicted count matrix, over labels present in either."""
    tp = np.diag(confusion).astype(float)
    gold_n, pred_n = confusion.sum(axis=1), confusion.sum(axis=0)
    present = (gold_n + pred_n) > 0
    f1 = np.divide(2 * tp, gold_n + pred_n, out=np.zeros_like(tp), where=(gold_n + pred_n) > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def bootstrap_interval(
    predicted: Sequence[str],
    gold: Sequence[str],
    labels: Sequence[str],
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of accuracy and macro-F1 over ``rounds`` resamples of the items."""
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels) + 1  # one extra class for answers outside the task (invalid)
    pred = np.array([index.get(p, k - 1) for p in predicted])
    true = np.array([index[g] for g in gold])
    rng = np.random.default_rng(seed)
    acc, f1 = np.empty(rounds), np.empty(rounds)
    for r in range(rounds):
        idx = rng.integers(0, len(true), len(true))
        confusion = np.bincount(true[idx] * k + pred[idx], minlength=k * k).reshape(k, k)
        acc[r] = np.trace(confusion) / len(idx)
        f1[r] = _macro_f1(confusion[: k - 1, : k - 1] if not (pred[idx] == k - 1).any() else confusion)
    bounds = {}
    for name, values in (("accuracy", acc), ("macro_f1", f1)):
        low, high = np.percentile(values, [2.5, 97.5])
        bounds[name] = (float(low), float(high))
    return bounds


def majority_baseline(seed_gold: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Always answering the seed's most frequent label."""
    top = Counter(seed_gold).most_common(1)[0][0]
    return {"label": top, **classification_metrics([top] * len(seed_gold), list(seed_gold), labels)}


@dataclass
class TeacherAudit:
    """One teacher's (or the ensemble's) answers on the seed, scored."""

    name: str
    metrics: dict[str, Any]

    def row(self) -> dict[str, Any]:
        m = self.metrics
        return {"teacher": self.name, **{k: m[k] for k in ("n", "accuracy", "macro_f1", "ece") if k in m}}


def audit_teacher(
    name: str,
    predicted: Sequence[str | None],
    probs: np.ndarray | None,
    gold: Sequence[str],
    labels: Sequence[str],
    usd_per_1000: float | None = None,
) -> TeacherAudit:
    """Accuracy, macro-F1, per-class recall, confusion matrix, bootstrap intervals and ECE on the seed.

    An invalid answer (None) counts as wrong.
    """
    answered = [p if p is not None else "<invalid>" for p in predicted]
    m = classification_metrics(answered, list(gold), labels)
    m["per_class_recall"] = {label: m["per_class"][label]["recall"] for label in labels}
    m["confusion"] = {"rows_gold_cols_predicted": confusion_matrix(answered, gold, labels).tolist()}
    m["interval_95"] = bootstrap_interval(answered, gold, labels)
    m["invalid"] = sum(p is None for p in predicted)
    if probs is not None:
        gold_ids = np.array([list(labels).index(g) for g in gold])
        m["ece"] = expected_calibration_error(probs, gold_ids)
    m["usd_per_1000"] = usd_per_1000
    return TeacherAudit(name, m)


def verdict(audit: TeacherAudit, baselines: dict[str, float]) -> str:
    """A plain sentence: is the teacher better than every baseline beyond its 95% interval?"""
    low = audit.metrics["interval_95"]["accuracy"][0]
    weaker = [f"{name} ({value:.3f})" for name, value in baselines.items() if low <= value]
    if not weaker:
        return f"{audit.name}: better than {', '.join(baselines)} (95% interval of accuracy above them)."
    return (
        f"{audit.name}: NO BETTER than {' and '.join(weaker)} on this seed "
        f"(accuracy {audit.metrics['accuracy']:.3f}, 95% interval from {low:.3f}); "
        "labels from it may teach the student nothing the seed does not."
    )


def audit_markdown(audits: Sequence[TeacherAudit], baselines: dict[str, float], n_seed: int) -> str:
    """The audit as a Markdown section: one row per teacher, the baselines, and a verdict per teacher."""
    lines = [
        f"## Teacher audit on the gold seed ({n_seed} items)",
        "",
        "| teacher | accuracy (95% interval) | macro-F1 (95% interval) | ECE | invalid | $ / 1,000 items |",
        "|---|---|---|---|---|---|",
    ]
    for a in audits:
        m = a.metrics
        acc, f1 = m["interval_95"]["accuracy"], m["interval_95"]["macro_f1"]
        ece = f"{m['ece']:.3f}" if m.get("ece") is not None else "—"
        usd = f"{m['usd_per_1000']:.4f}" if m.get("usd_per_1000") is not None else "—"
        lines.append(
            f"| {a.name} | {m['accuracy']:.3f} ({acc[0]:.3f}–{acc[1]:.3f}) | {m['macro_f1']:.3f} "
            f"({f1[0]:.3f}–{f1[1]:.3f}) | {ece} | {m['invalid']} | {usd} |"
        )
    for name, value in baselines.items():
        lines.append(f"| *{name}* | {value:.3f} | | | | |")
    lines += ["", *[f"- {verdict(a, baselines)}" for a in audits], ""]
    return "\n".join(lines)


def audit_seed_records(
    records: Sequence[dict[str, Any]],
    labels: Sequence[str],
    costs: dict[str, float],
    seed_only: dict[str, Any] | None,
) -> dict[str, Any]:
    """The audit of the teachers (and their average, with several) on labelled seed ``records``.

    Args:
        records: labels.jsonl-style records of the seed texts, with ``gold`` and each teacher's view.
        labels: The task's labels.
        costs: Dollars per 1,000 items of each teacher.
        seed_only: The seed-only student's cross-validated scores (None: not available).
    """
    gold = [str(r["gold"]) for r in records]
    names = sorted({name for r in records for name in (r.get("teachers") or {})})
    audits = []
    for name in names:
        probs, said = teacher_view_matrix(records, name, labels)
        audits.append(audit_teacher(name, said, probs, gold, labels, costs.get(name)))
    if len(names) > 1:
        probs = np.array([[float((r.get("probs") or {}).get(x) or 0.0) for x in labels] for r in records])
        total = sum(costs.get(n) or 0.0 for n in names)
        audits.append(
            audit_teacher("ensemble (average)", [r.get("label") for r in records], probs, gold, labels, total)
        )
    majority = majority_baseline(gold, labels)
    baselines = {f"majority class ({majority['label']})": majority["accuracy"]}
    if seed_only is not None:
        baselines["seed-only student (5-fold CV)"] = seed_only["accuracy"]
    return {
        "n_seed": len(records),
        "teachers": {a.name: a.metrics for a in audits},
        "baselines": baselines,
        "verdicts": [verdict(a, baselines) for a in audits],
        "markdown": audit_markdown(audits, baselines, len(records)),
    }


def seed_only_baseline(
    items: Sequence[Item], labels: Sequence[str], student: str = "minilm"
) -> dict[str, Any] | None:
    """The seed-only student's cross-validated scores, or None when its encoder cannot be loaded."""
    from llmkd.errors import LlmkdError
    from llmkd.evaluation.seed_baseline import embed, seed_only_cv

    try:
        vectors = embed([item.text for item in items], student)
    except (LlmkdError, OSError) as exc:
        warn(f"no seed-only baseline: the student encoder {student!r} did not load ({exc})")
        return None
    return seed_only_cv(vectors, [str(item.label) for item in items], labels)


def correction_lines(corrections: dict[str, dict[str, Any]]) -> str:
    """What the seed corrected, per teacher, with the held-out (cross-validated) figures behind it."""
    lines = []
    for name, c in corrections.items():
        held = c.get("held_out") or {}
        raw, chosen = held.get("none"), held.get(c["method"])
        if c["method"] == "none" or not raw or not chosen:
            lines.append(f"- {name}: labels kept as they are (no correction beat them on held-out folds)")
            continue
        lines.append(
            f"- {name}: {c['method']} correction (held-out accuracy {raw['accuracy']:.3f} -> "
            f"{chosen['accuracy']:.3f}, log-loss {raw['log_loss']:.3f} -> {chosen['log_loss']:.3f}); "
            f"ensemble weight {c['weight']:.2f}"
        )
    return "\n### Corrections learned on the seed (5-fold cross-validation)\n\n" + "\n".join(lines) + "\n"
