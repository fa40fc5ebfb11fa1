"""Dev-split check of selection variants and self-training for ``generate --budget`` (kept out of llmkd:
none beat the default ``uncertainty`` on dev; see README "Tried, not kept").

Each variant replays the planner's rounds (12 rounds of 2.5% of the pool, seeds 0-2, teacher answers looked
up) on ``run.py prepare``'s cached embeddings and scores the quick probe at 10% and 30% of the calls on the
dev split (``--part test`` only to report, never to choose).

    python bench/active/variants.py            # -> results/variants-dev.json
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from run import LABELS, RESULTS, SEEDS, SETTINGS, environment, load
from sklearn.linear_model import LogisticRegression

from llmkd.generation.selection import entropy, margins, most_uncertain, round_sizes, uncertain_and_diverse
from llmkd.run.files import write_json
from llmkd.students.probe import PROBE_C, ProbeStudent

Picker = Callable[[np.ndarray, np.ndarray, int, np.random.Generator], list[int]]


def _random_share(share: float) -> Picker:
    def pick(probs: np.ndarray, vectors: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
        uncertain = most_uncertain(probs, k - round(k * share))
        rest = np.setdiff1d(np.arange(len(probs)), uncertain)
        return uncertain + [int(i) for i in rng.choice(rest, size=k - len(uncertain), replace=False)]

    return pick


def _balanced(probs: np.ndarray, vectors: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """Smallest margins taken in turn from each predicted class."""
    order, predicted = np.argsort(margins(probs), kind="stable"), probs.argmax(axis=1)
    queues = [[int(i) for i in order if predicted[i] == c] for c in range(probs.shape[1])]
    out: list[int] = []
    while len(out) < k and any(queues):
        for queue in queues:
            if queue and len(out) < k:
                out.append(queue.pop(0))
    return out


PICKERS: dict[str, Picker] = {
    "margin (default)": lambda p, v, k, rng: most_uncertain(p, k),
    "entropy": lambda p, v, k, rng: [int(i) for i in np.argsort(-entropy(p), kind="stable")[:k]],
    "class-balanced margin": _balanced,
    "30% random + 70% margin": _random_share(0.3),
    "50% random + 50% margin": _random_share(0.5),
    "margin, diverse among 2k": lambda p, v, k, rng: uncertain_and_diverse(p, v, k, per_pick=2),
    "margin, diverse among 3k": lambda p, v, k, rng: uncertain_and_diverse(p, v, k, per_pick=3),
    "random": lambda p, v, k, rng: sorted(int(i) for i in rng.choice(len(p), size=k, replace=False)),
}


def _schedule(n: int, early: bool) -> list[int]:
    """Rounds of 2.5% up to 30%, or (``early``) 1% + 1.5% + three rounds to 10%, then eight to 30%."""
    if not early:
        return round_sizes(round(0.30 * n), 12)
    head = [round(0.01 * n), round(0.015 * n)]
    return (
        head + round_sizes(round(0.10 * n) - sum(head), 3) + round_sizes(round(0.30 * n) - round(0.10 * n), 8)
    )


def replay(setting: str, picker: Picker, seed: int, sizes: list[int]) -> list[tuple[list[int], ProbeStudent]]:
    """(labelled pool rows, quick probe) after each round; round 0 random, as in ``generate --budget`` (the
    default picker reproduces ``results/curves.json``'s ``uncertainty`` points)."""
    rows, pool = load(setting, "pool")
    teacher = [r["teacher"] for r in rows]
    chosen: list[int] = []
    student: ProbeStudent | None = None
    out = []
    for index, size in enumerate(sizes):
        rng = np.random.default_rng([seed, index])
        rest = np.setdiff1d(np.arange(len(pool)), np.asarray(chosen, dtype=int))
        if student is None:
            local = sorted(int(i) for i in rng.choice(len(rest), size=size, replace=False))
        else:
            local = picker(student.probabilities(pool[rest]), pool[rest], size, rng)
        chosen += [int(rest[i]) for i in local]
        student = ProbeStudent.fit(pool[chosen], [teacher[i] for i in chosen], LABELS[setting])
        out.append((list(chosen), student))
    return out


def self_trained(
    setting: str, chosen: list[int], student: ProbeStudent, tau: float, weight: float
) -> tuple[LogisticRegression, int]:
    """Refit the probe on the teacher labels plus its own predictions on unsent pool rows of confidence
    >= ``tau`` at ``weight``; returns (that model, how many pseudo-labels)."""
    rows, pool = load(setting, "pool")
    rest = np.setdiff1d(np.arange(len(pool)), np.asarray(chosen, dtype=int))
    probs = student.probabilities(pool[rest])
    keep = probs.max(axis=1) >= tau
    pseudo = [student.labels[i] for i in probs.argmax(axis=1)[keep]]
    x = np.vstack([pool[chosen], pool[rest[keep]]])
    y = [rows[i]["teacher"] for i in chosen] + pseudo
    w = np.r_[np.ones(len(chosen)), np.full(int(keep.sum()), weight)]
    return LogisticRegression(max_iter=2000, C=PROBE_C).fit(x, y, sample_weight=w), int(keep.sum())


def evaluate_setting(setting: str, part: str) -> dict[str, Any]:
    """Mean ± sd over seeds of the probe's ``part`` accuracy at 10% and 30% for every variant."""
    rows, vectors = load(setting, part)
    gold = np.array([r["label"] for r in rows])
    n = len(load(setting, "pool")[0])
    scores: dict[str, dict[str, list[float]]] = {}

    def add(name: str, budget: str, value: float) -> None:
        scores.setdefault(name, {}).setdefault(budget, []).append(value)

    runs = [(name, picker, False) for name, picker in PICKERS.items()]
    runs.append(("margin, smaller early rounds", PICKERS["margin (default)"], True))
    for name, picker, early in runs:
        for seed in SEEDS:
            points = replay(setting, picker, seed, _schedule(n, early))
            for budget, share in (("10%", 0.10), ("30%", 0.30)):
                chosen, student = min(points, key=lambda p: abs(len(p[0]) - share * n))
                add(name, budget, float(np.mean(np.array(student.predict(vectors)) == gold)))
                if name != "margin (default)":
                    continue
                for tau in (0.5, 0.7, 0.9, 0.95):
                    for weight in (0.25, 0.5, 1.0):
                        model, kept = self_trained(setting, chosen, student, tau, weight)
                        label = f"margin + self-training tau={tau} w={weight}"
                        add(label, budget, float(np.mean(model.predict(vectors) == gold)))
                        add(label, f"pseudo-labels at {budget}", kept)
    return {
        name: {b: [round(float(np.mean(v)), 4), round(float(np.std(v)), 4)] for b, v in by.items()}
        for name, by in scores.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=["dev", "test"], default="dev")
    args = parser.parse_args()
    start = time.perf_counter()
    results: dict[str, Any] = {
        "settings": {
            "split": args.part,
            "rounds": "12 of 2.5% of the pool (30%); round 0 random; points at 10% and 30% of the calls",
            "seeds": list(SEEDS),
            "student": f"quick probe: logistic regression (C={PROBE_C}) on frozen MiniLM embeddings",
            "figures": "accuracy [mean, sd over seeds]",
        },
        "environment": environment(),
        "variants": {s: evaluate_setting(s, args.part) for s in SETTINGS},
    }
    results["environment"]["seconds"] = round(time.perf_counter() - start, 1)
    write_json(RESULTS / f"variants-{args.part}.json", results)


if __name__ == "__main__":
    main()
