"""Sharded generate runs: the flags, which items a shard labels, its lock, and what it writes.

``generate --shard I/N`` labels the items whose id hash falls in shard I (see :mod:`llmkd.run.shards`),
with the shard's own ledger, lock, Parquet labels part and status file; ``generate --merge`` (or filter,
finding shards and no labels.jsonl) gathers the parts into labels.jsonl (:mod:`llmkd.generation.merge`).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from llmkd.errors import ConfigError
from llmkd.io.records import Item
from llmkd.run.files import write_json, write_jsonl
from llmkd.run.label_parts import write_label_part
from llmkd.run.lineage import config_hash, record_output
from llmkd.run.lock import run_lock
from llmkd.run.shards import RunLayout, Shard

# Flags that say where and how a shard runs, not what it labels: shards of one run differ only in these.
SHARD_FIELDS = ("shard", "shards", "engine", "ray_address", "ray_workers", "merge", "allow_incomplete")


@dataclass
class ShardFlags:
    """Flags of ``generate`` for sharded runs, merging and the Ray engine."""

    shard: str | None = field(
        default=None,
        metadata={
            "help": "I/N: label only the items whose id hash (blake2b) falls in shard I (0-based) of N, with the "
            "shard's own ledger, lock, labels part and status (RUN/ledger/, RUN/labels/, RUN/shards/), so N "
            "processes on N machines sharing the run directory never touch each other's files. Rerun a "
            "shard to resume it; then --merge.",
            "metavar": "I/N",
        },
    )
    merge: bool = field(
        default=False,
        metadata={
            "help": "Gather the shards of --run into RUN/labels.jsonl (teachers are not called); refuses "
            "while a shard is missing or incomplete, naming each, unless --allow-incomplete."
        },
    )
    allow_incomplete: bool = field(
        default=False,
        metadata={"help": "--merge the shards there are, even with some missing, running or pending."},
    )
    merge_parquet: bool = field(
        default=False,
        metadata={
            "help": "--merge also writes RUN/labels.parquet (RUN/labels/ is a Parquet dataset already)."
        },
    )
    engine: Literal["process", "ray"] = field(
        default="process",
        metadata={
            "help": "process: label here (one shard with --shard, else the whole run); ray: run the shards "
            "as Ray tasks (pip install 'llmkd[ray]'), local teachers in an actor pool that loads each model "
            "once per actor, API teachers one async client per shard; merges when all are done."
        },
    )
    shards: int | None = field(
        default=None,
        metadata={"help": "--engine ray: run shards 0/N .. N-1/N (or only --shard I/N)."},
    )
    ray_address: str | None = field(
        default=None,
        metadata={
            "help": "--engine ray: the cluster to join (default RAY_ADDRESS, else a local Ray instance)."
        },
    )
    ray_workers: int | None = field(
        default=None,
        metadata={
            "help": "--engine ray, local teachers: actors in the pool (default: as many as the cluster has "
            "GPUs, else CPUs, at most one per shard)."
        },
    )


def check_shard_flags(config: Any) -> Shard | None:
    """The ``--shard`` of a generate config, after refusing flags a shard cannot honour alone.

    Raises:
        ConfigError: a malformed --shard, or --shard with --gold-seed, --augment or --redact.
    """
    if config.shard is None:
        return None
    shard = Shard.parse(config.shard)
    clashes = {
        "--gold-seed": "the seed audit and its corrections are one per run",
        "--augment": "each shard would invent its own examples",
        "--redact": "placeholders are numbered across the whole run",
    }
    given = {"--gold-seed": config.gold_seed, "--augment": config.augment, "--redact": config.redact}
    for flag, why in clashes.items():
        if given[flag]:
            raise ConfigError(f"--shard cannot be combined with {flag} ({why}); run it without --shard")
    return shard


def shard_items(items: Sequence[Item], shard: str | None) -> list[Item]:
    """The items of ``--shard`` (all of them without one)."""
    if shard is None:
        return list(items)
    which = Shard.parse(shard)
    return [item for item in items if which.holds(item.id)]


def run_layout(run_dir: Path, shard: str | None) -> RunLayout:
    return RunLayout(run_dir, Shard.parse(shard) if shard else None)


@contextmanager
def generate_lock(run_dir: Path, shard: str | None, dry_run: bool = False) -> Iterator[None]:
    """Hold the lock of the run (or of its shard) while generate writes it; a dry run writes nothing."""
    layout = run_layout(run_dir, shard)
    what = f"shard {shard}" if shard else "run"
    with nullcontext() if dry_run else run_lock(layout.lock, f"{what} of {run_dir}"):
        yield


def shard_config_hash(config: Any) -> str:
    """The configuration hash that every shard of one run shares (``SHARD_FIELDS`` left out)."""
    is_instance = dataclasses.is_dataclass(config) and not isinstance(config, type)
    data = dataclasses.asdict(config) if is_instance else dict(config)
    return config_hash({k: v for k, v in data.items() if k not in SHARD_FIELDS})


def write_labels(run_dir: Path, records: Sequence[dict[str, Any]], config: Any) -> Path:
    """Write the run's labels.jsonl (and its lineage), or the shard's Parquet part and status."""
    layout = run_layout(run_dir, config.shard)
    if layout.shard is None:
        write_jsonl(layout.labels, records)
        record_output(run_dir, layout.labels, "generate", config, f"llmkd generate --run {run_dir}", [])
        return layout.labels
    write_label_part(layout.labels, records)
    pending = sum(r["status"] == "pending" for r in records)
    status = {
        "shard": layout.shard.spec,
        "rows": len(records),
        "part_mtime_ns": layout.labels.stat().st_mtime_ns,
        "invalid": sum(r["status"] == "invalid" for r in records),
        "pending": pending,
        "complete": pending == 0,
        "config": shard_config_hash(config),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_json(layout.status, status)  # after the part: a part newer than its status reads as incomplete
    return layout.labels
