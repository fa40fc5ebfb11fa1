"""The financial-tweets split the seed and active benchmarks share: Twitter Financial News Sentiment train,
shuffled with ``random.Random(0)``, 70% training side, the first 1,500 of the rest the test set."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

TFNS_LABELS = {"0": "negative", "1": "positive", "2": "neutral"}
TEST_SIZE = 1500


def tweet_sides(shared: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training side, test set) of ``shared/tfns/sent_train.csv`` as {id, text, label} rows."""
    with (shared / "tfns" / "sent_train.csv").open(encoding="utf-8", newline="") as handle:
        tweets = [
            {"id": f"tfns-{i}", "text": r["text"], "label": TFNS_LABELS[r["label"]]}
            for i, r in enumerate(csv.DictReader(handle))
        ]
    order = list(range(len(tweets)))
    random.Random(0).shuffle(order)
    cut = round(len(order) * 0.7)
    return [tweets[i] for i in order[:cut]], [tweets[i] for i in order[cut:]][:TEST_SIZE]
