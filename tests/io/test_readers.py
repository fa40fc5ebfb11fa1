"""Input readers: every format, the shared data files, and every kind of bad input."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from llmkd.errors import ConfigError, InputError
from llmkd.io.readers import InputSpec, detect_format, parse_label_map, read_items, text_id

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PHRASEBANK = DATA / "financial_phrasebank" / "Sentences_50Agree.txt"
TFNS = DATA / "tfns" / "sent_train.csv"
LABELS = ["positive", "negative", "neutral"]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def error_of(spec: InputSpec, labels: list[str] | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        read_items(spec, labels)
    return info.value


def assert_error(err: InputError, path: Path | str, line: int | None, *fragments: str) -> None:
    assert Path(str(err.path)).name == Path(path).name
    assert err.line == line
    message = str(err)
    assert Path(path).name in message
    if line is not None:
        assert f":{line}:" in message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------- helpers


def test_text_id_is_stable_and_strips() -> None:
    assert text_id("  Profit rose. \n") == text_id("Profit rose.")
    assert len(text_id("x")) == 16 and int(text_id("x"), 16) >= 0
    assert text_id("a") != text_id("b")
    # sha256("abc") starts with ba7816bf8f01cfea
    assert text_id("abc") == "ba7816bf8f01cfea"


def test_parse_label_map() -> None:
    assert parse_label_map("0=negative, 1=positive,2 = neutral,") == {
        "0": "negative",
        "1": "positive",
        "2": "neutral",
    }
    assert parse_label_map(None) == {}
    assert parse_label_map("  ") == {}


@pytest.mark.parametrize("bad", ["0", "0=", "=negative", "0=a,0=b", "0:negative"])
def test_parse_label_map_rejects_bad_syntax(bad: str) -> None:
    with pytest.raises(ConfigError, match="--label-map"):
        parse_label_map(bad)


def test_label_map_target_outside_task_labels(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "text,label\nhi,0\n")
    spec = InputSpec(str(path), label_column="label", label_map="0=bearish")
    with pytest.raises(ConfigError, match=r"--label-map.*'bearish'"):
        read_items(spec, LABELS)


def test_limit_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="--limit"):
        InputSpec("x.csv", limit=0)


# ---------------------------------------------------------------- formats round-trip

ROWS = [
    {"id": "a1", "text": "Profit rose, sharply.", "label": "1"},
    {"id": "a2", "text": 'He said "sell" now', "label": "0"},
    {"id": "a3", "text": "Nothing changed", "label": "2"},
]
MAP = "0=negative,1=positive,2=neutral"
EXPECTED = [("a1", "Profit rose, sharply.", "positive"), ("a2", 'He said "sell" now', "negative"),
            ("a3", "Nothing changed", "neutral")]  # fmt: skip


def triples(items: list) -> list[tuple[str, str, str | None]]:
    return [(i.id, i.text, i.label) for i in items]


def test_csv_round_trip_with_bom_crlf_and_multiline_field(tmp_path: Path) -> None:
    text = (
        "\ufeffid,text,label\r\n"
        'a1,"Profit rose, sharply.",1\r\n'
        "\r\n"
        'a2,"He said ""sell"" now",0\r\n'
        'a3,"Nothing\r\nchanged",2\r\n'
        "a4,last,1\r\n"
    )
    path = write(tmp_path / "in.csv", text)
    items = read_items(InputSpec(str(path), id_column="id", label_column="label", label_map=MAP), LABELS)
    assert [(i.id, i.label, i.line) for i in items] == [
        ("a1", "positive", 2),
        ("a2", "negative", 4),
        ("a3", "neutral", 5),
        ("a4", "positive", 7),
    ]
    assert items[1].text == 'He said "sell" now'
    assert items[2].text == "Nothing\r\nchanged"
    assert all(i.source == "input" for i in items)


def test_csv_without_id_uses_text_hash(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "text\n  Profit rose  \nProfit fell\n")
    items = read_items(InputSpec(str(path)))
    assert [i.id for i in items] == [text_id("Profit rose"), text_id("Profit fell")]
    assert [i.text for i in items] == ["Profit rose", "Profit fell"]
    assert all(i.label is None for i in items)


def test_duplicate_texts_get_distinct_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "in.txt", "same\nother\nsame\nsame\n")
    ids = [i.id for i in read_items(InputSpec(str(path)))]
    h = text_id("same")
    assert ids == [h, text_id("other"), f"{h}-2", f"{h}-3"]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in ROWS]
    path = write(tmp_path / "in.jsonl", "\ufeff" + lines[0] + "\r\n\r\n" + "\r\n".join(lines[1:]) + "\r\n")
    items = read_items(InputSpec(str(path), id_column="id", label_column="label", label_map=MAP), LABELS)
    assert triples(items) == EXPECTED
    assert [i.line for i in items] == [1, 3, 4]


def test_jsonl_integer_labels_and_ids(tmp_path: Path) -> None:
    rows = [{"i": 7, "sentence": "up", "y": 1}, {"i": 8, "sentence": "down", "y": 0}]
    path = write(tmp_path / "in.ndjson", "\n".join(json.dumps(r) for r in rows))
    spec = InputSpec(str(path), text_column="sentence", id_column="i", label_column="y", label_map=MAP)
    assert triples(read_items(spec, LABELS)) == [("7", "up", "positive"), ("8", "down", "negative")]


def test_jsonl_null_label_means_no_gold(tmp_path: Path) -> None:
    path = write(tmp_path / "in.json", '{"text": "a", "label": null}\n{"text": "b", "label": "neutral"}\n')
    items = read_items(InputSpec(str(path), label_column="label"), LABELS)
    assert [i.label for i in items] == [None, "neutral"]


def test_parquet_round_trip(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    table = pa.table(
        {"id": [r["id"] for r in ROWS], "text": [r["text"] for r in ROWS], "label": [1, 0, 2], "x": [0, 0, 0]}
    )
    pq.write_table(table, path, row_group_size=2)
    items = read_items(InputSpec(str(path), id_column="id", label_column="label", label_map=MAP), LABELS)
    assert triples(items) == EXPECTED
    assert [i.line for i in items] == [1, 2, 3]


def test_plain_text_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path / "in.txt", "\ufeffFirst line\r\n\r\n  Second @ noon line  \r\nThird\r\n")
    items = read_items(InputSpec(str(path)))
    assert detect_format(InputSpec(str(path))) == "text"
    assert [(i.text, i.line, i.label) for i in items] == [
        ("First line", 1, None),
        ("Second @ noon line", 3, None),
        ("Third", 4, None),
    ]


def test_phrasebank_splits_on_last_at(tmp_path: Path) -> None:
    path = write(tmp_path / "pb.txt", "\ufeffMail info@corp.com today .@neutral\r\nProfit up .@positive\r\n")
    assert detect_format(InputSpec(str(path))) == "phrasebank"
    items = read_items(InputSpec(str(path)), LABELS)
    assert [(i.text, i.label, i.line) for i in items] == [
        ("Mail info@corp.com today .", "neutral", 1),
        ("Profit up .", "positive", 2),
    ]


def test_format_flag_overrides_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "data.dat", '{"text": "x"}\n')
    assert [i.text for i in read_items(InputSpec(str(path), format="jsonl"))] == ["x"]
    pb = write(tmp_path / "pb.txt", "Profit up .@positive\n")
    assert read_items(InputSpec(str(pb), format="text"))[0].text == "Profit up .@positive"


def test_limit_takes_first_items_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path / "in.txt", "a\nb\nc\nd\n")
    assert [i.text for i in read_items(InputSpec(str(path), limit=2))] == ["a", "b"]
    # A bad row after the limit is never read.
    bad = write(tmp_path / "bad.jsonl", '{"text": "a"}\n{oops\n')
    assert len(read_items(InputSpec(str(bad), limit=1))) == 1


def test_label_case_is_folded_to_task_label(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "text,label\nx,Positive\n")
    assert read_items(InputSpec(str(path), label_column="label"), LABELS)[0].label == "positive"


def test_hf_local_dataset(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"sentence": ["up", "down", "flat"], "label": [1, 0, 2]})
    ds.save_to_disk(str(tmp_path / "ds"))
    spec = InputSpec(f"hf:{tmp_path / 'ds'}", text_column="sentence", label_column="label", label_map=MAP)
    items = read_items(spec, LABELS)
    assert [(i.text, i.label, i.line) for i in items] == [
        ("up", "positive", 1),
        ("down", "negative", 2),
        ("flat", "neutral", 3),
    ]
    assert detect_format(spec) == "hf"


def test_hf_local_dataset_dict_splits(tmp_path: Path) -> None:
    import datasets

    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["t1", "t2"], "id": ["x", "y"]}),
            "test": datasets.Dataset.from_dict({"text": ["s1"], "id": ["z"]}),
        }
    )
    root = tmp_path / "dd"
    dd.save_to_disk(str(root))
    assert [i.text for i in read_items(InputSpec(f"hf:{root}", id_column="id"))] == ["t1", "t2"]
    assert [i.id for i in read_items(InputSpec(f"hf:{root}:test", id_column="id"))] == ["z"]
    assert [i.id for i in read_items(InputSpec(f"hf:{root}::test", id_column="id"))] == ["z"]
    err = error_of(InputSpec(f"hf:{root}:validation"))
    assert "'validation'" in str(err) and "'train'" in str(err) and "'test'" in str(err)
    err = error_of(InputSpec(f"hf:{root}", text_column="sentence"))
    assert "'sentence'" in str(err) and "'text'" in str(err) and "dd" in str(err)


# ---------------------------------------------------------------- the shared data files


def test_real_phrasebank() -> None:
    items = read_items(InputSpec(str(PHRASEBANK)), LABELS)
    assert len(items) == 4846
    assert collections.Counter(i.label for i in items) == {"neutral": 2879, "positive": 1363, "negative": 604}
    assert len({i.id for i in items}) == 4846
    assert items[0].text.startswith("According to Gran")  # BOM stripped
    assert items[0].line == 1 and items[-1].line == 4846
    assert not any(i.text.endswith("\r") for i in items)


def test_real_tfns_with_label_map() -> None:
    spec = InputSpec(str(TFNS), label_column="label", label_map="0=negative,1=positive,2=neutral")
    items = read_items(spec, LABELS)
    assert len(items) == 9543
    assert collections.Counter(i.label for i in items) == {
        "neutral": 6178,
        "positive": 1923,
        "negative": 1442,
    }
    assert len({i.id for i in items}) == 9543


def test_real_tfns_without_label_map_names_the_fix() -> None:
    err = error_of(InputSpec(str(TFNS), label_column="label"), LABELS)
    assert_error(err, TFNS, 2, "'0'", "positive, negative, neutral", "--label-map")


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(InputSpec(str(tmp_path / "nope.csv")))
    assert_error(err, "nope.csv", None, "not found")


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "in.xlsx", "x")
    assert_error(error_of(InputSpec(str(path))), path, None, "--format")


def test_csv_missing_column_names_existing(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "sentence,label\nx,1\n")
    assert_error(error_of(InputSpec(str(path))), path, 1, "'text'", "'sentence', 'label'")


def test_csv_unclosed_quote_names_row_start(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'text,label\nok,1\n"never closed,1\nmore,2\nlast,0\n')
    assert_error(error_of(InputSpec(str(path))), path, 3, "stopped at line 5")


def test_csv_stray_quote(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'text,label\nok,1\nok,2\n"quoted"junk,1\n')
    assert_error(error_of(InputSpec(str(path))), path, 4, "'\"'")


def test_csv_wrong_field_count(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "text,label\nok,1\n\nProfit, up,1\n")
    assert_error(error_of(InputSpec(str(path))), path, 4, "3 fields", "header has 2")


def test_csv_undecodable_byte(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"text\nfine\nalso fine\n" + b"caf\xe9\n")
    assert_error(error_of(InputSpec(str(path))), path, 4, "UTF-8", "\\xe9")


def test_csv_empty_text(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'text,label\nok,1\n"   ",2\n')
    assert_error(error_of(InputSpec(str(path))), path, 3, "empty text")


def test_csv_duplicate_id(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "id,text\n1,a\n2,b\n1,c\n")
    assert_error(error_of(InputSpec(str(path), id_column="id")), path, 4, "duplicate id '1'", "line 2")


def test_csv_empty_id(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "id,text\n1,a\n,b\n")
    assert_error(error_of(InputSpec(str(path), id_column="id")), path, 3, "empty id")


def test_csv_unknown_label(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "text,label\na,positive\nb,bullish\n")
    err = error_of(InputSpec(str(path), label_column="label"), LABELS)
    assert_error(err, path, 3, "'bullish'", "positive, negative, neutral", "--label-map")


def test_csv_unknown_label_after_map(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "text,label\na,0\nb,3\n")
    err = error_of(InputSpec(str(path), label_column="label", label_map=MAP), LABELS)
    assert_error(err, path, 3, "'3'")


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ("", "in.csv"),
        ("text,label\n", "in.csv"),
        ("\n\n", "in.txt"),
        ("", "in.jsonl"),
        ("\ufeff\r\n", "x.txt"),
    ],
)
def test_empty_input(tmp_path: Path, content: str, name: str) -> None:
    path = write(tmp_path / name, content)
    assert_error(error_of(InputSpec(str(path))), path, None, "no items")


def test_jsonl_bad_json(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"text": "a"}\n\n{"text": "b",}\n')
    assert_error(error_of(InputSpec(str(path))), path, 3, "bad JSON")


def test_jsonl_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "in.json", '[{"text": "a"}]\n')
    assert_error(error_of(InputSpec(str(path))), path, 1, "JSON array")


def test_jsonl_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"text": "a"}\n{"sentence": "b"}\n')
    assert_error(error_of(InputSpec(str(path))), path, 2, "'text'", "'sentence'")


def test_jsonl_text_not_a_string(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"text": "a"}\n{"text": 5}\n')
    assert_error(error_of(InputSpec(str(path))), path, 2, "int, not a string")


def test_jsonl_null_text(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"text": null}\n')
    assert_error(error_of(InputSpec(str(path))), path, 1, "empty text")


def test_jsonl_lone_surrogate(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"text": "ok"}\n{"text": "bad \\ud800"}\n')
    assert_error(error_of(InputSpec(str(path))), path, 2, "surrogate")


def test_text_undecodable_byte(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"one\r\ntwo\r\n\xff\xfethree\r\n")
    assert_error(error_of(InputSpec(str(path))), path, 3, "UTF-8")


def test_phrasebank_empty_sentence_and_unknown_label(tmp_path: Path) -> None:
    path = write(tmp_path / "pb.txt", "Good .@positive\n  @neutral\n")
    assert_error(error_of(InputSpec(str(path)), LABELS), path, 2, "empty text")
    path = write(tmp_path / "pb2.txt", "Good .@positive\nBad .@bad\n")
    assert_error(error_of(InputSpec(str(path)), LABELS), path, 2, "'bad'", "--label-map")


def test_phrasebank_line_without_label(tmp_path: Path) -> None:
    path = write(tmp_path / "pb.txt", "Good .@positive\nno label here\n")
    assert_error(error_of(InputSpec(str(path), format="phrasebank")), path, 2, "sentence@label")


def test_parquet_missing_column_and_null_text(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a", None], "y": [1, 2]}), path)
    assert_error(error_of(InputSpec(str(path), label_column="label")), path, None, "'label'", "'text', 'y'")
    assert_error(error_of(InputSpec(str(path))), path, 2, "empty text")


def test_parquet_not_parquet(tmp_path: Path) -> None:
    path = write(tmp_path / "in.parquet", "text\nhello\n")
    assert_error(error_of(InputSpec(str(path))), path, None, "Parquet")


def test_hf_missing_dataset_is_input_error(tmp_path: Path) -> None:
    err = error_of(InputSpec(f"hf:{tmp_path / 'absent' / 'x'}", format="hf"))
    assert "cannot load dataset" in str(err)
