"""Baseline for bench_taxonomy: a dense numpy re-implementation of the encoding-tree builder in
the public STEPS/SEP reference scripts (their `PartitionTree`, `build_coding_tree(k, mode="v2")`).

Written from a reading of that algorithm, not copied. Three steps, as there:

1. Merge (their `__build_k_tree`): start from root -> units. Repeatedly join the two adjacent
   root children (cut c > 0) whose merge lowers the entropy most, by Li & Pan's merge delta

       ((v1 - g1) log2(v12/v1) + (v2 - g2) log2(v12/v2) - 2 c log2(vol/v12)) / vol,

   under a NEW binary parent, until no adjacent pair is left (components left over go under a
   common root). All pair deltas are recomputed from a dense cut matrix at every step.
2. Compress (same function, k = 2): while the binary tree is higher than 2, remove the internal
   node whose removal raises H^T least, c_x log(vol(parent)/vol(x)) with c_x the weight between
   x's children, among nodes on a path longer than 2. The result is root -> groups -> units;
   units left directly under the root become singleton groups (their `check_balance`).
3. Height k, mode "v2": the first level comes from steps 1-2 over the skills. Then, until the
   tree has height k, compare (a) "root down": steps 1-2 over the root's children, adding a level
   below the root, with the decrease divided by the number of root children, and (b) "leaf up":
   steps 1-2 inside every leaf-level community of >= 3 skills on its own subgraph (volume
   vol - g), adding a level above the skills, with the summed decrease divided by the number of
   skills; apply the larger (ties: leaf up). Every step adds exactly one level (single-child
   nodes where nothing splits), so all skills sit at depth k.

The reference keeps the pair deltas in a heap; recomputing them gives the same greedy choices
(ties aside). Dense memory is O(n^2): use it for up to a few thousand skills.
"""

from __future__ import annotations

import numpy as np

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["reference_tree", "two_level_partition"]


