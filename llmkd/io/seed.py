"""The gold seed: a few hundred of the user's own texts labelled by hand, kept apart from every test set."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from llmkd.errors import ConfigError, InputError
from llmkd.io.readers import InputColumns, InputSpec, read_items
from llmkd.io.records import Item

SEED_FILE = "gold_seed.jsonl"


def read_gold_seed(path: str, columns: InputColumns, labels: Sequence[str]) -> list[Item]:
    """The seed's items; every one must carry a gold label (``--label-column``, default ``label``).

    Raises:
        InputError: an item has no label (the message names the file and line), or the seed is empty.
    """
    spec = InputSpec.of(path, columns, label_column=columns.label_column or "label", limit=None)
    items = read_items(spec, labels=labels)
    for item in items:
        if item.label is None:
            raise InputError(
                f"no gold label in column {spec.label_column!r} (every seed item needs one)", path, item.line
            )
    return items


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def check_disjoint(seed_texts: Iterable[str], other_texts: Iterable[str], other: str) -> None:
    """Refuse a seed that shares texts with an evaluation file: the scores would flatter the student.

    Args:
        seed_texts: The gold seed's texts.
        other_texts: The texts of the evaluation file.
        other: How to name that file in the message (e.g. ``--gold test.csv``).

    Raises:
        ConfigError: one line naming the count and one shared text.
    """
    seed = {_key(t): t for t in seed_texts}
    shared = [t for t in other_texts if _key(t) in seed]
    if shared:
        example = shared[0] if len(shared[0]) <= 80 else shared[0][:77] + "..."
        raise ConfigError(
            f"the gold seed and {other} share {len(shared)} text(s), e.g. {example!r}: a seed item in an "
            "evaluation set flatters every score; remove them from one of the two files"
        )


def check_run_seed(run_dir: Path, other_texts: Iterable[str], other: str) -> None:
    """:func:`check_disjoint` against the run's gold seed (``RUN/gold_seed.jsonl``), when it has one."""
    path = run_dir / SEED_FILE
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        check_disjoint((str(json.loads(line)["text"]) for line in lines if line.strip()), other_texts, other)
