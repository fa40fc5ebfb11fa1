"""labels.jsonl records as Parquet: typed columns to query, and an exact round trip back to the records.

``id, text, label, rationale, teacher, source, status, prob_method, gold, error`` are string columns,
``probs`` a ``map<string, double>``, ``teachers`` (each teacher's view) a JSON string, and ``extra`` a
JSON string holding any other key (and any value that does not fit its column's type).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from llmkd.errors import RunError
from llmkd.run.files import atomic_file

STRINGS = ("id", "text", "label", "rationale", "teacher", "source", "status", "prob_method", "gold")
ORDER = (
    "id", "text", "label", "probs", "rationale", "teacher", "source", "status", "prob_method", "gold", "teachers",
)  # fmt: skip
SCHEMA = pa.schema(
    [(name, pa.string()) for name in STRINGS]
    + [
        ("probs", pa.map_(pa.string(), pa.float64())),
        ("teachers", pa.string()),
        ("error", pa.string()),
        ("extra", pa.string()),
    ]
)


def _fits(name: str, value: Any) -> bool:
    if name == "probs":
        return value is None or (
            isinstance(value, dict) and all(isinstance(p, int | float) for p in value.values())
        )
    return value is None or isinstance(value, str)


def records_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """The records as an Arrow table of :data:`SCHEMA`."""
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for record in records:
        extra = {k: v for k, v in record.items() if k not in SCHEMA.names or not _fits(k, v)}
        missing = [k for k in ORDER if k not in record]
        if missing:
            extra["__missing__"] = missing
        for name in (*STRINGS, "probs", "error"):
            value = record.get(name)
            columns[name].append(value if name not in extra and _fits(name, value) else None)
        teachers = record.get("teachers")
        columns["teachers"].append(None if teachers is None else json.dumps(teachers, ensure_ascii=False))
        columns["extra"].append(json.dumps(extra, ensure_ascii=False) if extra else None)
    columns["probs"] = [None if p is None else list(p.items()) for p in columns["probs"]]
    return pa.table(columns, schema=SCHEMA)


def table_records(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The records of a :func:`records_table` table, equal to those written."""
    for row in table.to_pylist():
        extra = json.loads(row["extra"]) if row["extra"] else {}
        missing = set(extra.pop("__missing__", []))
        record: dict[str, Any] = {}
        for name in ORDER:
            value = row[name]
            if name == "probs" and value is not None:
                value = dict(value)
            elif name == "teachers" and value is not None:
                value = json.loads(value)
            if name not in missing:
                record[name] = value
        if row["error"] is not None:
            record["error"] = row["error"]
        record.update(extra)
        yield record


@contextmanager
def label_part_writer(path: str | Path) -> Iterator[Callable[[Sequence[dict[str, Any]]], None]]:
    """A function that appends records to the Parquet file ``path``, which appears (whole, zstd) when
    the block succeeds and not at all otherwise."""
    with atomic_file(path, suffix=".parquet") as tmp:
        writer = pq.ParquetWriter(tmp, SCHEMA, compression="zstd")
        try:
            yield lambda records: writer.write_table(records_table(records))
        finally:
            writer.close()


def write_label_part(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write ``records`` to the Parquet file ``path`` atomically (zstd)."""
    with label_part_writer(path) as write:
        write(records)
    return Path(path)


def part_rows(path: str | Path) -> int:
    """Rows in a Parquet file, from its footer."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def read_label_part(path: str | Path) -> Iterator[dict[str, Any]]:
    """The records of one part, batch by batch (bounded memory).

    Raises:
        RunError: the file is not a labels part.
    """
    try:
        handle = pq.ParquetFile(path)
        if not set(SCHEMA.names) <= set(handle.schema_arrow.names):
            raise RunError(f"{path}: not a labels part (columns {', '.join(handle.schema_arrow.names)})")
        for batch in handle.iter_batches(batch_size=8192):
            yield from table_records(pa.Table.from_batches([batch]))
    except (pa.ArrowInvalid, OSError) as exc:
        raise RunError(f"{path}: unreadable Parquet ({exc}); rerun its shard") from None
