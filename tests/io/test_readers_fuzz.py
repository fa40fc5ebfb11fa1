"""Property tests: any bytes in an input file give valid Items or an InputError, never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkd.errors import InputError
from llmkd.io.readers import InputSpec, read_items

LABELS = ["positive", "negative", "neutral"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes biased towards the characters that matter to the parsers, plus anything else.
SPECIAL = [b",", b'"', b"\n", b"\r\n", b"\r", b"@", b"{", b"}", b":", b"text", b"label", b"id", b'"text"',
           b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\x00", b" ", b"positive", b"0", b"\\ud800"]  # fmt: skip
chunks = st.lists(st.one_of(st.sampled_from(SPECIAL), st.binary(max_size=8)), max_size=40).map(b"".join)
raw_bytes = st.one_of(st.binary(max_size=200), chunks)
csv_like = chunks.map(lambda b: b"text,label\n" + b)
jsonl_like = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "id": st.integers(0, 3),
                "text": st.text(max_size=10),
                "label": st.sampled_from(["0", "1", "x", "", "Neutral"]),
            }
        ),
        st.dictionaries(st.text(max_size=4), st.integers() | st.none() | st.text(max_size=4), max_size=3),
    ),
    max_size=5,
).map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode())


def check(data: bytes, suffix: str, labels: list[str] | None = None, **spec_kwargs: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        spec = InputSpec(str(path), **spec_kwargs)  # type: ignore[arg-type]
        try:
            items = read_items(spec, labels)
        except InputError as exc:
            assert exc.path is not None and path.name in str(exc)
            return
    assert items, "an empty input must raise, not return []"
    ids = [i.id for i in items]
    assert len(set(ids)) == len(ids)
    for item in items:
        assert isinstance(item.text, str) and item.text.strip() == item.text and item.text
        assert item.line is not None and item.line >= 1
        assert labels is None or item.label is None or item.label in labels
    lines = [i.line for i in items]
    assert lines == sorted(lines)


@SETTINGS
@given(data=st.one_of(raw_bytes, csv_like))
def test_csv_bytes(data: bytes) -> None:
    check(data, ".csv")


@SETTINGS
@given(data=st.one_of(raw_bytes, csv_like))
def test_csv_bytes_with_labels(data: bytes) -> None:
    check(data, ".csv", LABELS, label_column="label", label_map="0=negative,1=positive")


@SETTINGS
@given(data=st.one_of(raw_bytes, jsonl_like))
def test_jsonl_bytes(data: bytes) -> None:
    check(data, ".jsonl")


@SETTINGS
@given(data=st.one_of(raw_bytes, jsonl_like))
def test_jsonl_bytes_with_ids_and_labels(data: bytes) -> None:
    check(data, ".jsonl", LABELS, id_column="id", label_column="label", label_map="0=negative,1=positive")


@SETTINGS
@given(data=raw_bytes)
def test_txt_bytes(data: bytes) -> None:
    check(data, ".txt")


@SETTINGS
@given(data=raw_bytes)
def test_txt_bytes_as_phrasebank(data: bytes) -> None:
    check(data, ".txt", LABELS, format="phrasebank")
