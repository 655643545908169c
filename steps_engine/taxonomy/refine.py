"""Local search over leaf placements in an encoding tree.

A cluster whose children are all skills ("leaf cluster") under a parent P contributes,
up to constants,

    f(V, g) = -(g / vol(G)) log2(V / vol(P)) + (V / vol(G)) log2(V)

(its own term plus its leaves' terms). Moving skill v (degree d_v) from leaf cluster A to a
sibling B changes only f(A) and f(B): V_A -= d_v, g_A += 2 w(v, A) - d_v, and the reverse
for B. `refine_leaves` applies the best such move per skill while it lowers H^T, and when no
single move helps, tries dissolving a whole cluster into its neighbours (which single moves
cannot see: the first move out of a cluster can cost more than the last one gains).
"""

from __future__ import annotations

import numpy as np

from steps_engine.taxonomy._kernels import refine_kernel
from steps_engine.taxonomy.entropy import node_terms
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["adjacency_arrays", "refine_leaves"]


def adjacency_arrays(graph: SkillGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The graph's symmetric CSR as the kernel takes it (int64 indptr / indices, weights)."""
    adj = graph.adjacency()
    return adj.indptr.astype(np.int64), adj.indices.astype(np.int64), adj.data.astype(np.float64)


def refine_leaves(graph: SkillGraph, tree: EncodingTree, max_passes: int = 20, csr=None) -> EncodingTree:
    """Move single skills between sibling clusters (clusters whose children are all leaves)
    while a move lowers H^T. Clusters left empty are removed. `csr`: `adjacency_arrays(graph)`
    when the caller refines the same graph repeatedly."""
    if graph.n_edges == 0 or tree.height < 2:
        return tree
    deg_graph = graph.degrees()
    to_tree = None
    if tree.skills != graph.skills:
        pos = {s: i for i, s in enumerate(tree.skills)}
        to_tree = np.array([pos[s] for s in graph.skills])
    n_nodes = tree.n_nodes
    leaf_of = tree.leaf_of_skill()
    is_leaf = tree.leaf_skill >= 0
    has_child = np.zeros(n_nodes, dtype=bool)
    has_child[tree.parent[1:]] = True
    has_inner_child = np.zeros(n_nodes, dtype=bool)
    has_inner_child[tree.parent[1:][~is_leaf[1:]]] = True
    leaf_parent = ~is_leaf & has_child & ~has_inner_child  # internal, every child a skill
    terms = node_terms(graph, tree)
    indptr, indices, data = adjacency_arrays(graph) if csr is None else csr
    skill_node = leaf_of if to_tree is None else leaf_of[to_tree]
    parent = tree.parent.copy()
    moved = refine_kernel(
        indptr,
        indices,
        data,
        deg_graph,
        skill_node.astype(np.int64),
        parent,
        leaf_parent,
        terms.volume.copy(),
        terms.cut.copy(),
        float(terms.vol_graph),
        int(max_passes),
    )
    if moved == 0:
        return tree
    return _rebuild(tree, parent)


def _rebuild(tree: EncodingTree, parent: np.ndarray) -> EncodingTree:
    """Drop internal nodes left without leaves, splice out single-child internal nodes."""
    n = tree.n_nodes
    has_leaf = np.zeros(n, dtype=bool)
    has_leaf[tree.leaves()] = True
    changed = True  # moved leaves may now have parent > index: propagate to a fixpoint
    while changed:
        before = has_leaf.sum()
        has_leaf[parent[has_leaf & (parent >= 0)]] = True
        changed = has_leaf.sum() != before
    keep = has_leaf.copy()
    keep[0] = True
    idx = np.flatnonzero(keep)
    new_pos = np.full(n, -1, dtype=np.int64)
    new_pos[idx] = np.arange(idx.shape[0])
    par = np.where(parent[idx] >= 0, new_pos[np.maximum(parent[idx], 0)], -1)
    t = EncodingTree.from_parents(
        par, tree.leaf_skill[idx], tree.skills, [tree.ids[i] for i in idx], [tree.labels[i] for i in idx], tree.meta
    )
    return _splice_single_children(t)


def _splice_single_children(tree: EncodingTree) -> EncodingTree:
    ch = tree.children()
    parent = tree.parent.copy()
    single = [i for i in range(1, tree.n_nodes) if tree.leaf_skill[i] < 0 and len(ch[i]) == 1]
    if not single:
        return tree
    drop = np.zeros(tree.n_nodes, dtype=bool)
    drop[single] = True
    for i in range(1, tree.n_nodes):
        p = parent[i]
        while p > 0 and drop[p]:
            p = parent[p]
        parent[i] = p
    idx = np.flatnonzero(~drop)
    new_pos = np.full(tree.n_nodes, -1, dtype=np.int64)
    new_pos[idx] = np.arange(idx.shape[0])
    par = np.where(parent[idx] >= 0, new_pos[np.maximum(parent[idx], 0)], -1)
    return EncodingTree.from_parents(
        par, tree.leaf_skill[idx], tree.skills, [tree.ids[i] for i in idx], [tree.labels[i] for i in idx], tree.meta
    )
