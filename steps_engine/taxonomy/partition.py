"""Greedy structural-entropy minimisation: build an encoding tree of bounded height.

The one move behind every step is grouping siblings. Take a tree node P whose children
(units) u have volumes V_u, and put a new node b between P and a set of them. Only the
terms of b and of its children change, and (with W_b the weight of edges between
different children of b, vol = vol(G)):

    delta(b) = (2 * W_b / vol) * log2( vol(b) / vol(P) )   <= 0

so grouping never raises H^T, and grouping units that share no edge gains nothing.
The merge operator joins two adjacent groups when delta(b1 u b2) - delta(b1) - delta(b2)
is negative, best first, from a priority queue over adjacent pairs only (Li & Pan's
greedy merge; for P = root over the skills it is the classic 2-D partition).

`build_tree` starts from root -> skills and inserts one layer at a time: for every depth
d it evaluates grouping the children of all depth-d nodes (d = 0 adds clusters at the top,
d = height-1 splits the deepest clusters) and applies the layer that lowers H^T most,
until the requested height is reached or nothing helps. A refinement pass then moves
single skills between sibling clusters while that lowers H^T (`refine.py`).
"""

from __future__ import annotations

import numpy as np

from steps_engine.taxonomy._kernels import _EPS, merge_kernel
from steps_engine.taxonomy.entropy import node_terms
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.refine import refine_leaves
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["build_tree", "merge_units", "split_node"]

FRESH_PAIRS = 8  # pairs re-queued per merge; -1 = exact greedy (all neighbours)


def merge_units(
    n_units: int,
    edges_u: np.ndarray,
    edges_v: np.ndarray,
    edges_w: np.ndarray,
    unit_vol: np.ndarray,
    unit_parent_vol: np.ndarray,
    vol_graph: float,
    fresh: int = FRESH_PAIRS,
) -> tuple[np.ndarray, float]:
    """Greedily group units (children of common parents) to lower structural entropy.

    Edges must join units with the same parent. Returns each unit's group representative
    and the total change of H^T (<= 0).
    """
    if n_units == 0 or vol_graph <= 0:
        return np.arange(n_units), 0.0
    group, total = merge_kernel(
        int(n_units),
        np.ascontiguousarray(edges_u, dtype=np.int64),
        np.ascontiguousarray(edges_v, dtype=np.int64),
        np.ascontiguousarray(edges_w, dtype=np.float64),
        np.ascontiguousarray(unit_vol, dtype=np.float64),
        np.ascontiguousarray(unit_parent_vol, dtype=np.float64),
        float(vol_graph),
        int(fresh),
    )
    return group, float(total)


# ---------------------------------------------------------------------------
# working tree: growable parent / leaf arrays
# ---------------------------------------------------------------------------


def _depths(parent: np.ndarray) -> np.ndarray:
    """Depth of each node; parent[i] < i is NOT assumed (builder appends nodes)."""
    n = parent.shape[0]
    depth = np.full(n, -1, dtype=np.int64)
    depth[parent < 0] = 0
    while (depth < 0).any():
        todo = np.flatnonzero(depth < 0)
        pd = depth[parent[todo]]
        ok = pd >= 0
        depth[todo[ok]] = pd[ok] + 1
    return depth


def _subtree_volume(parent: np.ndarray, depth: np.ndarray, leaf_vol: np.ndarray) -> np.ndarray:
    vol = leaf_vol.astype(np.float64).copy()
    for d in range(int(depth.max()), 0, -1):
        at = np.flatnonzero(depth == d)
        np.add.at(vol, parent[at], vol[at])
    return vol


def _ancestor_at(parent: np.ndarray, depth: np.ndarray, nodes: np.ndarray, d: int) -> np.ndarray:
    out = nodes.copy()
    while True:
        deeper = depth[out] > d
        if not deeper.any():
            return out
        out[deeper] = parent[out[deeper]]


