"""Active distillation: spend ``--budget`` teacher calls in ``--rounds`` rounds on the pool items a quick
student is least sure of.

After each round a :class:`~llmkd.students.probe.ProbeStudent` (logistic regression on the frozen student
encoder's embeddings) trains on every item labelled so far (the gold seed, with its gold labels, included) and
the next round sends the items it is least sure of. ``--select`` (see :mod:`llmkd.generation.selection`):
``uncertainty`` (the default: round 0 random, or by the seed's student when there is a gold seed; then the
smallest margins), ``mix`` (round 0 diverse by k-center on the embeddings, away from the seed; then the least
sure kept diverse by k-center among themselves), ``diversity`` (k-center every round), ``random``. On the
dev splits of ``bench/active`` plain ``uncertainty`` beat ``mix``: k-center starts from outlying texts.
``--explore SHARE`` draws that share of each round the quick student picks at random instead.

The budget counts pool items sent to the teacher (each item costs ``teachers x samples`` requests); the
gold seed's audit calls are not counted. Everything lives in ``RUN/active/``: ``embeddings.npy`` (the pool's
embeddings, computed once), ``round-NN.json`` (the round's picks, written before any of them is sent, then
its quick student's figures) and ``probe-NN.npz`` (that student's weights). A killed run resumes at the
round it stopped in: the stored picks are sent again and the ledger answers the ones already paid for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkd.errors import BudgetExceeded, ConfigError, warn
from llmkd.generation.config import GenerateConfig
from llmkd.generation.ensemble import combine_samples, combine_teachers
from llmkd.generation.labelling import label_with_teacher, samples_for, set_budget
from llmkd.generation.plan import latest_output, plan_requests
from llmkd.generation.selection import Strategy, margins, round_sizes, select_round
from llmkd.io.records import Item
from llmkd.run.files import write_json
from llmkd.run.ledger import RunLedger
from llmkd.teachers import Teacher

if TYPE_CHECKING:  # the probe needs torch: imported where a --budget run uses it, not by every generate
    from llmkd.students.probe import ProbeStudent

ACTIVE_DIR = "active"


def round_path(folder: Path, index: int) -> Path:
    return folder / f"round-{index:02d}.json"


def probe_path(folder: Path, index: int) -> Path:
    return folder / f"probe-{index:02d}.npz"


def read_rounds(run_dir: Path) -> list[dict[str, Any]]:
    """Every recorded round of ``RUN/active/``, in order (empty for a run without active selection)."""
    folder = run_dir / ACTIVE_DIR
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("round-*.json"))]


def _texts_digest(texts: Sequence[str], student: str) -> str:
    return hashlib.sha256(json.dumps([student, list(texts)]).encode()).hexdigest()


def store_embeddings(
    folder: Path, texts: Sequence[str], student: str, name: str, vectors: np.ndarray
) -> None:
    """Keep ``vectors`` (the embeddings of ``texts``) as ``folder/NAME.npy`` for :func:`cached_embeddings`."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp.npy"
    np.save(tmp, vectors)
    tmp.replace(folder / f"{name}.npy")
    meta = {"student": student, "items": len(texts), "sha256": _texts_digest(texts, student)}
    write_json(folder / f"{name}.json", meta)


def cached_embeddings(folder: Path, texts: Sequence[str], student: str, name: str) -> np.ndarray:
    """Embeddings of ``texts``, stored in ``folder/NAME.npy`` and reused while texts and student match."""
    array, meta = folder / f"{name}.npy", folder / f"{name}.json"
    fresh = meta.is_file() and json.loads(meta.read_text())["sha256"] == _texts_digest(texts, student)
    if fresh and array.is_file():
        return np.load(array)
    from llmkd.students.probe import embed

    vectors = embed(texts, student, progress=len(texts) > 256)
    store_embeddings(folder, texts, student, name, vectors)
    return vectors


def choose_picks(
    strategy: Strategy,
    round_index: int,
    k: int,
    pool: np.ndarray,
    labelled: Sequence[int],
    seed: np.ndarray,
    student: ProbeStudent | None,
    rng: np.random.Generator,
    explore: float = 0.0,
) -> list[int]:
    """The ``k`` pool rows (indices into ``pool``) round ``round_index`` sends, among those not in ``labelled``.

    ``seed``: ``(m, d)`` embeddings of the gold seed (covered like labelled items); ``student``: the quick
    student trained on everything labelled so far (None before any label); ``explore``: see
    :func:`~llmkd.generation.selection.select_round`.
    """
    unlabelled = np.setdiff1d(np.arange(len(pool)), np.asarray(labelled, dtype=int))
    covered = np.vstack([pool[list(labelled)], seed]) if len(labelled) else seed
    probs = student.probabilities(pool[unlabelled]) if student is not None else None
    local = select_round(strategy, round_index, k, pool[unlabelled], covered, probs, rng, explore)
    return [int(unlabelled[i]) for i in local]


