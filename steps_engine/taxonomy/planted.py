"""The weighted skill graph of the planted generator (`steps_engine.data.synthetic`), and how
well a tree recovers the planted groups (normalised mutual information)."""

from __future__ import annotations

import numpy as np

from steps_engine.data.synthetic import planted_counts
from steps_engine.taxonomy.graph import SkillGraph, build_graph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["planted_graph", "planted_labels", "cluster_labels", "nmi"]


def planted_graph(n_skills: int, n_rows: int, weighting: str = "steps", seed: int = 0, **kw) -> SkillGraph:
    """Count skills and pairs of `planted_skill_rows` and build the weighted graph."""
    names, counts, rows, src, dst, cnt = planted_counts(n_skills, n_rows, seed=seed, **kw)
    graph, _ = build_graph(names, counts, rows, src, dst, cnt, weighting)
    return graph


def planted_labels(skills: list[str], level: int) -> list[str]:
    """Planted group of each skill from its name "t<top>_s<sub>_skill<i>": level 1 = top group,
    level 2 = subgroup."""
    if level not in (1, 2):
        raise ValueError(f"level must be 1 (top groups) or 2 (subgroups), got {level!r}")
    return ["_".join(s.split("_")[:level]) for s in skills]


def cluster_labels(tree: EncodingTree, depth: int) -> np.ndarray:
    """Each skill's ancestor at `depth` (its own leaf when the leaf is shallower)."""
    depths = tree.depth()
    out = np.full(len(tree.skills), -1, dtype=np.int64)
    leaves = tree.leaves()
    node = leaves.copy()
    while True:
        deep = depths[node] > depth
        if not deep.any():
            break
        node[deep] = tree.parent[node[deep]]
    out[tree.leaf_skill[leaves]] = node
    return out


def nmi(a, b) -> float:
    """Normalised mutual information of two labelings, 2 I(a;b) / (H(a) + H(b)); 1 when both
    are constant."""
    _, a = np.unique(np.asarray(a), return_inverse=True)
    _, b = np.unique(np.asarray(b), return_inverse=True)
    n = a.shape[0]
    if n == 0:
        raise ValueError("nmi of empty labelings")
    _, joint = np.unique(a * (int(b.max()) + 1) + b, return_inverse=True)
    pj = np.bincount(joint) / n
    pa, pb = np.bincount(a) / n, np.bincount(b) / n
    ha, hb = -(pa * np.log(pa)).sum(), -(pb * np.log(pb)).sum()
    if ha + hb == 0:
        return 1.0
    first = np.unique(joint, return_index=True)[1]
    ia, ib = a[first], b[first]
    mi = (pj * np.log(pj / (pa[ia] * pb[ib]))).sum()
    return float(2.0 * mi / (ha + hb))
