"""The human review files: records the pipeline doubts, out to CSV, Label Studio or Argilla, and the
reviewers' labels back in.

Every format carries the record's ``id`` so a correction finds its record again. Exports are built in
memory (the review stage writes them atomically); imports return one :class:`~llmkd.io.records.Item` per
reviewed record and raise :class:`~llmkd.errors.InputError` naming the file and line of anything wrong.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from llmkd.errors import InputError
from llmkd.io.records import Item

CSV_COLUMNS = ["id", "text", "suggested", "confidence", "doubt", "reason", "gold"]
QUESTION = "label"  # the Label Studio <Choices> name and the Argilla label question
TEXT_FIELD = "text"
AGENT = "llmkd"


@dataclass(frozen=True)
class ReviewItem:
    """One record to review: the pipeline's label for it and why it is in doubt."""

    id: str
    text: str
    suggested: str | None
    confidence: float | None
    doubt: float
    reason: str


# -- export ---------------------------------------------------------------------------------------------


def csv_text(items: Sequence[ReviewItem]) -> str:
    """CSV with an empty ``gold`` column for the reviewer to fill in."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for it in items:
        conf = "" if it.confidence is None else f"{it.confidence:.3f}"
        writer.writerow([it.id, it.text, it.suggested or "", conf, f"{it.doubt:.3f}", it.reason, ""])
    return out.getvalue()


def label_studio_tasks(items: Sequence[ReviewItem]) -> list[dict[str, Any]]:
    """Label Studio import tasks, the pipeline's label as a pre-annotation (prediction) of ``label``."""
    tasks = []
    for it in items:
        data = {"record_id": it.id, TEXT_FIELD: it.text, "reason": it.reason, "doubt": round(it.doubt, 3)}
        predictions = []
        if it.suggested is not None:
            result = {
                "from_name": QUESTION,
                "to_name": TEXT_FIELD,
                "type": "choices",
                "value": {"choices": [it.suggested]},
            }
            predictions.append({"model_version": AGENT, "score": it.confidence, "result": [result]})
        tasks.append({"data": data, "predictions": predictions})
    return tasks


def label_studio_config(labels: Sequence[str]) -> str:
    """The labeling config (XML) matching :func:`label_studio_tasks`: the text, why, and one choice."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (
        "<View>\n"
        '  <Header value="Why in doubt: $reason"/>\n'
        f'  <Text name="{TEXT_FIELD}" value="${TEXT_FIELD}"/>\n'
        f'  <Choices name="{QUESTION}" toName="{TEXT_FIELD}" choice="single-radio" showInline="true" '
        'required="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def argilla_records(items: Sequence[ReviewItem]) -> list[dict[str, Any]]:
    """Argilla 2.x records (``rg.Record.from_dict`` layout) with the pipeline's label as a suggestion."""
    records = []
    for it in items:
        record: dict[str, Any] = {
            "id": it.id,
            "fields": {TEXT_FIELD: it.text},
            "metadata": {"doubt": round(it.doubt, 3), "reason": it.reason},
            "suggestions": {},
            "responses": {},
        }
        if it.suggested is not None:
            suggestion = {"value": it.suggested, "score": it.confidence, "agent": AGENT}
            record["suggestions"] = {QUESTION: suggestion}
        records.append(record)
    return records


def argilla_settings(labels: Sequence[str]) -> dict[str, Any]:
    """The dataset settings the records need: a text field and a single-label question."""
    return {
        "guidelines": "Pick the correct label; the suggestion is the pipeline's, the metadata says why "
        "it is in doubt.",
        "fields": [{"name": TEXT_FIELD, "type": "text", "required": True}],
        "questions": [
            {"name": QUESTION, "type": "label_selection", "labels": list(labels), "required": True}
        ],
        "metadata": [{"name": "doubt", "type": "float"}, {"name": "reason", "type": "terms"}],
    }


# -- import ---------------------------------------------------------------------------------------------


