"""The student-to-teacher cascade: which items the student defers, and the teacher answering them.

The teacher goes through generate's own labelling path (:func:`~llmkd.generation.labelling.label_with_teacher`):
the run's privacy mode is checked before it is built, texts are redacted when the run redacts, every
answer is cached in ``RUN/ledger.sqlite`` (a rerun pays for nothing twice), ``--max-cost-usd`` stops it,
and its rate limits and retries apply.

With ``--defer-fraction F`` a streaming run cannot rank the whole file before answering, so each chunk
defers its own ``ceil(F * rows)`` least confident items; for one threshold over the whole file, pick it
on a labelled file with ``--calibrate`` (or give ``--defer-below``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmkd.generation.ensemble import combine_samples
from llmkd.generation.labelling import fit_local_context, label_with_teacher, samples_for
from llmkd.generation.plan import latest_output
from llmkd.io.records import Item, TeacherOutput
from llmkd.io.task import Task
from llmkd.privacy.policy import check_privacy
from llmkd.privacy.redact import redact_items
from llmkd.run.ledger import RunLedger
from llmkd.teachers import build_teacher
from llmkd.teachers.capabilities import SpendingTeacher
from llmkd.teachers.options import options_for, teacher_options


def deferred_mask(confidence: np.ndarray, below: float | None, fraction: float | None) -> np.ndarray:
    """Which items go to the teacher: confidence under ``below``, or the ``ceil(fraction * n)`` least
    confident (ties: file order); all False when neither is given."""
    mask = np.zeros(confidence.shape[0], dtype=bool)
    if below is not None:
        mask = confidence < below
    elif fraction is not None:
        k = min(confidence.shape[0], math.ceil(fraction * confidence.shape[0] - 1e-9))
        mask[np.argsort(confidence, kind="stable")[:k]] = True
    return mask


@dataclass(frozen=True)
class TeacherAnswer:
    """The teacher's answer to one item (``label`` None: no valid answer) and what its calls cost."""

    label: str | None
    probs: dict[str, float] | None
    cost_usd: float


class DeferralTeacher:
    """One teacher spec, built once, answering deferred items as generate would."""

    def __init__(self, run_dir: Path, spec: str, task: Task, settings: Mapping[str, Any]) -> None:
        """
        Args:
            settings: generate's settings (the run's ``generate_config.json`` with predict's overrides):
                privacy, base_url, redact, samples, max_resends and the teacher options.

        Raises:
            ConfigError, TeacherError: the privacy mode refuses the teacher, or it cannot be built.
        """
        check_privacy([spec], settings.get("base_url"), str(settings.get("privacy") or "off"))
        self.run_dir, self.spec, self.task = run_dir, spec, task
        shared = teacher_options(settings)
        self.max_new_tokens = shared.max_new_tokens
        self.teacher = build_teacher(spec, task, options_for(spec, settings, shared))
        self.name = self.teacher.name
        self.samples = samples_for(spec, int(settings.get("samples") or 1))
        self.max_resends = int(settings.get("max_resends", 2))
        self.redact = bool(settings.get("redact"))

    def limit_spend(self, usd: float) -> None:
        """The most this teacher may spend from now on (``--max-cost-usd``; cached answers are free)."""
        if isinstance(self.teacher, SpendingTeacher):
            self.teacher.budget_usd = usd

    def answer(self, items: Sequence[Item]) -> tuple[list[TeacherAnswer], float]:
        """The teacher's answers to ``items`` (from the ledger where it has them) and the dollars spent now.

        Raises:
            BudgetExceeded: ``--max-cost-usd`` stopped the teacher (its answers so far are in the ledger).
        """
        if not items:
            return [], 0.0
        sent = redact_items(items, self.run_dir) if self.redact else list(items)
        sent = fit_local_context(sent, [self.teacher], self.max_new_tokens)
        with RunLedger(self.run_dir / "ledger.sqlite") as ledger:
            chains, stats = label_with_teacher(
                self.teacher, sent, self.samples, ledger, max_resends=self.max_resends
            )
            answers = [self._answer(ledger, chains.get(item.id, [])) for item in sent]
        return answers, stats.cost_usd

    def _answer(self, ledger: RunLedger, item_chains: list[tuple[str, ...]]) -> TeacherAnswer:
        outputs: list[TeacherOutput] = [o for o in (latest_output(ledger, c) for c in item_chains) if o]
        view = combine_samples(outputs, self.task.labels)
        cost = 0.0
        for chain in item_chains:
            for key in chain:
                stored = ledger.get(key)
                cost += float(stored.cost_usd or 0.0) if stored is not None else 0.0
        return TeacherAnswer(view["label"], view["probs"], cost)

    def close(self) -> None:
        self.teacher.close()
