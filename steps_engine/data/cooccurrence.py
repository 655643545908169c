"""Streaming skill co-occurrence counting.

`CooccurrenceCounter.add(skills)` takes one row's skills at a time. Names are interned to ints;
rows are buffered and every `chunk_rows` rows turned into pair keys `i * 2**32 + j` (i < j) with
numpy, then reduced by sorting. `result()` returns per-skill row counts n_i and pair counts c_ij.

A row counts toward n_rows only when it has at least one skill; duplicates within a row count once.

`CountsMerger` sums the counts of disjoint blocks of rows (the per-block results of a Ray run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CooccurrenceCounter", "CooccurrenceCounts", "CountsMerger", "merge_counts"]

_SHIFT = np.int64(32)
_LOW = np.int64(0xFFFFFFFF)


@dataclass
class CooccurrenceCounts:
    skills: list[str]  # interned order (first appearance)
    counts: np.ndarray  # int64 [n]: rows containing each skill (n_i)
    n_rows: int  # rows with at least one skill
    pair_src: np.ndarray  # int64 [m], pair_src < pair_dst, sorted by (src, dst)
    pair_dst: np.ndarray  # int64 [m]
    pair_count: np.ndarray  # int64 [m]: rows containing both (c_ij >= 1)

    @property
    def n_skills(self) -> int:
        return len(self.skills)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_src.shape[0])


def _reduce(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum `counts` over equal `keys`; returns sorted unique keys and their sums."""
    if keys.size == 0:
        return keys, counts
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    c = counts[order]
    starts = np.concatenate(([0], np.flatnonzero(k[1:] != k[:-1]) + 1))
    return k[starts], np.add.reduceat(c, starts)