@dataclass
class ActiveSettings:
    """What the round loop needs from generate's flags."""

    budget: int
    rounds: int
    strategy: Strategy
    student: str
    seed: int = 0
    explore: float = 0.0
    samples: dict[str, int] = field(default_factory=dict)  # per teacher name
    max_resends: int = 2
    batch: bool = False
    batch_poll_s: float = 30.0
    max_cost_usd: float | None = None


class ActiveRun:
    """The round loop over one pool; see the module docstring."""

    def __init__(
        self,
        settings: ActiveSettings,
        labels: Sequence[str],
        teachers: Sequence[Teacher],
        run_dir: Path,
        ledger: RunLedger,
    ) -> None:
        self.settings, self.labels, self.teachers, self.ledger = settings, list(labels), teachers, ledger
        self.folder = run_dir / ACTIVE_DIR

    def teacher_labels(self, sent: Sequence[Item]) -> list[str | None]:
        """The aggregate teacher label of each item (None: not answered yet, or invalid)."""
        views: list[dict[str, dict[str, Any]]] = [{} for _ in sent]
        for teacher in self.teachers:
            samples = self.settings.samples.get(teacher.name, 1)
            chains = plan_requests(teacher, sent, samples, self.ledger, self.settings.max_resends).chains
            for view, item in zip(views, sent, strict=True):
                outputs = [latest_output(self.ledger, chain) for chain in chains.get(item.id, [])]
                view[teacher.name] = combine_samples([o for o in outputs if o is not None], self.labels)
        return [combine_teachers(view, self.labels)["label"] for view in views]

    def send(self, sent: Sequence[Item]) -> None:
        """Every teacher labels ``sent`` (one batch job per teacher with ``--batch``); cached answers are free."""
        s = self.settings
        for teacher in self.teachers:
            set_budget(teacher, s.max_cost_usd, self.ledger)
            label_with_teacher(
                teacher,
                sent,
                s.samples.get(teacher.name, 1),
                self.ledger,
                max_resends=s.max_resends,
                batch=s.batch,
                batch_poll_s=s.batch_poll_s,
            )

    def run(self, items: Sequence[Item], sent: Sequence[Item], seed_items: Sequence[Item]) -> list[int]:
        """Run (or resume) every round; returns the pool indices sent to the teacher, in pool order.

        ``items`` are embedded (the student sees the original text); ``sent`` (the same items, redacted when
        ``--redact``) go to the teachers. A ``--max-cost-usd`` stop ends the loop early, its round's picks
        included, so the stage marks the unanswered ones pending.
        """
        s = self.settings
        pool = cached_embeddings(self.folder, [i.text for i in items], s.student, "embeddings")
        seed = (
            cached_embeddings(self.folder, [i.text for i in seed_items], s.student, "seed-embeddings")
            if seed_items
            else np.zeros((0, pool.shape[1]), dtype=pool.dtype)
        )
        seed_targets = [str(i.label) for i in seed_items]
        position = {item.id: n for n, item in enumerate(items)}
        chosen: list[int] = []
        known: dict[int, str] = {}
        student = self._fit(pool, known, seed, seed_targets)
        sizes = round_sizes(min(s.budget, len(items)), s.rounds)
        for index, size in enumerate(sizes):
            record = self._picks(index, size, pool, chosen, seed, student, position)
            picks = [position[i] for i in record["chosen"]]
            previous = student
            chosen += picks
            try:
                self.send([sent[i] for i in picks])
            except BudgetExceeded:
                return sorted(chosen)
            answers = self.teacher_labels([sent[i] for i in picks])
            known.update({i: a for i, a in zip(picks, answers, strict=True) if a is not None})
            student = self._fit(pool, known, seed, seed_targets)
            if record["status"] == "done":  # a resumed run: this round's figures are already stored
                continue
            if student is not None:
                student.save(probe_path(self.folder, index))
            record.update(self._figures(index, pool, chosen, known, picks, answers, previous, student))
            write_json(round_path(self.folder, index), record)
        return sorted(chosen)

    def _picks(
        self,
        index: int,
        size: int,
        pool: np.ndarray,
        chosen: list[int],
        seed: np.ndarray,
        student: ProbeStudent | None,
        position: dict[str, int],
    ) -> dict[str, Any]:
        """This round's record: the stored one on a resume, else new picks, stored before any is sent."""
        path = round_path(self.folder, index)
        if path.is_file():
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            missing = [i for i in record["chosen"] if i not in position]
            if missing:
                raise ConfigError(f"{path} names item {missing[0]!r}, not in --input: use a new --run")
            if len(record["chosen"]) != size:
                warn(f"{path} holds {len(record['chosen'])} picks (the plan now says {size}): keeping them")
            return record
        s = self.settings
        size = min(size, s.budget - len(chosen))
        rng = np.random.default_rng([s.seed, index])
        picks = choose_picks(s.strategy, index, size, pool, chosen, seed, student, rng, s.explore)
        ids = list(position)
        record = {
            "round": index,
            "strategy": s.strategy,
            "explore": s.explore,
            "student": s.student,
            "selected_by": "quick student" if student is not None else "embeddings only",
            "calls_before": len(chosen),
            "size": len(picks),
            "status": "sending",
            "chosen": [ids[i] for i in picks],
        }
        if student is not None:
            record["chosen_margins"] = [
                round(float(m), 4) for m in margins(student.probabilities(pool[picks]))
            ]
        write_json(path, record)
        return record

    def _fit(
        self, pool: np.ndarray, known: dict[int, str], seed: np.ndarray, seed_targets: list[str]
    ) -> ProbeStudent | None:
        """The quick student on every label so far (seed included); None while fewer than two labels show."""
        rows = list(known)
        targets = [known[i] for i in rows] + seed_targets
        if len(set(targets)) < 2:
            return None
        from llmkd.students.probe import ProbeStudent

        return ProbeStudent.fit(np.vstack([pool[rows], seed]), targets, self.labels)

    def _figures(
        self,
        index: int,
        pool: np.ndarray,
        chosen: list[int],
        known: dict[int, str],
        picks: list[int],
        answers: list[str | None],
        previous: ProbeStudent | None,
        student: ProbeStudent | None,
    ) -> dict[str, Any]:
        """The round's quick-student figures, for ``round-NN.json``."""
        counts = {label: sum(a == label for a in known.values()) for label in self.labels}
        figures: dict[str, Any] = {
            "status": "done",
            "calls": len(chosen),
            "answered": sum(a is not None for a in answers),
            "train_items": len(known),
            "train_label_counts": counts,
            "cost_usd": round(self.ledger.total_cost(), 6),
            "probe": probe_path(self.folder, index).name if student is not None else None,
        }
        answered = [(p, a) for p, a in zip(picks, answers, strict=True) if a is not None]
        if previous is not None and answered:
            guesses = previous.predict(pool[[p for p, _ in answered]])
            figures["previous_student_agreement"] = round(
                float(np.mean([g == a for g, (_, a) in zip(guesses, answered, strict=True)])), 4
            )
        rest = np.setdiff1d(np.arange(len(pool)), np.asarray(chosen, dtype=int))
        if student is not None and len(rest):
            figures["unlabelled_mean_margin"] = round(
                float(margins(student.probabilities(pool[rest])).mean()), 4
            )
        return figures


