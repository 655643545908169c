"""Multilevel structural-entropy builder: Leiden-style moves, an exact height DP, refinement.

Edge form of H^T. Write C_b for the sum of the cuts of b's children; then C_b - g_b = 2 W_b,
W_b the weight of the edges whose lowest common ancestor (LCA) is b, and summing the
`entropy` terms node by node gives

    vol(G) H^T = sum_edges 2 w_uv log2 vol(LCA(u, v)) - sum_v d_v log2 d_v

(each edge pays log2 of the volume of the smallest cluster holding both ends). Grouping the
children ("units") of a node P into communities b therefore changes vol(G) H^T by

    sum_b cost(b),  cost(b) = 2 W_b (log2 V_b - log2 vol(P)) <= 0

(W_b: weight inside b between different units), and moving a unit u (volume V_u, inner
weight S_u, weight k_uX to community X) from A to B changes it by exactly

    cost(W_A - S_u - k_uA, V_A - V_u) - cost(W_A, V_A) + cost(W_B + S_u + k_uB, V_B + V_u) - cost(W_B, V_B)

in O(deg u), as modularity's move. `_multilevel_kernels.leiden` runs Leiden (local moves,
refinement, aggregation, repeated) on this cost. The units of different parents share no edge, so
`leiden_scoped` solves each parent's problem on a compact copy of its subgraph (its state
stays in cache; the skill graph's CSR is built once and shared by all layers). The builder:

1. saturate: from root -> skills, insert layers (group the level-j nodes of every parent by
   `leiden`, then a pass that dissolves whole communities into their neighbours when that
   pays) at every level while that lowers H^T, up to SATURATED_LEVELS levels;
2. compress: for a height k, keep at most k-1 internal nodes on every path, chosen by an
   exact tree DP over the saturated tree (Li & Pan's compress operator, optimally);
3. refine: at every level, `leiden` started from the current partition moves sub-trees, and
   after aggregation groups of sibling sub-trees, between sibling clusters; then, on graphs of
   at most REINSERT_MAX_EDGES edges, each level of every height's tree in turn is lifted
   (removed) and grouped again from singletons by `leiden` inside its parents, and kept when
   that lowers H^T (the DP can only choose among saturation's levels, which were each found
   for the tree as it was then; on other planted shapes the greedy's height-5 tree was up to
   0.004 bits lower before this, docs/taxonomy_shapes.md);
4. heights 2..k are built in turn and a height keeps the lower-entropy tree.

Saturation builds coarse levels out of fine ones; on sparse graphs the fine 2-level optimum is
tiny clusters and the levels above inherit their mistakes (0.08 bits above recursive Leiden at
10,000 skills, docs/taxonomy_shapes.md). So a second start is built top down: modularity
communities, then communities inside each, until no cluster splits (`_modularity_kernels`),
compressed by the same DP. Both starts are refined at every height; the lower one is
re-inserted and kept. On small graphs (GREEDY_START_MAX_EDGES edges, or GREEDY_START_MAX_SKILLS
skills) the greedy merge tree (`partition`), refined the same way, is a third start: there
local optima differ by seed and the cost is small.

No step raises H^T; the result is deterministic for a given graph and seed.
"""

from __future__ import annotations

import numpy as np

from steps_engine.taxonomy import _modularity_kernels as MK
from steps_engine.taxonomy import _multilevel_kernels as K
from steps_engine.taxonomy._heap import heap_reuse
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.partition import build_trees
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["build_tree_multilevel"]

SATURATED_LEVELS = 12  # levels of the saturated tree (at least height + 3) for the DP to choose from
MAX_ROUNDS = 30  # Leiden rounds (local moves + aggregation) per call
DISSOLVE_PASSES = 1  # new levels: then dissolve communities into neighbours and re-run Leiden
REFINE_SWEEPS = 2  # at most; sweeps stop once one gains less than REFINE_MIN_GAIN bits
REFINE_MIN_GAIN = 1e-3
REINSERT_MAX_EDGES = 500_000  # graphs up to this size: re-insert every level of each height's tree
GREEDY_START_MAX_EDGES = 20_000  # small graphs: the greedy merge tree, refined, is one more start
GREEDY_START_MAX_SKILLS = 2_000  # ... and graphs of up to this many skills and GREEDY_START_MAX_EDGES_SMALL edges
GREEDY_START_MAX_EDGES_SMALL = 200_000
TOP_DOWN_ITERATIONS = 2  # Louvain passes, each from the last one's communities
LOCALISE_MIN_EDGES = 200_000  # below this everything fits in cache; renumbering only costs
_TOL = 1e-13  # bits: smaller changes are treated as none


