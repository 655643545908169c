"""Skill-combination selection: maximise conditional structural entropy on the taxonomy.

Every tree node a except the root carries t_a = -(g_a/vol(G)) log2(vol(a)/vol(parent(a)))
(`entropy.node_terms(...).term`, all >= 0). The covered nodes of a skill set are the union
of its leaves' root paths, and

    H(Y | X) = sum of t_a over nodes covered by Y and not by X.

The gain of a combination [x, y_1..y_m] is H(Y | {x}); its `step_gains` are the chain-rule
increments H(y_t | x, y_1..y_{t-1}) in the listed order (they sum to the gain).

Scopes (where the k-1 chosen skills may lie, relative to the start x):
  level:L  under x's ancestor at depth L (global = level:0). Solved EXACTLY by a tree
           knapsack (dynamic programming over that subtree, O(subtree x k^2)), including
           exclusions and must-include skills. N-best distinct sets by Lawler's method.
  local    the STEPS recursive search: the t-th chosen skill is searched under x's ancestor
           at depth max(depth(x) - t, max_level), bottom-up (step 1 in x's own parent
           community); a state with no admissible candidate there climbs, never above
           max_level. Beam search with set de-duplication.
A start shallower than the requested depth uses its parent (cap = min(L, depth(x) - 1)).

Pairwise constraints (never-together, min co-occurrence support, min pair similarity) and
a minimum mean similarity make the knapsack non-decomposable: `level:L` then falls back
to beam search over the same subtree (not guaranteed optimal). Must-include skills are
placed right after the start (they take the first steps of the `local` schedule) and
must lie inside the scope, otherwise that start has no combination.

Public: FlatTree, Scope, parse_scope, Constraints, Combination, SelectionContext, prepare,
covered_nodes, conditional_entropy, candidate_gains, chain_gains, scope_depths,
make_combination, iter_combinations, best_combination.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterator, Sequence

import numpy as np

from steps_engine.selection import _kernels as K
from steps_engine.taxonomy.entropy import node_terms
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = [
    "FlatTree",
    "Scope",
    "parse_scope",
    "Constraints",
    "Combination",
    "SelectionContext",
    "prepare",
    "covered_nodes",
    "conditional_entropy",
    "candidate_gains",
    "chain_gains",
    "scope_depths",
    "make_combination",
    "iter_combinations",
    "best_combination",
]


# ---------------------------------------------------------------- flat tree
@dataclass(frozen=True)
class FlatTree:
    """The taxonomy as arrays. Leaves are numbered by *position* in DFS preorder, so the
    leaves under node a are positions leaf_lo[a]..leaf_hi[a]-1."""

    parent: np.ndarray  # int64 [N], -1 at the root
    term: np.ndarray  # float64 [N], t_a (0 at the root)
    depth: np.ndarray  # int64 [N]
    cum: np.ndarray  # float64 [N], sum of terms on the root path (inclusive)
    child_ptr: np.ndarray  # int64 [N+1], CSR children
    child_idx: np.ndarray  # int64
    pre: np.ndarray  # int64 [N], DFS preorder; subtree(a) = pre[tin[a]:tout[a]]
    tin: np.ndarray
    tout: np.ndarray
    leaf_node: np.ndarray  # int64 [L], node of each leaf position
    leaf_skill: np.ndarray  # int64 [L], skill index (tree.skills) of each leaf position
    leaf_lo: np.ndarray  # int64 [N]
    leaf_hi: np.ndarray  # int64 [N]
    pos_of_skill: np.ndarray  # int64 [n_skills], leaf position or -1
    anc: np.ndarray  # int64 [L, height+1]: leaf->root path by depth, anc[p, d]; -1 padded
    sorted_ptr: np.ndarray  # int64 [N+1]: leaves of subtree(a) by decreasing cum are
    sorted_leaves: np.ndarray  # sorted_leaves[sorted_ptr[a]:sorted_ptr[a+1]] (ties: position)

    @property
    def n_nodes(self) -> int:
        return int(self.parent.shape[0])

    @property
    def n_leaves(self) -> int:
        return int(self.leaf_node.shape[0])

    @property
    def height(self) -> int:
        return int(self.anc.shape[1] - 1)

    @cached_property
    def leaf_pos(self) -> np.ndarray:
        """int64 [N]: leaf position of each node, -1 for inner nodes."""
        pos = np.full(self.n_nodes, -1, np.int64)
        pos[self.leaf_node] = np.arange(self.n_leaves)
        return pos

    @classmethod
    def from_tree(cls, tree: EncodingTree, term: np.ndarray) -> "FlatTree":
        term = np.asarray(term, dtype=np.float64)
        n = tree.n_nodes
        if term.shape != (n,):
            raise ValueError(f"term must have one value per tree node ({n}), got shape {term.shape}")
        if np.any(term < -1e-12):
            raise ValueError("term must be >= 0 (structural-entropy terms are non-negative)")
        term = np.maximum(term, 0.0)
        term[0] = 0.0
        parent = tree.parent.astype(np.int64)
        depth = tree.depth().astype(np.int64)
        ch = tree.children()
        child_ptr = np.zeros(n + 1, np.int64)
        child_ptr[1:] = np.cumsum([len(c) for c in ch])
        child_idx = np.fromiter((c for cs in ch for c in cs), np.int64, int(child_ptr[-1]))
        pre = np.empty(n, np.int64)
        stack, i = [0], 0
        while stack:
            a = stack.pop()
            pre[i] = a
            i += 1
            stack.extend(reversed(ch[a]))
        tin = np.empty(n, np.int64)
        tin[pre] = np.arange(n)
        size = tree.subtree_sum(np.ones(n)).astype(np.int64)
        tout = tin + size
        is_leaf = tree.leaf_skill[pre] >= 0
        leaf_node = pre[is_leaf]
        leaf_count = np.concatenate([[0], np.cumsum(is_leaf)])  # leaves before preorder slot
        leaf_lo = leaf_count[tin]
        leaf_hi = leaf_count[tout]
        cum = term.copy()
        for a in range(1, n):
            cum[a] += cum[parent[a]]
        leaf_skill = tree.leaf_skill[leaf_node].astype(np.int64)
        pos_of_skill = np.full(len(tree.skills), -1, np.int64)
        pos_of_skill[leaf_skill] = np.arange(leaf_node.shape[0])
        h = int(depth.max()) if n else 0
        anc = np.full((leaf_node.shape[0], h + 1), -1, np.int64)
        x = leaf_node.copy()
        live = np.ones(x.shape[0], bool)
        while live.any():
            anc[live, depth[x[live]]] = x[live]
            live &= parent[np.maximum(x, 0)] >= 0
            x = np.where(live, parent[np.maximum(x, 0)], x)
        rows, cols = np.nonzero(anc >= 0)
        nodes = anc[rows, cols]
        order = np.lexsort((rows, -cum[leaf_node[rows]], nodes))
        sorted_leaves = rows[order].astype(np.int64)
        sorted_ptr = np.zeros(n + 1, np.int64)
        sorted_ptr[1:] = np.cumsum(np.bincount(nodes, minlength=n))
        return cls(parent, term, depth, cum, child_ptr, child_idx, pre, tin, tout, leaf_node,
                   leaf_skill, leaf_lo, leaf_hi, pos_of_skill, anc, sorted_ptr, sorted_leaves)


def covered_nodes(flat: FlatTree, positions: Sequence[int]) -> np.ndarray:
    """Boolean node mask: union of the root paths of the given leaf positions."""
    cov = np.zeros(flat.n_nodes, bool)
    rows = flat.anc[np.asarray(list(positions), np.int64)]
    cov[rows[rows >= 0]] = True
    return cov


def candidate_gains(flat: FlatTree, covered: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """H(c | X) for every candidate leaf position c, vectorised over a batch of covered
    masks: covered [B, N] (or [N]) -> gains [B, C] (or [C])."""
    paths = flat.anc[np.asarray(candidates, np.int64)]  # [C, H+1]
    valid = paths >= 0
    safe = np.where(valid, paths, 0)
    t = flat.term[safe] * valid  # [C, H+1]
    uncovered = ~np.asarray(covered, bool)[..., safe]  # [..., C, H+1]
    return (t * uncovered).sum(axis=-1)


def chain_gains(flat: FlatTree, positions: Sequence[int]) -> list[float]:
    """Chain-rule increments H(y_t | p_0, y_1..y_{t-1}) for positions[1:], in order."""
    cov = covered_nodes(flat, positions[:1])
    out = []
    for p in positions[1:]:
        path = flat.anc[p][flat.anc[p] >= 0]
        new = path[~cov[path]]
        out.append(float(flat.term[new].sum()))
        cov[new] = True
    return out


# ---------------------------------------------------------------- scopes
@dataclass(frozen=True)
class Scope:
    kind: str  # "local" | "level"
    level: int = 0  # depth of the scope ancestor for "level"

    def __str__(self) -> str:
        if self.kind == "local":
            return "local"
        return "global" if self.level == 0 else f"level:{self.level}"


def parse_scope(spec: str | Scope) -> Scope:
    """'local', 'global' or 'level:L' (L >= 0; level:0 is global)."""
    if isinstance(spec, Scope):
        return spec
    s = str(spec).strip()
    if s == "local":
        return Scope("local")
    if s == "global":
        return Scope("level", 0)
    if s.startswith("level:"):
        try:
            level = int(s[6:])
        except ValueError:
            level = -1
        if level >= 0:
            return Scope("level", level)
    raise ValueError(f"scope must be 'local', 'global' or 'level:L' with L >= 0, got {spec!r}")


# ---------------------------------------------------------------- constraints
SimilarityHook = Callable[[list[str]], np.ndarray]


@dataclass
class Constraints:
    """What a curator can set. Pairs are skill names; `similarity` is a square matrix
    indexed like `tree.skills`, or a callable mapping a list of skill names to their
    square similarity matrix. A combination (start included) is admissible only if it
    avoids `exclude`, contains every `must_include`, has no `never_together` pair, every
    pair co-occurred >= `min_support` times (0 = no rule), every pair's similarity is
    >= `min_pair_similarity` and the mean pairwise similarity is >= `min_mean_similarity`.
    k_max (optional) asks for every size k..k_max."""

    k: int = 3
    k_max: int | None = None
    exclude: tuple[str, ...] = ()
    must_include: tuple[str, ...] = ()
    never_together: tuple[tuple[str, str], ...] = ()
    min_support: int = 0
    similarity: np.ndarray | SimilarityHook | None = None
    min_pair_similarity: float | None = None
    min_mean_similarity: float | None = None

    def sizes(self) -> list[int]:
        return list(range(self.k, (self.k_max or self.k) + 1))

    def to_json(self) -> dict:
        """Everything but the similarity matrix/hook (the studio re-attaches it)."""
        return {"k": self.k, "k_max": self.k_max, "exclude": list(self.exclude),
                "must_include": list(self.must_include), "never_together": [list(p) for p in self.never_together],
                "min_support": self.min_support, "min_pair_similarity": self.min_pair_similarity,
                "min_mean_similarity": self.min_mean_similarity}

    @classmethod
    def from_json(cls, data: dict, similarity=None) -> "Constraints":
        return cls(k=int(data.get("k", 3)), k_max=data.get("k_max"), exclude=tuple(data.get("exclude", ())),
                   must_include=tuple(data.get("must_include", ())),
                   never_together=tuple(tuple(p) for p in data.get("never_together", ())),
                   min_support=int(data.get("min_support", 0)), similarity=similarity,
                   min_pair_similarity=data.get("min_pair_similarity"),
                   min_mean_similarity=data.get("min_mean_similarity"))

    def validate(self) -> None:
        if int(self.k) < 2:
            raise ValueError(f"k must be >= 2, got {self.k}")
        if self.k_max is not None and int(self.k_max) < int(self.k):
            raise ValueError(f"k_max must be >= k ({self.k}), got {self.k_max}")
        if int(self.min_support) < 0:
            raise ValueError(f"min_support must be >= 0, got {self.min_support}")
        if len(set(self.must_include)) > self.k - 1:
            raise ValueError(f"must_include has {len(set(self.must_include))} skills, more than k - 1 = {self.k - 1}")
        clash = set(self.must_include) & set(self.exclude)
        if clash:
            raise ValueError(f"skills both excluded and must-include: {sorted(clash)}")
        for pair in self.never_together:
            if len(pair) != 2:
                raise ValueError(f"never_together entries must be pairs, got {pair!r}")
        if (self.min_pair_similarity is not None or self.min_mean_similarity is not None) and self.similarity is None:
            raise ValueError("min_pair_similarity / min_mean_similarity need a similarity matrix or hook")


# ---------------------------------------------------------------- results
@dataclass
class Combination:
    skills: list[str]  # start first
    start: str
    gain: float
    step_gains: list[float]
    lca: str  # node id
    strategy: str
    scope: str
    lca_label: str | None = None
    lca_depth: int | None = None
    coherence: float | None = None
    marginal_gain: float | None = None  # budget mode: value under the dataset objective when picked
    rank: int | None = None  # budget mode: 1 = picked first

    def to_json(self) -> dict:
        d = {"skills": self.skills, "start": self.start, "gain": self.gain, "step_gains": self.step_gains,
             "lca": self.lca, "strategy": self.strategy, "scope": self.scope}
        for key in ("lca_label", "lca_depth", "coherence", "marginal_gain", "rank"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d

    @classmethod
    def from_json(cls, data: dict) -> "Combination":
        return cls(list(data["skills"]), data["start"], float(data["gain"]), list(data["step_gains"]),
                   str(data["lca"]), data["strategy"], data["scope"], data.get("lca_label"),
                   data.get("lca_depth"), data.get("coherence"), data.get("marginal_gain"), data.get("rank"))


# ---------------------------------------------------------------- prepared context
@dataclass
class SelectionContext:
    tree: EncodingTree
    flat: FlatTree
    constraints: Constraints
    graph: SkillGraph | None
    allowed: np.ndarray  # bool [L]: not excluded
    forced: np.ndarray  # int64: must-include leaf positions
    okpair: np.ndarray | None  # bool [L, L] when pairwise rules are active
    sim: np.ndarray | None  # float [L, L] by leaf position
    cooc: object  # scipy.sparse csr [L, L] of co-occurrence counts (None without a graph)
    counts: np.ndarray  # int64 [L] skill frequency (0 when unknown)
    keys: np.ndarray = field(repr=False)  # uint64 [L] set-hash keys
    skill_index: dict = field(default_factory=dict, repr=False)

    @property
    def exact_ok(self) -> bool:
        return self.okpair is None and self.constraints.min_mean_similarity is None

    def position(self, skill: str) -> int:
        if not self.skill_index:
            self.skill_index = {s: i for i, s in enumerate(self.tree.skills)}
        idx = self.skill_index.get(skill)
        if idx is None:
            raise ValueError(f"skill {skill!r} is not in the taxonomy")
        p = int(self.flat.pos_of_skill[idx])
        if p < 0:
            raise ValueError(f"skill {skill!r} is not a leaf of the taxonomy")
        return p

    def name(self, p: int) -> str:
        return self.tree.skills[int(self.flat.leaf_skill[p])]

    def coherence(self, skills: Sequence[str]) -> float | None:
        """Mean pairwise similarity of a skill set (None without a similarity matrix)."""
        return _coherence(self, [self.position(s) for s in skills])


def prepare(
    tree: EncodingTree,
    graph: SkillGraph | None,
    constraints: Constraints | None = None,
    term: np.ndarray | None = None,
) -> SelectionContext:
    """Precompute everything selection needs. `term` defaults to node_terms(graph, tree)."""
    import scipy.sparse as sp

    cons = constraints or Constraints()
    cons.validate()
    if term is None:
        if graph is None:
            raise ValueError("prepare needs a graph or explicit node terms")
        term = node_terms(graph, tree).term
    flat = FlatTree.from_tree(tree, term)
    L = flat.n_leaves
    ctx = SelectionContext(tree, flat, cons, graph, np.ones(L, bool), np.zeros(0, np.int64), None, None,
                           sp.csr_matrix((L, L), dtype=np.int64), np.zeros(L, np.int64),
                           np.random.default_rng(0x5EED).integers(1, 2**63 - 1, L, dtype=np.int64).astype(np.uint64))
    for s in cons.exclude:
        ctx.allowed[ctx.position(s)] = False
    ctx.forced = np.array([ctx.position(s) for s in dict.fromkeys(cons.must_include)], np.int64)

    if graph is not None:
        index = {s: i for i, s in enumerate(tree.skills)}
        g_pos = np.array([flat.pos_of_skill[index[s]] if s in index else -1 for s in graph.skills], np.int64)
        ok = g_pos >= 0
        ctx.counts[g_pos[ok]] = np.asarray(graph.counts)[ok]
        a, b = g_pos[graph.src], g_pos[graph.dst]
        keep = (a >= 0) & (b >= 0)
        c = np.ones(graph.n_edges, np.int64) if graph.cooc is None else np.asarray(graph.cooc, np.int64)
        a, b, c = a[keep], b[keep], c[keep]
        rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
        ctx.cooc = sp.csr_matrix((np.concatenate([c, c]), (rows, cols)), shape=(L, L))
    if cons.min_support > 0 and (graph is None or graph.cooc is None):
        raise ValueError("min_support needs co-occurrence counts (graph.csv with a 'count' column)")

    if cons.similarity is not None:
        names = [ctx.name(p) for p in range(L)]
        if callable(cons.similarity):
            sim = np.asarray(cons.similarity(names), np.float64)
            if sim.shape != (L, L):
                raise ValueError(f"similarity hook must return a ({L}, {L}) matrix, got {sim.shape}")
        else:
            full = np.asarray(cons.similarity, np.float64)
            n = len(tree.skills)
            if full.shape != (n, n):
                raise ValueError(f"similarity must be ({n}, {n}) indexed like tree.skills, got {full.shape}")
            sim = full[np.ix_(flat.leaf_skill, flat.leaf_skill)]
        ctx.sim = sim

    if cons.never_together or cons.min_support > 0 or cons.min_pair_similarity is not None:
        okp = np.ones((L, L), bool)
        for x, y in cons.never_together:
            px, py = ctx.position(x), ctx.position(y)
            okp[px, py] = okp[py, px] = False
        if cons.min_support > 0:
            okp &= (ctx.cooc >= cons.min_support).toarray()
        if cons.min_pair_similarity is not None:
            okp &= ctx.sim >= cons.min_pair_similarity
        ctx.okpair = okp
    return ctx


# ---------------------------------------------------------------- scoring helpers
def conditional_entropy(ctx_or_flat, Y: Sequence, X: Sequence) -> float:
    """H(Y | X) in bits. Y and X are skill names (with a context) or leaf positions."""
    flat = ctx_or_flat.flat if isinstance(ctx_or_flat, SelectionContext) else ctx_or_flat
    to_pos = ctx_or_flat.position if isinstance(ctx_or_flat, SelectionContext) else int
    cy = covered_nodes(flat, [to_pos(y) for y in Y])
    cx = covered_nodes(flat, [to_pos(x) for x in X])
    return float(flat.term[cy & ~cx].sum())


def _lca_of(flat: FlatTree, positions: Sequence[int]) -> int:
    rows = flat.anc[np.asarray(positions, np.int64)]
    same = (rows == rows[0]) & (rows >= 0)
    d = int(np.argmin(np.append(same.all(axis=0), False))) - 1
    return int(rows[0, d])


def _coherence(ctx: SelectionContext, positions: Sequence[int]) -> float | None:
    if ctx.sim is None or len(positions) < 2:
        return None
    p = np.asarray(positions, np.int64)
    block = ctx.sim[np.ix_(p, p)]
    iu = np.triu_indices(len(p), 1)
    return float(block[iu].mean())


def make_combination(ctx: SelectionContext, positions: Sequence[int], strategy: str, scope: str) -> Combination:
    """Score an ordered list of leaf positions (start first)."""
    flat = ctx.flat
    positions = [int(p) for p in positions]
    steps = chain_gains(flat, positions)
    cx = covered_nodes(flat, positions[:1])
    cy = covered_nodes(flat, positions[1:])
    gain = float(flat.term[cy & ~cx].sum())
    node = _lca_of(flat, positions)
    return Combination(
        skills=[ctx.name(p) for p in positions], start=ctx.name(positions[0]), gain=gain, step_gains=steps,
        lca=ctx.tree.ids[node], strategy=strategy, scope=scope, lca_label=ctx.tree.labels[node] or None,
        lca_depth=int(flat.depth[node]), coherence=_coherence(ctx, positions),
    )


def greedy_order(flat: FlatTree, start: int, chosen: Sequence[int]) -> list[int]:
    """Order a chosen set by greedy marginal gain (ties: lower position first)."""
    rest = sorted(int(c) for c in chosen)
    cov = covered_nodes(flat, [start])
    out = [start]
    while rest:
        g = candidate_gains(flat, cov, np.array(rest))
        i = int(np.argmax(g))
        p = rest.pop(i)
        cov |= covered_nodes(flat, [p])
        out.append(p)
    return out


def scope_depths(flat: FlatTree, start: int, scope: Scope, k: int, max_level: int = 1) -> tuple[np.ndarray, int]:
    """Per-step scope depth (index t = member number) and the cap depth for a start."""
    d0 = int(flat.depth[flat.leaf_node[start]])
    if scope.kind == "local":
        cap = max(0, min(int(max_level), d0 - 1))
        depths = np.array([max(d0 - t, cap) for t in range(k)], np.int64)
    else:
        cap = max(0, min(scope.level, d0 - 1))
        depths = np.full(k, cap, np.int64)
    return depths, cap


# ---------------------------------------------------------------- search
def _seed(ctx: SelectionContext, start: int, cap_node: int) -> list[int] | None:
    flat = ctx.flat
    seed = [start] + [int(p) for p in ctx.forced if p != start]
    lo, hi = flat.leaf_lo[cap_node], flat.leaf_hi[cap_node]
    if any(not (lo <= p < hi) for p in seed[1:]):
        return None
    if ctx.okpair is not None:
        s = np.array(seed)
        if not ctx.okpair[np.ix_(s, s)][np.triu_indices(len(s), 1)].all():
            return None
    return seed


def _beam_sets(ctx: SelectionContext, start: int, k: int, scope: Scope, max_level: int,
               beam: int) -> Iterator[list[int]]:
    flat = ctx.flat
    depths, cap = scope_depths(flat, start, scope, k, max_level)
    seed = _seed(ctx, start, int(flat.anc[start, cap]))
    if seed is None or len(seed) > k:
        return
    init = sum(chain_gains(flat, seed))
    okpair = ctx.okpair if ctx.okpair is not None else np.ones((1, 1), bool)
    members, scores = K.beam_search(
        flat.anc, flat.leaf_node, flat.parent, flat.cum, flat.cum, flat.sorted_ptr, flat.sorted_leaves, ctx.allowed, okpair,
        ctx.okpair is not None, ctx.keys, np.array(seed, np.int64), float(init), int(k), depths, int(cap), int(beam),
    )
    for row in members:
        yield [int(p) for p in row]


class _DPSolver:
    """Exact best m-sets under `root` for one start (the start not selectable, its root path
    worth 0), with some leaves forced in and some banned. `value` (node values, default the
    terms) and `selectable` (leaf-node mask, default the allowed skills) let the dataset-level
    greedy pass discounted values and usage caps. The arrays are set up once per start, so
    Lawler's many solves of one enumeration only run the knapsack."""

    def __init__(self, ctx, start, root, m, value=None, selectable=None):
        flat = ctx.flat
        self.flat, self.root, self.m = flat, int(root), int(m)
        self.value = (flat.term if value is None else value).copy()
        self.value[flat.anc[start][flat.anc[start] >= 0]] = 0.0
        if selectable is None:
            self.selectable = np.zeros(flat.n_nodes, bool)
            self.selectable[flat.leaf_node[ctx.allowed]] = True
        else:
            self.selectable = selectable.copy()
        self.selectable[flat.leaf_node[start]] = False
        self.force = np.zeros(flat.n_nodes, bool)
        self.f = np.empty((flat.n_nodes, self.m + 1))
        self.P = np.empty((flat.n_nodes, self.m + 1))
        self.cnt = np.zeros(flat.n_nodes, np.int64)
        self.out = np.empty(self.m, np.int64)

    def solve(self, forced, banned):
        """(value, positions sorted) of the best set containing `forced` and avoiding `banned`, or None."""
        flat, sel, force = self.flat, self.selectable, self.force
        ban = [int(flat.leaf_node[p]) for p in banned]
        frc = [int(flat.leaf_node[p]) for p in forced]
        was = [bool(sel[a]) for a in ban]
        for a in ban:
            sel[a] = False
        for a in frc:
            force[a] = True
        try:
            if not all(sel[a] for a in frc):
                return None
            best = K.knapsack(flat.pre, flat.tin, flat.tout, flat.child_ptr, flat.child_idx, self.value, sel, force,
                              self.root, self.m, self.f, self.P, self.cnt)
        finally:
            for a, w in zip(ban, was):
                sel[a] = w
            for a in frc:
                force[a] = False
        if not np.isfinite(best):
            return None
        n = K.knapsack_backtrack(flat.child_ptr, flat.child_idx, self.root, self.m, self.f, self.P, self.out,
                                 flat.height)
        return float(best), sorted(flat.leaf_pos[self.out[:n]].tolist())


