"""The gold seed in generate: every teacher labels it first; corrections and ensemble weights are learned on it.

Per teacher, :func:`llmkd.generation.correction.choose_correction` picks (by cross-validation on the seed)
calibration or a label-noise transition correction of its soft labels, or none. The ensemble then weighs
each teacher by how far its corrected held-out accuracy lies above always answering the seed's majority
label. Without a seed nothing changes: every teacher counts the same and its labels stay as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmkd.generation.correction import METHODS, Correction, Method, choose_correction
from llmkd.generation.plan import latest_output
from llmkd.io.records import Item, teacher_view_matrix
from llmkd.run.ledger import RunLedger

MIN_WEIGHT = 0.05  # a teacher no better than the majority label still counts a little


@dataclass
class SeedCorrections:
    """What the seed taught: a correction and a weight per teacher, and the held-out scores behind them."""

    corrections: dict[str, Correction] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    held_out: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "teachers": {
                name: {
                    "method": c.method,
                    "params": c.params,
                    "weight": self.weights.get(name, 1.0),
                    "held_out": self.held_out.get(name, {}),
                }
                for name, c in self.corrections.items()
            }
        }

    def apply(self, views: dict[str, dict[str, Any]], labels: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each teacher's view with corrected ``probs`` and ``label`` (the raw ones kept as ``*_raw``)."""
        out = {}
        for name, view in views.items():
            correction = self.corrections.get(name)
            if correction is None or correction.method == "none" or view.get("status") != "ok":
                out[name] = view
                continue
            probs, _ = teacher_view_matrix([{"teachers": {name: view}}], name, labels)
            fixed = correction.apply(probs)[0]
            out[name] = {
                **view,
                "probs_raw": view.get("probs"),
                "label_raw": view.get("label"),
                "probs": {label: float(p) for label, p in zip(labels, fixed, strict=True)},
                "label": labels[int(fixed.argmax())],
                "correction": correction.method,
            }
        return out


def learn_corrections(
    records: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    methods: tuple[Method, ...] = METHODS,
    seed: int = 0,
) -> SeedCorrections:
    """Choose each teacher's correction on the seed ``records`` (their ``gold`` is the truth) and its
    ensemble weight: corrected held-out accuracy above the majority label's, at least ``MIN_WEIGHT``."""
    gold = np.array([list(labels).index(r["gold"]) for r in records])
    majority = Counter(gold.tolist()).most_common(1)[0][1] / len(gold)
    teachers = sorted({name for r in records for name in (r.get("teachers") or {})})
    learned = SeedCorrections()
    for name in teachers:
        probs, _ = teacher_view_matrix(records, name, labels)
        choice = choose_correction(probs, gold, methods, seed=seed)
        learned.corrections[name] = choice.correction
        learned.held_out[name] = choice.held_out
        accuracy = choice.held_out[choice.correction.method]["accuracy"]
        learned.weights[name] = max(accuracy - majority, MIN_WEIGHT)
    return learned


def seed_cost_per_1000(
    ledger: RunLedger, chains: Mapping[str, Sequence[tuple[str, ...]]], n_items: int
) -> float:
    """Dollars per 1,000 items from what labelling the seed cost (the stored answers' own costs)."""
    total = 0.0
    for item_chains in chains.values():
        for chain in item_chains:
            output = latest_output(ledger, chain)
            total += output.cost_usd if output is not None else 0.0
    return 1000.0 * total / n_items if n_items else 0.0


def seed_rows(items: Sequence[Item], existing: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """``RUN/gold_seed.jsonl``: what finetune trains and selects on. Corrections imported by
    ``llmkd review import`` (``source: review``) stay unless the seed file has the same text."""
    rows: list[dict[str, Any]] = [{"id": item.id, "text": item.text, "label": item.label} for item in items]
    texts = {" ".join(item.text.split()) for item in items}
    reviewed = [
        r for r in existing if r.get("source") == "review" and " ".join(str(r["text"]).split()) not in texts
    ]
    return rows + [dict(r) for r in reviewed]
