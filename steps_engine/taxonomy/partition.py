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
single skills between sibling clusters while that lowers H^T (`refine.py`). Between steps
each parent's merge result is kept by content, so a step merges only the scopes the last
layer or the refinement changed (docs/taxonomy_greedy.md).
"""

from __future__ import annotations

import numpy as np

from steps_engine.taxonomy._heap import heap_reuse
from steps_engine.taxonomy._kernels import _EPS, merge_kernel
from steps_engine.taxonomy.entropy import node_terms
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.refine import adjacency_arrays, refine_leaves
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["build_tree", "build_trees", "merge_units", "split_node"]

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
    distinct_pairs: bool = False,
) -> tuple[np.ndarray, float]:
    """Greedily group units (children of common parents) to lower structural entropy.

    Edges must join units with the same parent. Repeated pairs (either orientation) count
    as one edge at their first occurrence with the weights summed; self-loops change no
    pair and are dropped (`distinct_pairs=True` promises neither occurs and skips the check).
    Returns each unit's group representative and the total change of H^T (<= 0).
    """
    if n_units == 0 or vol_graph <= 0:
        return np.arange(n_units), 0.0
    eu = np.asarray(edges_u, dtype=np.int64)
    ev = np.asarray(edges_v, dtype=np.int64)
    ew = np.asarray(edges_w, dtype=np.float64)
    if not distinct_pairs and eu.shape[0]:
        loop = eu == ev
        if loop.any():
            eu, ev, ew = eu[~loop], ev[~loop], ew[~loop]
        _, first, inv = np.unique(np.minimum(eu, ev) * n_units + np.maximum(eu, ev), return_index=True, return_inverse=True)
        if first.shape[0] < eu.shape[0]:
            w = np.bincount(inv.ravel(), weights=ew, minlength=first.shape[0])
            by_first = np.argsort(first)
            eu, ev, ew = eu[first[by_first]], ev[first[by_first]], w[by_first]
    group, total = merge_kernel(
        int(n_units),
        np.ascontiguousarray(eu),
        np.ascontiguousarray(ev),
        np.ascontiguousarray(ew),
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
        """Depth of each node and its volume, summed over its member skills in skill order
        (a function of the member set alone, so an unchanged scope has bit-identical inputs)."""
        depth = _depths(self.parent)
        n_nodes = self.parent.shape[0]
        vol = np.zeros(n_nodes)
        node = self.leaf_node.copy()
        deg = self.deg
        while node.shape[0]:
            vol += np.bincount(node, weights=deg, minlength=n_nodes)
            up = self.parent[node] >= 0
            node, deg = self.parent[node[up]], deg[up]
        return depth, vol

    def layer_candidate(self, d: int, depth: np.ndarray, vol: np.ndarray, cache=None, used=None):
        """Best grouping of the children of all depth-d nodes: (units, groups, delta).

        Every depth-d node P is one scope: the merge sees only P's children, their volumes,
        vol(P) and the edges between them, and scopes never interact (a merge changes only
        pairs inside its scope, whose heap entries are ordered among themselves as in a run
        over that scope alone). A scope's result is therefore a function of its content -- the
        member skills of each child, children in node order -- and `cache` (content -> local
        groups, delta) holds it between tree steps; `used` collects the entries this step
        read or made. Only scopes not in the cache are merged, all in one kernel call.
        """
        units = np.flatnonzero(depth == d + 1)
        n_u = units.shape[0]
        if n_u < 2:
            return units, np.arange(n_u), 0.0
        par = self.parent[units]
        order = np.argsort(par, kind="stable")  # units by scope, node order within a scope
        _, first, n_child = np.unique(par[order], return_index=True, return_counts=True)
        n_sc = first.shape[0]
        scope = np.empty(n_u, dtype=np.int64)
        scope[order] = np.repeat(np.arange(n_sc), n_child)
        rank = np.empty(n_u, dtype=np.int64)
        rank[order] = np.arange(n_u) - np.repeat(first, n_child)
        pos = np.full(self.parent.shape[0], -1, dtype=np.int64)
        pos[units] = np.arange(n_u)
        lf = self.leaf_node
        deep = np.flatnonzero(depth[lf] >= d + 1)  # skills below the depth-d nodes
        skill_unit = np.full(lf.shape[0], -1, dtype=np.int64)
        skill_unit[deep] = pos[_ancestor_at(self.parent, depth, lf[deep], d + 1)]
        # scope content: its member skills (ascending) and each one's child rank
        by_scope = deep[np.argsort(scope[skill_unit[deep]], kind="stable")]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(scope[skill_unit[by_scope]], minlength=n_sc))]) * 8
        skill_bytes = by_scope.astype(np.int64).tobytes()
        rank_bytes = rank[skill_unit[by_scope]].astype(np.int64).tobytes()
        keys = [skill_bytes[bounds[i] : bounds[i + 1]] + rank_bytes[bounds[i] : bounds[i + 1]] for i in range(n_sc)]
        found = [None if cache is None else cache.get(k) for k in keys]
        dirty = np.array([f is None for f in found])
        scope_delta = np.zeros(n_sc)
        rep_rank = np.empty(n_u, dtype=np.int64)  # rank of each unit's group representative
        if dirty.any():
            self._merge_scopes(units, par, scope, rank, dirty, skill_unit, vol, rep_rank, scope_delta)
        for i in range(n_sc):
            sl = slice(first[i], first[i] + n_child[i])
            if found[i] is None:
                found[i] = (rep_rank[order[sl]].copy(), float(scope_delta[i]))
            else:
                rep_rank[order[sl]] = found[i][0]
                scope_delta[i] = found[i][1]
            if used is not None:
                used[keys[i]] = found[i]
        groups = order[first[scope] + rep_rank]
        return units, groups, float(np.sum(scope_delta))

    def _merge_scopes(self, units, par, scope, rank, dirty, skill_unit, vol, rep_rank, scope_delta):
        """Merge the units of the dirty scopes (one kernel call); fill their representatives'
        ranks and each scope's delta (the sum of its groups' terms)."""
        g = self.graph
        todo = np.flatnonzero(dirty[scope])  # node order kept: a monotone renumbering
        n_d = todo.shape[0]
        loc = np.full(units.shape[0], -1, dtype=np.int64)
        loc[todo] = np.arange(n_d)
        su, sv = skill_unit[g.src], skill_unit[g.dst]
        ok = (su >= 0) & (sv >= 0)
        su, sv, w = su[ok], sv[ok], g.weight[ok]
        keep = (su != sv) & (scope[su] == scope[sv]) & dirty[scope[su]]
        iu, iv, w = loc[su[keep]], loc[sv[keep]], w[keep]
        lo, hi = np.minimum(iu, iv), np.maximum(iu, iv)
        uniq, inv = np.unique(lo * n_d + hi, return_inverse=True)
        wsum = np.bincount(inv, weights=w, minlength=uniq.shape[0])
        eu, ev = uniq // n_d, uniq % n_d
        uvol, pvol = vol[units[todo]], vol[par[todo]]
        groups, _ = merge_units(n_d, eu, ev, wsum, uvol, pvol, self.vol_graph, distinct_pairs=True)
        rep_rank[todo] = rank[todo[groups]]
        gvol = np.bincount(groups, weights=uvol, minlength=n_d)
        inside = groups[eu] == groups[ev]
        inner = np.bincount(groups[eu[inside]], weights=wsum[inside], minlength=n_d)
        pays = (inner > 0) & (gvol > 0)
        cost = np.zeros(n_d)
        cost[pays] = (2.0 * inner[pays] / self.vol_graph) * np.log2(gvol[pays] / pvol[pays])
        scope_delta += np.bincount(scope[todo], weights=cost, minlength=scope_delta.shape[0])

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
    with heap_reuse():  # graph-sized temporaries: reused heap blocks, not fresh zeroed pages
        return _grow(graph, height, refine, progress, reuse=True)


def build_trees(graph: SkillGraph, height: int) -> list[EncodingTree]:
    """`build_tree(graph, h)` for h = 2..height from one run (each height's tree is the run
    stopped there); entry h - 2 is height h's tree, without ids or labels."""
    if not isinstance(height, (int, np.integer)) or isinstance(height, bool) or height < 2:
        raise ValueError(f"height must be an integer >= 2, got {height!r}")
    trees: list[EncodingTree] = []
    with heap_reuse():
        last = _grow(graph, height, True, None, reuse=True, trees=trees)
    return trees + [last] * (height - 1 - len(trees))  # no further layer paid: the same tree


