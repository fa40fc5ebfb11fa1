"""Per-record quality scores: confidence from soft labels, agreement across samples and teachers, and
rationale–label consistency. Every function is pure and small; tests check them against hand values.

Conventions:
    * ``probs`` is a mapping ``label -> probability`` (summing to 1).
    * Entropy is in nats (natural log); :func:`normalized_entropy` divides by ``ln K`` so it lies in [0, 1].
    * ``None`` labels stand for invalid answers; they count as votes for nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from llmkd.scoring.lexicon import Lexicon, polarity_score


def top_prob(probs: Mapping[str, float]) -> float:
    """Probability of the most likely label."""
    return max(probs.values())


def margin(probs: Mapping[str, float]) -> float:
    """Top-1 minus top-2 probability (the top-1 probability when there is a single label)."""
    ranked = sorted(probs.values(), reverse=True)
    return ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)


def entropy(probs: Mapping[str, float]) -> float:
    """Shannon entropy in nats, ``-sum p ln p`` (zero probabilities contribute 0)."""
    return -sum(p * math.log(p) for p in probs.values() if p > 0)


def normalized_entropy(probs: Mapping[str, float]) -> float:
    """Entropy divided by ``ln K`` (K labels): 0 for a certain answer, 1 for a uniform one."""
    k = len(probs)
    return entropy(probs) / math.log(k) if k > 1 else 0.0


def majority_vote(labels: Sequence[str | None], order: Sequence[str] = ()) -> str | None:
    """Most frequent non-None label; ties go to the label first in ``order``, then first seen."""
    counts = Counter(label for label in labels if label is not None)
    if not counts:
        return None
    best = max(counts.values())
    tied = [label for label in counts if counts[label] == best]  # Counter keeps first-seen order
    ranked = [label for label in order if label in tied]
    return ranked[0] if ranked else tied[0]


def self_consistency(samples: Sequence[str | None]) -> float | None:
    """Fraction of one teacher's samples (invalid ones included) equal to their majority label.

    None with fewer than two samples: a single answer always agrees with itself.
    """
    if len(samples) < 2:
        return None
    winner = majority_vote(samples)
    if winner is None:
        return 0.0
    return sum(1 for s in samples if s == winner) / len(samples)


def mean_self_consistency(per_teacher: Sequence[Sequence[str | None]]) -> float | None:
    """Mean :func:`self_consistency` over the teachers that sampled at least twice (None: none did).

    Each teacher's samples are judged on their own, so two teachers with one answer each give None
    (their agreement is :func:`teacher_agreement`, not self-consistency).
    """
    scores = [s for s in (self_consistency(samples) for samples in per_teacher) if s is not None]
    return sum(scores) / len(scores) if scores else None


def teacher_agreement(teacher_labels: Sequence[str | None], label: str | None) -> float | None:
    """Fraction of teachers (invalid ones included) whose label equals ``label``.

    Returns None with fewer than two teachers (agreement is undefined) or when ``label`` is None.
    """
    if len(teacher_labels) < 2 or label is None:
        return None
    return sum(1 for t in teacher_labels if t == label) / len(teacher_labels)


def ensemble_probs(prob_list: Sequence[Mapping[str, float] | None]) -> dict[str, float] | None:
    """Probability-averaged ensemble of the teachers that gave probabilities (missing labels count as 0)."""
    given = [p for p in prob_list if p]
    if not given:
        return None
    labels = list(dict.fromkeys(label for p in given for label in p))
    mean = {label: sum(p.get(label, 0.0) for p in given) / len(given) for label in labels}
    total = sum(mean.values())
    return {label: v / total for label, v in mean.items()} if total > 0 else None


def argmax_label(probs: Mapping[str, float]) -> str:
    """The label with the highest probability (first one on ties)."""
    return max(probs, key=lambda label: probs[label])


def dawid_skene(
    votes: Sequence[Mapping[str, str | None]],
    labels: Sequence[str],
    *,
    n_iter: int = 50,
    smoothing: float = 0.01,
) -> tuple[np.ndarray, dict[str, float]]:
    """Dawid–Skene EM: each teacher has a confusion matrix; items get posterior label probabilities.

    Args:
        votes: Per item, ``teacher -> label`` (None or absent: no vote).
        labels: The label set, in order (columns of the result).
        n_iter: EM iterations (starts from the majority-vote distribution).
        smoothing: Added to every confusion count so that unseen cells stay possible.

    Returns:
        ``(posteriors, accuracy)``: ``(n_items, K)`` posteriors, and each teacher's estimated accuracy
        (the prior-weighted diagonal of its confusion matrix).
    """
    index = {label: k for k, label in enumerate(labels)}
    teachers = sorted({t for v in votes for t in v})
    n, k, m = len(votes), len(labels), len(teachers)
    obs = np.full((n, m), -1, dtype=np.int64)  # (items, teachers): label index or -1
    for i, vote in enumerate(votes):
        for j, teacher in enumerate(teachers):
            label = vote.get(teacher)
            if label in index:
                obs[i, j] = index[label]  # type: ignore[index]
    onehot = np.zeros((n, m, k))  # (items, teachers, labels)
    rows, cols = np.nonzero(obs >= 0)
    onehot[rows, cols, obs[rows, cols]] = 1.0
    post = onehot.sum(axis=1) + 1e-9  # (items, labels): majority-vote start
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(n_iter):
        prior = post.mean(axis=0)  # (labels,)
        conf = np.einsum("ik,ijl->jkl", post, onehot) + smoothing  # (teachers, true, said)
        conf /= conf.sum(axis=2, keepdims=True)
        log_post = np.log(prior) + np.einsum("ijl,jkl->ik", onehot, np.log(conf))
        log_post -= log_post.max(axis=1, keepdims=True)
        post = np.exp(log_post)
        post /= post.sum(axis=1, keepdims=True)
    prior = post.mean(axis=0)
    accuracy = {t: float(np.sum(prior * np.diag(conf[j]))) for j, t in enumerate(teachers)}
    return post, accuracy


def rationale_consistency(
    rationale: str | None, label: str | None, task_labels: Sequence[str], lexicon: Lexicon
) -> bool | None:
    """Does the rationale's lexicon polarity contradict the label? (A cheap, documented check.)

    Only contradictions count: a ``positive`` label is inconsistent when the rationale scores < 0, a
    ``negative`` label when it scores > 0, a ``neutral`` label when ``|score| >= 2``. Returns None when
    there is no rationale or label, or the task's labels do not include the lexicon's labels
    (e.g. a monetary-policy task).
    """
    if not rationale or label is None or not lexicon.applies_to_labels <= set(task_labels):
        return None
    score = polarity_score(rationale, lexicon)
    if label == "positive":
        return score >= 0
    if label == "negative":
        return score <= 0
    if label == "neutral":
        return abs(score) < 2
    return None
