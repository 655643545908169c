"""Name taxonomy nodes from their members' meaning.

For an internal node, the centroid is the frequency-weighted mean of its member skills'
unit embeddings (weights = skill counts; uniform when every member count is 0); its label
is the `top` members closest (cosine) to that centroid, most central first, joined by
`sep`. Leaves keep their skill name. Labels are a starting point the studio lets curators edit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import normalize_rows
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["name_nodes"]


def name_nodes(
    tree: EncodingTree,
    embeddings: np.ndarray,
    counts: Sequence[int] | np.ndarray | None = None,
    top: int = 3,
    sep: str = " / ",
) -> list[str]:
    """One label per tree node, aligned to node index. `embeddings` and `counts` have one
    entry per `tree.skills` entry, in that order (counts None = all equal)."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    n_sk = len(tree.skills)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] != n_sk:
        raise ValueError(f"embeddings must have shape [{n_sk}, dim] (one row per tree skill), got {embeddings.shape}")
    w = np.ones(n_sk) if counts is None else np.asarray(counts, dtype=np.float64)
    if w.shape != (n_sk,):
        raise ValueError(f"counts must have one entry per tree skill ({n_sk}), got shape {w.shape}")
    if np.any(w < 0):
        raise ValueError("counts must be >= 0")
    u = normalize_rows(embeddings).astype(np.float64)
    n = tree.n_nodes
    ls = tree.leaf_skill
    # Bottom-up sums of weighted vectors, plain vectors and weights per node.
    wsum = np.zeros((n, u.shape[1]))
    usum = np.zeros((n, u.shape[1]))
    wtot = np.zeros(n)
    leaves = np.flatnonzero(ls >= 0)
    wsum[leaves] = u[ls[leaves]] * w[ls[leaves], None]
    usum[leaves] = u[ls[leaves]]
    wtot[leaves] = w[ls[leaves]]
    for i in range(n - 1, 0, -1):
        p = tree.parent[i]
        wsum[p] += wsum[i]
        usum[p] += usum[i]
        wtot[p] += wtot[i]
    centroid = np.where(wtot[:, None] > 0, wsum, usum)
    # Members of every node: each leaf's skill goes to all its ancestors.
    members: list[list[int]] = [[] for _ in range(n)]
    for leaf in leaves:
        a = tree.parent[leaf]
        while a >= 0:
            members[a].append(int(ls[leaf]))
            a = tree.parent[a]
    labels = []
    for i in range(n):
        if ls[i] >= 0:
            labels.append(tree.skills[ls[i]])
            continue
        m = np.asarray(members[i], dtype=np.int64)
        if m.size == 0:
            labels.append(tree.labels[i] if i < len(tree.labels) else "")
            continue
        sim = u[m] @ centroid[i]
        order = np.lexsort((np.asarray([tree.skills[j] for j in m]), -w[m], -np.round(sim, 9)))
        labels.append(sep.join(tree.skills[j] for j in m[order[:top]]))
    return labels
