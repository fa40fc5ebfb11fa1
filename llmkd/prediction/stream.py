"""predict's input, read chunk by chunk so memory stays flat however many rows the file has.

Rows come from :mod:`llmkd.io.formats` (CSV and JSONL line by line, Parquet by ``iter_batches``), so a bad
row is an :class:`~llmkd.errors.InputError` naming the file and line, as in every other stage.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llmkd.errors import InputError
from llmkd.io.formats import detect_format, rows
from llmkd.io.readers import parse_label_map, row_item
from llmkd.io.records import Item
from llmkd.io.spec import HF_PREFIX, InputSpec


def item_chunks(
    spec: InputSpec, chunk_rows: int, labels: Sequence[str] | None = None
) -> Iterator[list[Item]]:
    """The items of ``spec`` in chunks of ``chunk_rows`` (the last may be shorter), at most ``spec.limit``.

    Raises:
        InputError: a bad row (names the file and line), or no rows at all.
    """
    fmt = detect_format(spec)
    where = spec.path.removeprefix(HF_PREFIX) if fmt == "hf" else spec.path
    label_map = parse_label_map(spec.label_map)
    chunk: list[Item] = []
    count = 0
    for row in rows(spec, fmt):
        chunk.append(row_item(row, spec, where, label_map, labels))
        count += 1
        if len(chunk) == chunk_rows:
            yield chunk
            chunk = []
        if spec.limit is not None and count >= spec.limit:
            break
    if chunk:
        yield chunk
    if count == 0:
        raise InputError("no items found (the input is empty)", where)


def input_fingerprint(path: str) -> dict[str, Any]:
    """What identifies the input's content for a resume: size, modification time and the SHA-256 of its
    first and last MiB (an ``hf:`` dataset: its name)."""
    if path.startswith(HF_PREFIX):
        return {"path": path}
    file = Path(path)
    stat = file.stat()
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if stat.st_size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read())
    return {
        "path": str(file.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256_ends": digest.hexdigest(),
    }
