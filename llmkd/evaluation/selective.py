"""Selective prediction and the student-to-teacher cascade, as pure functions of per-item arrays.

- :func:`coverage_accuracy`: the accuracy of the student's most confident x% of items.
- :func:`cascade_points`: for every k, the cascade that sends the k least confident items to the teacher:
  its accuracy and its cost per 1,000 items (the student runs on every item; the teacher on the deferred).
- :func:`choose_point`: the cascade reaching a target accuracy at the least deferral, or the most accurate
  one within a teacher budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DEFER_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
ABOVE_ALL = 1.0 + 1e-9  # a threshold above every probability: defers everything


@dataclass(frozen=True)
class CascadePoint:
    """The cascade that defers the ``deferred`` least confident of ``n`` items.

    ``threshold``: defer an item when the student's confidence is below it (ties at the threshold stay
    with the student, so on tied confidences a threshold may defer fewer items than ``deferred``).
    ``usd_per_1000``: student on every item plus the teacher on the deferred ones, per 1,000 items;
    ``teacher_usd_per_1000``: the teacher's part alone.
    """

    deferred: int
    n: int
    threshold: float
    accuracy: float
    usd_per_1000: float
    teacher_usd_per_1000: float

    @property
    def defer_rate(self) -> float:
        return self.deferred / self.n if self.n else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "defer_rate": self.defer_rate}


def coverage_accuracy(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    coverages: Sequence[float] = COVERAGES,
) -> list[dict[str, float]]:
    """Accuracy of the ``ceil(c * n)`` most confident items for each coverage ``c`` (ties: file order).

    Returns:
        One ``{"coverage", "n", "accuracy", "threshold"}`` per coverage; ``threshold`` is the lowest
        confidence kept. Empty for no items.
    """
    conf, right = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if conf.size == 0:
        return []
    order = np.argsort(-conf, kind="stable")  # most confident first
    hits = np.cumsum(right[order])
    rows = []
    for c in coverages:
        k = max(1, min(conf.size, math.ceil(c * conf.size - 1e-9)))
        rows.append(
            {
                "coverage": float(c),
                "n": k,
                "accuracy": float(hits[k - 1] / k),
                "threshold": float(conf[order[k - 1]]),
            }
        )
    return rows


def cascade_points(
    confidence: Sequence[float] | np.ndarray,
    student_correct: Sequence[bool] | np.ndarray,
    teacher_correct: Sequence[bool] | np.ndarray,
    teacher_usd: Sequence[float] | np.ndarray | float,
    student_usd_per_item: float = 0.0,
) -> list[CascadePoint]:
    """Every cascade over the items, deferring 0, 1, ..., n of the least confident (ties: file order).

    Args:
        confidence: The student's probability of its label, per item.
        student_correct: Whether the student is right, per item.
        teacher_correct: Whether the teacher is right, per item.
        teacher_usd: Dollars the teacher takes per item (one figure for all, or per item).
        student_usd_per_item: Dollars the student takes per item.
    """
    conf = np.asarray(confidence, dtype=float)
    n = conf.size
    s_right = np.asarray(student_correct, dtype=float)
    t_right = np.asarray(teacher_correct, dtype=float)
    t_usd = np.broadcast_to(np.asarray(teacher_usd, dtype=float), conf.shape)
    order = np.argsort(conf, kind="stable")  # least confident first
    zero = np.zeros(1)
    student_lost = np.concatenate([zero, np.cumsum(s_right[order])])  # (n + 1,)
    teacher_won = np.concatenate([zero, np.cumsum(t_right[order])])
    teacher_spent = np.concatenate([zero, np.cumsum(t_usd[order])])
    sorted_conf = np.append(conf[order], ABOVE_ALL)
    per_1000 = 1000.0 / max(n, 1)
    return [
        CascadePoint(
            deferred=k,
            n=n,
            threshold=float(sorted_conf[k]),
            accuracy=float((s_right.sum() - student_lost[k] + teacher_won[k]) / n) if n else 0.0,
            usd_per_1000=float(per_1000 * (teacher_spent[k] + student_usd_per_item * n)),
            teacher_usd_per_1000=float(per_1000 * teacher_spent[k]),
        )
        for k in range(n + 1)
    ]


def cascade_table(points: Sequence[CascadePoint], rates: Sequence[float] = DEFER_RATES) -> list[CascadePoint]:
    """The points nearest each deferral rate (``round(rate * n)`` items deferred)."""
    if not points:
        return []
    n = points[0].n
    return [points[min(n, round(rate * n))] for rate in rates]


def choose_point(
    points: Sequence[CascadePoint],
    target_accuracy: float | None = None,
    max_teacher_usd_per_1000: float | None = None,
) -> CascadePoint:
    """With ``target_accuracy``: the least deferral reaching it (none does: the most accurate point); with
    ``max_teacher_usd_per_1000``: the most accurate point whose teacher cost stays within it (ties: the
    least deferral). Both: the least deferral reaching the target within the budget, else the most
    accurate within the budget.

    Raises:
        ValueError: no points, or neither criterion given.
    """
    if not points or (target_accuracy is None and max_teacher_usd_per_1000 is None):
        raise ValueError("choose_point needs points and a target accuracy or a budget")
    allowed = [
        p
        for p in points
        if max_teacher_usd_per_1000 is None or p.teacher_usd_per_1000 <= max_teacher_usd_per_1000 + 1e-12
    ] or [points[0]]
    if target_accuracy is not None:
        reaching = [p for p in allowed if p.accuracy >= target_accuracy - 1e-12]
        if reaching:
            return reaching[0]
    best = max(p.accuracy for p in allowed)
    return next(p for p in allowed if p.accuracy == best)


def cascade_markdown(rows: Sequence[CascadePoint], student: str = "student", teacher: str = "teacher") -> str:
    """A deferral rate -> accuracy and cost per 1,000 items table (0%: the student alone, 100%: the teacher)."""
    lines = [
        "| deferred to the teacher | answered by | accuracy | USD per 1,000 items |",
        "|---|---|---|---|",
    ]
    for p in rows:
        who = student if p.deferred == 0 else teacher if p.deferred == p.n else "cascade"
        lines.append(
            f"| {p.defer_rate:.0%} ({p.deferred}/{p.n}) | {who} | {p.accuracy:.3f} | {p.usd_per_1000:.4f} |"
        )
    return "\n".join(lines)


def teacher_usd_per_1000(cost: dict[str, Any], teachers: Sequence[str]) -> float | None:
    """The teacher's dollars per 1,000 items from evaluate's cost summary: the API spend in the ledger of
    each of ``teachers``, plus the CPU cost of its local ones (None when none is known)."""
    api = cost.get("api_teachers") or {}
    local = cost.get("local_teachers_usd_per_1000") or {}
    known = [
        api[name]["usd_per_1000"]
        for name in teachers
        if (api.get(name) or {}).get("usd_per_1000") is not None
    ]
    known += [local[name] for name in teachers if local.get(name) is not None]
    return float(sum(known)) if known else None


def selective_summary(
    confidence: Sequence[float | None],
    student: Sequence[str | None],
    teacher: Sequence[str | None],
    gold: Sequence[str],
    student_usd_per_1000: float | None,
    teacher_cost_per_1000: float | None,
) -> dict[str, Any] | None:
    """evaluate's selective-prediction figures: the student's coverage-accuracy curve (every gold item) and
    the cascade table on the gold items both student and teacher labelled (None: no student)."""
    scored = [i for i, c in enumerate(confidence) if c is not None and student[i] is not None]
    if not scored:
        return None
    conf = np.array([confidence[i] for i in scored], dtype=float)
    right = np.array([student[i] == gold[i] for i in scored])
    summary: dict[str, Any] = {"coverage_accuracy": coverage_accuracy(conf, right), "cascade": None}
    both = [i for i in scored if teacher[i] is not None]
    if both:
        points = cascade_points(
            [confidence[i] for i in both],  # type: ignore[misc]
            [student[i] == gold[i] for i in both],
            [teacher[i] == gold[i] for i in both],
            (teacher_cost_per_1000 or 0.0) / 1000.0,
            (student_usd_per_1000 or 0.0) / 1000.0,
        )
        summary["cascade"] = {
            "n": len(both),
            "costs_known": teacher_cost_per_1000 is not None,
            "table": [p.to_json() for p in cascade_table(points)],
        }
    return summary


def selective_markdown(summary: dict[str, Any] | None) -> list[str]:
    """The report's selective-prediction section (coverage-accuracy and the cascade table)."""
    if not summary:
        return []
    lines = [
        "### Selective prediction and the cascade",
        "",
        "Accuracy of the student's most confident share of the gold items:",
        "",
        "| coverage | items | accuracy | lowest confidence kept |",
        "|---|---|---|---|",
        *[
            f"| {r['coverage']:.0%} | {r['n']} | {r['accuracy']:.3f} | {r['threshold']:.3f} |"
            for r in summary["coverage_accuracy"]
        ],
        "",
    ]
    cascade = summary.get("cascade")
    if cascade:
        rows = [CascadePoint(**{k: v for k, v in r.items() if k != "defer_rate"}) for r in cascade["table"]]
        lines += [
            f"Deferring the student's least confident items to the teacher (the {cascade['n']} gold items "
            "both labelled; `predict --defer-to`)"
            + ("" if cascade["costs_known"] else "; the teacher's cost is unknown (no spend in the ledger)")
            + ":",
            "",
            cascade_markdown(rows),
            "",
        ]
    return lines
