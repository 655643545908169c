"""Semantic coherence of skill sets from pairwise cosine similarity of skill embeddings.

    sim = similarity_matrix(vecs)          # [n, n], aligned to the skill list
    c = coherence(sim, [3, 17, 42])        # Coherence(mean=..., min=...)

For a set of k skills, `mean` is the average of the k(k-1)/2 pairwise similarities and
`min` the smallest; a set of fewer than two skills has no pairs and scores 1.0 on both
(nothing in it is incoherent), so it passes any minimum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder, normalize_rows
from steps_engine.semantic.vocabulary import skill_texts

__all__ = ["Coherence", "similarity_matrix", "skill_similarity", "coherence", "skill_texts"]


@dataclass(frozen=True)
class Coherence:
    mean: float
    min: float

    def to_json(self) -> dict:
        return asdict(self)


def similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity [n, n] (float64) of the rows of `vectors` (normalised here)."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [n, dim], got shape {vectors.shape}")
    u = normalize_rows(vectors).astype(np.float64)
    sim = u @ u.T
    np.clip(sim, -1.0, 1.0, out=sim)
    return sim


def skill_similarity(skills: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
    """Similarity matrix of skill names, aligned to `skills`. Default embedder: the cached
    bundled model (`steps_engine.semantic.embeddings.get_embedder()`)."""
    if embedder is None:
        from steps_engine.semantic.embeddings import get_embedder

        embedder = get_embedder()
    return similarity_matrix(embedder.encode(skill_texts(skills)))


def coherence(similarity: np.ndarray, skill_idx: Sequence[int]) -> Coherence:
    """Mean and min pairwise similarity of the skills `skill_idx` (duplicates ignored)."""
    idx = np.unique(np.asarray(skill_idx, dtype=np.int64))
    n = similarity.shape[0]
    if idx.size and (idx[0] < 0 or idx[-1] >= n):
        raise ValueError(f"skill_idx must be in [0, {n}), got {idx.tolist()}")
    if idx.size < 2:
        return Coherence(1.0, 1.0)
    sub = similarity[np.ix_(idx, idx)]
    pairs = sub[np.triu_indices(idx.size, k=1)]
    return Coherence(float(pairs.mean()), float(pairs.min()))
