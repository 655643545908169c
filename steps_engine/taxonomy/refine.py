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

import math

import numpy as np
from numba import njit

from steps_engine.taxonomy.entropy import node_terms
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["refine_leaves"]


def refine_leaves(graph: SkillGraph, tree: EncodingTree, max_passes: int = 20) -> EncodingTree:
    """Move single skills between sibling clusters (clusters whose children are all leaves)
    while a move lowers H^T. Clusters left empty are removed."""
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
    ch = tree.children()
    leaf_parent = np.array([not is_leaf[i] and len(ch[i]) > 0 and all(is_leaf[c] for c in ch[i]) for i in range(n_nodes)])
    terms = node_terms(graph, tree)
    adj = graph.adjacency()
    skill_node = leaf_of if to_tree is None else leaf_of[to_tree]
    parent = tree.parent.copy()
    moved = _refine_kernel(
        adj.indptr.astype(np.int64),
        adj.indices.astype(np.int64),
        adj.data.astype(np.float64),
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


@njit(cache=True)
def _cluster_f(v, g, pvol, vol_graph):
    # contribution of a leaf-parent cluster, up to constants: its own term plus its leaves'
    if v <= 0.0:
        return 0.0
    return (-(g / vol_graph) * math.log2(v / pvol)) + (v / vol_graph) * math.log2(v)


@njit(cache=True)
def _best_move(s, dv, a, exclude_own, indptr, indices, data, skill_node, parent, leaf_parent, vol, cut, vol_graph, scratch, touched):
    """Best sibling cluster for skill s leaving cluster a: (delta, cluster, w to it, w to a).
    cluster is -1 when no move lowers H^T (or, with exclude_own, when s has no sibling
    neighbour). `scratch` (zeros, one per tree node) and `touched` are work space."""
    p = parent[a]
    n_touched = 0
    for k in range(indptr[s], indptr[s + 1]):
        t = indices[k]
        if t == s:
            continue
        c = parent[skill_node[t]]
        if c == a or (leaf_parent[c] and parent[c] == p):
            if scratch[c] == 0.0:
                touched[n_touched] = c
                n_touched += 1
            scratch[c] += data[k]
    w_a = scratch[a]
    pv = vol[p]
    change_a = _cluster_f(vol[a] - dv, cut[a] - dv + 2.0 * w_a, pv, vol_graph) - _cluster_f(vol[a], cut[a], pv, vol_graph)
    best, best_c, best_w = np.inf if exclude_own else -1e-12, -1, 0.0
    for i in range(n_touched):
        c = touched[i]
        w_c = scratch[c]
        scratch[c] = 0.0
        if c == a:
            continue
        delta = change_a + _cluster_f(vol[c] + dv, cut[c] + dv - 2.0 * w_c, pv, vol_graph) - _cluster_f(vol[c], cut[c], pv, vol_graph)
        if delta < best or (delta == best and best_c >= 0 and c < best_c):
            best, best_c, best_w = delta, c, w_c
    return best, best_c, best_w, w_a


@njit(cache=True)
def _apply_move(leaf, dv, a, c, w_a, w_c, parent, vol, cut):
    vol[a] -= dv
    cut[a] += -dv + 2.0 * w_a
    vol[c] += dv
    cut[c] += dv - 2.0 * w_c
    parent[leaf] = c


@njit(cache=True)
def _refine_kernel(indptr, indices, data, deg, skill_node, parent, leaf_parent, vol, cut, vol_graph, max_passes):
    """Local search over leaf placements: single-skill moves to a better sibling cluster, and
    dissolving a whole cluster into its neighbours when that lowers H^T in total."""
    n_skills = skill_node.shape[0]
    scratch = np.zeros(parent.shape[0])
    touched = np.empty(parent.shape[0], dtype=np.int64)
    moved_total = 0
    for _ in range(max_passes):
        moved = 0
        for s in range(n_skills):
            dv = deg[s]
            leaf = skill_node[s]
            a = parent[leaf]
            if dv <= 0.0 or not leaf_parent[a]:
                continue
            best, c, w_c, w_a = _best_move(s, dv, a, False, indptr, indices, data, skill_node, parent, leaf_parent, vol, cut, vol_graph, scratch, touched)
            if c >= 0:
                _apply_move(leaf, dv, a, c, w_a, w_c, parent, vol, cut)
                moved += 1
        if moved == 0:
            # dissolve pass: try emptying each cluster into its sibling clusters
            n_nodes = parent.shape[0]
            cluster_of = np.full(n_skills, -1, dtype=np.int64)
            for s in range(n_skills):
                cluster_of[s] = parent[skill_node[s]]
            order = np.argsort(cluster_of, kind="mergesort")
            received = np.zeros(n_nodes, dtype=np.bool_)
            i = 0
            while i < n_skills:
                a = cluster_of[order[i]]
                j = i
                while j < n_skills and cluster_of[order[j]] == a:
                    j += 1
                if a >= 0 and leaf_parent[a] and not received[a] and vol[a] > 0.0:
                    members = order[i:j]
                    total = 0.0
                    done = 0
                    targets = np.empty(j - i, dtype=np.int64)
                    ws = np.empty((j - i, 2))
                    ok = True
                    for m in members:
                        dv = deg[m]
                        if dv <= 0.0:
                            ok = False
                            break
                        best, c, w_c, w_a = _best_move(m, dv, a, True, indptr, indices, data, skill_node, parent, leaf_parent, vol, cut, vol_graph, scratch, touched)
                        if c < 0:
                            ok = False
                            break
                        _apply_move(skill_node[m], dv, a, c, w_a, w_c, parent, vol, cut)
                        targets[done] = c
                        ws[done, 0] = w_a
                        ws[done, 1] = w_c
                        done += 1
                        total += best
                    if ok and total < -1e-12:
                        for k in range(done):
                            received[targets[k]] = True
                        moved += done
                    else:  # undo in reverse order
                        for k in range(done - 1, -1, -1):
                            m = members[k]
                            dv = deg[m]
                            c = targets[k]
                            vol[c] -= dv
                            cut[c] -= dv - 2.0 * ws[k, 1]
                            vol[a] += dv
                            cut[a] -= -dv + 2.0 * ws[k, 0]
                            parent[skill_node[m]] = a
                i = j
        moved_total += moved
        if moved == 0:
            break
    return moved_total


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
