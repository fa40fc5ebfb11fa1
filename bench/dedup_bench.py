"""Benchmark exact + near dedup (llmkd.filtering.dedup) on synthetic texts with planted duplicates.

    python bench/dedup_bench.py --sizes 10000 100000 1000000 [--datasketch] [--threshold 0.8]

For each size N a fresh subprocess (so peak memory is per size) builds N texts: base sentences of 20-32
words drawn from a Zipf-distributed 30,000-word vocabulary, of which 5% are replaced by exact copies of
another text (case and punctuation changed) and 5% by near copies (one word substituted, inserted or
deleted, which keeps the word-bigram Jaccard at or above about 0.8). It times normalisation and
``find_duplicates`` and reports:

* recall of planted near copies (clustered with their original), also among those whose true
  Jaccard is at or above the threshold, and of planted exact copies;
* precision of the verified near-duplicate pairs (both texts derive from the same base sentence);
* peak resident memory of the subprocess (``ru_maxrss``) and the resident memory before dedup.

``--datasketch`` also times datasketch's MinHash + MinHashLSH (query then insert) on the same texts
for comparison (skipped above 100k: it takes minutes). Results go to ``bench/results/dedup.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "dedup.json"


def synthetic_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """N texts, the base sentence each derives from, and the indices of planted exact/near copies."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(30_000)])
    ranks = np.arange(1, len(vocab) + 1)
    weights = 1.0 / ranks**0.8
    weights /= weights.sum()
    lengths = rng.integers(20, 33, size=n)
    flat = rng.choice(len(vocab), size=int(lengths.sum()), p=weights)
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    texts = [" ".join(vocab[flat[bounds[i] : bounds[i + 1]]]) for i in range(n)]
    base = np.arange(n)
    kinds = rng.permutation(n)
    n_plant = n // 20
    exact_idx, near_idx = np.sort(kinds[:n_plant]), np.sort(kinds[n_plant : 2 * n_plant])
    originals = kinds[2 * n_plant :]
    for i in exact_idx:
        src = int(rng.choice(originals))
        texts[i] = texts[src].upper() + "!"
        base[i] = src
    for i in near_idx:
        src = int(rng.choice(originals))
        words = texts[src].split()
        pos = int(rng.integers(1, len(words) - 1))
        op = int(rng.integers(0, 3))
        if op == 0:
            words[pos] = "edited"
        elif op == 1:
            words.insert(pos, "inserted")
        else:
            del words[pos]
        texts[i] = " ".join(words)
        base[i] = src
    return texts, base, {"exact": exact_idx, "near": near_idx}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def bench_one(n: int, threshold: float, num_perm: int, shingle_size: int, datasketch: bool) -> dict[str, Any]:
    from llmkd.filtering.dedup import find_duplicates, jaccard, near_duplicate_pairs, shingle_set
    from llmkd.io.text_checks import normalize_text

    t0 = time.perf_counter()
    texts, base, planted = synthetic_texts(n)
    gen_s = time.perf_counter() - t0
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    norm = [normalize_text(t) for t in texts]
    norm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    dups = find_duplicates(norm, threshold=threshold, num_perm=num_perm, shingle_size=shingle_size)
    dedup_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cluster = dups.cluster
    near_hit = cluster[planted["near"]] == cluster[base[planted["near"]]]
    near_recall = float(np.mean(near_hit))
    true_j = np.array(
        [
            jaccard(shingle_set(norm[i], shingle_size), shingle_set(norm[base[i]], shingle_size))
            for i in planted["near"]
        ]
    )
    above = true_j >= threshold
    exact_recall = float(
        np.mean(dups.exact_group[planted["exact"]] == dups.exact_group[base[planted["exact"]]])
    )
    # precision of the verified pairs, recomputed over the distinct texts
    _, first = np.unique(dups.exact_group, return_index=True)
    pairs = near_duplicate_pairs(
        [norm[i] for i in first], threshold=threshold, num_perm=num_perm, shingle_size=shingle_size
    )
    same_base = base[first[pairs[:, 0]]] == base[first[pairs[:, 1]]] if len(pairs) else np.array([True])
    result: dict[str, Any] = {
        "n": n,
        "threshold": threshold,
        "num_perm": num_perm,
        "shingle_size": shingle_size,
        "generate_s": round(gen_s, 2),
        "normalize_s": round(norm_s, 2),
        "find_duplicates_s": round(dedup_s, 2),
        "total_dedup_s": round(norm_s + dedup_s, 2),
        "texts_per_s": round(n / (norm_s + dedup_s)),
        "rss_before_dedup_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak, 1),
        "planted_exact": len(planted["exact"]),
        "planted_near": len(planted["near"]),
        "exact_recall": round(exact_recall, 4),
        "near_recall": round(near_recall, 4),
        "planted_near_at_or_above_threshold": int(above.sum()),
        "near_recall_at_or_above_threshold": round(float(np.mean(near_hit[above])), 4),
        "near_pairs_found": len(pairs),
        "near_pair_precision": round(float(np.mean(same_base)), 4),
        "clusters_with_duplicates": int(np.sum(np.bincount(cluster) > 1)),
    }
    if datasketch and n <= 100_000:
        result["datasketch_s"] = round(datasketch_time(norm, threshold, num_perm, shingle_size), 2)
    return result


def datasketch_time(norm: list[str], threshold: float, num_perm: int, shingle_size: int) -> float:
    """Seconds for datasketch MinHash + MinHashLSH (query, then insert) over the same normalised texts."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, text in enumerate(norm):
        tokens = text.split()
        grams = {
            " ".join(tokens[j : j + shingle_size]) for j in range(max(1, len(tokens) - shingle_size + 1))
        }
        m = MinHash(num_perm=num_perm)
        m.update_batch([g.encode() for g in grams])
        lsh.query(m)
        lsh.insert(str(i), m, check_duplication=False)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--shingle-size", type=int, default=2)
    parser.add_argument("--datasketch", action="store_true", help="Also time datasketch (sizes <= 100k).")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size in this process
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.one:
        print(
            json.dumps(bench_one(args.one, args.threshold, args.num_perm, args.shingle_size, args.datasketch))
        )
        return 0
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for n in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(n),
            "--threshold",
            str(args.threshold),
            "--num-perm",
            str(args.num_perm),
            "--shingle-size",
            str(args.shingle_size),
        ]
        if args.datasketch:
            cmd.append("--datasketch")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(row))
        results[str(n)] = row
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
