"""Near-duplicate detection: MinHash signatures, LSH banding, exact Jaccard verification.

A document is the set S of its word `shingle`-grams (default 3 words, after `text.words`
normalisation). Two documents are near-duplicates when their Jaccard similarity
|A ∩ B| / |A ∪ B| is at least `threshold` (default 0.5).

MinHash (Broder 1997): for each of `num_perm` hash functions h_i, sig_i(S) = min_{x in S} h_i(x);
P[sig_i(A) = sig_i(B)] = J(A, B). Here h_i(x) = splitmix64(x XOR seed_i), seeds fixed.
LSH: the signature is cut into `bands` bands of r = num_perm / bands rows; two documents
become candidates when any band is identical, which happens with probability
1 - (1 - J^r)^bands (126 permutations, 42 bands of 3 rows: 0.9963 at J = 0.5, 0.99996 at 0.6,
0.68 at 0.3, 0.04 at 0.1; 32 bands of 4 rows would give only 0.87 at J = 0.5). Every candidate
pair is then verified with the exact Jaccard of the two shingle sets, so the signatures decide
only which pairs are compared, never the verdict.

`near_duplicates(texts)` walks the documents in order: a document is a duplicate of the first
earlier *kept* document whose Jaccard with it reaches the threshold; otherwise it is kept. So
the first of every cluster is kept and duplicates never chain through removed documents.

Optionally (`vectors`, `embed_threshold`), unit-length embeddings add a second test: an
earlier kept document whose cosine similarity reaches `embed_threshold` (e.g. 0.95 with the
bundled all-MiniLM-L6-v2) also makes a duplicate (paraphrases that share few shingles). The
cosines are computed block by block against earlier documents only (O(n^2 d) flops, bounded
memory); `embedding_candidates` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steps_engine.quality.text import shingle_set

__all__ = ["DedupConfig", "embedding_candidates", "minhash_signatures", "lsh_candidates", "jaccard", "near_duplicates"]

_MAX = np.iinfo(np.uint64).max


@dataclass(frozen=True)
class DedupConfig:
    threshold: float = 0.5
    shingle: int = 3
    num_perm: int = 126
    bands: int = 42

    def __post_init__(self):
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {self.threshold}")
        if self.shingle < 1:
            raise ValueError(f"shingle size must be >= 1, got {self.shingle}")
        if self.bands < 1 or self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _perm_seeds(num_perm: int) -> np.ndarray:
    return _splitmix64(np.arange(1, num_perm + 1, dtype=np.uint64) * np.uint64(0x2545F4914F6CDD1D))


def minhash_signatures(sets: list[np.ndarray], num_perm: int = 126, chunk: int = 8192) -> np.ndarray:
    """(len(sets), num_perm) uint64 signatures; an empty set gets all-max (matches nothing)."""
    seeds = _perm_seeds(num_perm)
    sig = np.full((len(sets), num_perm), _MAX, dtype=np.uint64)
    i = 0
    while i < len(sets):  # groups of documents with about `chunk` shingles in total
        j, total = i, 0
        while j < len(sets) and (total == 0 or total + len(sets[j]) <= chunk):
            total += len(sets[j])
            j += 1
        group = [s for s in sets[i:j]]
        sizes = np.array([len(s) for s in group])
        if total:
            values = _splitmix64(np.concatenate(group)[:, None] ^ seeds[None, :])
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            nonempty = sizes > 0
            sig[i:j][nonempty] = np.minimum.reduceat(values, starts[nonempty], axis=0)
        i = j
    return sig


def lsh_candidates(sig: np.ndarray, bands: int) -> list[set[int]]:
    """For every document, the earlier documents sharing at least one band with it."""
    n, p = sig.shape
    r = p // bands
    earlier: list[set[int]] = [set() for _ in range(n)]
    live = np.flatnonzero(sig[:, 0] != _MAX)
    for b in range(bands):
        block = np.ascontiguousarray(sig[live, b * r : (b + 1) * r])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * r))).ravel()
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        shared = counts[inverse] > 1
        if not shared.any():
            continue
        docs = live[shared]
        groups = inverse[shared]
        order = np.lexsort((docs, groups))
        docs, groups = docs[order], groups[order]
        cuts = np.flatnonzero(np.diff(groups)) + 1
        for members in np.split(docs, cuts):
            ms = members.tolist()
            for pos in range(1, len(ms)):
                earlier[ms[pos]].update(ms[:pos])
    return earlier


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted distinct arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def embedding_candidates(vectors: np.ndarray, threshold: float, block: int = 512) -> list[dict[int, float]]:
    """For every row, the earlier rows with cosine >= threshold ({index: cosine})."""
    v = np.asarray(vectors, dtype=np.float32)
    out: list[dict[int, float]] = [dict() for _ in range(len(v))]
    for start in range(0, len(v), block):
        stop = min(start + block, len(v))
        sims = v[start:stop] @ v[:stop].T  # rows start..stop-1 against rows 0..stop-1
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            if c < start + r:
                out[start + r][c] = float(sims[r, c])
    return out


def near_duplicates(texts: list[str], config: DedupConfig = DedupConfig(), *, vectors: np.ndarray | None = None,
                    embed_threshold: float | None = None) -> list[tuple[int, float, str] | None]:
    """Per document: None (kept) or (index of the earlier kept document, similarity, method),
    method "minhash" (similarity = exact Jaccard) or "embedding" (cosine)."""
    sets = [shingle_set(t, config.shingle) for t in texts]
    exact: dict[bytes, int] = {}
    out: list[tuple[int, float] | None] = [None] * len(texts)
    for i, s in enumerate(sets):  # identical shingle sets first (cheap, and keeps LSH buckets small)
        if len(s):
            first = exact.setdefault(s.tobytes(), i)
            if first != i:
                out[i] = (first, 1.0, "minhash")
    exact_of = {i: o[0] for i, o in enumerate(out) if o is not None}
    unique = [i for i in range(len(sets)) if out[i] is None]
    sig = minhash_signatures([sets[i] for i in unique], config.num_perm)
    cands = lsh_candidates(sig, config.bands)
    close = None
    if vectors is not None and embed_threshold is not None:
        if len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts")
        close = embedding_candidates(vectors, embed_threshold)
    for pos, i in enumerate(unique):
        for c in sorted(cands[pos]):
            j = unique[c]
            if out[j] is not None:
                continue  # compare with kept documents only
            sim = jaccard(sets[i], sets[j])
            if sim >= config.threshold:
                out[i] = (j, sim, "minhash")
                break
        if out[i] is None and close is not None:
            j = next((j for j in sorted(close[i]) if out[j] is None and j not in exact_of), None)
            if j is not None:
                out[i] = (j, close[i][j], "embedding")
    for i, first in exact_of.items():  # an exact copy points where its first occurrence points
        if out[first] is None:
            out[i] = (first, 1.0, "minhash")
        else:  # the same shingle set, so the same Jaccard; an embedding match is inherited as it is
            j, sim, method = out[first]
            out[i] = (j, jaccard(sets[i], sets[j]) if method == "minhash" else sim, method)
    return out
