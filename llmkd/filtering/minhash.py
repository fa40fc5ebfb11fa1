"""MinHash LSH primitives shared by the in-memory and the bounded near-duplicate search.

See :mod:`llmkd.filtering.dedup` for the method and :mod:`llmkd.filtering.dedup_disk` for the bounded variant.
"""

from __future__ import annotations

import hashlib
import itertools
import zlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

PRIME = 4294967311  # smallest prime above 2**32
_FOLD = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime, used to fold a band into one key


def text_key(normalized: str) -> int:
    """A stable 64-bit hash of a normalised text (blake2b), used for exact duplicates."""
    return int.from_bytes(hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest(), "little")


def shingle_set(normalized: str, size: int) -> set[int]:
    """CRC32 hashes of the word ``size``-grams of a normalised text.

    A text with ``size`` words or fewer is one shingle (the whole text), so short texts still compare.
    """
    tokens = normalized.split()
    if len(tokens) <= size:
        return {zlib.crc32(" ".join(tokens).encode("utf-8"))}
    return {zlib.crc32(" ".join(tokens[i : i + size]).encode("utf-8")) for i in range(len(tokens) - size + 1)}


def jaccard(a: set[int], b: set[int]) -> float:
    """Jaccard similarity ``|a ∩ b| / |a ∪ b|`` (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _area(ys: np.ndarray, xs: np.ndarray) -> float:
    """Trapezoid-rule integral (``np.trapezoid`` needs numpy 2)."""
    return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2.0)


@lru_cache(maxsize=64)
def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.05, fn_weight: float = 0.95
) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising weighted FP and FN probability mass.

    The probability that two texts of Jaccard ``s`` become candidates is ``1 - (1 - s**rows)**bands``.
    """
    xs = np.linspace(0.0, 1.0, 401)
    below, above = xs <= threshold, xs >= threshold
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = 1.0 - (1.0 - xs**rows) ** bands
            fp = _area(p[below], xs[below])
            fn = _area(1.0 - p[above], xs[above])
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


class MinHasher:
    """Vectorised MinHash over CRC32 shingle hashes with ``num_perm`` seeded universal hash functions."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(1, 2**31, size=num_perm, dtype=np.uint64)  # a*x < 2**63: no overflow
        self.b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64)

    def signatures(self, shingles: Sequence[set[int]]) -> np.ndarray:
        """MinHash signatures of a batch of shingle sets: ``(len(shingles), num_perm)`` uint32."""
        lengths = np.fromiter((len(s) for s in shingles), dtype=np.int64, count=len(shingles))
        flat = np.fromiter(itertools.chain.from_iterable(shingles), dtype=np.uint64, count=int(lengths.sum()))
        phi = (flat[:, None] * self.a + self.b) % np.uint64(PRIME)  # (n_shingles, num_perm)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        return (np.minimum.reduceat(phi, starts, axis=0) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Fold each band of ``rows`` signature values into one uint64: ``(n, bands)``."""
    n = signatures.shape[0]
    keys = np.zeros((n, bands), dtype=np.uint64)
    sig = signatures.astype(np.uint64)
    for band in range(bands):
        key = np.full(n, np.uint64(0xCBF29CE484222325), dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            key = (key ^ sig[:, col]) * _FOLD  # wraps modulo 2**64
        keys[:, band] = key
    return keys


def band_pairs(column: np.ndarray) -> np.ndarray:
    """Position pairs ``(i, j)`` sharing a key in one band's ``(n,)`` keys: ``(m, 2)``, possibly repeated.

    Within a bucket every member is paired with the bucket's first member and with its neighbour,
    which keeps the pair count linear in the bucket size and the bucket connected.
    """
    order = np.argsort(column, kind="stable")
    ordered = column[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros((0, 2), dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    first = order[starts[np.cumsum(np.concatenate(([True], ~same))) - 1]]
    chain = np.stack((order[:-1][same], order[1:][same]), axis=1)
    star = np.stack((first, order), axis=1)[first != order]
    return np.concatenate((chain, star)).astype(np.int64)


def unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """``pairs`` ordered ``i < j`` within each row, without repeats, sorted: ``(m, 2)`` int64."""
    if not len(pairs):
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(pairs.astype(np.int64), axis=1)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)
