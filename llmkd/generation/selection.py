"""Which pool items a round of active distillation sends to the teacher: pure functions of arrays.

Embeddings are L2-normalised rows, so the Euclidean distance between two of them orders pairs as the
cosine distance does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Strategy = Literal["mix", "uncertainty", "diversity", "random"]
STRATEGIES: tuple[Strategy, ...] = ("mix", "uncertainty", "diversity", "random")
CANDIDATES_PER_PICK = 4  # uncertain candidates per pick among which k-center keeps the picks diverse
_CHUNK = 4096


def _min_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(n,)`` squared distance of each point to its nearest centre (``inf`` without centres)."""
    out = np.full(len(points), np.inf, dtype=np.float64)
    if len(centres) == 0:
        return out
    centre_sq = (centres.astype(np.float64) ** 2).sum(axis=1)  # (m,)
    for start in range(0, len(points), _CHUNK):
        block = points[start : start + _CHUNK].astype(np.float64)  # (b, d)
        sq = (block**2).sum(axis=1, keepdims=True) + centre_sq - 2.0 * block @ centres.T  # (b, m)
        out[start : start + len(block)] = np.maximum(sq.min(axis=1), 0.0)
    return out


def k_center_greedy(
    embeddings: np.ndarray,
    k: int,
    covered: np.ndarray | None = None,
    first: int | None = None,
) -> list[int]:
    """Greedy k-center: repeatedly pick the row farthest from everything picked or ``covered`` so far.

    Args:
        embeddings: ``(n, d)`` candidate rows.
        k: How many to pick (at most ``n``).
        covered: ``(m, d)`` rows already labelled (a gold seed, earlier rounds); picks keep away from them.
        first: Row picked first when nothing is covered yet (default: the row nearest the mean).

    Returns:
        ``k`` distinct row indices in pick order.
    """
    n = len(embeddings)
    k = min(k, n)
    if k <= 0:
        return []
    dist = _min_distances(embeddings, covered if covered is not None else np.zeros((0, embeddings.shape[1])))
    picks: list[int] = []
    if not np.isfinite(dist).any():
        if first is None:
            first = int(np.argmin(((embeddings - embeddings.mean(axis=0)) ** 2).sum(axis=1)))
        picks.append(first)
        dist = _min_distances(embeddings, embeddings[[first]])
    while len(picks) < k:
        dist[picks] = -1.0
        pick = int(np.argmax(dist))
        picks.append(pick)
        dist = np.minimum(dist, _min_distances(embeddings, embeddings[[pick]]))
    return picks


def margins(probs: np.ndarray) -> np.ndarray:
    """``(n,)`` top-1 minus top-2 probability: small means unsure."""
    if probs.shape[1] < 2:
        return np.ones(len(probs))
    top = np.sort(probs, axis=1)
    return top[:, -1] - top[:, -2]


def entropy(probs: np.ndarray) -> np.ndarray:
    """``(n,)`` Shannon entropy in nats: large means unsure."""
    clipped = np.clip(probs, 1e-12, 1.0)
    return -(clipped * np.log(clipped)).sum(axis=1)


def most_uncertain(probs: np.ndarray, k: int) -> list[int]:
    """The ``k`` rows of smallest margin (ties: larger entropy first, then row order)."""
    order = np.lexsort((-entropy(probs), margins(probs)))
    return [int(i) for i in order[:k]]


def uncertain_and_diverse(
    probs: np.ndarray, embeddings: np.ndarray, k: int, per_pick: int = CANDIDATES_PER_PICK
) -> list[int]:
    """``k`` rows among the ``per_pick * k`` most uncertain, spread out by k-center among themselves
    (the most uncertain row first), so a round does not spend its budget on near-copies of one hard case."""
    candidates = most_uncertain(probs, min(len(probs), max(k, per_pick * k)))
    chosen = k_center_greedy(embeddings[candidates], k, first=0)
    return [candidates[i] for i in chosen]


def select_round(
    strategy: Strategy,
    round_index: int,
    k: int,
    embeddings: np.ndarray,
    covered: np.ndarray,
    probs: np.ndarray | None,
    rng: np.random.Generator,
    explore: float = 0.0,
) -> list[int]:
    """The ``k`` pool rows (indices into ``embeddings``, the items not labelled yet) a round sends.

    ``probs`` is the quick student's ``(n, n_labels)`` view of those rows, None when there is no student
    yet (nothing labelled, or a single label seen): uncertainty-based strategies then fall back on k-center
    (``mix``) or a random draw (``uncertainty``). ``explore``: the share of a round the quick student
    picks for that is drawn at random from the rest instead (``uncertainty`` and ``mix`` only).
    """
    k = min(k, len(embeddings))
    drawn = round(k * explore) if probs is not None and strategy in ("uncertainty", "mix") else 0
    if drawn:
        picked = select_round(strategy, round_index, k - drawn, embeddings, covered, probs, rng)
        rest = np.setdiff1d(np.arange(len(embeddings)), np.asarray(picked, dtype=int))
        return picked + sorted(int(i) for i in rng.choice(rest, size=drawn, replace=False))
    if strategy == "random":
        return sorted(int(i) for i in rng.choice(len(embeddings), size=k, replace=False))
    if strategy == "diversity" or (strategy == "mix" and (round_index == 0 or probs is None)):
        first = int(rng.integers(len(embeddings))) if len(embeddings) else None
        return k_center_greedy(embeddings, k, covered=covered, first=first)
    if probs is None:
        return sorted(int(i) for i in rng.choice(len(embeddings), size=k, replace=False))
    if strategy == "uncertainty":
        return most_uncertain(probs, k)
    return uncertain_and_diverse(probs, embeddings, k)


def round_sizes(budget: int, rounds: int) -> list[int]:
    """Split ``budget`` teacher calls into ``rounds`` near-equal rounds (earlier rounds take the remainder)."""
    rounds = max(1, min(rounds, budget)) if budget > 0 else 1
    base, extra = divmod(budget, rounds)
    return [base + (i < extra) for i in range(rounds)]
