"""A resumable output: finished chunks are parts in a hidden ``.NAME.partial/`` folder beside the output,
with a manifest naming the input and settings they came from; the output appears, whole, only at the end.

A rerun of the same command skips the chunks already written. A rerun whose input or settings differ
starts over (with a warning naming what changed): the teacher's answers stay cached in the run's ledger,
so starting over pays for nothing twice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from llmkd.errors import warn
from llmkd.prediction.writers import OutputFormat, concatenate, write_part
from llmkd.run.files import atomic_file, write_json

MANIFEST = "manifest.json"


class PartialOutput:
    """The parts of one output file, and what they were made from."""

    def __init__(self, output: Path, fmt: OutputFormat, identity: dict[str, Any]) -> None:
        self.output, self.fmt = output, fmt
        self.identity = json.loads(json.dumps(identity))  # as the manifest will hold it
        self.folder = output.parent / f".{output.name}.partial"
        self.parts = 0
        self.rows = 0
        self.spent_usd = 0.0

    def open(self) -> int:
        """Resume the parts of an earlier run of the same input and settings, else start empty; returns
        how many chunks are done."""
        manifest = self._read_manifest()
        if manifest is not None and manifest.get("identity") == self.identity:
            self.parts, self.rows = int(manifest["parts"]), int(manifest["rows"])
            self.spent_usd = float(manifest.get("spent_usd", 0.0))
            if self.parts:
                print(f"predict: resuming {self.output} after {self.rows} rows ({self.parts} chunks written)")
            return self.parts
        if manifest is not None:
            warn(f"{self.folder}: {_changed(manifest.get('identity') or {}, self.identity)}; starting over")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self._save()
        return 0

    def part(self, index: int) -> Path:
        return self.folder / f"part-{index:06d}.{self.fmt}"

    def add(self, rows: list[dict[str, Any]], spent_usd: float = 0.0) -> None:
        """Write the next chunk's rows as a part (atomically), then record it in the manifest."""
        with atomic_file(self.part(self.parts)) as tmp:
            write_part(rows, tmp, self.fmt)
        self.parts += 1
        self.rows += len(rows)
        self.spent_usd += spent_usd
        self._save()

    def finish(self) -> None:
        """Join the parts into the output (atomically), then remove the folder."""
        with atomic_file(self.output) as tmp:
            concatenate([self.part(i) for i in range(self.parts)], tmp, self.fmt)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.folder / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        write_json(
            self.folder / MANIFEST,
            {"identity": self.identity, "parts": self.parts, "rows": self.rows, "spent_usd": self.spent_usd},
        )


def _changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two identities, in words."""
    if old.get("input") != new.get("input"):
        return "the input file changed since the interrupted run"
    keys = sorted(
        k
        for k in {*old.get("settings", {}), *new.get("settings", {})}
        if old.get("settings", {}).get(k) != new.get("settings", {}).get(k)
    )
    if keys:
        return "settings changed since the interrupted run (" + ", ".join(keys) + ")"
    return "the interrupted run's manifest is unreadable"