def read_corrections(path: str | Path, labels: Sequence[str]) -> list[Item]:
    """The reviewed records of a review file: the CSV's filled-in ``gold`` column, a Label Studio export
    (JSON or JSON-MIN) or an Argilla export (nested or flattened records). Unreviewed rows are skipped.

    Raises:
        InputError: the file is missing or malformed, lacks a column, or gives a label the task lacks.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    if path.suffix.lower() == ".csv":
        found = list(_csv_corrections(path))
    else:
        found = [c for line, obj in _json_objects(path) if (c := _json_correction(obj, path, line))]
    for item in found:
        if item.label not in labels:
            raise InputError(
                f"unknown label {item.label!r} (the task's labels: {', '.join(labels)})", path, item.line
            )
    return found


def _csv_corrections(path: Path) -> Iterator[Item]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    reader = csv.reader(io.StringIO(text), strict=True)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"bad CSV row ({exc})", path, start) from None
        if not row:
            continue
        if header is None:
            header = row
            missing = [c for c in ("id", "text", "gold") if c not in header]
            if missing:
                raise InputError(
                    f"no column {missing[0]!r} (a review CSV has {', '.join(CSV_COLUMNS)})", path, 1
                )
            continue
        if len(row) != len(header):
            raise InputError(f"row has {len(row)} fields but the header has {len(header)}", path, start)
        values = dict(zip(header, row, strict=True))
        if values["gold"].strip():
            yield _item(values["id"], values["text"], values["gold"].strip(), path, start)
    if header is None:
        raise InputError("empty file (expected a review CSV with a header row)", path, 1)


def _json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each object of a JSON array (or of JSON lines) with the line it starts on."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    decoder = json.JSONDecoder()
    pos, array = _skip_ws(text, 0), False
    if text.startswith("[", pos):
        array, pos = True, _skip_ws(text, pos + 1)
    while pos < len(text):
        if array and text.startswith("]", pos):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(f"bad JSON ({exc.msg} at column {exc.colno})", path, exc.lineno) from None
        except RecursionError:
            raise InputError("bad JSON (nested too deeply)", path, line) from None
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object per record, got {type(obj).__name__}", path, line)
        yield line, obj
        pos = _skip_ws(text, end)
        if pos >= len(text):
            break
        if array and text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
        elif array and not text.startswith("]", pos):
            line = text.count("\n", 0, pos) + 1
            raise InputError("bad JSON (expected ',' or ']' after a record)", path, line)
    if array:
        raise InputError("bad JSON (the array is not closed with ']')", path, text.count("\n") + 1)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_correction(obj: Mapping[str, Any], path: Path, line: int) -> Item | None:
    """One record of a Label Studio or Argilla export; None when nobody labelled it."""
    if "annotations" in obj or "data" in obj:  # Label Studio JSON
        data = obj.get("data")
        if not isinstance(data, dict):
            raise InputError("Label Studio task without a 'data' object", path, line)
        label = _label_studio_choice(obj.get("annotations") or [], path, line)
        return _item(data.get("record_id"), data.get(TEXT_FIELD), label, path, line) if label else None
    if "fields" in obj or "responses" in obj:  # Argilla, nested records
        fields = obj.get("fields")
        if not isinstance(fields, dict):
            raise InputError("Argilla record without a 'fields' object", path, line)
        responses = (obj.get("responses") or {}).get(QUESTION) or []
        label = _majority([r for r in responses if isinstance(r, dict)], path, line)
        return _item(obj.get("id"), fields.get(TEXT_FIELD), label, path, line) if label else None
    if f"{QUESTION}.responses" in obj:  # Argilla, flattened records
        values = obj.get(f"{QUESTION}.responses") or []
        statuses = obj.get(f"{QUESTION}.responses.status") or ["submitted"] * len(values)
        given = [{"value": v, "status": s} for v, s in zip(values, statuses, strict=False)]
        label = _majority(given, path, line)
        return _item(obj.get("id"), obj.get(TEXT_FIELD), label, path, line) if label else None
    if "record_id" in obj:  # Label Studio JSON-MIN
        value = obj.get(QUESTION)
        if isinstance(value, dict):
            value = (value.get("choices") or [None])[0]
        return _item(obj["record_id"], obj.get(TEXT_FIELD), value, path, line) if value else None
    raise InputError(
        "not a review record (expected a Label Studio task with 'data' and 'annotations', or an Argilla "
        "record with 'fields' and 'responses')",
        path,
        line,
    )


def _label_studio_choice(annotations: Any, path: Path, line: int) -> str | None:
    """The choice of the newest annotation that was not cancelled."""
    if not isinstance(annotations, list):
        raise InputError("'annotations' is not a list", path, line)
    for annotation in reversed(annotations):
        if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
            continue
        for result in annotation.get("result") or []:
            if isinstance(result, dict) and result.get("from_name") == QUESTION:
                choices = (result.get("value") or {}).get("choices") or []
                if choices:
                    return str(choices[0])
    return None


def _majority(responses: Sequence[Mapping[str, Any]], path: Path, line: int) -> str | None:
    """The label most submitted responses give (ties: the one given first); drafts and discards do not count."""
    values = [str(r.get("value")) for r in responses if r.get("status", "submitted") == "submitted"]
    return Counter(values).most_common(1)[0][0] if values else None


def _item(record_id: Any, text: Any, label: Any, path: Path, line: int) -> Item:
    if record_id is None or str(record_id).strip() == "":
        raise InputError("a reviewed record has no id", path, line)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"reviewed record {record_id!s} has no text", path, line)
    return Item(id=str(record_id), text=text, label=str(label).strip(), line=line)
