"""``generate --merge``: gather the shards of a run into ``RUN/labels.jsonl``.

A shard is complete when its Parquet part exists, its status file was written after it (same rows and
mtime), nothing in it is pending, and no live process holds its lock. The merge refuses a set with a
missing or incomplete shard (naming each) unless told otherwise, refuses shards run with different flags,
and checks that every record is in the shard its id hashes to and appears once.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from llmkd.cli import parse_config
from llmkd.errors import RunError, warn
from llmkd.run.directory import run_directory
from llmkd.run.files import atomic_file, write_json
from llmkd.run.label_parts import label_part_writer, part_rows, read_label_part
from llmkd.run.ledger import RunLedger
from llmkd.run.lineage import record_output
from llmkd.run.lock import LOCK_FILE, describe_holder, lock_holder, run_lock
from llmkd.run.shards import RunLayout, Shard, found_shards

LISTED = 8  # shards named in a one-line message before "and N more"


@dataclass(frozen=True)
class ShardState:
    """One shard as the merge finds it: ``problem`` is None when it is complete."""

    shard: Shard
    problem: str | None
    status: dict[str, Any]


def _status(layout: RunLayout) -> dict[str, Any]:
    try:
        data = json.loads(layout.status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def shard_state(run_dir: Path, shard: Shard) -> ShardState:
    """Whether ``shard`` of ``run_dir`` is complete, and if not, why (missing, running, pending...)."""
    layout = RunLayout(run_dir, shard)
    status = _status(layout)
    holder = lock_holder(layout.lock)
    if holder is not None:
        return ShardState(shard, f"running ({describe_holder(holder)})", status)
    if not layout.labels.is_file():
        return ShardState(shard, "started, not finished" if layout.ledger.is_file() else "missing", status)
    rows = part_rows(layout.labels)
    if status.get("rows") != rows or status.get("part_mtime_ns") != layout.labels.stat().st_mtime_ns:
        return ShardState(shard, "interrupted while writing its labels", status)
    if status.get("pending"):
        return ShardState(shard, f"incomplete ({status['pending']} of {rows} pending)", status)
    return ShardState(shard, None, status)


def shard_states(run_dir: Path) -> list[ShardState]:
    """The state of every shard 0..N-1 of the run.

    Raises:
        RunError: no shards, or shards of different counts N.
    """
    counts = sorted({s.count for s in found_shards(run_dir)})
    if not counts:
        raise RunError(f"{run_dir}: no shards here (run `llmkd generate --shard I/N --run {run_dir}` first)")
    if len(counts) > 1:
        raise RunError(
            f"{run_dir}: shards of several counts ({', '.join(f'N={n}' for n in counts)}) in ledger/, "
            "labels/ and shards/; remove those of the count you no longer use"
        )
    return [shard_state(run_dir, Shard(i, counts[0])) for i in range(counts[0])]


def _listing(states: Sequence[ShardState]) -> str:
    named = "; ".join(f"{s.shard.spec} {s.problem}" for s in states[:LISTED])
    return named + (f"; and {len(states) - LISTED} more" if len(states) > LISTED else "")


def _check_same_flags(states: Sequence[ShardState]) -> None:
    hashes: dict[str, list[str]] = {}
    for s in states:
        if s.status.get("config"):
            hashes.setdefault(s.status["config"], []).append(s.shard.spec)
    if len(hashes) > 1:
        groups = sorted(hashes.values(), key=len, reverse=True)
        odd = ", ".join(spec for group in groups[1:] for spec in group)
        raise RunError(
            f"shards {odd} ran with other flags than shards {', '.join(groups[0])}; rerun them alike"
        )


def merge_shards(run_dir: Path, *, allow_incomplete: bool = False, parquet: bool = False) -> Path:
    """Write ``RUN/labels.jsonl`` from the shards' parts (and ``RUN/labels.parquet`` with ``parquet``).

    Raises:
        RunError: a shard is missing or incomplete (without ``allow_incomplete``), shards ran with other
            flags, or a record is in the wrong shard or twice.
    """
    with run_lock(run_dir / LOCK_FILE, f"run {run_dir}"):
        states = shard_states(run_dir)
        n = len(states)
        bad = [s for s in states if s.problem]
        if bad and not allow_incomplete:
            raise RunError(
                f"{run_dir}: cannot merge, {n - len(bad)} of {n} shards complete: {_listing(bad)}; rerun "
                f"each with `llmkd generate --shard I/{n} --run {run_dir}` and the same flags, or merge "
                f"what there is with `llmkd generate --merge --allow-incomplete --run {run_dir}`"
            )
        if bad:
            warn(f"merging {n - len(bad)} complete of {n} shards; the others: {_listing(bad)}")
        _check_same_flags(states)
        parts = [RunLayout(run_dir, s.shard).labels for s in states]
        out = run_dir / "labels.jsonl"
        found = [(s.shard, p) for s, p in zip(states, parts, strict=True) if p.is_file()]
        counts = _write_merged(found, out, run_dir / "labels.parquet" if parquet else None)
        config = _merged_config(run_dir, states)
        record_output(run_dir, out, "generate", config, f"llmkd generate --merge --run {run_dir}", parts)
        spent = sum(_ledger_cost(RunLayout(run_dir, shard).ledger) for shard, _ in found)
    print(
        f"merged {n - len(bad)} of {n} shards: {sum(counts.values())} records ({counts['invalid']} invalid, "
        f"{counts['pending']} pending); the shards' ledgers hold cost_usd={spent:.6f}"
    )
    print(f"wrote {out}" + (f" and {run_dir / 'labels.parquet'}" if parquet else ""))
    return out


def _ledger_cost(path: Path) -> float:
    if not path.is_file():
        return 0.0
    with RunLedger(path) as ledger:
        return ledger.total_cost()


def _checked_part(shard: Shard, path: Path) -> list[dict[str, Any]]:
    """The records of one part, each checked to hash to ``shard`` and to appear once (so once in the run:
    an id can only be in the part of its own shard)."""
    records = list(read_label_part(path))
    seen: set[str] = set()
    for record in records:
        if not shard.holds(str(record["id"])):
            raise RunError(
                f"{path}: record {record['id']!r} belongs to another shard; rerun shard {shard.spec}"
            )
        if record["id"] in seen:
            raise RunError(f"{path}: record {record['id']!r} appears twice; rerun shard {shard.spec}")
        seen.add(record["id"])
    return records


def _write_merged(parts: Sequence[tuple[Shard, Path]], out: Path, parquet: Path | None) -> Counter[str]:
    """Stream the parts, one in memory at a time, into ``out`` (and ``parquet``); counts per status."""
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_file(out))
        handle = stack.enter_context(tmp.open("w", encoding="utf-8"))
        write_parquet = stack.enter_context(label_part_writer(parquet)) if parquet else None
        for shard, path in tqdm(parts, desc="merge", unit="shard", disable=len(parts) < 4):
            records = _checked_part(shard, path)
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            counts.update(str(r.get("status")) for r in records)
            if write_parquet is not None:
                write_parquet(records)
        handle.flush()
        os.fsync(handle.fileno())
    return counts


def _merged_config(run_dir: Path, states: Sequence[ShardState]) -> dict[str, Any]:
    """The flags the shards ran with (``shard`` cleared), saved as ``RUN/generate_config.json``."""
    for state in states:
        path = run_dir / f"{RunLayout(run_dir, state.shard).config_stage}_config.json"
        if path.is_file():
            config = json.loads(path.read_text(encoding="utf-8"))
            config.update(shard=None, merge=False)
            write_json(run_dir / "generate_config.json", config)
            return dict(config)
    return {}


def merge_command(run: str | None, *, allow_incomplete: bool, parquet: bool) -> Path:
    """``generate --merge --run DIR``; returns the run directory."""
    run_dir = run_directory(run)
    merge_shards(run_dir, allow_incomplete=allow_incomplete, parquet=parquet)
    return run_dir


@dataclass
class MergeConfig:
    """Flags of ``python -m llmkd.generate --merge``."""

    run: str | None = field(default=None, metadata={"help": "The run directory whose shards to merge."})
    merge: bool = field(default=True, metadata={"help": "Merge the shards (this command)."})
    allow_incomplete: bool = field(
        default=False,
        metadata={"help": "Merge the shards there are, even with some missing, running or pending."},
    )
    merge_parquet: bool = field(
        default=False, metadata={"help": "Also write RUN/labels.parquet (RUN/labels/ is a Parquet dataset)."}
    )


def merge_main(argv: Sequence[str] | None) -> int | None:
    """``generate --merge``: parse its few flags and merge; None when ``argv`` asks for no merge."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--merge" not in args:
        return None
    config = parse_config(
        MergeConfig,
        args,
        "python -m llmkd.generate --merge",
        "Gather the shards of a run into RUN/labels.jsonl.",
    )
    merge_command(config.run, allow_incomplete=config.allow_incomplete, parquet=config.merge_parquet)
    return 0


def merge_if_sharded(run: str | None) -> None:
    """Before a stage reads ``RUN/labels.jsonl``: merge the run's shards when they are there and it is not."""
    if run and Path(run).is_dir() and not (Path(run) / "labels.jsonl").is_file() and found_shards(Path(run)):
        merge_shards(Path(run))
