"""Near-duplicate search at scale: time, peak memory and planted-pair recall at 100k to 1M texts, projected to 10M.

    nice -n 5 python bench/dedup_scale/run.py --sizes 100000 300000 1000000 [--memory-mb 256] [--in-memory]

Texts are financial-news-like sentences from a word-bigram Markov chain fitted on the Financial PhraseBank
and TFNS tweets (read from ../shared/data, never copied), 18-40 words each. In every chunk of 100k texts, 5%
are replaced by exact copies of another text of the chunk (upper case, "!") and 5% by near copies (one word
substituted, inserted or deleted): the planted pairs are the ground truth. The normalised texts go to a
:class:`~llmkd.filtering.dedup_disk.DiskTexts` store under ``bench/dedup_scale/runs/`` (gitignored).

Each size runs in a fresh subprocess (so peak memory is per size): ``find_duplicates`` over the on-disk
texts with ``memory_mb`` (the bounded path; ``--in-memory`` adds a run of the in-memory path over the same
texts loaded as a list). Peak RSS is ``ru_maxrss``; a thread also samples ``/proc/self/statm`` every 0.1 s.
Results: ``bench/results/dedup_scale.json``, with a linear fit of time and peak memory projected to 10M.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data"
RUNS = HERE / "runs"
RESULTS = HERE.parent / "results" / "dedup_scale.json"
CHUNK = 100_000


def corpus() -> list[list[str]]:
    """Tokenised sentences of the Financial PhraseBank and the TFNS tweets."""
    lines = (DATA / "financial_phrasebank" / "Sentences_50Agree.txt").read_text(encoding="utf-8-sig")
    sentences = [line.rpartition("@")[0].split() for line in lines.splitlines() if "@" in line]
    with open(DATA / "tfns" / "sent_train.csv", encoding="utf-8", newline="") as handle:
        sentences += [row["text"].split() for row in csv.DictReader(handle)]
    return [s for s in sentences if s]


class BigramChain:
    """Word-bigram Markov chain; a word without successors continues like a sentence start."""

    def __init__(self, sentences: list[list[str]]) -> None:
        vocab = sorted({w for s in sentences for w in s})
        index = {w: i for i, w in enumerate(vocab)}
        self.vocab = np.array(vocab, dtype=object)
        v = len(vocab)
        starts = np.array([index[s[0]] for s in sentences])
        pairs = np.array([(index[a], index[b]) for s in sentences for a, b in itertools.pairwise(s)])
        codes, counts = np.unique(pairs[:, 0] * v + pairs[:, 1], return_counts=True)
        src, dst = codes // v, codes % v
        s_codes, s_counts = np.unique(starts, return_counts=True)
        dead = np.setdiff1d(np.arange(v), src)  # no successor: restart like a sentence start
        src = np.concatenate((src, np.repeat(dead, len(s_codes))))
        dst = np.concatenate((dst, np.tile(s_codes, len(dead))))
        counts = np.concatenate((counts, np.tile(s_counts, len(dead))))
        order = np.lexsort((dst, src))
        src, self.dst, counts = src[order], dst[order], counts[order].astype(float)
        totals = np.bincount(src, weights=counts, minlength=v)
        within = np.cumsum(counts) - np.concatenate(([0.0], np.cumsum(totals)))[src]
        self.cum = src + within / totals[src]  # row r covers (r, r + 1]
        self.start_p = s_counts / s_counts.sum()
        self.start_ids = s_codes

    def sentences(self, n: int, rng: np.random.Generator) -> list[str]:
        lengths = rng.integers(18, 41, size=n)
        words = np.empty((n, int(lengths.max())), dtype=np.int64)
        words[:, 0] = rng.choice(self.start_ids, size=n, p=self.start_p)
        for t in range(1, words.shape[1]):
            target = words[:, t - 1] + rng.random(n)
            words[:, t] = self.dst[np.minimum(np.searchsorted(self.cum, target), len(self.dst) - 1)]
        return [" ".join(self.vocab[row[:k]]) for row, k in zip(words, lengths, strict=True)]


def planted_chunk(
    chain: BigramChain, n: int, offset: int, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``n`` texts with 5% exact and 5% near copies of other texts of the chunk: texts, exact and near
    pairs ``(copy, original)`` as global indices."""
    texts = chain.sentences(n, rng)
    kinds = rng.permutation(n)
    k = n // 20
    exact, near, originals = kinds[:k], kinds[k : 2 * k], kinds[2 * k :]
    src_exact, src_near = rng.choice(originals, size=k), rng.choice(originals, size=k)
    for i, s in zip(exact, src_exact, strict=True):
        texts[i] = texts[s].upper() + "!"
    for i, s in zip(near, src_near, strict=True):
        words = texts[s].split()
        pos, op = int(rng.integers(1, len(words) - 1)), int(rng.integers(0, 3))
        if op == 0:
            words[pos] = "revised"
        elif op == 1:
            words.insert(pos, "reportedly")
        else:
            del words[pos]
        texts[i] = " ".join(words)
    return (
        texts,
        np.stack((exact, src_exact), axis=1) + offset,
        np.stack((near, src_near), axis=1) + offset,
    )


