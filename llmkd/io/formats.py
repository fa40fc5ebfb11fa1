"""One row reader per input format (CSV, JSONL, Parquet, plain text, PhraseBank, ``hf:`` datasets).

Each yields raw :class:`Row` objects with the 1-based line (or row) they came from; turning rows into items
is :mod:`llmkd.io.readers`' job, so every format reports bad input the same way.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkd.errors import InputError
from llmkd.io.spec import HF_PREFIX, InputSpec

_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


_PHRASEBANK_LINE = re.compile(r"@\w[\w-]*$")


_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    """One raw record before ids and labels are resolved."""

    line: int
    text: Any
    id: Any = None
    label: Any = None


def detect_format(spec: InputSpec) -> str:
    """The concrete format of ``spec``: its ``format`` unless ``auto``, else by prefix or extension.

    Raises:
        InputError: The file is missing, or its extension tells no format.
    """
    if spec.format == "hf" or (spec.format == "auto" and spec.path.startswith(HF_PREFIX)):
        return "hf"
    path = Path(spec.path)
    if not path.exists():
        raise InputError("file not found", path)
    if path.is_dir():
        raise InputError("is a directory; for a dataset saved with save_to_disk pass hf:" + spec.path, path)
    if spec.format != "auto":
        return spec.format
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".txt":
        return "phrasebank" if _looks_like_phrasebank(path) else "text"
    raise InputError(
        f"cannot tell the format from the extension {suffix or '(none)'!r}; "
        "pass --format csv|jsonl|parquet|text|phrasebank|hf",
        path,
    )


def _looks_like_phrasebank(path: Path) -> bool:
    """True when every non-empty line ends with ``@<word>`` (and there is at least one)."""
    seen = False
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            if not _PHRASEBANK_LINE.search(line):
                return False
            seen = True
    return seen


def rows(spec: InputSpec, fmt: str) -> Iterator[Row]:
    readers = {
        "csv": _csv_rows,
        "jsonl": _jsonl_rows,
        "parquet": _parquet_rows,
        "text": _text_rows,
        "phrasebank": _phrasebank_rows,
        "hf": _hf_rows,
    }
    return readers[fmt](spec)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` with the line end kept; a leading BOM is dropped.

    Lines are split on ``\\n`` only (CRLF keeps its ``\\r`` for the csv module to handle), so the numbers
    match what an editor shows.
    """
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"cannot decode byte {raw[exc.start : exc.start + 1]!r} at column {exc.start + 1} "
                    "as UTF-8; re-save the file as UTF-8",
                    path,
                    number,
                ) from None


