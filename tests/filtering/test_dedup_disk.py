"""Bounded-memory near-duplicate search: the same clusters, leakage and pair counts as the in-memory path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmkd.filter import main
from llmkd.filtering.dedup import connected_groups, find_duplicates
from llmkd.filtering.dedup_disk import DiskTexts, UnionFind, near_duplicate_components, partitions
from llmkd.run.files import read_jsonl, write_jsonl

WORDS = [
    *("profit", "sales", "revenue", "rose", "fell", "quarter", "year", "operating", "outlook", "dividend"),
    *("bank", "loss", "margin", "guidance", "shares", "market", "demand", "costs", "orders", "growth"),
    *("net", "million", "euro", "company", "group", "plant", "jobs", "deal", "supply"),
]


def planted(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` random sentences of which a fifth are near or exact copies (chains, too), and a reference set
    holding near copies of some of them."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(12, 20)))) for _ in range(n)]
    for i in rng.choice(n, size=n // 5, replace=False):
        words = texts[int(rng.integers(0, n))].split()
        words[int(rng.integers(1, len(words) - 1))] = "edited"
        texts[int(i)] = " ".join(words) if rng.random() < 0.8 else texts[int(rng.integers(0, n))]
    reference = []
    for i in rng.choice(n, size=10, replace=False):
        words = texts[int(i)].split()
        reference.append(" ".join([*words[:-1], "changed"]))
    return texts, reference


@pytest.mark.parametrize("memory_mb", [0.01, 1.0])  # many hash partitions per band, then one
def test_bounded_search_finds_the_same_duplicates(tmp_path: Path, memory_mb: float) -> None:
    texts, reference = planted(1500)
    assert partitions(1500, 0.01) > 4 and partitions(1500, 1.0) == 1
    fast = find_duplicates(texts, reference, threshold=0.7)
    disk = find_duplicates(texts, reference, threshold=0.7, memory_mb=memory_mb, workdir=tmp_path)
    assert fast.near_pairs > 100 and fast.leaked_near.sum() > 0
    assert disk.near_pairs == fast.near_pairs
    for name in ("exact_group", "cluster", "leaked_exact", "leaked_near"):
        assert np.array_equal(getattr(disk, name), getattr(fast, name)), name
    assert list(tmp_path.iterdir()) == []  # the temporary files are gone
    forced = find_duplicates(texts, reference, threshold=0.7, memory_mb=2048, on_disk=True, workdir=tmp_path)
    assert np.array_equal(forced.cluster, fast.cluster) and forced.near_pairs == fast.near_pairs


def test_texts_read_from_disk_give_the_same_components(tmp_path: Path) -> None:
    texts = list(dict.fromkeys(planted(600, seed=1)[0]))  # distinct: find_duplicates searches those
    stored = DiskTexts.write(texts, tmp_path / "texts")
    assert list(stored) == texts
    fast = find_duplicates(texts, threshold=0.7)
    near = near_duplicate_components(stored, len(stored), threshold=0.7, memory_mb=0.01, workdir=tmp_path)
    # the same partition of the texts (find_duplicates numbers its clusters in another order)
    same = set(zip(near.cluster.tolist(), fast.cluster.tolist(), strict=True))
    assert len(same) == len(set(near.cluster.tolist())) == len(set(fast.cluster.tolist())) < len(texts)
    assert near.pairs == fast.near_pairs > 50


def test_disk_texts_keep_unicode_and_empty_texts(tmp_path: Path) -> None:
    texts = ["", "Umsatz stieg um 5 % — ¥ und €", "", "x"]
    stored = DiskTexts.write(texts, tmp_path / "t")
    assert [stored[i] for i in range(len(stored))] == texts
    assert list(DiskTexts.write(["", ""], tmp_path / "e")) == ["", ""]


def test_union_find_numbers_components_as_scipy() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    pairs = rng.integers(0, n, size=(1500, 2))
    groups = UnionFind(n)
    for chunk in np.array_split(pairs, 7):  # streamed in pieces
        groups.union(chunk.astype(np.int32))
    assert np.array_equal(groups.labels(), connected_groups(n, pairs))


def test_filter_with_little_dedup_memory_keeps_the_same_records(tmp_path: Path) -> None:
    texts, _ = planted(300, seed=2)
    records = [
        {"id": f"r{i}", "text": t, "label": "neutral", "status": "ok", "teacher": "t1"}
        for i, t in enumerate(texts)
    ]
    outputs = []
    for memory in ("2048", "0.001"):
        run = tmp_path / memory
        run.mkdir()
        write_jsonl(run / "labels.jsonl", records)
        assert (
            main(
                [
                    "--run",
                    str(run),
                    "--no-progress",
                    "--dedup-memory-mb",
                    memory,
                    "--near-dup-threshold",
                    "0.7",
                ]
            )
            == 0
        )
        removed = {r["id"]: (r["reasons"], r.get("duplicate_of")) for r in read_jsonl(run / "removed.jsonl")}
        outputs.append(removed)
        assert not [p for p in run.iterdir() if p.name.startswith(".dedup-")]
    assert outputs[0] == outputs[1]
    assert sum("near_duplicate" in reasons for reasons, _ in outputs[0].values()) > 10