def _dp_sets(ctx: SelectionContext, start: int, k: int, scope: Scope, value=None,
             selectable=None) -> Iterator[tuple[float, list[int]]]:
    """Distinct optimal sets in non-increasing value (Lawler's k-best partitioning), as
    (value, positions ordered by greedy undiscounted gain)."""
    for v, chosen in _dp_chosen(ctx, start, k, scope, value, selectable):
        yield v, greedy_order(ctx.flat, start, chosen)


def _dp_chosen(ctx: SelectionContext, start: int, k: int, scope: Scope, value=None,
               selectable=None) -> Iterator[tuple[float, list[int]]]:
    """`_dp_sets` without the ordering: (value, the k-1 chosen positions sorted, start left out)."""
    flat = ctx.flat
    _, cap = scope_depths(flat, start, scope, k)
    root = int(flat.anc[start, cap])
    seed = _seed(ctx, start, root)
    if seed is None:
        return
    base = frozenset(seed[1:])
    solver = _DPSolver(ctx, start, root, k - 1, value, selectable)
    first = solver.solve(base, frozenset())
    if first is None:
        return
    heap = [(-first[0], 0, base, frozenset(), first[1])]
    tick = 1
    while heap:
        negv, _, inc, exc, chosen = heapq.heappop(heap)
        yield -negv, chosen
        free = [p for p in chosen if p not in inc]
        for i, y in enumerate(free):
            inc2, exc2 = inc | frozenset(free[:i]), exc | {y}
            sol = solver.solve(inc2, exc2)
            if sol is not None:
                heapq.heappush(heap, (-sol[0], tick, inc2, exc2, sol[1]))
                tick += 1