def _grow(graph: SkillGraph, height: int, refine: bool, progress, reuse: bool, trees: list | None = None) -> EncodingTree:
    """`build_tree`'s loop; `reuse=False` recomputes every scope at every depth (the
    reference the scope cache is tested against). `trees` collects the tree after each step."""
    b = _Builder.flat(graph)
    tree = b.tree()
    cache: dict | None = {} if reuse else None
    csr = None  # the graph's CSR for refine, built once
    for step in range(height - 1):
        depth, vol = b.state()
        best = None
        used: dict | None = {} if reuse else None
        for d in range(int(depth.max())):
            units, groups, delta = b.layer_candidate(d, depth, vol, cache, used)
            if best is None or delta < best[2] - _EPS:
                best = (units, groups, delta)
        cache = used  # entries of scopes that exist now; the rest cannot come back unchanged
        if progress is not None:
            progress(step + 1, height - 1, f"layer {step + 1}/{height - 1}")
        if best is None or best[2] >= -_EPS:
            break
        b.apply_layer(best[0], best[1])
        tree = b.tree()
        if refine:
            if csr is None and graph.n_edges:
                csr = adjacency_arrays(graph)
            tree = refine_leaves(graph, tree, csr=csr)
            b = _Builder(graph, tree.parent, tree.leaf_skill)
        if trees is not None:
            trees.append(tree)
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
