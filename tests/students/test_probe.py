"""The quick probe student: fit, probabilities, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from llmkd.students.probe import PROBE_C, ProbeStudent, embed


def blobs(labels: list[str], per: int = 10) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(i * 3.0, 1.0, (per, 4)) for i in range(len(labels))])
    return x, [lab for lab in labels for _ in range(per)]


def test_probe_matches_sklearn_and_round_trips(tmp_path: Path) -> None:
    x, y = blobs(["a", "b", "c"])
    probe = ProbeStudent.fit(x, y, ["c", "a", "b"])
    reference = LogisticRegression(max_iter=2000, C=PROBE_C).fit(x, y)
    expected = reference.predict_proba(x)[:, [2, 0, 1]]  # sklearn orders classes a, b, c
    assert np.allclose(probe.probabilities(x), expected, atol=1e-6)
    probe.save(tmp_path / "p.npz")
    again = ProbeStudent.load(tmp_path / "p.npz")
    assert again.labels == ["c", "a", "b"] and again.predict(x) == probe.predict(x)


def test_two_seen_labels_of_three_give_sklearn_binary_probabilities() -> None:
    x, y = blobs(["neg", "pos"])
    probe = ProbeStudent.fit(x, y, ["pos", "neg", "neutral"])
    reference = LogisticRegression(max_iter=2000, C=PROBE_C).fit(x, y)
    probs = probe.probabilities(x)
    assert np.allclose(probs[:, [1, 0]], reference.predict_proba(x), atol=1e-6)
    assert probs[:, 2].max() < 1e-9


def test_embed_keeps_input_order(tiny_bert_dir: Path) -> None:
    texts = ["a much longer sentence about profits and losses", "short", "medium length text"]
    together = embed(texts, str(tiny_bert_dir), batch_size=2)
    alone = np.vstack([embed([t], str(tiny_bert_dir)) for t in texts])
    assert together.shape == (3, alone.shape[1]) and np.allclose(together, alone, atol=1e-5)