def iter_combinations(
    ctx: SelectionContext,
    start: str | int,
    k: int | None = None,
    scope: str | Scope = "local",
    max_level: int = 1,
    beam: int = 100,
) -> Iterator[Combination]:
    """Distinct k-combinations for one start, best first (exact for `level:L` without
    pairwise rules; beam search otherwise: at most `beam` of them)."""
    k = int(ctx.constraints.k if k is None else k)
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if max_level < 0:
        raise ValueError(f"max_level must be >= 0, got {max_level}")
    sc = parse_scope(scope)
    s = ctx.position(start) if isinstance(start, str) else int(start)
    if not 0 <= s < ctx.flat.n_leaves:
        raise ValueError(f"start must be a skill name or a leaf position in 0..{ctx.flat.n_leaves - 1}, got {start!r}")
    if not ctx.allowed[s]:
        raise ValueError(f"start skill {ctx.name(s)!r} is excluded")
    if len(set(ctx.forced.tolist()) - {s}) > k - 1:
        return
    if sc.kind == "level" and ctx.exact_ok:
        sets = (positions for _, positions in _dp_sets(ctx, s, k, sc))
    else:
        sets = _beam_sets(ctx, s, k, sc, max_level, beam)
    label = str(sc)
    for positions in sets:
        combo = make_combination(ctx, positions, "steps", label)
        if ctx.constraints.min_mean_similarity is not None and combo.coherence < ctx.constraints.min_mean_similarity:
            continue
        yield combo


def best_combination(ctx: SelectionContext, start: str | int, k: int | None = None, scope: str | Scope = "local",
                     max_level: int = 1, beam: int = 100) -> Combination | None:
    """The best admissible combination for `start`, or None if there is none."""
    return next(iter_combinations(ctx, start, k, scope, max_level, beam), None)
