"""Input readers: CSV, JSONL, Parquet, plain text, Financial PhraseBank and ``hf:`` datasets -> Items.

Every reader yields raw rows with the 1-based line (or row) they came from; one shared step turns them
into :class:`~llmkd.io.records.Item` objects (ids, label mapping, label checks), so every format reports
bad input the same way: an :class:`~llmkd.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from llmkd.errors import ConfigError, InputError
from llmkd.io.records import Item

Format = Literal["auto", "csv", "jsonl", "parquet", "text", "phrasebank", "hf"]

HF_PREFIX = "hf:"
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_PHRASEBANK_LINE = re.compile(r"@\w[\w-]*$")
_BOM = b"\xef\xbb\xbf"


@dataclass
class InputColumns:
    """Which columns of an input file hold what: the flags of every stage that reads a file."""

    _: KW_ONLY
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    id_column: str | None = field(
        default=None, metadata={"help": "Column holding unique item ids (default: a hash of the text)."}
    )
    label_column: str | None = field(
        default=None,
        metadata={
            "help": "Column holding gold labels (generate keeps them as 'gold'; evaluate's --gold file "
            "defaults to 'label')."
        },
    )
    label_map: str | None = field(
        default=None,
        metadata={
            "help": "Map raw label values to the task's labels, e.g. '0=negative,1=positive,2=neutral'."
        },
    )
    format: Format = field(
        default="auto",
        metadata={
            "help": "Input format; 'auto' picks by extension (.txt is PhraseBank when every line "
            "ends with @label) or by the hf: prefix."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Read only the first N items (file order)."})

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")

    def columns(self) -> InputColumns:
        """Just the column settings (a stage config that includes them returns a plain copy)."""
        return InputColumns(**{f.name: getattr(self, f.name) for f in fields(InputColumns)})


@dataclass
class InputSpec(InputColumns):
    """Where the input texts are, and which columns hold what."""

    path: str = field(
        metadata={
            "help": "Input file (.csv, .jsonl/.json/.ndjson, .parquet, .txt) or hf:NAME[:CONFIG][:SPLIT], "
            "where NAME is a hub dataset id or a local directory written by Dataset.save_to_disk."
        }
    )

    @classmethod
    def of(cls, path: str, columns: InputColumns, **overrides: Any) -> InputSpec:
        """The spec for ``path`` read with ``columns`` (``overrides`` replace single settings)."""
        values = {f.name: getattr(columns, f.name) for f in fields(InputColumns)} | overrides
        return cls(path, **values)


@dataclass(frozen=True)
class _Row:
    """One raw record before ids and labels are resolved."""

    line: int
    text: Any
    id: Any = None
    label: Any = None


def text_id(text: str) -> str:
    """A stable id for a text: the first 16 hex digits of the SHA-256 of the stripped text."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


def parse_label_map(text: str | None, flag: str = "--label-map") -> dict[str, str]:
    """Parse ``"0=negative,1=positive"`` into ``{"0": "negative", "1": "positive"}``.

    Args:
        text: Comma-separated ``RAW=LABEL`` pairs; None or blank gives an empty map.
        flag: The flag name used in error messages.

    Raises:
        ConfigError: An entry without ``=``, with an empty side, or a raw value mapped twice.
    """
    if text is None or not text.strip():
        return {}
    mapping: dict[str, str] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        raw, sep, label = entry.partition("=")
        raw, label = raw.strip(), label.strip()
        if not sep or not raw or not label:
            raise ConfigError(
                f"{flag}: bad entry {entry.strip()!r}; expected RAW=LABEL pairs separated by commas, "
                "e.g. '0=negative,1=positive,2=neutral'"
            )
        if raw in mapping:
            raise ConfigError(f"{flag}: raw value {raw!r} is mapped twice")
        mapping[raw] = label
    return mapping


def read_items(spec: InputSpec, labels: Sequence[str] | None = None) -> list[Item]:
    """Read all items of ``spec`` (at most ``spec.limit``) in file order.

    Args:
        spec: The input file and its columns.
        labels: The task's label names; when given, every gold label must be one of them after mapping.

    Returns:
        The items, with ids, mapped gold labels and their 1-based line (or row) numbers.

    Raises:
        InputError: Missing file or column, undecodable bytes, broken CSV/JSON, empty text, duplicate id,
            unknown label, or no items at all; the message names the file and line.
        ConfigError: A malformed ``label_map``, or one that maps to a label the task lacks.
    """
    return list(iter_items(spec, labels))


def iter_items(spec: InputSpec, labels: Sequence[str] | None = None) -> Iterator[Item]:
    """Like :func:`read_items`, but yields items as the file is read."""
    label_map = parse_label_map(spec.label_map)
    allowed = list(labels) if labels is not None else None
    if allowed is not None:
        unknown = sorted({v for v in label_map.values() if v not in allowed})
        if unknown:
            raise ConfigError(
                f"--label-map maps to {', '.join(map(repr, unknown))}, which the task does not have "
                f"(labels: {', '.join(allowed)})"
            )
    fmt = detect_format(spec)
    where = spec.path.removeprefix(HF_PREFIX) if fmt == "hf" else spec.path
    seen_ids: dict[str, int] = {}
    text_counts: dict[str, int] = {}
    count = 0
    for row in _rows(spec, fmt):
        text = _text_value(row, spec, where)
        if spec.id_column is not None:
            item_id = _scalar_str(row.id, "id", where, row.line)
            if not item_id:
                raise InputError(f"empty id in column {spec.id_column!r}", where, row.line)
            if item_id in seen_ids:
                raise InputError(
                    f"duplicate id {item_id!r} in column {spec.id_column!r} "
                    f"(first seen at line {seen_ids[item_id]}); ids must be unique",
                    where,
                    row.line,
                )
            seen_ids[item_id] = row.line
        else:
            # Identical texts would share a hash; later copies get -2, -3, ... so ids stay unique.
            item_id = text_id(text)
            n = text_counts[item_id] = text_counts.get(item_id, 0) + 1
            if n > 1:
                item_id = f"{item_id}-{n}"
        label = _label_value(row, label_map, allowed, where)
        count += 1
        yield Item(id=item_id, text=text, label=label, source="input", line=row.line)
        if spec.limit is not None and count >= spec.limit:
            break  # stop before reading (and judging) the next row
    if count == 0:
        raise InputError("no items found (the input is empty)", where)


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