def build(n: int, folder: Path, seed: int = 0) -> None:
    """Write ``n`` normalised texts and the planted pairs under ``folder``."""
    from llmkd.filtering.dedup_disk import DiskTexts
    from llmkd.io.text_checks import normalize_text

    chain, rng = BigramChain(corpus()), np.random.default_rng(seed)
    exact, near = [], []

    def texts() -> Iterator[str]:
        for offset in range(0, n, CHUNK):
            chunk, e, m = planted_chunk(chain, min(CHUNK, n - offset), offset, rng)
            exact.append(e)
            near.append(m)
            yield from (normalize_text(t) for t in chunk)

    DiskTexts.write(texts(), folder)
    np.save(folder / "exact_pairs.npy", np.concatenate(exact))
    np.save(folder / "near_pairs.npy", np.concatenate(near))


class RssSampler(threading.Thread):
    """Samples the resident memory every 0.1 s; ``peak_mb`` is the largest seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb, self.stop = 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.peak_mb = max(self.peak_mb, rss_mb())


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def measure(folder: Path, memory_mb: float | None, threshold: float) -> dict[str, Any]:
    """Run ``find_duplicates`` on the stored texts (bounded, or in memory when ``memory_mb`` is None)."""
    from llmkd.filtering.dedup import find_duplicates
    from llmkd.filtering.dedup_disk import DiskTexts
    from llmkd.filtering.minhash import jaccard, shingle_set

    stored = DiskTexts(folder)
    texts = list(stored) if memory_mb is None else stored
    before = rss_mb()
    sampler = RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    dups = find_duplicates(
        texts, threshold=threshold, memory_mb=memory_mb, workdir=folder, on_disk=bool(memory_mb)
    )
    seconds = time.perf_counter() - t0
    sampler.stop.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    exact, near = np.load(folder / "exact_pairs.npy"), np.load(folder / "near_pairs.npy")
    found = dups.cluster[near[:, 0]] == dups.cluster[near[:, 1]]
    true_j = np.array([jaccard(shingle_set(stored[i], 2), shingle_set(stored[j], 2)) for i, j in near])
    above = true_j >= threshold
    return {
        "path": "in-memory" if memory_mb is None else "bounded",
        "memory_mb": memory_mb,
        "find_duplicates_s": round(seconds, 1),
        "texts_per_s": round(len(stored) / seconds),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_sampled_mb": round(sampler.peak_mb, 1),
        "planted_exact": len(exact),
        "exact_recall": round(
            float(np.mean(dups.exact_group[exact[:, 0]] == dups.exact_group[exact[:, 1]])), 4
        ),
        "planted_near": len(near),
        "near_recall": round(float(np.mean(found)), 4),
        "planted_near_at_or_above_threshold": int(above.sum()),
        "near_recall_at_or_above_threshold": round(float(np.mean(found[above])), 4),
        "near_pairs_found": dups.near_pairs,
        "clusters_with_duplicates": int(np.sum(np.bincount(dups.cluster) > 1)),
        "cluster_digest": hashlib.blake2b(dups.cluster.astype(np.int64).tobytes(), digest_size=8).hexdigest(),
    }


def child(args: list[str]) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process under the same interpreter; its last JSON line."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def projection(rows: list[dict[str, Any]], target: int) -> dict[str, Any]:
    """Least-squares lines through (n, seconds) and (n, peak RSS) of the bounded runs, evaluated at ``target``."""
    n = np.array([r["n"] for r in rows], dtype=float)
    out: dict[str, Any] = {"n": target, "fitted_on": [int(x) for x in n]}
    for key in ("find_duplicates_s", "peak_rss_mb"):
        slope, intercept = np.polyfit(n, [r[key] for r in rows], 1)
        out[key] = round(float(slope * target + intercept), 1)
        out[f"{key}_per_million_texts"] = round(float(slope * 1e6), 2)
        out[f"{key}_intercept"] = round(float(intercept), 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--memory-mb", type=float, default=256.0, help="Working memory of the bounded path.")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--in-memory", action="store_true", help="Also run the in-memory path on each size.")
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)  # internal: write the texts of one size
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: dedup one size
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.build:
        t0 = time.perf_counter()
        build(args.build, RUNS / str(args.build))
        print(json.dumps({"build_s": round(time.perf_counter() - t0, 1)}))
        return 0
    if args.measure:
        memory = None if args.memory_mb <= 0 else args.memory_mb
        print(json.dumps(measure(RUNS / str(args.measure), memory, args.threshold)))
        return 0
    rows, compared = [], []
    for n in args.sizes:
        if not (RUNS / str(n) / "near_pairs.npy").is_file():
            print(f"{n}: generating texts", child(["--build", str(n)]), flush=True)
        load = os.getloadavg()
        row = {"n": n, **child(["--measure", str(n), "--memory-mb", str(args.memory_mb)]), "loadavg": load}
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.in_memory:
            load = os.getloadavg()
            other = {"n": n, **child(["--measure", str(n), "--memory-mb", "0"]), "loadavg": os.getloadavg()}
            other["loadavg"] = load
            print(json.dumps(other), flush=True)
            compared.append(other)
    result = {
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "cpu_count": os.cpu_count(),
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "settings": {
            "threshold": args.threshold,
            "num_perm": 128,
            "shingle_size": 2,
            "memory_mb": args.memory_mb,
            "texts": "word-bigram chain over Financial PhraseBank + TFNS train, 18-40 words, 5% exact + 5% near copies",
        },
        "bounded": rows,
        "in_memory": compared,
        "projection_10m": projection(rows, 10_000_000) if len(rows) >= 2 else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
