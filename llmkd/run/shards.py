"""Shards of a run: which items a shard holds, and the files each shard (and an unsharded run) writes.

An item belongs to shard ``blake2b(id) mod N``: the same on every machine and Python version (unlike
``hash()``). Shard ``I`` of ``N`` writes only its own files, so N processes on N machines that share the
run directory never touch each other's:

* ``RUN/ledger/shard-0000I-of-0000N.sqlite`` its call ledger, ``.lock`` beside it its lock;
* ``RUN/labels/part-0000I-of-0000N.parquet`` its labels (the folder is a Parquet dataset);
* ``RUN/shards/shard-0000I-of-0000N.json`` its status (items, pending, configuration hash);
* ``RUN/shards/shard-0000I-of-0000N.generate_config.json`` its resolved flags.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from llmkd.errors import ConfigError
from llmkd.run.lock import LOCK_FILE

SHARD_NAME = re.compile(r"shard-(\d{5})-of-(\d{5})")
PART_NAME = re.compile(r"part-(\d{5})-of-(\d{5})\.parquet")


def shard_index(item_id: str, count: int) -> int:
    """The shard (0..count-1) that holds ``item_id``: the first 8 bytes of its blake2b, mod ``count``."""
    digest = hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str, flag: str = "--shard") -> Shard:
        """``I/N`` with 0 <= I < N.

        Raises:
            ConfigError: not of that form.
        """
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 0 <= int(match[1]) < int(match[2]) <= 99999:
            raise ConfigError(f"{flag} {text!r}: expected I/N with 0 <= I < N <= 99999, e.g. {flag} 3/16")
        return cls(int(match[1]), int(match[2]))

    @property
    def spec(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}"

    def holds(self, item_id: str) -> bool:
        return shard_index(item_id, self.count) == self.index


@dataclass(frozen=True)
class RunLayout:
    """Where a run (``shard`` None) or one shard of it keeps its ledger, lock, labels and config."""

    run_dir: Path
    shard: Shard | None = None

    @property
    def ledger(self) -> Path:
        if self.shard is None:
            return self.run_dir / "ledger.sqlite"
        return self.run_dir / "ledger" / f"{self.shard.name}.sqlite"

    @property
    def lock(self) -> Path:
        if self.shard is None:
            return self.run_dir / LOCK_FILE
        return self.run_dir / "ledger" / f"{self.shard.name}.lock"

    @property
    def labels(self) -> Path:
        if self.shard is None:
            return self.run_dir / "labels.jsonl"
        return part_path(self.run_dir, self.shard)

    @property
    def status(self) -> Path:
        assert self.shard is not None, "an unsharded run has no shard status"
        return self.run_dir / "shards" / f"{self.shard.name}.json"

    @property
    def config_stage(self) -> str:
        """The ``stage`` name that ``save_config`` turns into this layout's config file."""
        return "generate" if self.shard is None else f"shards/{self.shard.name}.generate"


def part_path(run_dir: Path, shard: Shard) -> Path:
    return run_dir / "labels" / f"part-{shard.index:05d}-of-{shard.count:05d}.parquet"


def found_shards(run_dir: Path) -> set[Shard]:
    """Every shard that left a part, a status or a ledger in ``run_dir``."""
    found = set()
    for folder, pattern in (("labels", PART_NAME), ("shards", SHARD_NAME), ("ledger", SHARD_NAME)):
        for path in (run_dir / folder).glob("*"):
            match = pattern.match(path.name)
            if match:
                found.add(Shard(int(match[1]), int(match[2])))
    return found