class _Layers:
    """A layered tree: anc[l, s] = skill s's ancestor at level l (0 = the skill, top = root).

    Nodes of one level are labelled 0..n_l-1. A node with one child (a chain) costs nothing,
    so any tree is a layered tree with chains; they are spliced out at the end."""

    def __init__(self, src, dst, w, deg, anc, adj=None, skill_ids=None, elca=None):
        self.src, self.dst, self.w, self.deg = src, dst, w, deg
        self.skill_ids = np.arange(deg.shape[0]) if skill_ids is None else skill_ids  # graph index of each column
        self.adj = adj if adj is not None else K.adjacency(deg.shape[0], src, dst, w)  # (ptr, idx, val)
        self.vol = float(deg.sum())
        self.tol = _TOL * max(self.vol, 1e-300)
        self.anc = anc
        self.elca = K.edge_lca_level(anc, src, dst) if elca is None else elca

    @classmethod
    def flat(cls, graph: SkillGraph) -> "_Layers":
        n = graph.n_skills
        anc = np.stack([np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64)])
        src, dst = (np.ascontiguousarray(x, dtype=np.int64) for x in (graph.src, graph.dst))  # read only: no copy
        return cls(src, dst, np.ascontiguousarray(graph.weight, dtype=np.float64), graph.degrees(), anc)

    @property
    def top(self) -> int:
        return self.anc.shape[0] - 1

    def n_at(self, l: int) -> int:
        return int(self.anc[l].max()) + 1 if self.anc.shape[1] else 0

    def vol_at(self, l: int) -> np.ndarray:
        return np.bincount(self.anc[l], weights=self.deg, minlength=self.n_at(l))

    def up(self, j: int) -> np.ndarray:
        """Parent (level j+1) of every level-j node."""
        out = np.empty(self.n_at(j), dtype=np.int64)
        out[self.anc[j]] = self.anc[j + 1]
        return out

    def units(self, j: int, hi: int):
        """The CSR over level-j nodes of the edges whose LCA level is in [j + 1, hi]."""
        if j == 0:
            if hi == self.top:  # every edge is inside the root: the skill graph's own CSR (read only)
                return self.adj
            return K.rows_within(self.anc[hi], *self.adj)
        return K.level_csr(self.anc[j], self.n_at(j), self.anc[hi], *self.adj)

    def entropy(self) -> float:
        """H^T in bits, by the edge form."""
        if self.vol <= 0:
            return 0.0
        vol_levels = np.zeros((self.top + 1, self.anc.shape[1]))
        for l in range(self.top + 1):
            v = self.vol_at(l)
            vol_levels[l, : v.shape[0]] = v
        edge = K.edge_form(self.anc, vol_levels, self.src, self.w, self.elca)
        d = self.deg[self.deg > 0]
        return (edge - float(np.sum(d * np.log2(d)))) / self.vol

    # ---- operators -----------------------------------------------------------------
    def insert_level(self, j: int, seed: int) -> bool:
        """Group the level-j nodes of every level-(j+1) node by Leiden; insert the groups as a
        new level j+1 when that lowers H^T."""
        ptr, idx, val = self.units(j, j + 1)
        if val.shape[0] == 0:
            return False
        scope = self.up(j)
        lp = np.log2(np.maximum(self.vol_at(j + 1), 1e-300))[scope]
        n = self.n_at(j)
        comm, delta = K.leiden_scoped(ptr, idx, val, self.vol_at(j), lp, scope, np.arange(n), seed, self.tol, MAX_ROUNDS, DISSOLVE_PASSES)
        if delta >= -self.tol:
            return False
        g, _ = K._relabel(comm)
        row = g[self.anc[j]]
        K.split_lca(self.elca, self.src, self.dst, row, j + 1, j + 2, True)
        self.anc = np.insert(self.anc, j + 1, row, axis=0)
        return True

    def refine_level(self, j: int, seed: int) -> float:
        """Leiden from the current partition: level-j sub-trees (and groups of them) move
        between the level-(j+1) children of their level-(j+2) node. Returns the change."""
        ptr, idx, val = self.units(j, j + 2)
        if val.shape[0] == 0:
            return 0.0
        up_j = self.up(j)
        scope = self.up(j + 1)[up_j]
        lp = np.log2(np.maximum(self.vol_at(j + 2), 1e-300))[scope]
        comm, delta = K.leiden_scoped(ptr, idx, val, self.vol_at(j), lp, scope, up_j, seed, self.tol, MAX_ROUNDS, 0)
        if delta >= -self.tol:
            return 0.0
        g, _ = K._relabel(comm)
        row = g[self.anc[j]]
        self.anc[j + 1] = row
        K.split_lca(self.elca, self.src, self.dst, row, j + 1, j + 2, False)
        return delta / self.vol

    def reinserted(self, l: int, seed: int, h_now: float) -> "tuple[_Layers, float] | None":
        """Li & Pan's lift, then a fresh insert: level l (0 < l < top) removed, its children
        grouped again from singletons by Leiden inside each level-(l+1) node. The new layers
        and their H^T when that is below h_now (this tree's), else None."""
        elca = self.elca - (self.elca > l).astype(np.int8)  # LCA at level l moves up to l + 1
        lay = _Layers(self.src, self.dst, self.w, self.deg, np.delete(self.anc, l, axis=0), self.adj, self.skill_ids, elca)
        if not lay.insert_level(l - 1, seed):
            return None
        lay.refine(seed)
        h = lay.entropy()
        return (lay, h) if h < h_now - _TOL else None

    def saturate(self, max_levels: int, seed: int) -> None:
        changed = True
        while changed and self.top < max_levels:
            changed = False
            for j in range(self.top - 1, -1, -1):
                if self.top >= max_levels:
                    break
                changed |= self.insert_level(j, seed)
                if changed and self.top == 2:
                    self.localise()

    def localise(self) -> None:
        """Renumber the skills so that each cluster's skills are consecutive (ordered by their
        path from the top) and the edges by their first end, when the graph is big and its
        order is not grouped already: every later pass then reads memory in runs (on a 50,000
        skill graph in random order, a fifth to a third of the build time). H^T is unchanged."""
        if self.src.shape[0] < LOCALISE_MIN_EDGES or self.top < 2:
            return
        finest = self.anc[1]
        if np.count_nonzero(finest[1:] != finest[:-1]) + 1 <= 2 * self.n_at(1):
            return
        order = np.lexsort(self.anc[1 : self.top])  # last key (highest level) first; stable
        inv = np.empty_like(order)
        inv[order] = np.arange(order.shape[0])
        src, dst = inv[self.src], inv[self.dst]
        by_end = np.argsort(np.minimum(src, dst), kind="stable")
        anc = np.stack([K._relabel(row)[0] for row in self.anc[:, order]])
        self.__init__(src[by_end], dst[by_end], self.w[by_end], self.deg[order], anc, None, self.skill_ids[order])

    def refine(self, seed: int) -> None:
        for sweep in range(REFINE_SWEEPS):
            gain = 0.0
            for j in range(self.top - 2, -1, -1):
                gain += self.refine_level(j, seed + sweep)
            if gain > -REFINE_MIN_GAIN:
                break

    def split_top_down(self, levels: int, seed: int) -> "_Layers":
        """The top-down start: a new tree over these layers' graph (and skill order; their own
        levels are not used) by recursive modularity, Louvain inside every finest cluster,
        `levels` times or until no cluster splits."""
        n = self.anc.shape[1]
        cur = np.zeros(n, dtype=np.int64)
        n_cur = 1
        rows = []
        for _ in range(levels):
            ptr, idx, val = K.rows_within(cur, *self.adj) if rows else self.adj  # the first split: every edge
            new, n_new = K._relabel(MK.louvain_scoped(ptr, idx, val, cur, seed, MAX_ROUNDS, TOP_DOWN_ITERATIONS))
            if n_new == n_cur:
                break
            rows.append(new)
            cur, n_cur = new, n_new
        anc = np.stack([np.arange(n, dtype=np.int64)] + rows[::-1] + [np.zeros(n, dtype=np.int64)])
        return _Layers(self.src, self.dst, self.w, self.deg, anc, self.adj, self.skill_ids)

    # ---- structure -----------------------------------------------------------------
    def _internal(self):
        """Internal nodes (levels top..1) with chains spliced out: (parent, depth, W, vol) in
        topological order, and each skill's spliced parent."""
        top = self.top
        sizes = [self.n_at(l) for l in range(top + 1)]
        off = np.zeros(top + 1, dtype=np.int64)
        for l in range(top - 1, 0, -1):
            off[l] = off[l + 1] + sizes[l + 1]
        n_glob = int(off[1] + sizes[1]) if top >= 1 else 1
        parent = np.full(n_glob, -1, dtype=np.int64)
        vol = np.zeros(n_glob)
        n_child = np.zeros(n_glob, dtype=np.int64)
        for l in range(1, top + 1):
            vol[off[l] : off[l] + sizes[l]] = self.vol_at(l)
            if l < top:
                parent[off[l] : off[l] + sizes[l]] = off[l + 1] + self.up(l)
            n_child[off[l] : off[l] + sizes[l]] = np.bincount(self.up(l - 1), minlength=sizes[l])
        w_in = K.lca_weights(self.anc, self.src, self.w, self.elca, off, n_glob)
        chain = n_child == 1
        chain[0] = False
        rep = np.arange(n_glob)  # nearest non-chain ancestor-or-self
        for l in range(top - 1, 0, -1):
            ids = np.arange(off[l], off[l] + sizes[l])
            p = parent[ids]
            rep_p = rep[p]
            rep[ids] = np.where(chain[ids], rep_p, ids)
            parent[ids] = rep_p
        keep = np.flatnonzero(~chain)
        new = np.full(n_glob, -1, dtype=np.int64)
        new[keep] = np.arange(keep.shape[0])
        par = np.where(parent[keep] >= 0, new[np.maximum(parent[keep], 0)], -1)
        depth = _depths(par)
        skill_parent = new[rep[off[1] + self.anc[1]]] if top >= 1 else np.zeros(self.anc.shape[1], np.int64)
        return par, depth, w_in[keep], vol[keep], skill_parent

    def compressed(self, height: int) -> "_Layers":
        """The best layered tree of `height` whose clusters are clusters of this one (DP)."""
        par, depth, w_in, vol, skill_parent = self._internal()
        keep, _ = K.compress_dp(par, depth, w_in, vol, height - 1)
        kept = _nearest_kept(par, keep)
        kpar = kept[np.maximum(par, 0)]
        kpar[0] = -1
        ids = np.flatnonzero(keep)
        new = np.full(par.shape[0], -1, dtype=np.int64)
        new[ids] = np.arange(ids.shape[0])
        k_parent = np.where(kpar[ids] >= 0, new[np.maximum(kpar[ids], 0)], -1)
        anc = _relayer(k_parent, _depths(k_parent), new[kept[skill_parent]], height)
        return _Layers(self.src, self.dst, self.w, self.deg, anc, self.adj, self.skill_ids)

    def with_tree(self, tree: EncodingTree, skills: list[str], height: int) -> "_Layers":
        """These layers' graph (skills[i] is the graph's skill i) with the levels of an encoding
        tree of height <= `height` instead of their own; shares the edges and the CSR."""
        internal = np.flatnonzero(tree.leaf_skill < 0)
        new = np.full(tree.n_nodes, -1, dtype=np.int64)
        new[internal] = np.arange(internal.shape[0])
        k_parent = np.where(tree.parent[internal] >= 0, new[np.maximum(tree.parent[internal], 0)], -1)
        pos = {s: i for i, s in enumerate(tree.skills)}
        leaf = tree.leaf_of_skill()[[pos[skills[i]] for i in self.skill_ids]]
        anc = _relayer(k_parent, _depths(k_parent), new[tree.parent[leaf]], height)
        return _Layers(self.src, self.dst, self.w, self.deg, anc, self.adj, self.skill_ids)

    def to_tree(self, skills: list[str]) -> EncodingTree:
        par, _, _, _, skill_parent = self._internal()
        n_int = par.shape[0]
        n = len(skills)
        parent = np.concatenate([par, skill_parent])
        leaf = np.concatenate([np.full(n_int, -1, dtype=np.int64), self.skill_ids.astype(np.int64)])
        return EncodingTree.from_parents(parent, leaf, skills)