def _xlog2_ratio(a: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """a * log2(num / den), 0 where a, num or den is 0 (the x log x limit)."""
    a, num, den = np.broadcast_arrays(np.asarray(a, float), np.asarray(num, float), np.asarray(den, float))
    out = np.zeros(a.shape)
    ok = (a != 0) & (num > 0) & (den > 0)
    out[ok] = a[ok] * np.log2(num[ok] / den[ok])
    return out


def _merge_hierarchy(cut: np.ndarray, vol: np.ndarray, g: np.ndarray, gvol: float):
    """Step 1. Returns (parent, child_cut, node_vol, root) over units 0..m-1 and new nodes m.."""
    m = vol.shape[0]
    C = np.array(cut, dtype=np.float64, copy=True)
    np.fill_diagonal(C, 0.0)
    n_max = 2 * m + 1
    parent = np.full(n_max, -1, dtype=np.int64)
    child_cut = np.zeros(n_max)
    node_vol = np.zeros(n_max)
    node_vol[:m] = vol
    slot_node = np.arange(m)  # slot s holds the tree node slot_node[s]
    svol = np.array(vol, dtype=np.float64)
    sg = np.array(g, dtype=np.float64)
    alive = np.ones(m, dtype=bool)
    nxt = m
    while True:
        act = np.flatnonzero(alive)
        if act.shape[0] < 2:
            break
        sub = C[np.ix_(act, act)]
        ii, jj = np.nonzero(np.triu(sub, 1) > 0)
        if ii.shape[0] == 0:
            break
        c = sub[ii, jj]
        a, b = act[ii], act[jj]
        v1, v2, g1, g2 = svol[a], svol[b], sg[a], sg[b]
        v12 = v1 + v2
        delta = (_xlog2_ratio(v1 - g1, v12, v1) + _xlog2_ratio(v2 - g2, v12, v2) - _xlog2_ratio(2 * c, gvol, v12)) / gvol
        k = int(np.argmin(delta))
        sa, sb, ck = int(a[k]), int(b[k]), float(c[k])
        parent[slot_node[sa]] = nxt
        parent[slot_node[sb]] = nxt
        child_cut[nxt] = ck
        node_vol[nxt] = v12[k]
        svol[sa] = v12[k]
        sg[sa] = sg[sa] + sg[sb] - 2.0 * ck
        C[sa, :] += C[sb, :]
        C[:, sa] += C[:, sb]
        C[sa, sa] = 0.0
        C[sb, :] = 0.0
        C[:, sb] = 0.0
        alive[sb] = False
        slot_node[sa] = nxt
        nxt += 1
    left = slot_node[np.flatnonzero(alive)]
    if left.shape[0] == 1:
        root = int(left[0])
    else:  # disconnected: one root over what is left (no cut between components)
        root = nxt
        parent[left] = root
        node_vol[root] = gvol
        nxt += 1
    return parent[:nxt], child_cut[:nxt], node_vol[:nxt], root


def _compress(parent: np.ndarray, child_cut: np.ndarray, node_vol: np.ndarray, root: int, m: int, k: int = 2):
    """Step 2: remove internal nodes, cheapest first, until the tree has height <= k."""
    n = parent.shape[0]
    parent = parent.copy()
    child_cut = child_cut.copy()
    children: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        if parent[i] >= 0:
            children[parent[i]].add(i)
    # parents are created after their children, so one backward pass gives depths, one forward child_h
    depth = np.zeros(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        if parent[i] >= 0:
            depth[i] = depth[parent[i]] + 1
    child_h = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if parent[i] >= 0:
            child_h[parent[i]] = max(child_h[parent[i]], child_h[i] + 1)
    alive = np.ones(n, dtype=bool)
    internal = np.arange(n) >= m
    internal[root] = False
    while child_h[root] > k:
        idx = np.flatnonzero(alive & internal & (depth + child_h > k))
        cost = _xlog2_ratio(child_cut[idx], node_vol[parent[idx]], node_vol[idx])
        x = int(idx[int(np.argmin(cost))])
        p = int(parent[x])
        children[p].discard(x)
        for c in children[x]:
            parent[c] = p
            children[p].add(c)
        child_cut[p] += child_cut[x]
        alive[x] = False
        stack = list(children[x])
        while stack:
            y = stack.pop()
            depth[y] -= 1
            stack.extend(children[y])
        children[x] = set()
        y = p
        while y >= 0:
            h = max(child_h[c] for c in children[y]) + 1
            if h == child_h[y]:
                break
            child_h[y] = h
            y = int(parent[y])
    return parent


def two_level_partition(cut: np.ndarray, vol: np.ndarray, g: np.ndarray, gvol: float) -> np.ndarray:
    """Steps 1-2 over m units with a dense symmetric cut matrix: a group label per unit
    (0..G-1, numbered by first appearance). Units without a group get their own label."""
    vol = np.asarray(vol, dtype=np.float64)
    m = vol.shape[0]
    if m < 2 or gvol <= 0:
        return np.arange(m)
    parent, child_cut, node_vol, root = _merge_hierarchy(cut, vol, np.asarray(g, np.float64), float(gvol))
    parent = _compress(parent, child_cut, node_vol, root, m, k=2)
    group = np.where(parent[:m] == root, -1 - np.arange(m), parent[:m])  # -1-u: singleton
    _, labels = np.unique(group, return_inverse=True)
    first = np.full(labels.max() + 1, m)
    np.minimum.at(first, labels, np.arange(m))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(first.shape[0])
    return rank[labels]


class _Levels:
    """A tree whose leaves (the skills) all sit at depth h: up[d][i] is the parent (at depth d)
    of node i at depth d+1; up[h-1] maps the skills."""

    def __init__(self, graph: SkillGraph):
        self.n = graph.n_skills
        self.src, self.dst, self.w = graph.src, graph.dst, graph.weight
        self.deg = graph.degrees()
        self.vol = float(self.deg.sum())
        self.up: list[np.ndarray] = [np.zeros(self.n, dtype=np.int64)]

    def skill_to_depth(self, d: int) -> np.ndarray:
        lab = np.arange(self.n)
        for level in range(len(self.up) - 1, d - 1, -1):
            lab = self.up[level][lab]
        return lab

    def vol_cut(self, lab: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        v = np.bincount(lab, weights=self.deg, minlength=k)
        same = lab[self.src] == lab[self.dst]
        inner = np.bincount(lab[self.src][same], weights=self.w[same], minlength=k)
        return v, v - 2.0 * inner

    def to_tree(self, skills: list[str]) -> EncodingTree:
        parent, leaf = [np.array([-1])], [np.array([-1])]
        offset = 0  # index of the first node at the current depth
        for up in self.up:
            width_above = int(parent[-1].shape[0])
            parent.append(up + offset)
            offset += width_above
            leaf.append(np.full(up.shape[0], -1))
        leaf[-1] = np.arange(self.n)
        return EncodingTree.from_parents(np.concatenate(parent), np.concatenate(leaf), skills)


def _root_down(t: _Levels):
    """Candidate (normalised decrease, new top map, new second map), or None."""
    units = t.up[0].shape[0]
    if units < 3:
        return None
    lab = t.skill_to_depth(1)
    vol_u, g_u = t.vol_cut(lab, units)
    a, b = lab[t.src], lab[t.dst]
    cross = a != b
    C = np.zeros((units, units))
    np.add.at(C, (a[cross], b[cross]), t.w[cross])
    C = C + C.T
    part = two_level_partition(C, vol_u, g_u, t.vol)
    ng = int(part.max()) + 1
    vol_g = np.bincount(part, weights=vol_u, minlength=ng)
    same = part[:, None] == part[None, :]
    inner2 = np.bincount(part, weights=(C * same).sum(axis=1), minlength=ng)  # 2 x inner weight
    g_g = np.bincount(part, weights=g_u, minlength=ng) - inner2
    old = -_xlog2_ratio(g_u, vol_u, t.vol).sum()
    new = -_xlog2_ratio(g_g, vol_g, t.vol).sum() - _xlog2_ratio(g_u, vol_u, vol_g[part]).sum()
    return (old - new) / t.vol / units, np.zeros(ng, dtype=np.int64), part


def _leaf_up(t: _Levels, dense: np.ndarray):
    """Candidate (normalised decrease, community of each new group, new group of each skill)."""
    lab = t.up[-1]
    k = int(lab.max()) + 1
    vol_c, _ = t.vol_cut(lab, k)
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(k + 1))
    group_of_skill = np.empty(t.n, dtype=np.int64)
    group_parent: list[np.ndarray] = []
    n_groups = 0
    gain = 0.0
    d = t.deg
    for c in range(k):
        mem = order[bounds[c] : bounds[c + 1]]
        sub = dense[np.ix_(mem, mem)] if mem.shape[0] >= 3 else None
        sv = sub.sum(axis=1) if sub is not None else None
        if sub is None or sv.sum() <= 0:
            part = np.arange(mem.shape[0])
        else:
            part = two_level_partition(sub, sv, sv, float(sv.sum()))
            ng = int(part.max()) + 1
            vol_g = np.bincount(part, weights=d[mem], minlength=ng)
            same = part[:, None] == part[None, :]
            inner2 = np.bincount(part, weights=(sub * same).sum(axis=1), minlength=ng)
            g_g = vol_g - inner2
            old = -_xlog2_ratio(d[mem], d[mem], vol_c[c]).sum()
            new = -_xlog2_ratio(g_g, vol_g, vol_c[c]).sum() - _xlog2_ratio(d[mem], d[mem], vol_g[part]).sum()
            gain += old - new
        ng = int(part.max()) + 1
        group_of_skill[mem] = n_groups + part
        group_parent.append(np.full(ng, c, dtype=np.int64))
        n_groups += ng
    return gain / t.vol / t.n, np.concatenate(group_parent), group_of_skill


def reference_tree(graph: SkillGraph, height: int) -> EncodingTree:
    """Encoding tree of height `height` (every skill at that depth) by the reference's greedy."""
    if not isinstance(height, (int, np.integer)) or isinstance(height, bool) or height < 1:
        raise ValueError(f"height must be an integer >= 1, got {height!r}")
    t = _Levels(graph)
    if height >= 2 and t.vol > 0:
        n = graph.n_skills
        dense = np.zeros((n, n))
        dense[graph.src, graph.dst] = graph.weight
        dense[graph.dst, graph.src] = graph.weight
        part = two_level_partition(dense, t.deg, t.deg, t.vol)
        t.up = [np.zeros(int(part.max()) + 1, dtype=np.int64), part]
        down = up = None
        while len(t.up) < height:
            down = _root_down(t) if down is None else down
            up = _leaf_up(t, dense) if up is None else up
            if down is not None and up[0] < down[0]:
                t.up = [down[1], down[2]] + t.up[1:]
                down = None  # the leaf-up candidate stays valid: the bottom levels did not change
            else:
                t.up = t.up[:-1] + [up[1], up[2]]
                up = None  # the root-down candidate stays valid: the top level did not change
    tree = t.to_tree(graph.skills)
    tree.meta = {"height": int(height), "builder": "reference-greedy-v2"}
    return tree