def _row_pair_keys(flat: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Pair keys i<<32|j (i < j) of every row; rows are runs of `lens` in `flat`."""
    offsets = np.concatenate(([0], np.cumsum(lens)[:-1]))
    parts = []
    for size in np.unique(lens):
        if size < 2:
            continue
        starts = offsets[lens == size]
        rows = flat[starts[:, None] + np.arange(size)]
        rows.sort(axis=1)  # ids within a row are distinct, so a < b below means i < j
        a, b = np.triu_indices(int(size), 1)
        parts.append(((rows[:, a] << _SHIFT) | rows[:, b]).ravel())
    if not parts:
        return np.zeros(0, np.int64)
    return np.concatenate(parts)


class _PairSums:
    """Pair keys with counts, summed in buffered chunks (amortised: the merged size doubles)."""

    def __init__(self):
        self._keys = np.zeros(0, np.int64)  # reduced pair keys so far (sorted, unique)
        self._kcounts = np.zeros(0, np.int64)
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []  # chunk results not yet merged
        self._pending = 0

    def _buffer(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self._parts.append((keys, counts))
        self._pending += keys.size
        if self._pending > max(self._keys.size, 1 << 22):
            self._merge()

    def _merge(self) -> None:
        """Fold buffered chunk results into the reduced arrays."""
        if not self._parts:
            return
        self._keys, self._kcounts = _reduce(
            np.concatenate([self._keys] + [k for k, _ in self._parts]),
            np.concatenate([self._kcounts] + [c for _, c in self._parts]),
        )
        self._parts = []
        self._pending = 0


class CooccurrenceCounter(_PairSums):
    """Count skills and skill pairs row by row, in bounded memory per chunk."""

    def __init__(self, chunk_rows: int = 200_000):
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.chunk_rows = int(chunk_rows)
        self._index: dict[str, int] = {}
        self._skills: list[str] = []
        self._flat: list[int] = []  # skill ids of buffered rows
        self._lens: list[int] = []  # skill count of each buffered row
        self._n_rows = 0
        self._counts = np.zeros(0, np.int64)
        super().__init__()

    @property
    def n_rows(self) -> int:
        return self._n_rows + len(self._lens)

    @property
    def n_skills(self) -> int:
        return len(self._skills)

    def add(self, skills: list[str]) -> None:
        """Add one row. Empty rows are ignored; repeated names count once."""
        index = self._index
        names = self._skills
        ids = []
        for s in skills:
            i = index.get(s)
            if i is None:
                i = len(names)
                index[s] = i
                names.append(s)
            ids.append(i)
        if not ids:
            return
        if len(ids) > 1 and len(set(ids)) != len(ids):
            ids = list(dict.fromkeys(ids))
        self._flat.extend(ids)
        self._lens.append(len(ids))
        if len(self._lens) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._lens:
            return
        flat = np.array(self._flat, dtype=np.int64)
        lens = np.array(self._lens, dtype=np.int64)
        self._flat = []
        self._lens = []
        self._n_rows += int(lens.size)
        c = np.bincount(flat, minlength=len(self._skills)).astype(np.int64)
        c[: self._counts.size] += self._counts
        self._counts = c
        chunk = _row_pair_keys(flat, lens)
        if chunk.size:
            uk, uc = np.unique(chunk, return_counts=True)
            self._buffer(uk, uc.astype(np.int64))

    def result(self) -> CooccurrenceCounts:
        """Counts so far (the counter stays usable)."""
        self._flush()
        self._merge()
        counts = self._counts
        if counts.size < len(self._skills):
            counts = np.concatenate((counts, np.zeros(len(self._skills) - counts.size, np.int64)))
        return CooccurrenceCounts(
            skills=list(self._skills),
            counts=counts.copy(),
            n_rows=self._n_rows,
            pair_src=(self._keys >> _SHIFT).astype(np.int64),
            pair_dst=(self._keys & _LOW).astype(np.int64),
            pair_count=self._kcounts.copy(),
        )


class CountsMerger(_PairSums):
    """Sum `CooccurrenceCounts` of disjoint blocks of rows, one block at a time.

    Skill ids follow first appearance over the blocks in the order they are added, so adding
    the blocks of a file in file order gives exactly (same ids, same arrays) what one
    `CooccurrenceCounter` over the whole file gives. Pair keys are re-keyed to the merged ids
    and reduced like the counter's chunks (amortised: the merged size doubles)."""

    def __init__(self):
        self._index: dict[str, int] = {}
        self._skills: list[str] = []
        self._counts = np.zeros(0, np.int64)
        self._n_rows = 0
        super().__init__()

    def add(self, part: CooccurrenceCounts) -> None:
        index, names = self._index, self._skills
        remap = np.empty(len(part.skills), np.int64)
        for k, s in enumerate(part.skills):
            i = index.get(s)
            if i is None:
                i = index[s] = len(names)
                names.append(s)
            remap[k] = i
        if self._counts.size < len(names):
            self._counts = np.concatenate((self._counts, np.zeros(len(names) - self._counts.size, np.int64)))
        self._counts[remap] += np.asarray(part.counts, np.int64)  # a block's names are distinct
        self._n_rows += int(part.n_rows)
        if part.n_pairs:
            a, b = remap[part.pair_src], remap[part.pair_dst]
            keys = (np.minimum(a, b) << _SHIFT) | np.maximum(a, b)
            self._buffer(keys, np.asarray(part.pair_count, np.int64))

    def result(self) -> CooccurrenceCounts:
        self._merge()
        return CooccurrenceCounts(
            skills=list(self._skills),
            counts=self._counts.copy(),
            n_rows=self._n_rows,
            pair_src=(self._keys >> _SHIFT).astype(np.int64),
            pair_dst=(self._keys & _LOW).astype(np.int64),
            pair_count=self._kcounts.copy(),
        )


def merge_counts(parts) -> CooccurrenceCounts:
    """The sum of several `CooccurrenceCounts` (see `CountsMerger`)."""
    merger = CountsMerger()
    for part in parts:
        merger.add(part)
    return merger.result()
