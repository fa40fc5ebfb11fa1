"""Selection functions of active distillation, on hand-made arrays."""

from __future__ import annotations

import numpy as np

from llmkd.generation.selection import (
    k_center_greedy,
    margins,
    most_uncertain,
    round_sizes,
    select_round,
    uncertain_and_diverse,
)


def clusters(per: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters of ``per`` points around far-apart unit vectors; returns (points, cluster ids)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * 10
    points = np.vstack([c + rng.normal(0, 0.01, (per, 8)) for c in centres])
    return points, np.repeat(np.arange(3), per)


def test_k_center_covers_every_cluster() -> None:
    points, cluster = clusters()
    picks = k_center_greedy(points, 3, first=7)
    assert picks[0] == 7 and len(set(picks)) == 3
    assert sorted(cluster[picks]) == [0, 1, 2]


def test_k_center_keeps_away_from_covered_points() -> None:
    points, cluster = clusters()
    picks = k_center_greedy(points, 2, covered=points[cluster == 1][:1])
    assert sorted(cluster[picks]) == [0, 2]


def test_k_center_never_picks_twice_and_caps_at_n() -> None:
    points, _ = clusters(per=2)
    picks = k_center_greedy(points, 10)
    assert sorted(picks) == list(range(6))


def test_uncertainty_picks_the_smallest_margins() -> None:
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1], [0.34, 0.33, 0.33]]
    )
    assert np.allclose(margins(probs), [0.85, 0.05, 0.0, 0.5, 0.01])
    assert most_uncertain(probs, 3) == [2, 4, 1]


def test_uncertain_picks_are_diverse_among_themselves() -> None:
    points, cluster = clusters(per=4)
    # Cluster 0 is the most uncertain of all, cluster 1 next, cluster 2 sure.
    unsure = {0: 0.01, 1: 0.05, 2: 0.9}
    probs = np.array([[0.5 + unsure[c] / 2, 0.5 - unsure[c] / 2] for c in cluster])
    plain = most_uncertain(probs, 2)
    assert set(cluster[plain]) == {0}  # pure uncertainty spends both calls on one cluster
    mixed = uncertain_and_diverse(probs, points, 2, per_pick=4)
    assert sorted(cluster[mixed]) == [0, 1] and cluster[mixed[0]] == 0


def test_select_round_strategies() -> None:
    points, cluster = clusters()
    rng = np.random.default_rng(0)
    probs = np.tile([0.9, 0.1], (len(points), 1))
    probs[3] = [0.5, 0.5]
    first = select_round("mix", 0, 3, points, points[:0], probs, rng)
    assert sorted(cluster[first]) == [0, 1, 2]  # round 0 of mix is diverse, whatever the student says
    assert select_round("uncertainty", 1, 1, points, points[:0], probs, rng) == [3]
    assert select_round("mix", 1, 1, points, points[:0], probs, rng) == [3]
    drawn = select_round("random", 1, 5, points, points[:0], probs, rng)
    assert len(set(drawn)) == 5 and all(0 <= i < len(points) for i in drawn)
    assert len(select_round("uncertainty", 0, 4, points, points[:0], None, rng)) == 4


def test_round_sizes_spend_the_budget_exactly() -> None:
    for budget, rounds in [(10, 3), (7, 7), (5, 9), (1000, 12), (1, 1)]:
        sizes = round_sizes(budget, rounds)
        assert sum(sizes) == budget and max(sizes) - min(sizes) <= 1 and all(s > 0 for s in sizes)


def test_explore_draws_part_of_a_round_at_random() -> None:
    points, _ = clusters(per=10)
    probs = np.tile([0.9, 0.1], (len(points), 1))
    probs[[3, 17, 25]] = [0.5, 0.5]
    picks = select_round(
        "uncertainty", 2, 6, points, points[:0], probs, np.random.default_rng(0), explore=0.5
    )
    assert picks[:3] == [3, 17, 25]  # the student's three, then three drawn from the rest
    assert len(set(picks)) == 6 and not {3, 17, 25} & set(picks[3:])
    draws = {
        tuple(select_round("uncertainty", 2, 6, points, points[:0], probs, np.random.default_rng(s), 0.5)[3:])
        for s in range(5)
    }
    assert len(draws) > 1
    # Before a student exists, and for random/diversity, explore changes nothing.
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert select_round("mix", 0, 4, points, points[:0], None, rng_a, 0.5) == select_round(
        "mix", 0, 4, points, points[:0], None, rng_b
    )
    assert select_round("uncertainty", 2, 6, points, points[:0], probs, np.random.default_rng(0), 0.0)[
        :3
    ] == [
        3,
        17,
        25,
    ]