def _reinsert_levels(lay: _Layers, seed: int, h_now: float) -> tuple[_Layers, float]:
    """Levels 1..top-1 in turn, bottom up, lifted and grouped again (`reinserted`); a change
    is kept when it lowers H^T (h_now: this tree's). Returns the layers and their H^T. Height 2
    is left alone: its one level, grouped again from singletons, is saturation's first Leiden
    call again."""
    if lay.top <= 2:
        return lay, h_now
    for l in range(1, lay.top):
        new = lay.reinserted(l, seed, h_now)
        if new is not None:
            lay, h_now = new
    return lay, h_now


def _depths(parent: np.ndarray) -> np.ndarray:
    depth = np.zeros(parent.shape[0], dtype=np.int64)
    for i in range(1, parent.shape[0]):  # parent[i] < i
        depth[i] = depth[parent[i]] + 1
    return depth


def _nearest_kept(parent: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = np.arange(parent.shape[0])
    for i in range(1, parent.shape[0]):
        if not keep[i]:
            out[i] = out[parent[i]]
    return out


def _relayer(k_parent: np.ndarray, k_depth: np.ndarray, skill_parent: np.ndarray, height: int) -> np.ndarray:
    """anc rows for a tree of internal nodes (root 0) given each skill's parent: kept nodes at
    level height - depth, chains (one per skill) filling the levels below."""
    n = skill_parent.shape[0]
    n_int = k_parent.shape[0]
    anc = np.empty((height + 1, n), dtype=np.int64)
    anc[0] = np.arange(n)
    anc[height] = 0
    cur = skill_parent.copy()
    cur_depth = k_depth[cur]
    for l in range(1, height):
        d = height - l  # depth of level l
        at = cur_depth == d
        row = np.where(at, cur, n_int + np.arange(n))
        anc[l], _ = K._relabel(row)
        cur = np.where(at, k_parent[np.maximum(cur, 0)], cur)
        cur_depth = np.where(at, cur_depth - 1, cur_depth)
    return anc


def build_tree_multilevel(graph: SkillGraph, height: int = 4, seed: int = 0, progress=None) -> EncodingTree:
    """Encoding tree of height <= `height` minimising H^T(G) by the multilevel builder.

    Deterministic for a given graph and seed; the tree for height h+1 is never worse than the
    one for height h. `progress(step, total, message)` is called per stage."""
    if not isinstance(height, (int, np.integer)) or isinstance(height, bool) or height < 1:
        raise ValueError(f"height must be an integer >= 1, got {height!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    with heap_reuse():
        tree = _build(graph, height, int(seed), progress)
    tree.ids = [f"n{i}" for i in range(tree.n_nodes)]
    tree.invalidate()
    tree.labels = tree.default_labels(graph.counts)
    tree.meta = {"height": int(height)}
    return tree


def _build(graph: SkillGraph, height: int, seed: int, progress) -> EncodingTree:
    flat = _Layers.flat(graph)
    best, best_h = flat, flat.entropy()
    total = height
    if height >= 2 and graph.n_edges:
        sat = _Layers(flat.src, flat.dst, flat.w, flat.deg, flat.anc.copy(), flat.adj)
        sat.saturate(max(SATURATED_LEVELS, height + 3), seed)
        top_down = sat.split_top_down(SATURATED_LEVELS, seed)  # in saturation's skill order; not by height
        if progress is not None:
            progress(1, total, f"{sat.top} levels found bottom up, {top_down.top} top down")
        greedy = None
        if graph.n_edges <= GREEDY_START_MAX_EDGES or (
            graph.n_skills <= GREEDY_START_MAX_SKILLS and graph.n_edges <= GREEDY_START_MAX_EDGES_SMALL
        ):
            greedy = build_trees(graph, height)  # one run: its tree for each height
        for k in range(2, height + 1):
            starts = [sat.compressed(k), top_down.compressed(k)]
            if greedy is not None:
                starts.append(flat.with_tree(greedy[k - 2], graph.skills, k))
            refined = []
            for lay in starts:
                lay.refine(seed)
                refined.append((lay.entropy(), len(refined), lay))
            h, _, lay = min(refined)  # only the best refined start is re-inserted
            if graph.n_edges <= REINSERT_MAX_EDGES:  # at every height: build(h) must contain build(h - 1)
                lay, h = _reinsert_levels(lay, seed, h)
            if h < best_h - _TOL:
                best, best_h = lay, h
            if progress is not None:
                progress(k, total, f"height {k}: H^T = {h:.4f}")
    return best.to_tree(graph.skills)