def _settings(config: GenerateConfig, teachers: Sequence[Teacher]) -> ActiveSettings:
    if config.budget is None or config.budget < 1:
        raise ConfigError("--budget must be at least 1 (teacher calls: pool items sent to the teacher)")
    if config.rounds < 1:
        raise ConfigError("--rounds must be at least 1")
    if not 0.0 <= config.explore <= 1.0:
        raise ConfigError(f"--explore must be between 0 and 1, got {config.explore}")
    if config.augment:
        raise ConfigError("--augment and --budget do not mix: augmented items would bypass the budget")
    return ActiveSettings(
        budget=config.budget,
        rounds=config.rounds,
        strategy=config.select,
        student=config.select_student,
        seed=config.select_seed,
        explore=config.explore,
        samples={
            t.name: samples_for(s, config.samples) for s, t in zip(config.teacher, teachers, strict=True)
        },
        max_resends=config.max_resends,
        batch=config.batch,
        batch_poll_s=config.batch_poll_s,
        max_cost_usd=config.max_cost_usd,
    )


def label_actively(
    config: GenerateConfig,
    labels: Sequence[str],
    teachers: Sequence[Teacher],
    items: list[Item],
    sent: list[Item],
    seed_items: Sequence[Item],
    run_dir: Path,
    ledger: RunLedger,
) -> tuple[list[Item], list[Item]]:
    """``generate --budget``: run the rounds; returns the items sent to the teacher and their sent form,
    which the stage then writes to labels.jsonl like any run (every answer is already in the ledger)."""
    settings = _settings(config, teachers)
    chosen = ActiveRun(settings, labels, teachers, run_dir, ledger).run(items, sent, seed_items)
    return [items[i] for i in chosen], [sent[i] for i in chosen]


def active_plan(config: GenerateConfig, teachers: Sequence[Teacher], sent: list[Item]) -> list[Item]:
    """``generate --budget --dry-run``: print the rounds; returns a seeded random sample of the budget's size
    (which items the rounds pick is known only once the teacher answers), for the cost estimate."""
    settings = _settings(config, teachers)
    budget = min(settings.budget, len(sent))
    sizes = round_sizes(budget, settings.rounds)
    explore = (
        f", {settings.explore:.0%} of each round the probe picks drawn at random" if settings.explore else ""
    )
    print(
        f"active selection: {budget} of {len(sent)} items ({budget / max(1, len(sent)):.1%}) in {len(sizes)} "
        f"rounds of {', '.join(map(str, sizes))} (--select {settings.strategy}{explore}; embeddings of "
        f"{settings.student}; a quick probe student refitted after each round). The estimate below prices "
        "a random sample of that size."
    )
    rng = np.random.default_rng(settings.seed)
    return [sent[i] for i in sorted(rng.choice(len(sent), size=budget, replace=False))]
