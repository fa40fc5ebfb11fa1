"""Near-duplicate search whose working memory is bounded, for tens of millions of texts.

The same MinHash LSH as :mod:`llmkd.filtering.dedup`, with the same candidates, verified pairs and
clusters, but nothing proportional to ``n * bands`` is held in memory:

1. band keys are computed batch by batch and appended to one uint64 file per band in a temporary
   folder (plain reads and writes, not memory maps, so the page cache does not count as resident memory);
2. each band is read back one hash partition at a time (``key % parts``), so one sort holds about
   ``n / parts`` keys; its candidate pairs are appended to ``parts`` pair files by first index;
3. each pair file is de-duplicated, its pairs verified with the exact shingle Jaccard (only the two
   texts of a pair are read, through a bounded cache) and the verified pairs are streamed into a
   union-find over one int32 array.

What stays in memory is linear with a small constant: 4 bytes per text for the union-find, the
``(n,)`` results, and (for :class:`DiskTexts`) 8 bytes of offset per text. ``parts`` is chosen so one band partition fits half of ``memory_mb``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from llmkd.filtering.minhash import (
    MinHasher,
    band_keys,
    band_pairs,
    jaccard,
    optimal_bands,
    shingle_set,
    unique_pairs,
)

SORT_BYTES_PER_KEY = 72  # key, position, argsort order, sorted copy, pair rows (tracemalloc: 69)
SCAN_CHUNK = 1 << 20  # keys read from the memmap at a time
CACHE_TEXTS = 20_000  # shingle sets kept while verifying (about 30 MB)


class Selected(Sequence[str]):
    """``texts[index[k]]`` for ``k < len(index)``, then ``extra``: a lazy view, nothing copied."""

    def __init__(self, texts: Sequence[str], index: np.ndarray, extra: Sequence[str] = ()) -> None:
        self.texts, self.positions, self.extra = texts, index, extra

    def __len__(self) -> int:
        return len(self.positions) + len(self.extra)

    def __getitem__(self, k: int) -> str:  # type: ignore[override]
        m = len(self.positions)
        return self.texts[int(self.positions[k])] if k < m else self.extra[k - m]


class DiskTexts(Sequence[str]):
    """Texts stored as one UTF-8 file plus an int64 offset array; ``texts[i]`` reads only text ``i``.

    Texts are read with ``pread``, not memory-mapped, so reading them does not grow the resident memory.
    """

    def __init__(self, folder: Path) -> None:
        self.offsets = np.load(folder / "offsets.npy")  # (n + 1,)
        self.fd = os.open(folder / "texts.bin", os.O_RDONLY)

    def __del__(self) -> None:
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)

    @classmethod
    def write(cls, texts: Iterable[str], folder: Path) -> DiskTexts:
        """Store ``texts`` under ``folder`` (created) and open them."""
        folder.mkdir(parents=True, exist_ok=True)
        offsets = [0]
        with open(folder / "texts.bin", "wb") as handle:
            for text in texts:
                data = text.encode("utf-8")
                handle.write(data)
                offsets.append(offsets[-1] + len(data))
        np.save(folder / "offsets.npy", np.asarray(offsets, dtype=np.int64))
        return cls(folder)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return os.pread(self.fd, end - start, start).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


class UnionFind:
    """Disjoint sets over ``n`` ints in one int32 array; every root is the smallest member of its set."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int32)

    def _find(self, nodes: np.ndarray) -> np.ndarray:
        roots = self.parent[nodes]
        while True:
            up = self.parent[roots]
            if np.array_equal(up, roots):
                return roots
            roots = up

    def union(self, pairs: np.ndarray) -> None:
        """Join the two ends of each ``(m, 2)`` pair (vectorised hooking of the larger root under the smaller)."""
        a, b = pairs[:, 0], pairs[:, 1]
        while len(a):
            ra, rb = self._find(a), self._find(b)
            apart = ra != rb
            a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]
            np.minimum.at(self.parent, np.maximum(ra, rb), np.minimum(ra, rb))

    def labels(self) -> np.ndarray:
        """``(n,)`` int64 set ids numbered by smallest member (as scipy's ``connected_components``)."""
        while True:
            up = self.parent[self.parent]
            if np.array_equal(up, self.parent):
                break
            self.parent = up
        return np.unique(self.parent, return_inverse=True)[1].reshape(-1).astype(np.int64)


@dataclass
class NearComponents:
    """Near-duplicate structure of the first ``n`` texts of a search that also held reference texts.

    Attributes:
        cluster: ``(n,)`` component id of each text (numbered as :func:`llmkd.filtering.dedup.connected_groups`).
        leaked: ``(n,)`` True where the text is a near duplicate of a reference text.
        pairs: Number of verified near-duplicate pairs among the ``n`` texts.
    """

    cluster: np.ndarray
    leaked: np.ndarray
    pairs: int


def partitions(n: int, memory_mb: float) -> int:
    """Hash partitions per band so that sorting one partition takes at most half of ``memory_mb``."""
    return max(1, math.ceil(n * SORT_BYTES_PER_KEY / (memory_mb * 2**19)))


