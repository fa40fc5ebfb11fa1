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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from llmkd.filtering.dedup_disk import Selected, near_duplicate_components
from llmkd.filtering.minhash import (  # noqa: F401  (band_keys, PRIME: re-exported)
    PRIME,
    MinHasher,
    band_keys,
    band_pairs,
    jaccard,
    optimal_bands,
    shingle_set,
    text_key,
    unique_pairs,
)

IN_MEMORY_BYTES_PER_TEXT = 400  # in-memory search: ~330 measured at 1M texts (bench/dedup_scale), + margin


def candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, sharing a key in some band: ``(m, 2)`` int64, unique."""
    found = [band_pairs(keys[:, band]) for band in range(keys.shape[1])]
    return unique_pairs(np.concatenate(found), keys.shape[0])


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
    memory_mb: float | None = None,
    workdir: Path | None = None,
    on_disk: bool | None = None,
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
        memory_mb: When the in-memory near-duplicate search would need more (about
            ``IN_MEMORY_BYTES_PER_TEXT`` per text), use :mod:`llmkd.filtering.dedup_disk` with this much
            working memory instead: the same result, band keys and candidates on disk. None: in memory.
        workdir: Folder for that search's temporary files (default the system temp folder).
        on_disk: True: always the bounded search (with ``memory_mb``, default 1024); None: as ``memory_mb`` says.
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
    ref_all = np.fromiter((text_key(t) for t in reference), dtype=np.uint64, count=len(reference))
    ref_keys = np.unique(ref_all)
    leaked_exact = np.isin(keys, ref_keys)
    m = len(unique_keys)
    opts: dict[str, Any] = {
        "threshold": threshold,
        "num_perm": num_perm,
        "shingle_size": shingle_size,
        "seed": seed,
    }
    leaked_unique = np.zeros(m, dtype=bool)
    near_pairs = np.zeros((0, 2), dtype=np.int64)
    if near:
        unseen = ~np.isin(ref_all, unique_keys)  # no set of n keys: 8 bytes per text, not ~70
        ref_new = sorted({t for t, new in zip(reference, unseen, strict=True) if new})
        needed = (m + len(ref_new)) * IN_MEMORY_BYTES_PER_TEXT
        if on_disk or (on_disk is None and memory_mb is not None and needed > memory_mb * 2**20):
            opts.update(progress=progress)
            return _bounded(
                normalized, first, ref_new, inverse, leaked_exact, memory_mb or 1024, workdir, opts
            )
        texts = [normalized[i] for i in first] + ref_new
        pairs = near_duplicate_pairs(texts, **opts, progress=progress)
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


def _bounded(
    normalized: Sequence[str],
    first: np.ndarray,
    ref_new: list[str],
    inverse: np.ndarray,
    leaked_exact: np.ndarray,
    memory_mb: float,
    workdir: Path | None,
    opts: dict[str, Any],
) -> Duplicates:
    """:func:`find_duplicates` with the near-duplicate search of :mod:`llmkd.filtering.dedup_disk`."""
    near = near_duplicate_components(
        Selected(normalized, first, ref_new), len(first), memory_mb=memory_mb, workdir=workdir, **opts
    )
    return Duplicates(
        exact_group=inverse.astype(np.int64),
        cluster=near.cluster[inverse],
        leaked_exact=leaked_exact,
        leaked_near=near.leaked[inverse] & ~leaked_exact,
        near_pairs=near.pairs,
    )
