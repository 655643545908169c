"""2-D skill map: UMAP (umap-learn, fixed seed) of skill embeddings, cached on disk.

    xy = layout_2d(vectors, seed=0)                       # [n, 2]
    df = skill_map(skills, counts, cluster_of_skill)      # skill, x, y, cluster, count

Fewer than `MIN_UMAP_SKILLS` (15) skills: no UMAP (its neighbour graph needs more points);
3..14 skills are laid out by PCA of the unit embeddings (a circle if they are all the same
point), 2 skills at (-1, 0) and (1, 0), 1 skill at (0, 0).

UMAP's first call in a process compiles numba code (tens of seconds). Layouts are cached
under <cache dir>/skillmap/ keyed by the embedding bytes and the parameters, and
`warm_up()` compiles on a tiny input, for a background thread at studio start.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder, normalize_rows
from steps_engine._atomic import atomic_open

__all__ = ["MIN_UMAP_SKILLS", "layout_2d", "skill_map", "warm_up"]

MIN_UMAP_SKILLS = 15


def _small_layout(vectors: np.ndarray) -> np.ndarray:
    n = vectors.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    if n == 1:
        return np.zeros((1, 2))
    if n == 2:
        return np.array([[-1.0, 0.0], [1.0, 0.0]])
    x = normalize_rows(vectors).astype(np.float64)
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    if s[0] <= 1e-9:  # all points identical: spread them on a circle
        t = 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    xy = u[:, :2] * s[:2]
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    # Fix SVD's sign ambiguity so the picture does not flip between runs.
    for c in range(2):
        if xy[np.argmax(np.abs(xy[:, c])), c] < 0:
            xy[:, c] = -xy[:, c]
    return xy / max(np.abs(xy).max(), 1e-12)


def _umap(vectors: np.ndarray, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    import umap

    n = vectors.shape[0]
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, n - 1),
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, spectral init fallbacks
        return reducer.fit_transform(np.asarray(vectors, dtype=np.float32)).astype(np.float64)


def _cache_path(vectors: np.ndarray, seed: int, n_neighbors: int, min_dist: float, cache_dir) -> Path:
    import umap

    h = hashlib.sha256()
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    h.update(repr((v.shape, seed, n_neighbors, min_dist, umap.__version__)).encode())
    h.update(v.tobytes())
    return Path(cache_dir) / "skillmap" / f"{h.hexdigest()}.npy"


def layout_2d(
    vectors: np.ndarray,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    cache_dir: str | os.PathLike | None | bool = None,
) -> np.ndarray:
    """[n, 2] coordinates for the rows of `vectors`. `cache_dir`: None = the default cache
    dir ($STEPS_CACHE_DIR or ~/.cache/steps-studio), False = no caching."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [n, dim], got shape {vectors.shape}")
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be >= 2, got {n_neighbors}")
    if not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist must be in [0, 1], got {min_dist}")
    if vectors.shape[0] < MIN_UMAP_SKILLS:
        return _small_layout(vectors)
    path = None
    if cache_dir is not False:
        if cache_dir is None:
            from steps_engine.semantic.embeddings import default_cache_dir

            cache_dir = default_cache_dir()
        path = _cache_path(vectors, seed, n_neighbors, min_dist, cache_dir)
        if path.exists():
            try:
                return np.load(path)
            except (OSError, ValueError):
                pass  # unreadable cache entry: recompute and overwrite
    xy = _umap(vectors, seed, n_neighbors, min_dist)
    if path is not None:
        with atomic_open(path, "wb") as fh:
            np.save(fh, xy)
    return xy


def skill_map(
    skills: Sequence[str],
    counts: Sequence[int] | np.ndarray,
    cluster_of_skill: Sequence[str] | Mapping[str, str],
    embedder: Embedder | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None | bool = None,
):
    """pandas.DataFrame(skill, x, y, cluster, count), one row per skill, in input order.
    `cluster_of_skill`: a label per skill (aligned list) or a {skill: label} mapping
    (missing skills get ""). Default embedder: the cached bundled model."""
    import pandas as pd

    from steps_engine.semantic.vocabulary import skill_texts

    skills = [str(s) for s in skills]
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (len(skills),):
        raise ValueError(f"counts must have one entry per skill ({len(skills)}), got shape {counts.shape}")
    if isinstance(cluster_of_skill, Mapping):
        clusters = [str(cluster_of_skill.get(s, "")) for s in skills]
    else:
        clusters = [str(c) for c in cluster_of_skill]
        if len(clusters) != len(skills):
            raise ValueError(f"cluster_of_skill must have one entry per skill ({len(skills)}), got {len(clusters)}")
    if embedder is None:
        from steps_engine.semantic.embeddings import get_embedder

        embedder = get_embedder()
    vecs = embedder.encode(skill_texts(skills)) if skills else np.zeros((0, 2))
    xy = layout_2d(vecs, seed=seed, cache_dir=cache_dir)
    return pd.DataFrame({"skill": skills, "x": xy[:, 0], "y": xy[:, 1], "cluster": clusters, "count": counts})


def warm_up(seed: int = 0) -> None:
    """Compile UMAP's numba code on a tiny random input (no cache read or write)."""
    rng = np.random.default_rng(seed)
    _umap(rng.normal(size=(MIN_UMAP_SKILLS + 5, 8)).astype(np.float32), seed, 5, 0.1)