def write_band_keys(
    texts: Sequence[str],
    folder: Path,
    hasher: MinHasher,
    shape: tuple[int, int],
    shingle_size: int,
    **opts: int,
) -> list[Path]:
    """MinHash band keys of ``texts``, batch by batch, into one uint64 file per band."""
    bands, rows = shape
    n, batch_size = len(texts), opts.get("batch_size", 512)  # 512 texts: ~30 MB of hash temporaries
    files = [folder / f"band-{b:03d}.u64" for b in range(bands)]
    with ExitStack() as stack:
        handles = [stack.enter_context(open(f, "wb")) for f in files]
        for start in tqdm(
            range(0, n, batch_size), desc="minhash", unit="batch", disable=not opts.get("progress")
        ):
            batch = [shingle_set(texts[i], shingle_size) for i in range(start, min(n, start + batch_size))]
            keys = band_keys(hasher.signatures(batch), bands, rows)  # (batch, bands)
            for band, handle in enumerate(handles):
                handle.write(np.ascontiguousarray(keys[:, band]).tobytes())
    return files


def spill_candidates(
    bands: list[Path], n: int, parts: int, folder: Path, progress: bool = False
) -> list[Path]:
    """Candidate pairs of every band, one hash partition of its keys at a time, appended to ``parts``
    files of int32 pairs by first index (``i % parts``)."""
    files = [folder / f"pairs-{p:05d}.i32" for p in range(parts)]
    with ExitStack() as stack:
        handles = [stack.enter_context(open(f, "wb")) for f in files]
        for band, part in tqdm(
            [(b, p) for b in bands for p in range(parts)], desc="lsh", unit="part", disable=not progress
        ):
            where, keys = _partition(band, n, part, parts)
            pairs = where[band_pairs(keys)]
            pairs.sort(axis=1)
            first = pairs[:, 0] % parts
            for p, handle in enumerate(handles):
                handle.write(pairs[first == p].astype(np.int32).tobytes())
    return files


def _partition(path: Path, n: int, part: int, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (ascending) and values of the keys in ``path`` that fall in hash partition ``part``."""
    if parts == 1:
        return np.arange(n, dtype=np.int64), np.fromfile(path, dtype=np.uint64)
    where, keys = [], []
    for start in range(0, n, SCAN_CHUNK):
        chunk = np.fromfile(path, dtype=np.uint64, count=SCAN_CHUNK, offset=start * 8)
        chosen = np.flatnonzero(chunk % np.uint64(parts) == np.uint64(part))
        where.append(chosen + start)
        keys.append(chunk[chosen])
    return np.concatenate(where), np.concatenate(keys)


def verify_and_join(
    files: list[Path],
    texts: Sequence[str],
    n_internal: int,
    threshold: float,
    shingle_size: int,
    progress: bool,
) -> NearComponents:
    """Verify the spilled candidates with the exact Jaccard and join the verified pairs."""
    total = len(texts)
    groups = UnionFind(n_internal)
    leaked = np.zeros(n_internal, dtype=bool)
    cache: dict[int, set[int]] = {}
    count = 0

    def shingles_of(i: int) -> set[int]:
        if i not in cache:
            if len(cache) >= CACHE_TEXTS:
                cache.clear()
            cache[i] = shingle_set(texts[i], shingle_size)
        return cache[i]

    for path in tqdm(files, desc="verify", unit="part", disable=not progress):
        pairs = unique_pairs(np.fromfile(path, dtype=np.int32).reshape(-1, 2), total)
        keep = np.fromiter(
            (jaccard(shingles_of(int(i)), shingles_of(int(j))) >= threshold for i, j in pairs),
            dtype=bool,
            count=len(pairs),
        )
        verified = pairs[keep]
        internal = verified[:, 1] < n_internal
        groups.union(verified[internal])
        count += int(internal.sum())
        crossing = verified[~internal]  # i < j: i may be a run text, j is a reference text
        leaked[crossing[:, 0][crossing[:, 0] < n_internal]] = True
        path.unlink()
    return NearComponents(groups.labels(), leaked, count)


def near_duplicate_components(
    texts: Sequence[str],
    n_internal: int,
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_size: int = 2,
    seed: int = 1,
    memory_mb: float = 1024,
    workdir: Path | None = None,
    progress: bool = False,
) -> NearComponents:
    """Near-duplicate clusters of ``texts[:n_internal]`` and their leakage into ``texts[n_internal:]``.

    Args:
        texts: Normalised texts (run texts first, then reference texts); read by index, so a
            :class:`DiskTexts` keeps them out of memory.
        n_internal: How many of ``texts`` are run texts.
        threshold, num_perm, shingle_size, seed: See :func:`llmkd.filtering.dedup.near_duplicate_pairs`.
        memory_mb: Working memory for sorting band keys (the union-find and results come on top).
        workdir: Folder for the temporary files (deleted at the end; default the system temp folder).
        progress: Show tqdm bars.
    """
    shape = optimal_bands(threshold, num_perm)
    parts = partitions(len(texts), memory_mb)
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=workdir) as tmp:
        folder = Path(tmp)
        hasher = MinHasher(num_perm, seed)
        bands = write_band_keys(texts, folder, hasher, shape, shingle_size, progress=progress)
        files = spill_candidates(bands, len(texts), parts, folder, progress)
        for path in bands:
            path.unlink()
        return verify_and_join(files, texts, n_internal, threshold, shingle_size, progress)
