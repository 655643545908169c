"""Blend co-occurrence edges with k-nearest-neighbour semantic edges.

Skills that are rarely seen together but close in meaning get an edge, so the taxonomy
does not strand them. With a = semantic_weight, C the co-occurrence weights and S the
kNN cosine weights (each skill's k most similar skills, cosine > 0, symmetrised by max):

    w_ij = W_C * ( (1 - a) * C_ij / sum(C) + a * S_ij / sum(S) )

Each side is normalised to total 1 so that `a` is the share of the total edge weight
that comes from meaning; W_C = sum(C) keeps the graph's overall scale (structural
entropy is scale-free anyway). a = 0 returns the co-occurrence graph unchanged; a = 1
is the pure kNN graph. Edges new to the graph get co-occurrence count 0.
"""

from __future__ import annotations

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder, normalize_rows
from steps_engine.taxonomy.graph import SkillGraph

__all__ = ["knn_edges", "blend_semantic_edges"]


def knn_edges(vectors: np.ndarray, k: int = 10, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (src < dst, cosine > 0) between each row and its k most similar
    rows, as (src, dst, similarity) sorted by (src, dst)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    u = normalize_rows(vectors)
    n = u.shape[0]
    kk = min(k, n - 1)
    if kk < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        sim = u[start : start + chunk] @ u.T
        idx = np.arange(sim.shape[0])
        sim[idx, start + idx] = -np.inf  # no self-edges
        nn = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        rows.append(np.repeat(start + idx, kk))
        cols.append(nn.ravel())
        vals.append(sim[idx[:, None], nn].ravel())
    a, b, s = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals).astype(np.float64)
    keep = s > 0
    lo, hi, s = np.minimum(a, b)[keep], np.maximum(a, b)[keep], s[keep]
    key = lo * n + hi
    order = np.lexsort((-s, key))  # per pair, largest similarity first (it is symmetric anyway)
    key, s = key[order], s[order]
    first = np.ones(key.shape[0], bool)
    first[1:] = key[1:] != key[:-1]
    key, s = key[first], s[first]
    return key // n, key % n, s


def blend_semantic_edges(
    graph: SkillGraph,
    embeddings: np.ndarray | None = None,
    k: int = 10,
    semantic_weight: float = 0.3,
    embedder: Embedder | None = None,
) -> SkillGraph:
    """A new `SkillGraph` (same skills and counts) whose edges are the union of the
    graph's edges and the kNN semantic edges, weighted as in the module docstring.
    `embeddings` has one row per `graph.skills` entry, in that order; when None the skill
    names are embedded with `embedder` (default: the cached bundled model)."""
    if not 0.0 <= semantic_weight <= 1.0:
        raise ValueError(f"semantic_weight must be in [0, 1], got {semantic_weight}")
    if embeddings is None:
        if semantic_weight == 0.0:
            return _copy(graph, graph.src, graph.dst, graph.weight, graph.cooc)
        from steps_engine.semantic.vocabulary import skill_texts

        if embedder is None:
            from steps_engine.semantic.embeddings import get_embedder

            embedder = get_embedder()
        embeddings = embedder.encode(skill_texts(graph.skills))
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] != graph.n_skills:
        raise ValueError(
            f"embeddings must have shape [{graph.n_skills}, dim] (one row per skill), got {embeddings.shape}"
        )
    if semantic_weight == 0.0:
        return _copy(graph, graph.src, graph.dst, graph.weight, graph.cooc)
    n = graph.n_skills
    s_src, s_dst, s_w = knn_edges(embeddings, k)
    c_total = float(graph.weight.sum())
    s_total = float(s_w.sum())
    scale = c_total if c_total > 0 else 1.0
    c_part = (1.0 - semantic_weight) * graph.weight / c_total if c_total > 0 else np.zeros(graph.n_edges)
    s_part = semantic_weight * s_w / s_total if s_total > 0 else np.zeros(s_w.shape[0])
    key = np.concatenate([graph.src * n + graph.dst, s_src * n + s_dst])
    val = np.concatenate([c_part, s_part])
    uniq, inv = np.unique(key, return_inverse=True)
    w = np.bincount(inv, weights=val, minlength=uniq.shape[0]) * scale
    cooc = None
    if graph.cooc is not None:
        cooc = np.zeros(uniq.shape[0], np.int64)
        cooc[inv[: graph.n_edges]] = graph.cooc
    nz = w > 0
    return _copy(graph, (uniq // n)[nz], (uniq % n)[nz], w[nz], None if cooc is None else cooc[nz])


def _copy(graph: SkillGraph, src, dst, weight, cooc) -> SkillGraph:
    return SkillGraph(
        skills=list(graph.skills),
        counts=graph.counts.copy(),
        n_rows=graph.n_rows,
        src=np.asarray(src, np.int64).copy(),
        dst=np.asarray(dst, np.int64).copy(),
        weight=np.asarray(weight, np.float64).copy(),
        cooc=None if cooc is None else np.asarray(cooc, np.int64).copy(),
        weighting=graph.weighting,
    )
