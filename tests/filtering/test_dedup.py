"""Normalisation, MinHash LSH and duplicate clusters: planted duplicates are found, nothing else."""

from __future__ import annotations

import csv
import random
from collections import Counter

import numpy as np
import pytest

from llmkd.filtering.dedup import (
    MinHasher,
    candidate_pairs,
    connected_groups,
    find_duplicates,
    jaccard,
    near_duplicate_pairs,
    optimal_bands,
    shingle_set,
)
from llmkd.io.paths import demo_dir
from llmkd.io.text_checks import length_ok, looks_english, non_alpha_fraction, normalize_text


def test_normalize_text() -> None:
    assert normalize_text("  Profit ROSE,  by 5%!\n") == "profit rose by 5"
    assert normalize_text("ﬁnancial Ｑ３") == "financial q3"  # NFKC folds ligatures and full-width forms
    assert normalize_text("Sales rose 5.5% to EUR 1,200 mn", mask_numbers=True) == "sales rose 0 to eur 0 mn"
    assert normalize_text("rose 5%", mask_numbers=True) == normalize_text("rose 7%", mask_numbers=True)
    assert normalize_text("!!!") == ""


def test_text_checks_by_hand() -> None:
    assert length_ok("abcdefgh", 8, 10) and not length_ok("abc", 8, 10) and not length_ok("a" * 11, 8, 10)
    assert non_alpha_fraction("ab12") == 0.5
    assert non_alpha_fraction("   ") == 1.0
    assert looks_english("The company said profit rose in the third quarter of the year.")
    assert looks_english("Nokia Q3 EPS beat")  # short: letters only
    assert not looks_english("Прибыль компании выросла на пять процентов за квартал")
    assert not looks_english("Der Umsatz stieg im dritten Quartal deutlich auf Millionen Euro an")
    # headlines and tweets without a single function word are English too; URLs and tags are not words
    assert looks_english("Exel Composites ' long-term growth prospects remain favourable , however .")
    assert looks_english("London Underground Faces February Bakerloo Line Strike Action")
    assert looks_english(
        "December 2019 Stock Watch List. Continue reading: https://t.co/KPcN46wXqn #investing #stocks"
    )
    assert not looks_english(
        "PRESENTANDO UNA REVOLUCION EN BLANQUEAMIENTO DENTAL: LA PASTA DENTAL COLGATE OPTIC WHITE"
    )
    assert not looks_english(
        "Jeder Tester erhaelt kostenlos sechs Monate lang Updates und laut eigener Aussage Zugang"
    )


def test_shingles_and_jaccard_by_hand() -> None:
    a = shingle_set("profit rose in march", 2)  # {profit rose, rose in, in march}
    b = shingle_set("profit rose in april", 2)  # {profit rose, rose in, in april}
    assert len(a) == 3 and jaccard(a, b) == pytest.approx(2 / 4)
    assert len(shingle_set("profit", 2)) == 1  # shorter than a shingle: one shingle
    assert jaccard(set(), set()) == 1.0


def test_optimal_bands_fit_and_favour_recall() -> None:
    bands, rows = optimal_bands(0.8, 128)
    assert bands * rows <= 128
    assert 1 - (1 - 0.8**rows) ** bands > 0.9  # a pair at the threshold is very likely a candidate
    assert 1 - (1 - 0.3**rows) ** bands < 0.01


def test_minhash_estimates_jaccard() -> None:
    hasher = MinHasher(256, seed=3)
    a = shingle_set(" ".join(f"w{i}" for i in range(40)), 1)
    b = shingle_set(" ".join(f"w{i}" for i in range(10, 50)), 1)  # true Jaccard 30/50 = 0.6
    sig = hasher.signatures([a, b])
    assert sig.shape == (2, 256) and sig.dtype == np.uint32
    assert abs((sig[0] == sig[1]).mean() - 0.6) < 0.1


def test_candidate_pairs_and_groups_by_hand() -> None:
    keys = np.array([[1, 7], [2, 7], [1, 8], [3, 9]], dtype=np.uint64)  # 0~2 in band 0, 0~1 in band 1
    assert candidate_pairs(keys).tolist() == [[0, 1], [0, 2]]
    labels = connected_groups(5, np.array([[0, 1], [3, 4]]))
    assert labels[0] == labels[1] != labels[2] and labels[3] == labels[4] != labels[0]


def _base_sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(3000)]
    return [" ".join(rng.sample(vocab, rng.randint(14, 22))) for _ in range(n)]


def test_planted_near_duplicates_found_and_nothing_else() -> None:
    rng = random.Random(1)
    base = _base_sentences(400)
    texts = list(base)
    planted = {}  # index of the copy -> index of its original
    for original in rng.sample(range(len(base)), 40):
        words = base[original].split()
        words[rng.randrange(1, len(words) - 1)] = "changed"  # one substitution in a middle position
        planted[len(texts)] = original
        texts.append(" ".join(words))
    pairs = near_duplicate_pairs(texts, threshold=0.7)
    found = {tuple(p) for p in pairs.tolist()}
    expected = {(orig, copy) for copy, orig in planted.items()}
    assert found == expected


def test_find_duplicates_exact_near_and_leakage() -> None:
    raw = [
        "Kestrel Logistics raised its full-year outlook after operating profit climbed 42 percent.",
        "KESTREL LOGISTICS raised its full-year outlook, after operating profit climbed 42 percent!",  # exact
        "Kestrel Logistics raised its full year outlook after operating profit climbed 42 percent sharply.",
        "Altamira Foods will close its bakery in Lyon and cut 210 jobs after sales fell.",
        "Brightwater Utilities will publish its half-year report on 24 July.",
    ]
    reference = ["brightwater utilities will publish its half year report on 24 july"]
    dups = find_duplicates([normalize_text(t) for t in raw], reference, threshold=0.7)
    assert dups.exact_group[0] == dups.exact_group[1] != dups.exact_group[2]
    assert dups.cluster[0] == dups.cluster[1] == dups.cluster[2]
    assert len(set(dups.cluster.tolist())) == 3
    assert dups.leaked_exact.tolist() == [False, False, False, False, True]
    assert not dups.leaked_near.any()
    assert dups.near_pairs == 1


def test_demo_templates_are_clustered() -> None:
    """The demo file holds a template used for five companies; dedup finds that cluster."""
    with (demo_dir() / "train.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    dups = find_duplicates([normalize_text(t) for t in texts], threshold=0.8)
    sizes = Counter(dups.cluster.tolist())
    outlook = [i for i, t in enumerate(texts) if "reiterated its full-year outlook and continues" in t]
    assert len(outlook) == 5 and sizes[dups.cluster[outlook[0]]] == 5
    assert len({dups.cluster[i] for i in outlook}) == 1


def test_progress_bars_reach_100_percent(capsys: pytest.CaptureFixture[str]) -> None:
    texts = [
        normalize_text(f"Company {i} reported quarterly sales up {i} percent on strong demand.")
        for i in range(50)
    ]
    texts += texts[:3]  # some exact and near duplicates, so the verify bar has pairs to count
    find_duplicates(texts, threshold=0.5, progress=True)
    err = capsys.readouterr().err
    finals = {}
    for chunk in err.replace("\n", "\r").split("\r"):
        if ":" in chunk and "|" in chunk:
            finals[chunk.split(":")[0].strip()] = chunk
    assert {"hash", "minhash", "verify"} <= set(finals)
    assert "53/53" in finals["hash"] and "100%" in finals["hash"]
    assert all("100%" in line for line in finals.values()), finals
