"""The skill map's data: clusters at any level, and how well meaning and co-occurrence agree.

    cluster_at_level(tree, level)                  skill -> name of its ancestor at that depth
    meaning_agreement(neighbours, tree, level)     share of meaning-neighbours in the same cluster
    nearest_by_meaning(vectors, skills, k)         each skill's k nearest skills (cosine)
"""

from __future__ import annotations

import numpy as np

from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["cluster_at_level", "meaning_agreement", "nearest_by_meaning"]


def cluster_at_level(tree: EncodingTree, level: int = 1) -> dict[str, str]:
    """Each skill in the tree -> the label of its ancestor at depth `level` (a skill that
    hangs higher up maps to its own parent's label; '(no cluster)' under the root)."""
    if level < 1:
        raise ValueError(f"level must be >= 1, got {level}")
    depth = tree.depth()
    anc = np.arange(tree.n_nodes)
    for i in range(tree.n_nodes):
        if depth[i] > level:
            anc[i] = anc[tree.parent[i]]
    out = {}
    for leaf in tree.leaves():
        a = int(anc[leaf]) if depth[leaf] > level else int(tree.parent[leaf])
        out[tree.skills[tree.leaf_skill[leaf]]] = "(no cluster)" if a == 0 else (tree.labels[a] or tree.ids[a])
    return out


def nearest_by_meaning(vectors: np.ndarray, skills: list[str], k: int = 10, block: int = 2048) -> dict[str, list[str]]:
    """The k most similar other skills of every skill (cosine of the embedding rows), in
    blocks so memory stays O(block x n)."""
    v = np.asarray(vectors, dtype=np.float32)
    n = v.shape[0]
    if n != len(skills):
        raise ValueError(f"vectors must have one row per skill ({len(skills)}), got {n}")
    if n < 2:
        return {s: [] for s in skills}
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    k = min(k, n - 1)
    out: dict[str, list[str]] = {}
    for b in range(0, n, block):
        sim = v[b : b + block] @ v.T
        rows = np.arange(sim.shape[0])
        sim[rows, b + rows] = -np.inf  # not its own neighbour
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        for r in range(sim.shape[0]):
            idx = part[r][np.lexsort((part[r], -sim[r, part[r]]))]
            out[skills[b + r]] = [skills[j] for j in idx]
    return out


def meaning_agreement(neighbours: dict[str, list[str]], tree: EncodingTree, level: int = 1) -> dict:
    """How often meaning and co-occurrence agree: for every skill in the tree, the share of
    its nearest skills by meaning (those still in the tree) that sit in the same cluster at
    `level`, averaged over skills. `chance` is the same share for random neighbours,
    sum_c n_c (n_c - 1) / (n (n - 1)) over cluster sizes n_c. Returns
    {"agreement", "chance", "skills"} (agreement NaN when no skill has a neighbour)."""
    cl = cluster_at_level(tree, level)
    shares = []
    for s, nb in neighbours.items():
        if s not in cl:
            continue
        nb = [x for x in nb if x in cl]
        if nb:
            shares.append(sum(cl[x] == cl[s] for x in nb) / len(nb))
    n = len(cl)
    sizes = np.unique(list(cl.values()), return_counts=True)[1] if n else np.zeros(0)
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1))) if n > 1 else float("nan")
    return {"agreement": float(np.mean(shares)) if shares else float("nan"), "chance": chance, "skills": len(shares)}