def _stripped_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-empty lines without their line end or surrounding whitespace."""
    for number, line in _decoded_lines(path):
        line = line.strip()
        if line:
            yield number, line


def _text_rows(spec: InputSpec) -> Iterator[Row]:
    for number, line in _stripped_lines(Path(spec.path)):
        yield Row(line=number, text=line)


def _phrasebank_rows(spec: InputSpec) -> Iterator[Row]:
    path = Path(spec.path)
    for number, line in _stripped_lines(path):
        text, sep, label = line.rpartition("@")
        if not sep or not label.strip():
            raise InputError("expected 'sentence@label' (PhraseBank format)", path, number)
        yield Row(line=number, text=text, label=label.strip())


def _csv_rows(spec: InputSpec) -> Iterator[Row]:
    path = Path(spec.path)
    lines = _decoded_lines(path)
    reader = csv.reader((line for _, line in lines), strict=True)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    start = 1
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"bad CSV row starting here ({exc}; the parser stopped at line {reader.line_num}); "
                "check for an unclosed or stray '\"'",
                path,
                start,
            ) from None
        if not record:  # blank line
            continue
        if header is None:
            header = record
            columns = {name: i for i, name in enumerate(header)}
            for name in _wanted_columns(spec):
                if name not in columns:
                    raise InputError(
                        f"no column {name!r}; the columns are {', '.join(map(repr, header))}", path, start
                    )
            continue
        if len(record) != len(header):
            raise InputError(
                f"row has {len(record)} fields but the header has {len(header)}; "
                "quote fields that contain commas",
                path,
                start,
            )
        yield Row(
            line=start,
            text=record[columns[spec.text_column]],
            id=record[columns[spec.id_column]] if spec.id_column is not None else None,
            label=record[columns[spec.label_column]] if spec.label_column is not None else None,
        )


def _jsonl_rows(spec: InputSpec) -> Iterator[Row]:
    path = Path(spec.path)
    for number, line in _stripped_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"bad JSON ({exc.msg} at column {exc.colno})", path, number) from None
        except ValueError as exc:  # e.g. an integer with too many digits
            raise InputError(f"bad JSON ({exc})", path, number) from None
        except RecursionError:
            raise InputError("bad JSON (nested too deeply)", path, number) from None
        if not isinstance(obj, dict):
            hint = " (a JSON array? write one object per line)" if isinstance(obj, list) else ""
            raise InputError(f"expected a JSON object, got {type(obj).__name__}{hint}", path, number)
        yield _mapping_row(obj, spec, path, number, "keys")


def _parquet_rows(spec: InputSpec) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(spec.path)
    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read as Parquet: {exc}", path) from None
    names = pfile.schema_arrow.names
    _check_columns(spec, names, path)
    number = 0
    for batch in pfile.iter_batches(columns=list(_wanted_columns(spec))):
        for record in batch.to_pylist():
            number += 1
            yield _mapping_row(record, spec, path, number, "columns")


def _hf_rows(spec: InputSpec) -> Iterator[Row]:
    dataset, where = _load_hf(spec.path.removeprefix(HF_PREFIX))
    _check_columns(spec, list(dataset.column_names), where)
    dataset = dataset.select_columns(list(_wanted_columns(spec)))
    for number, record in enumerate(dataset, start=1):
        yield _mapping_row(record, spec, where, number, "columns")


def _load_hf(ref: str) -> tuple[Any, str]:
    """Load ``NAME[:CONFIG][:SPLIT]`` as one ``datasets.Dataset``.

    A local directory written by ``save_to_disk`` is loaded with ``load_from_disk``; there the optional
    part after the name is the split (``DIR:SPLIT`` or ``DIR::SPLIT``). Anything else goes to
    ``load_dataset(NAME, CONFIG, split=SPLIT)``. The split defaults to ``train``.
    """
    import datasets

    parts = ref.split(":")
    name = parts[0]
    if len(parts) > 3 or not name:
        raise InputError("expected hf:NAME[:CONFIG][:SPLIT]", HF_PREFIX + ref)
    local = Path(name)
    saved = local.is_dir() and any(
        (local / f).exists() for f in ("dataset_dict.json", "state.json", "dataset_info.json")
    )
    if saved:  # DIR[:SPLIT] or DIR:CONFIG:SPLIT (no configs on disk)
        config, split = None, parts[-1] if len(parts) > 1 else ""
    else:
        config = parts[1] if len(parts) > 1 else None
        split = parts[2] if len(parts) > 2 else ""
    split = split or "train"
    try:
        if saved:
            loaded = datasets.load_from_disk(str(local))
        else:
            loaded = datasets.load_dataset(name, config or None, split=split)
    except Exception as exc:  # datasets raises many types (network, missing files, bad config)
        raise InputError(f"cannot load dataset: {type(exc).__name__}: {exc}", name) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise InputError(
                f"no split {split!r}; the splits are {', '.join(map(repr, loaded))} "
                "(pick one with hf:NAME:SPLIT)",
                name,
            )
        loaded = loaded[split]
    if not isinstance(loaded, datasets.Dataset):
        raise InputError(f"expected a Dataset, got {type(loaded).__name__}", name)
    return loaded, name


def _wanted_columns(spec: InputSpec) -> dict[str, None]:
    """The columns ``spec`` reads, in order, without repeats."""
    names = [spec.text_column, spec.id_column, spec.label_column]
    return {n: None for n in names if n is not None}


def _check_columns(spec: InputSpec, names: Sequence[str], where: str | Path) -> None:
    for name in _wanted_columns(spec):
        if name not in names:
            raise InputError(f"no column {name!r}; the columns are {', '.join(map(repr, names))}", where)


def _mapping_row(record: Mapping[str, Any], spec: InputSpec, where: str | Path, line: int, kind: str) -> Row:
    for name in _wanted_columns(spec):
        if name not in record:
            listed = ", ".join(map(repr, record)) or "(none)"
            raise InputError(f"no column {name!r}; the {kind} are {listed}", where, line)
    return Row(
        line=line,
        text=record[spec.text_column],
        id=record[spec.id_column] if spec.id_column is not None else None,
        label=record[spec.label_column] if spec.label_column is not None else None,
    )