class _Builder:
    """Growable parent / leaf arrays; new nodes are appended, so parent[i] < i may not hold."""

    def __init__(self, graph: SkillGraph, parent: np.ndarray, leaf_skill: np.ndarray):
        self.graph = graph
        self.vol_graph = graph.volume()
        self.deg = graph.degrees()
        self.parent = np.array(parent, dtype=np.int64)
        self.leaf_skill = np.array(leaf_skill, dtype=np.int64)
        leaves = np.flatnonzero(self.leaf_skill >= 0)
        self.leaf_node = np.empty(graph.n_skills, dtype=np.int64)
        self.leaf_node[self.leaf_skill[leaves]] = leaves

    @classmethod
    def flat(cls, graph: SkillGraph) -> "_Builder":
        """node 0 = root, nodes 1..n = skills."""
        n = graph.n_skills
        return cls(graph, np.concatenate([[-1], np.zeros(n, np.int64)]), np.concatenate([[-1], np.arange(n)]))

    def tree(self) -> EncodingTree:
        return EncodingTree.from_parents(self.parent, self.leaf_skill, self.graph.skills)

    def state(self):
        depth = _depths(self.parent)
        leaf_vol = np.zeros(self.parent.shape[0])
        leaf_vol[self.leaf_node] = self.deg
        vol = _subtree_volume(self.parent, depth, leaf_vol)
        return depth, vol

    def layer_candidate(self, d: int, depth: np.ndarray, vol: np.ndarray):
        """Best grouping of the children of all depth-d nodes: (units, groups, delta)."""
        units = np.flatnonzero(depth == d + 1)
        if units.shape[0] < 2:
            return units, np.arange(units.shape[0]), 0.0
        g = self.graph
        lu = self.leaf_node[g.src]
        lv = self.leaf_node[g.dst]
        ok = (depth[lu] >= d + 1) & (depth[lv] >= d + 1)
        au = _ancestor_at(self.parent, depth, lu[ok], d + 1)
        av = _ancestor_at(self.parent, depth, lv[ok], d + 1)
        w = g.weight[ok]
        same_parent = (self.parent[au] == self.parent[av]) & (au != av)
        au, av, w = au[same_parent], av[same_parent], w[same_parent]
        pos = np.full(self.parent.shape[0], -1, dtype=np.int64)
        pos[units] = np.arange(units.shape[0])
        iu, iv = pos[au], pos[av]
        lo, hi = np.minimum(iu, iv), np.maximum(iu, iv)
        key = lo * units.shape[0] + hi
        uniq, inv = np.unique(key, return_inverse=True)
        wsum = np.bincount(inv, weights=w, minlength=uniq.shape[0])
        groups, delta = merge_units(
            units.shape[0],
            uniq // units.shape[0],
            uniq % units.shape[0],
            wsum,
            vol[units],
            vol[self.parent[units]],
            self.vol_graph,
        )
        return units, groups, delta

    def apply_layer(self, units: np.ndarray, groups: np.ndarray) -> None:
        """Insert a new node above every group of two or more units."""
        reps, sizes = np.unique(groups, return_counts=True)
        multi = reps[sizes >= 2]
        if multi.shape[0] == 0:
            return
        start = self.parent.shape[0]
        new_id = np.full(units.shape[0], -1, dtype=np.int64)
        new_id[multi] = start + np.arange(multi.shape[0])
        new_parent = self.parent[units[multi]]  # the group's common parent
        unit_new = new_id[groups]
        moved = unit_new >= 0
        self.parent = np.concatenate([self.parent, new_parent])
        self.leaf_skill = np.concatenate([self.leaf_skill, np.full(multi.shape[0], -1, dtype=np.int64)])
        self.parent[units[moved]] = unit_new[moved]


def build_tree(graph: SkillGraph, height: int = 4, refine: bool = True, progress=None) -> EncodingTree:
    """Encoding tree of height <= `height` that greedily minimises H^T(G).

    Each step inserts the best layer and (with `refine`) moves single skills between sibling
    clusters; both never raise H^T, so the tree for height h+1 extends the run for height h
    and its entropy is never higher. Deterministic for a given graph. Every leaf is one
    skill; isolated skills hang directly under the root. `progress(step, total, message)`
    is called per layer.
    """
    if not isinstance(height, (int, np.integer)) or isinstance(height, bool) or height < 1:
        raise ValueError(f"height must be an integer >= 1, got {height!r}")
    b = _Builder.flat(graph)
    tree = b.tree()
    for step in range(height - 1):
        depth, vol = b.state()
        best = None
        for d in range(int(depth.max())):
            units, groups, delta = b.layer_candidate(d, depth, vol)
            if best is None or delta < best[2] - _EPS:
                best = (units, groups, delta)
        if progress is not None:
            progress(step + 1, height - 1, f"layer {step + 1}/{height - 1}")
        if best is None or best[2] >= -_EPS:
            break
        b.apply_layer(best[0], best[1])
        tree = b.tree()
        if refine:
            tree = refine_leaves(graph, tree)
            b = _Builder(graph, tree.parent, tree.leaf_skill)
    # fresh, stable ids in breadth-first order
    tree.ids = [f"n{i}" for i in range(tree.n_nodes)]
    tree.invalidate()
    tree.labels = tree.default_labels(graph.counts)
    tree.meta = {"height": int(height)}
    return tree


