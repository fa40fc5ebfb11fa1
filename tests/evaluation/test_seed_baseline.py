"""The seed-only baseline: a probe on frozen encoder embeddings, scored out of fold."""

from __future__ import annotations

import numpy as np
import pytest

from llmkd.evaluation.seed_baseline import embed, seed_only_cv

LABELS = ["positive", "negative", "neutral"]


def test_probe_learns_separable_embeddings_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 4
    gold = [LABELS[i % 3] for i in range(60)]
    x = np.stack([centres[i % 3] + rng.normal(size=8) * 0.5 for i in range(60)])
    result = seed_only_cv(x, gold, LABELS)
    assert result["folds"] == 5
    assert result["accuracy"] > 0.95
    noise = seed_only_cv(rng.normal(size=(60, 8)), gold, LABELS)
    assert noise["accuracy"] < 0.6


def test_one_class_seed_falls_back_to_the_majority() -> None:
    result = seed_only_cv(np.zeros((4, 3)), ["neutral"] * 4, LABELS)
    assert result["accuracy"] == 1.0
    assert result["per_class"]["neutral"]["support"] == 4


@pytest.mark.integration
def test_embed_gives_normalised_vectors_from_the_embedded_student() -> None:
    vectors = embed(["Profit rose.", "Sales fell sharply.", "The meeting is on Monday."])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] < 0.999
