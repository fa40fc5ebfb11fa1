"""Input files -> Items: CSV, JSONL, Parquet, plain text, Financial PhraseBank and ``hf:`` datasets.

The per-format row readers live in :mod:`llmkd.io.formats`; this module turns their rows into
:class:`~llmkd.io.records.Item` objects (ids, label mapping, label checks), so every format reports bad
input the same way: an :class:`~llmkd.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmkd.errors import ConfigError, InputError
from llmkd.io.formats import Row, detect_format, rows
from llmkd.io.records import Item
from llmkd.io.spec import HF_PREFIX, Format, InputColumns, InputSpec

__all__ = [
    "Format",
    "InputColumns",
    "InputSpec",
    "detect_format",
    "iter_items",
    "parse_label_map",
    "read_items",
    "row_item",
    "text_id",
]


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
    for row in rows(spec, fmt):
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


def row_item(
    row: Row,
    spec: InputSpec,
    where: str | Path,
    label_map: Mapping[str, str] | None = None,
    allowed: Sequence[str] | None = None,
) -> Item:
    """One raw row as an item, with :func:`iter_items`' checks of that row alone (text, id, label).

    For streams too long to remember every id: ids are not checked for uniqueness, and without an id
    column the id is :func:`text_id` of the text (identical texts share it).

    Raises:
        InputError: empty or non-string text, empty id, unknown label; names the file and line.
    """
    text = _text_value(row, spec, where)
    item_id = text_id(text)
    if spec.id_column is not None:
        item_id = _scalar_str(row.id, "id", where, row.line)
        if not item_id:
            raise InputError(f"empty id in column {spec.id_column!r}", where, row.line)
    label = _label_value(row, label_map or {}, allowed, where)
    return Item(id=item_id, text=text, label=label, source="input", line=row.line)


# ---------------------------------------------------------------- line-based formats


# ---------------------------------------------------------------- columnar formats


# ---------------------------------------------------------------- shared row handling


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


def _text_value(row: Row, spec: InputSpec, where: str | Path) -> str:
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
    row: Row, label_map: Mapping[str, str], allowed: Sequence[str] | None, where: str | Path
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