def split_node(graph: SkillGraph, tree: EncodingTree, node: int) -> EncodingTree:
    """Re-partition the skills under `node` by the merge operator (the studio's split edit):
    the node's inner structure is replaced by the groups found over its skills, measured
    against vol(node) and vol(G) as in `build_tree`."""
    members = tree.members(node)
    if len(members) < 2 or tree.leaf_skill[node] >= 0:
        return tree
    graph_pos = {s: i for i, s in enumerate(graph.skills)}
    sub_index = {s: i for i, s in enumerate(members)}
    pos = np.array([sub_index.get(s, -1) for s in graph.skills], dtype=np.int64)
    ok = (pos[graph.src] >= 0) & (pos[graph.dst] >= 0) if graph.n_edges else np.zeros(0, bool)
    d_all = graph.degrees()
    deg = np.array([d_all[graph_pos[s]] if s in graph_pos else 0.0 for s in members])
    terms = node_terms(graph, tree)
    groups, _ = merge_units(
        len(members),
        pos[graph.src[ok]],
        pos[graph.dst[ok]],
        graph.weight[ok],
        deg,
        np.full(len(members), terms.volume[node]),
        terms.vol_graph,
    )
    leaf_of = tree.leaf_of_skill()
    skill_pos = {s: i for i, s in enumerate(tree.skills)}
    member_leaves = [int(leaf_of[skill_pos[s]]) for s in members]
    parent = list(tree.parent)
    leaf_skill = list(tree.leaf_skill)
    ids = list(tree.ids)
    labels = list(tree.labels)
    next_id = _next_id(ids)
    reps, sizes = np.unique(groups, return_counts=True)
    size_of = dict(zip(reps.tolist(), sizes.tolist()))
    group_node: dict[int, int] = {}
    for leaf, g in zip(member_leaves, groups.tolist()):
        if size_of[g] >= 2 and size_of[g] < len(members):
            if g not in group_node:
                group_node[g] = len(parent)
                parent.append(node)
                leaf_skill.append(-1)
                ids.append(f"n{next_id}")
                labels.append("")
                next_id += 1
            parent[leaf] = group_node[g]
        else:
            parent[leaf] = node
    depth = tree.depth()
    old_internal = np.zeros(len(parent), dtype=bool)
    for i in range(tree.n_nodes):  # internal strict descendants of node
        if tree.leaf_skill[i] < 0 and depth[i] > depth[node]:
            a = i
            while depth[a] > depth[node]:
                a = tree.parent[a]
            old_internal[i] = a == node
    idx = np.flatnonzero(~old_internal)
    new_pos = np.full(len(parent), -1, dtype=np.int64)
    new_pos[idx] = np.arange(idx.shape[0])
    parent_arr = np.asarray(parent)
    par = np.where(parent_arr[idx] >= 0, new_pos[np.maximum(parent_arr[idx], 0)], -1)
    out = EncodingTree.from_parents(
        par, np.asarray(leaf_skill)[idx], tree.skills, [ids[i] for i in idx], [labels[i] for i in idx], tree.meta
    )
    fresh = out.default_labels(_counts_for(graph, out))
    out.labels = [lab if lab else fresh[i] for i, lab in enumerate(out.labels)]
    return out


def _next_id(ids: list[str]) -> int:
    nums = [int(s[1:]) for s in ids if s.startswith("n") and s[1:].isdigit()]
    return max(nums, default=-1) + 1


def _counts_for(graph: SkillGraph, tree: EncodingTree) -> np.ndarray:
    pos = {s: i for i, s in enumerate(graph.skills)}
    return np.array([graph.counts[pos[s]] if s in pos else 0 for s in tree.skills])