def _rows(spec: InputSpec, fmt: str) -> Iterator[_Row]:
    readers = {
        "csv": _csv_rows,
        "jsonl": _jsonl_rows,
        "parquet": _parquet_rows,
        "text": _text_rows,
        "phrasebank": _phrasebank_rows,
        "hf": _hf_rows,
    }
    return readers[fmt](spec)


# ---------------------------------------------------------------- line-based formats


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


def _text_rows(spec: InputSpec) -> Iterator[_Row]:
    for number, line in _stripped_lines(Path(spec.path)):
        yield _Row(line=number, text=line)


def _phrasebank_rows(spec: InputSpec) -> Iterator[_Row]:
    path = Path(spec.path)
    for number, line in _stripped_lines(path):
        text, sep, label = line.rpartition("@")
        if not sep or not label.strip():
            raise InputError("expected 'sentence@label' (PhraseBank format)", path, number)
        yield _Row(line=number, text=text, label=label.strip())


def _csv_rows(spec: InputSpec) -> Iterator[_Row]:
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
        yield _Row(
            line=start,
            text=record[columns[spec.text_column]],
            id=record[columns[spec.id_column]] if spec.id_column is not None else None,
            label=record[columns[spec.label_column]] if spec.label_column is not None else None,
        )


def _jsonl_rows(spec: InputSpec) -> Iterator[_Row]:
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


# ---------------------------------------------------------------- columnar formats


def _parquet_rows(spec: InputSpec) -> Iterator[_Row]:
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


def _hf_rows(spec: InputSpec) -> Iterator[_Row]:
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


# ---------------------------------------------------------------- shared row handling


def _wanted_columns(spec: InputSpec) -> dict[str, None]:
    """The columns ``spec`` reads, in order, without repeats."""
    names = [spec.text_column, spec.id_column, spec.label_column]
    return {n: None for n in names if n is not None}


def _check_columns(spec: InputSpec, names: Sequence[str], where: str | Path) -> None:
    for name in _wanted_columns(spec):
        if name not in names:
            raise InputError(f"no column {name!r}; the columns are {', '.join(map(repr, names))}", where)


def _mapping_row(record: Mapping[str, Any], spec: InputSpec, where: str | Path, line: int, kind: str) -> _Row:
    for name in _wanted_columns(spec):
        if name not in record:
            listed = ", ".join(map(repr, record)) or "(none)"
            raise InputError(f"no column {name!r}; the {kind} are {listed}", where, line)
    return _Row(
        line=line,
        text=record[spec.text_column],
        id=record[spec.id_column] if spec.id_column is not None else None,
        label=record[spec.label_column] if spec.label_column is not None else None,
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _valid_str(value: str, what: str, where: str | Path, line: int) -> str:
    """``value`` unless it cannot be written as UTF-8 (a lone surrogate from a JSON escape)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} holds an invalid character (a lone surrogate)", where, line) from None
    return value


def _scalar_str(value: Any, what: str, where: str | Path, line: int) -> str:
    """A cell as text: ``3.0`` -> ``"3"``, None/NaN -> ``""``; other values via ``str``."""
    if _is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    return _valid_str(str(value).strip(), what, where, line)


def _text_value(row: _Row, spec: InputSpec, where: str | Path) -> str:
    if _is_missing(row.text):
        raise InputError(f"empty text in column {spec.text_column!r}", where, row.line)
    if not isinstance(row.text, str):
        raise InputError(
            f"text in column {spec.text_column!r} is a {type(row.text).__name__}, not a string",
            where,
            row.line,
        )
    text = row.text.strip()
    if not text:
        raise InputError(f"empty text in column {spec.text_column!r}", where, row.line)
    return _valid_str(text, "text", where, row.line)


def _label_value(
    row: _Row, label_map: Mapping[str, str], allowed: Sequence[str] | None, where: str | Path
) -> str | None:
    """The row's gold label after ``label_map``; None when the row has none."""
    raw = _scalar_str(row.label, "label", where, row.line)
    if not raw:
        return None
    label = label_map.get(raw, raw)
    if allowed is None or label in allowed:
        return label
    folded = [a for a in allowed if a.lower() == label.lower()]
    if len(folded) == 1:
        return folded[0]
    shown = f"{raw!r} (mapped to {label!r})" if label != raw else repr(raw)
    raise InputError(
        f"label {shown} is not one of the task's labels ({', '.join(allowed)}); "
        "map raw values with --label-map, e.g. --label-map 0=negative,1=positive,2=neutral",
        where,
        row.line,
    )
