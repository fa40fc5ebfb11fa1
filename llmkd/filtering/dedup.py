"""Exact and near-duplicate detection for up to millions of short texts.

Exact duplicates share the same normalised text (see :func:`llmkd.io.text_checks.normalize_text`); they are
found from 64-bit hashes, so memory is 8 bytes per text.

Near duplicates are pairs whose sets of word shingles (``k`` consecutive words) have a Jaccard
similarity of at least ``threshold``. They are found with MinHash LSH, vectorised with numpy:

1. every text's shingles are hashed (CRC32) and ``num_perm`` universal hashes ``(a*x + b) mod p`` give
   its MinHash signature, computed batch by batch (the signatures are never all held at once);
2. the signature is cut into ``bands`` bands of ``rows`` values; each band is folded into one 64-bit
   key, so only ``bands`` keys per text are kept (about 100 bytes per text);
3. texts sharing a key in any band are candidates; every candidate pair is then verified with the
   exact Jaccard similarity of the shingle sets, so the result has no MinHash false positives;
4. clusters are the connected components of the verified pairs (scipy).

``bands``/``rows`` are chosen to minimise the weighted false-positive and false-negative areas of the
LSH S-curve around the threshold (as datasketch does), with false negatives weighted 0.95 because
false positives are removed by verification (at 0.8 and 128 permutations: 16 bands of 8 rows, so a
pair at Jaccard 0.8 is a candidate with probability 0.95, at 0.9 with 0.9997). datasketch's
``MinHashLSH`` finds the same candidates but builds one Python object per text, which is much slower
at a million texts (see ``bench/dedup_bench.py``).
"""

from __future__ import annotations

import hashlib
import itertools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

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


def candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, sharing a key in some band: ``(m, 2)`` int64, unique.

    Within a bucket every member is paired with the bucket's first member and with its neighbour,
    which keeps the pair count linear in the bucket size and the bucket connected.
    """
    n = keys.shape[0]
    found: list[np.ndarray] = []
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        ordered = keys[order, band]
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            continue
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        first = order[starts[np.cumsum(np.concatenate(([True], ~same))) - 1]]
        chain = np.stack((order[:-1][same], order[1:][same]), axis=1)
        star = np.stack((first, order), axis=1)[first != order]
        found.extend((chain, star))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    pairs.sort(axis=1)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)


def near_duplicate_pairs(
    normalized: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_size: int = 2,
    seed: int = 1,
    batch_size: int = 2048,
    progress: bool = False,
) -> np.ndarray:
    """Verified near-duplicate pairs among normalised texts.

    Args:
        normalized: Texts already passed through :func:`llmkd.io.text_checks.normalize_text`.
        threshold: Minimum Jaccard similarity of the word-shingle sets.
        num_perm: MinHash permutations (more: better recall near the threshold, slower).
        shingle_size: Words per shingle.
        seed: Seed of the hash functions.
        batch_size: Texts hashed per numpy batch (bounds the temporary memory).
        progress: Show a tqdm bar.

    Returns:
        ``(m, 2)`` int64 array of index pairs ``i < j`` whose exact shingle Jaccard is ``>= threshold``.
    """
    n = len(normalized)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    bands, rows = optimal_bands(threshold, num_perm)
    hasher = MinHasher(num_perm, seed)
    keys = np.empty((n, bands), dtype=np.uint64)
    for start in tqdm(range(0, n, batch_size), desc="minhash", unit="batch", disable=not progress):
        batch = [shingle_set(t, shingle_size) for t in normalized[start : start + batch_size]]
        keys[start : start + len(batch)] = band_keys(hasher.signatures(batch), bands, rows)
    candidates = candidate_pairs(keys)
    del keys
    cache: dict[int, set[int]] = {}

    def shingles_of(i: int) -> set[int]:
        if i not in cache:
            cache[i] = shingle_set(normalized[i], shingle_size)
        return cache[i]

    # No ``count=``: fromiter would stop before the bar's last step, which then ends one short of 100%.
    keep = np.fromiter(
        (
            jaccard(shingles_of(int(i)), shingles_of(int(j))) >= threshold
            for i, j in tqdm(candidates, desc="verify", unit="pair", disable=not progress)
        ),
        dtype=bool,
    )
    return candidates[keep]


def connected_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    """Component id of each of ``n`` nodes given undirected edges ``pairs`` (``(m, 2)``)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


@dataclass
class Duplicates:
    """Duplicate structure of ``n`` texts.

    Attributes:
        exact_group: ``(n,)`` id shared by texts with the same normalised text.
        cluster: ``(n,)`` id shared by texts linked by exact or near duplication (transitively).
        leaked_exact: ``(n,)`` True where the normalised text equals a reference text.
        leaked_near: ``(n,)`` True where the text is a near duplicate of a reference text.
        near_pairs: Number of verified near-duplicate pairs among distinct normalised texts.
    """

    exact_group: np.ndarray
    cluster: np.ndarray
    leaked_exact: np.ndarray
    leaked_near: np.ndarray
    near_pairs: int


def find_duplicates(
    normalized: Sequence[str],
    reference: Sequence[str] = (),
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_size: int = 2,
    seed: int = 1,
    near: bool = True,
    progress: bool = False,
) -> Duplicates:
    """Exact groups, duplicate clusters and leakage against ``reference`` (e.g. an evaluation set).

    Near duplicates are searched among the distinct normalised texts only (one per exact group), plus
    the distinct reference texts. A text is "leaked" only when it is itself an exact or near duplicate
    of a reference text, not merely in a cluster with one.

    Args:
        normalized: Normalised texts to deduplicate.
        reference: Normalised texts that must not appear in ``normalized``.
        threshold, num_perm, shingle_size, seed: See :func:`near_duplicate_pairs`.
        near: Also look for near duplicates (else exact only).
        progress: Show tqdm bars.
    """
    n = len(normalized)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Duplicates(empty, empty, empty.astype(bool), empty.astype(bool), 0)
    keys = np.fromiter(  # no count=: see near_duplicate_pairs
        (text_key(t) for t in tqdm(normalized, desc="hash", unit="text", disable=not progress)),
        dtype=np.uint64,
    )
    unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ref_keys = np.unique(np.fromiter((text_key(t) for t in reference), dtype=np.uint64, count=len(reference)))
    leaked_exact = np.isin(keys, ref_keys)
    m = len(unique_keys)
    leaked_unique = np.zeros(m, dtype=bool)
    near_pairs = np.zeros((0, 2), dtype=np.int64)
    if near:
        known = set(unique_keys.tolist())
        ref_new = sorted({t for t in reference if text_key(t) not in known})
        texts = [normalized[i] for i in first] + ref_new
        pairs = near_duplicate_pairs(
            texts,
            threshold=threshold,
            num_perm=num_perm,
            shingle_size=shingle_size,
            seed=seed,
            progress=progress,
        )
        internal = (pairs[:, 0] < m) & (pairs[:, 1] < m)
        near_pairs = pairs[internal]
        crossing = pairs[~internal]  # i < j, so i is the run text and j the reference text
        leaked_unique[crossing[:, 0][crossing[:, 0] < m]] = True
    clusters_unique = connected_groups(m, near_pairs)
    return Duplicates(
        exact_group=inverse.astype(np.int64),
        cluster=clusters_unique[inverse],
        leaked_exact=leaked_exact,
        leaked_near=leaked_unique[inverse] & ~leaked_exact,
        near_pairs=len(near_pairs),
    )
