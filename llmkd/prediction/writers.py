"""predict's output files: CSV, JSONL or Parquet by the output's extension, written part by part.

Every row has ``id, text, label, probs, confidence, answered_by``. ``probs`` is a JSON object in CSV
(``{"positive": 0.9, ...}``), an object in JSONL and a struct (one float column per label) in Parquet.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from llmkd.errors import ConfigError

OutputFormat = Literal["csv", "jsonl", "parquet"]
COLUMNS = ("id", "text", "label", "probs", "confidence", "answered_by")
SUFFIXES: dict[str, OutputFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


def output_format(path: str | Path) -> OutputFormat:
    """The format of an output file from its extension.

    Raises:
        ConfigError: the extension names no output format.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(
            f"--output {path}: cannot tell the format from {suffix or '(no extension)'!r}; "
            "use .csv, .jsonl or .parquet"
        )
    return SUFFIXES[suffix]


def write_part(rows: Sequence[dict[str, Any]], path: Path, fmt: OutputFormat) -> None:
    """One part of the output (no CSV header: :func:`concatenate` writes it once)."""
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            for row in rows:
                cells = {**row, "probs": json.dumps(row["probs"], ensure_ascii=False)}
                writer.writerow([cells[name] for name in COLUMNS])
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({name: row[name] for name in COLUMNS}, ensure_ascii=False) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{name: row[name] for name in COLUMNS} for row in rows])
        pq.write_table(table, path)


def concatenate(parts: Sequence[Path], out: Path, fmt: OutputFormat) -> None:
    """Join ``parts`` into ``out`` one part at a time (memory: one part, whatever the row count)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer = None
        try:
            for part in parts:
                table = pq.read_table(part)
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no rows at all: an empty file with the columns
            import pyarrow as pa

            pq.write_table(pa.table({name: pa.array([], pa.string()) for name in COLUMNS}), out)
        return
    with out.open("wb") as sink:
        if fmt == "csv":
            sink.write((",".join(COLUMNS) + "\r\n").encode())
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink)
