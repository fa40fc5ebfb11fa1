"""Warnings for a degenerate classifier: one that answers fewer labels than the task has, or does no better
than always answering the most common label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def degenerate_predictions(
    predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str], where: str
) -> list[str]:
    """One message per problem with ``predicted`` against ``gold`` (empty when the predictions look sane).

    Args:
        predicted: The classifier's labels.
        gold: The reference labels (gold, or the teacher's on a held-out split).
        labels: The task's labels.
        where: What was scored, for the message (e.g. ``"the held-out gold seed (100 items)"``).
    """
    if not gold:
        return []
    messages = []
    said = Counter(predicted)
    never = [label for label in labels if label not in said]
    if never:
        top, count = said.most_common(1)[0]
        messages.append(
            f"on {where} the student never answers {', '.join(never)} (it says {top!r} for {count} of "
            f"{len(predicted)}): too little or too one-sided training data; add data, raise --epochs, or try "
            "--class-weights balanced"
        )
    majority, n_majority = Counter(gold).most_common(1)[0]
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
    if accuracy <= n_majority / len(gold):
        messages.append(
            f"on {where} the student's accuracy {accuracy:.3f} is no better than always answering "
            f"{majority!r} ({n_majority / len(gold):.3f})"
        )
    return messages
