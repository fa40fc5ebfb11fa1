"""Shard assignment (stable across processes, a partition) and the Parquet labels parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.errors import ConfigError
from llmkd.run.label_parts import part_rows, read_label_part, write_label_part
from llmkd.run.shards import RunLayout, Shard, found_shards, shard_index

IDS = [f"row-{i}" for i in range(500)] + ["é", "", "a/b", "12"]


@pytest.mark.parametrize("count", [1, 2, 4, 7])
def test_shards_partition_the_ids(count: int) -> None:
    holders = [[s for s in range(count) if Shard(s, count).holds(i)] for i in IDS]
    assert all(len(h) == 1 for h in holders)
    if count > 1:
        assert len({h[0] for h in holders}) == count  # no shard left empty on 500 ids


def test_assignment_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = "import json,sys; from llmkd.run.shards import shard_index; print(json.dumps([shard_index(i, 16) for i in json.loads(sys.argv[1])]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(IDS)], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == [shard_index(i, 16) for i in IDS]


@pytest.mark.parametrize("text", ["3", "3/3", "-1/4", "a/b", "1/0", "2/100000"])
def test_bad_shard_specs_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        Shard.parse(text)


def test_layout_names_and_discovery(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, Shard.parse("3/16"))
    assert layout.ledger == tmp_path / "ledger" / "shard-00003-of-00016.sqlite"
    assert layout.labels == tmp_path / "labels" / "part-00003-of-00016.parquet"
    assert RunLayout(tmp_path).ledger == tmp_path / "ledger.sqlite"
    write_label_part(layout.labels, [])
    assert found_shards(tmp_path) == {Shard(3, 16)}


def test_parts_round_trip_every_record_exactly(tmp_path: Path) -> None:
    records = [
        {
            "id": "a", "text": "Sales up", "label": "positive",
            "probs": {"positive": 0.7, "negative": 0.1, "neutral": 0.2}, "rationale": "growth",
            "teacher": "t", "source": "input", "status": "ok", "prob_method": "logprobs", "gold": None,
            "teachers": {"t": {"label": "positive", "probs": {"positive": 1.0}}},
        },
        {
            "id": "b", "text": "x", "label": None, "probs": None, "rationale": None, "teacher": "t",
            "source": "augmented", "status": "pending", "prob_method": "none", "gold": 3, "teachers": {},
            "error": "not labelled yet", "round": [1, 2],
        },
        {"id": "c", "text": "only two keys"},
    ]  # fmt: skip
    path = write_label_part(tmp_path / "part.parquet", records)
    assert part_rows(path) == 3
    assert list(read_label_part(path)) == records
