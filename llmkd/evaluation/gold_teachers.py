"""Which gold texts evaluate can have the run's teachers label (those they never saw), and what it says
when it may not: an API teacher bills per request, so it needs ``--label-gold-with-api-teachers``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from llmkd.evaluation.cost import generate_settings
from llmkd.evaluation.matching import match_teacher
from llmkd.io.records import Item
from llmkd.io.spec import InputColumns
from llmkd.teachers import LOCAL_KINDS, teacher_kind

API_FLAG = "--label-gold-with-api-teachers"


@dataclass
class UnseenGold:
    """The gold items no teacher record covers, and the run's generate settings and teacher specs."""

    items: list[Item]
    settings: dict[str, Any]
    specs: list[str]


def column_flags(columns: InputColumns) -> str:
    """The input-column flags of ``columns`` that differ from their defaults, as command-line text."""
    return "".join(
        f" --{f.name.replace('_', '-')} {shlex.quote(str(getattr(columns, f.name)))}"
        for f in fields(InputColumns)
        if f.init and getattr(columns, f.name) != f.default
    )


def unseen_gold(
    run_dir: Path,
    gold_items: list[Item],
    records: list[dict[str, Any]],
    columns: InputColumns,
    gold_file: str,
    allow_api: bool,
    notes: list[str],
) -> UnseenGold | None:
    """The gold items to label with the run's teachers; None when there are none, or when an API teacher
    would be needed without ``allow_api`` (a note then gives the command that labels them)."""
    settings = generate_settings(run_dir)
    specs = [str(spec) for spec in settings.get("teacher") or []]
    matched, _ = match_teacher(gold_items, records)
    unseen = [item for item, record in zip(gold_items, matched, strict=True) if record is None]
    if not specs or not unseen:
        return None
    api = [spec for spec in specs if teacher_kind(spec) not in LOCAL_KINDS]
    if api and not allow_api:
        command = (
            f"python -m llmkd.evaluate --run {shlex.quote(str(run_dir))} --gold {shlex.quote(gold_file)}"
            f"{column_flags(columns)} {API_FLAG} --max-cost-usd DOLLARS"
        )
        notes.append(
            f"{len(unseen)} of the {len(gold_items)} gold texts were never labelled by the run's teachers, "
            f"and {', '.join(api)} bill per request, so the teacher's scores leave them out; `{command}` "
            "labels them (each answer cached in the run's ledger)"
        )
        return None
    return UnseenGold(unseen, settings, specs)


def labelled_notes(
    records: list[dict[str, Any]], cost_usd: float, stopped: str | None, ledger: Path
) -> list[str]:
    """What labelling the unseen gold texts did, for the report's notes."""
    labelled = sum(r["status"] == "ok" for r in records)
    spent = f", ${cost_usd:.4f}" if cost_usd else ""
    notes = [
        f"the run's teachers labelled {labelled} of the {len(records)} gold texts they had not seen "
        f"(cached in {ledger}{spent})"
    ]
    if stopped:
        notes.append(f"{stopped}; a rerun with a higher --max-cost-usd labels the rest")
    return notes
