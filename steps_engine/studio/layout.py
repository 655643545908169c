"""2-D layout of the co-occurrence graph, for the skill map without embeddings.

Each connected component is laid out on its own by Fruchterman-Reingold (forces between every
pair of its skills, a numba loop; above FR_MAX_NODES skills a spectral layout), scaled so that
every component has the same density of points (radius ~ sqrt(size)), and the components are
packed in rows, largest first. A layout of the whole graph at once does not work on real data:
a spectral layout puts most skills of a sparse graph on one spot, and small components either
fly off or sit on top of the big one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from steps_engine.taxonomy.graph import SkillGraph

__all__ = ["component_layout", "warm_up"]

FR_MAX_NODES = 3000  # larger components: spectral layout (FR costs size^2 per iteration)
ITERATIONS = 100


@njit(cache=True)
def _fruchterman_reingold(ptr, idx, pos, iterations):
    """Fruchterman-Reingold in the unit square (networkx's force law: repulsion k^2 / d
    between every pair, attraction d^2 / k along edges, k = 1 / sqrt(n)); the step shrinks
    linearly from 0.1 to 0. Moves `pos` in place."""
    n = pos.shape[0]
    k = 1.0 / np.sqrt(n)
    disp = np.empty((n, 2))
    t = 0.1
    dt = t / (iterations + 1)
    for _ in range(iterations):
        disp[:] = 0.0
        for i in range(n):
            xi = pos[i, 0]
            yi = pos[i, 1]
            fx = 0.0
            fy = 0.0
            for j in range(n):
                dx = xi - pos[j, 0]
                dy = yi - pos[j, 1]
                d2 = max(dx * dx + dy * dy, 1e-4)
                f = k * k / d2  # repulsion k^2 / d along the unit vector (dx, dy) / d
                fx += dx * f
                fy += dy * f
            for q in range(ptr[i], ptr[i + 1]):
                j = idx[q]
                dx = xi - pos[j, 0]
                dy = yi - pos[j, 1]
                d = max(np.sqrt(dx * dx + dy * dy), 1e-2)
                f = d / k  # attraction d^2 / k
                fx -= dx * f
                fy -= dy * f
            disp[i, 0] = fx
            disp[i, 1] = fy
        for i in range(n):
            length = max(np.sqrt(disp[i, 0] ** 2 + disp[i, 1] ** 2), 1e-2)
            pos[i, 0] += disp[i, 0] * t / length
            pos[i, 1] += disp[i, 1] * t / length
        t -= dt


def _spectral(ptr, idx, n: int) -> np.ndarray:
    """Two leading non-trivial eigenvectors of the normalised adjacency of a connected graph."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import eigsh

    adj = csr_matrix((np.ones(idx.shape[0]), idx, ptr), shape=(n, n))
    deg = np.asarray(adj.sum(axis=1)).ravel()
    s = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
    norm = adj.multiply(s[:, None]).multiply(s[None, :]).tocsr()
    vals, vecs = eigsh(norm, k=3, which="LA", v0=np.sqrt(deg), tol=1e-6)
    vecs = vecs[:, np.argsort(-vals)]
    return s[:, None] * vecs[:, 1:3]


def _one_component(ptr, idx, n: int, rng: np.random.Generator, iterations: int) -> np.ndarray:
    """Positions of one connected component, centred, with radius sqrt(n) / 2."""
    if n == 1:
        return np.zeros((1, 2))
    if n == 2:
        xy = np.array([[-0.5, 0.0], [0.5, 0.0]])
    elif n > FR_MAX_NODES:
        xy = _spectral(ptr, idx, n)
    else:
        xy = rng.random((n, 2))
        _fruchterman_reingold(ptr, idx, xy, iterations)
    xy = xy - xy.mean(axis=0)
    radius = float(np.sqrt((xy**2).sum(axis=1)).max())
    return xy * (0.5 * np.sqrt(n) / radius if radius > 0 else 1.0)


def _pack(sizes: np.ndarray) -> np.ndarray:
    """Centres of squares of side sqrt(size) + 1 (largest first, as given), in rows about as
    wide as the whole is tall."""
    side = np.sqrt(sizes) + 1.0
    width = max(float(side[0]), float(np.sqrt((side**2).sum())) * 1.15)
    centres = np.empty((sizes.shape[0], 2))
    x = y = row_h = 0.0
    for c in range(sizes.shape[0]):
        if x > 0 and x + side[c] > width:
            x, y = 0.0, y - row_h
            row_h = 0.0
        row_h = max(row_h, side[c])
        centres[c] = (x + side[c] / 2, y - side[c] / 2)
        x += side[c]
    return centres


def component_layout(graph: SkillGraph, seed: int = 0, iterations: int = ITERATIONS) -> np.ndarray:
    """(n_skills, 2) positions in [-1, 1]: components laid out separately and packed by size
    (ties: by their first skill). Deterministic for a graph and seed."""
    from scipy.sparse.csgraph import connected_components

    if not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    n = graph.n_skills
    if n == 0:
        return np.zeros((0, 2))
    adj = graph.adjacency().tocsr()
    n_comp, comp = connected_components(adj, directed=False)
    sizes = np.bincount(comp, minlength=n_comp)
    first = np.full(n_comp, n)
    np.minimum.at(first, comp, np.arange(n))
    order = np.lexsort((first, -sizes))  # largest first, then by first skill
    centres = _pack(sizes[order])
    rng = np.random.default_rng(seed)
    out = np.empty((n, 2))
    by_comp = np.argsort(comp, kind="stable")
    start = np.concatenate([[0], np.cumsum(sizes)])
    for rank, c in enumerate(order):
        members = by_comp[start[c] : start[c + 1]]
        if members.shape[0] == 1:  # an isolated skill: no subgraph to cut out
            out[members] = centres[rank]
            continue
        sub = adj[members][:, members].tocsr()
        sub.sort_indices()
        xy = _one_component(sub.indptr.astype(np.int64), sub.indices.astype(np.int64), members.shape[0], rng, int(iterations))
        out[members] = xy + centres[rank]
    out -= (out.max(axis=0) + out.min(axis=0)) / 2
    span = float(np.abs(out).max())
    return out / span if span > 0 else out


def warm_up() -> None:
    """Compile the layout kernel (numba caches it on disk), on a 3-skill path."""
    pos = np.random.default_rng(0).random((3, 2))
    _fruchterman_reingold(np.array([0, 1, 3, 4]), np.array([1, 0, 2, 1]), pos, 2)
