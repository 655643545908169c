"""Dataset-level selection: a budget of N combinations chosen for a submodular objective.

A combination C = [x, y_1..y_m] covers D(C) = (root paths of y_1..y_m) minus (x's root
path); its gain H(Y | {x}) is the sum of t_a over D(C). It counts N(C) = D(C) + P(x), P(x)
= the start's own nodes (`start_mode`: its path below the scope root, or its leaf, or none).
For a set S of combinations let c_a(S) = number of combinations in S whose N contains a:

    F(S) = sum_a t_a * (1 + g_a + g_a^2 + ... + g_a^(c_a(S) - 1))   (g_a in (0, 1]: node / leaf discount)

so the j-th count of a node is worth t_a * g_a^(j-1). Each term is a concave function of a
modular count, so F is monotone submodular and the greedy below is within (1 - 1/e) of the
best N-set (Nemhauser, Wolsey & Fisher 1978). With g = 1, F is the sum of gains.

The marginal value of C given S is sum over a in N(C) of t_a * g_a^(c_a(S)): the gain on
discounted node values, plus the start's discounted P(x). For one start the best C is therefore the existing per-start search
run on discounted values: the exact tree knapsack for `level:L` / `global`, the beam for
`local` and pairwise rules. Greedy: repeatedly add the start's best C with the largest
marginal value (ties: earlier start). Lazy evaluation (Minoux 1978): a start's last computed
value bounds its current one (values only shrink as counts grow, and the admissible sets
only shrink), so a popped start whose value is fresh is the argmax. `lazy=False` evaluates
every start every round (the reference for tests). Exact for `level:L`; with the beam the
per-start values are heuristic, as in per-start mode.

Hard caps (optional): a skill is in at most `max_skill_uses` combinations, start included;
a pair of skills is together in at most `max_pair_uses`. Distinct: no skill set twice
(whatever the start). A start may be picked many times.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from steps_engine.selection import _exact_kernels as EK
from steps_engine.selection import _kernels as K
from steps_engine.selection.search import (
    Combination,
    SelectionContext,
    _seed,
    greedy_order,
    make_combination,
    parse_scope,
    scope_depths,
)

__all__ = ["BudgetState", "BudgetResult", "select_budget", "new_cover", "dataset_objective", "DEFAULT_REUSE_DISCOUNT",
           "DEFAULT_MAX_PAIR_USES", "DEFAULT_BUDGET_BEAM", "DEFAULT_LEAF_DISCOUNT", "DEFAULT_LOCAL_REUSE_DISCOUNT",
           "default_reuse_discount", "node_discounts", "start_mode", "start_path"]

# chosen by measurement (docs/selection.md "Dataset mode"): node discount for level:L / global,
# for local (its first steps stay in the start's own small community, so it needs a weaker
# discount to stay more informative than random), and the discount of skill leaves
DEFAULT_REUSE_DISCOUNT = 0.97
DEFAULT_LOCAL_REUSE_DISCOUNT = 0.98
DEFAULT_LEAF_DISCOUNT = 0.6
DEFAULT_MAX_PAIR_USES = 3
DEFAULT_BUDGET_BEAM = 20  # beam width of the budget mode's searches (per-start mode: 100)
_PULL = 64  # with pair caps, how many next-best sets the exact search screens before the beam


def new_cover(ctx: SelectionContext, positions) -> np.ndarray:
    """Node ids of D(C): covered by positions[1:] and not on positions[0]'s root path."""
    flat = ctx.flat
    rows = flat.anc[np.asarray(list(positions), np.int64)]
    start = rows[0][rows[0] >= 0]
    rest = rows[1:][rows[1:] >= 0]
    return np.setdiff1d(np.unique(rest), start)


def default_reuse_discount(scope) -> float:
    return DEFAULT_LOCAL_REUSE_DISCOUNT if parse_scope(scope).kind == "local" else DEFAULT_REUSE_DISCOUNT


def node_discounts(ctx: SelectionContext, reuse_discount: float, leaf_discount: float | None = None) -> np.ndarray:
    """g_a per node: `leaf_discount` on skill leaves (default: reuse_discount), reuse_discount elsewhere."""
    flat = ctx.flat
    g = np.full(flat.n_nodes, float(reuse_discount))
    g[flat.leaf_node] = float(reuse_discount if leaf_discount is None else leaf_discount)
    return g


def start_mode(count_start, scope) -> str | None:
    """What of the start a combination counts: "path" (its root path below its scope root),
    "leaf" (its own leaf) or None. True = the measured default: "path" for level:L / global,
    "leaf" for local (docs/selection.md)."""
    if not count_start:
        return None
    if count_start is True:
        return "leaf" if parse_scope(scope).kind == "local" else "path"
    if count_start not in ("path", "leaf"):
        raise ValueError(f"count_start must be True, False, 'path' or 'leaf', got {count_start!r}")
    return count_start


def start_path(ctx: SelectionContext, x: int, scope, max_level: int = 1, count_start=True) -> np.ndarray:
    """The start nodes a combination counts (`start_mode`): x's root path strictly below its
    scope root (its leaf included), or only its leaf, or nothing."""
    flat = ctx.flat
    mode = start_mode(count_start, scope)
    if mode is None:
        return np.zeros(0, np.int64)
    d = int(flat.depth[flat.leaf_node[int(x)]])
    if mode == "leaf":
        return flat.anc[int(x), d: d + 1].copy()
    _, cap = scope_depths(flat, int(x), parse_scope(scope), 2, max_level)
    return flat.anc[int(x), cap + 1: d + 1].copy()


def dataset_objective(ctx: SelectionContext, combos: Iterable[Combination], reuse_discount: float,
                      count_start: bool = True, leaf_discount: float | None = DEFAULT_LEAF_DISCOUNT,
                      max_level: int = 1) -> float:
    """F(S) of the module docstring, computed from scratch (each combination's own `scope`)."""
    g = node_discounts(ctx, reuse_discount, leaf_discount)
    count = np.zeros(ctx.flat.n_nodes, np.int64)
    for c in combos:
        positions = [ctx.position(s) for s in c.skills]
        count[new_cover(ctx, positions)] += 1
        count[start_path(ctx, positions[0], c.scope, max_level, count_start)] += 1
    one = g == 1.0
    weight = np.where(one, count, (1.0 - g ** count) / np.where(one, 0.5, 1.0 - g))
    return float((ctx.flat.term * weight).sum())


@dataclass
class BudgetResult:
    combinations: list[Combination]
    shortfall: str | None = None  # why fewer than the budget, None when the budget was met
    evaluations: int = 0  # per-start searches run


@dataclass
class BudgetState:
    """Discounted node values and usage counts, carried across the sizes of a k range."""

    ctx: SelectionContext
    reuse_discount: float = DEFAULT_REUSE_DISCOUNT
    max_skill_uses: int | None = None
    max_pair_uses: int | None = None
    count_start: bool | str = True  # see start_mode
    leaf_discount: float | None = DEFAULT_LEAF_DISCOUNT  # of skill leaves; None = reuse_discount
    scope: object = "level:1"  # set by select_budget: where the start's counted path ends
    max_level: int = 1
    seen: set = field(default_factory=set)

    def __post_init__(self):
        for name in ("reuse_discount", "leaf_discount"):
            g = getattr(self, name)
            if g is not None and not 0.0 < float(g) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {g}")
        for name in ("max_skill_uses", "max_pair_uses"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        flat = self.ctx.flat
        self.gamma = node_discounts(self.ctx, self.reuse_discount, self.leaf_discount)
        self.value = flat.term.copy()  # t_a * g_a^(c_a)
        self.dcum = flat.cum.copy()
        self.uses = np.zeros(flat.n_leaves, np.int64)
        self.allowed = self.ctx.allowed.copy()  # allowed and under the skill cap
        self.selectable = np.zeros(flat.n_nodes, bool)
        self.selectable[flat.leaf_node[self.allowed]] = True
        self.pair_uses: dict[tuple[int, int], int] = {}
        self.okpair = None
        if self.max_pair_uses is not None or self.ctx.okpair is not None:
            self.okpair = (self.ctx.okpair.copy() if self.ctx.okpair is not None
                           else np.ones((flat.n_leaves, flat.n_leaves), bool))
        self._by_depth = [np.flatnonzero(flat.depth == d) for d in range(1, flat.height + 1)]
        self._tables: dict[int, _SeenTable] = {}  # `seen` by set size, for the exact kernel
        self._tables_of = 0  # len(seen) the tables hold

    def seen_table(self, k: int) -> "_SeenTable":
        """The taken k-sets as the exact kernel's table (rebuilt if `seen` changed outside `add`)."""
        if self._tables_of != len(self.seen):
            self._tables, self._tables_of = {}, len(self.seen)
        table = self._tables.get(k)
        if table is None:
            table = self._tables[k] = _SeenTable(self.ctx.keys, k, (s for s in self.seen if len(s) == k))
        return table

    def capped_skills(self) -> int:
        return 0 if self.max_skill_uses is None else int((self.uses >= self.max_skill_uses).sum())

    def capped_pairs(self) -> int:
        return 0 if self.max_pair_uses is None else sum(v >= self.max_pair_uses for v in self.pair_uses.values())

    def nodes(self, positions) -> np.ndarray:
        """The nodes a combination counts under F: D(C), plus with count_start the start's path
        below its scope root (`start_path`)."""
        nodes = new_cover(self.ctx, positions)
        return np.append(nodes, start_path(self.ctx, positions[0], self.scope, self.max_level, self.count_start))

    def start_credit(self, x: int) -> float:
        """Discounted value of start_path(x) (path: cum difference between x's leaf and its scope root)."""
        flat = self.ctx.flat
        mode = start_mode(self.count_start, self.scope)
        if mode is None:
            return 0.0
        if mode == "leaf":
            return float(self.value[flat.leaf_node[int(x)]])
        _, cap = scope_depths(flat, int(x), parse_scope(self.scope), 2, self.max_level)
        return float(self.dcum[flat.leaf_node[int(x)]] - self.dcum[flat.anc[int(x), cap]])

    def add(self, positions: list[int]) -> tuple[float, np.ndarray]:
        """Record a picked combination; returns its marginal value (before the update) and nodes."""
        nodes = self.nodes(positions)
        marginal = float(self.value[nodes].sum())
        self.value[nodes] *= self.gamma[nodes]
        flat = self.ctx.flat
        for idx in self._by_depth:  # cum of the discounted values along root paths
            self.dcum[idx] = self.value[idx] + self.dcum[flat.parent[idx]]
        p = np.asarray(positions, np.int64)
        self.uses[p] += 1
        if self.max_skill_uses is not None:
            full = p[self.uses[p] >= self.max_skill_uses]
            self.allowed[full] = False
            self.selectable[flat.leaf_node[full]] = False
        for i in range(len(positions)):
            for j in range(i + 1, len(positions)):
                a, b = sorted((int(positions[i]), int(positions[j])))
                n = self.pair_uses.get((a, b), 0) + 1
                self.pair_uses[(a, b)] = n
                if self.max_pair_uses is not None and n >= self.max_pair_uses:
                    self.okpair[a, b] = self.okpair[b, a] = False
        key = frozenset(int(x) for x in positions)
        if key not in self.seen:
            in_sync = self._tables_of == len(self.seen)
            self.seen.add(key)
            if in_sync:
                self._tables_of = len(self.seen)
                if len(key) in self._tables:
                    self._tables[len(key)].add(key)
        return marginal, nodes

    def capacity(self, k: int, starts, scope, max_level: int = 1) -> tuple[int, str]:
        """An upper bound on how many more distinct admissible k-sets the starts can give, and
        what binds it. Every member of a start's set lies under the start's scope root, so per
        outermost scope root r with n allowed leaves the sets are at most C(n, k) (less the
        k-sets already picked there), at most (pair room) / C(k, 2) with a pair cap (each set
        takes a use of k(k-1)/2 admissible pairs) and at most (skill room) / k with a skill cap.
        Constraints this ignores (must-include, coherence, who may start) only lower the truth."""
        flat, sc = self.ctx.flat, parse_scope(scope)
        roots = {int(flat.anc[x, scope_depths(flat, int(x), sc, k, max_level)[1]]) for x in starts
                 if self.allowed[int(x)]}
        outer: list[int] = []
        for r in sorted(roots, key=lambda r: flat.tin[r]):
            if not outer or flat.tin[r] >= flat.tout[outer[-1]]:
                outer.append(r)
        per_set = k * (k - 1) // 2
        total, why = 0, {"sets": 0, "pairs": 0, "skills": 0}
        taken = Counter(self._root_of(flat, key, outer) for key in self.seen if len(key) == k)
        for r in outer:
            lo, hi = int(flat.leaf_lo[r]), int(flat.leaf_hi[r])
            live = self.allowed[lo:hi]
            bounds = {"sets": max(math.comb(int(live.sum()), k) - taken.get(r, 0), 0)}
            if self.okpair is not None and self.max_pair_uses is not None:
                bounds["pairs"] = self._pair_room(lo, hi, live) // per_set
            if self.max_skill_uses is not None:
                bounds["skills"] = int(np.maximum(self.max_skill_uses - self.uses[lo:hi][live], 0).sum()) // k
            name = min(bounds, key=lambda b: (bounds[b], b != "sets"))
            total += bounds[name]
            why[name] += bounds[name]
        return total, max(why, key=lambda b: why[b])

    @staticmethod
    def _root_of(flat, key, outer) -> int | None:
        t = flat.tin[flat.leaf_node[next(iter(key))]]
        for r in outer:
            if flat.tin[r] <= t < flat.tout[r]:
                return r
        return None

    def _pair_room(self, lo: int, hi: int, live: np.ndarray) -> int:
        """Uses left to the admissible pairs of allowed leaves in lo..hi-1 under the pair cap."""
        idx = np.flatnonzero(live) + lo
        ok = 0
        for i in range(0, len(idx), 2048):  # row blocks keep the copy small at 10,000s of skills
            ok += int(np.count_nonzero(self.okpair[idx[i:i + 2048]][:, idx]))
        ok = (ok - int(np.count_nonzero(self.okpair[idx, idx]))) // 2  # symmetric; the diagonal is no pair
        used = sum(v for (a, b), v in self.pair_uses.items()
                   if lo <= a < hi and lo <= b < hi and self.allowed[a] and self.allowed[b] and self.okpair[a, b])
        return ok * int(self.max_pair_uses) - used

    def pair_ok(self, positions) -> bool:
        if self.okpair is None:
            return True
        ok, p = self.okpair, [int(x) for x in positions]
        for i in range(len(p)):
            for j in range(i + 1, len(p)):
                if not ok[p[i], p[j]]:
                    return False
        return True


class _SeenTable:
    """Sets of k leaf positions in an open-addressing hash table (`_exact_kernels.seen_find`)."""

    def __init__(self, keys: np.ndarray, k: int, sets: Iterable = ()):
        self.keys, self.k, self.n = keys, int(k), 0
        self._alloc(64)
        for key in sets:
            self.add(key)

    def _alloc(self, cap: int) -> None:
        self.h = np.zeros(cap, np.uint64)
        self.m = np.zeros((cap, self.k), np.int64)
        self.used = np.zeros(cap, bool)

    def add(self, key) -> None:
        if 2 * (self.n + 1) > self.h.shape[0]:  # keep it at most half full
            rows = self.m[self.used]
            self._alloc(2 * self.h.shape[0])
            for row in rows:
                EK.seen_insert(self.h, self.m, self.used, self.keys, row)
        if EK.seen_insert(self.h, self.m, self.used, self.keys, np.array(sorted(key), np.int64)):
            self.n += 1


class _Evaluator:
    """Best unseen admissible combination of one start under the state's discounted values.

    `dead`: starts proved to have no admissible set left (at the skill cap, or every set of
    the exact enumeration seen or over a pair cap). Admissible sets only shrink as the greedy
    goes on (caps tighten, `seen` grows), so such a start never has one again and is not
    searched again. A start the beam found nothing for is not proved dead (another round's
    values may lead the beam elsewhere) and is searched again."""

    def __init__(self, state: BudgetState, k: int, scope, max_level: int, beam: int):
        self.state, self.k, self.scope, self.max_level, self.beam = state, k, parse_scope(scope), max_level, beam
        ctx = state.ctx
        self.exact = self.scope.kind == "level" and ctx.exact_ok
        self.evaluations = 0
        self.dead = np.zeros(ctx.flat.n_leaves, bool)  # by start position
        self.exact_value = False  # did the last call's value come from the exact search
        self._scopes: dict[int, tuple[int, np.ndarray] | None] = {}  # start -> (scope root, forced leaves)
        self._chosen = np.empty(max(self.k - 1, 1), np.int64)
        self._no_pairs = np.ones((1, 1), bool)

    def __call__(self, x: int) -> tuple[float, list[int]] | None:
        got = self.evaluate(x)
        if got is None:
            return None
        value, positions, ordered = got
        return value, positions if ordered else greedy_order(self.state.ctx.flat, x, positions[1:])

    def evaluate(self, x: int) -> tuple[float, list[int], bool] | None:
        """`__call__` without ordering an exact set: (value, [x, *chosen], ordered?); the order
        (`greedy_order`) only matters for a set that is picked."""
        st = self.state
        if self.dead[x]:
            return None
        if st.max_skill_uses is not None and st.uses[x] >= st.max_skill_uses:
            self.dead[x] = True
            return None
        self.evaluations += 1
        got = self._exact(x) if self.exact else "beam"
        self.exact_value = got != "beam"
        if got is None:
            self.dead[x] = True
            return None
        ordered = got == "beam"
        if ordered:
            got = self._beam(x)
            if got is None:
                return None
        return got[0] + st.start_credit(x), got[1], ordered

    def _exact(self, x):
        """The first set of x's exact enumeration (`search._dp_chosen`, best first) that is not
        taken and breaks no pair cap: (value, [x, *chosen sorted]); "beam" when _PULL untaken
        sets in a row break a cap, None when the enumeration ends (`_exact_kernels`)."""
        st, ctx = self.state, self.state.ctx
        flat = ctx.flat
        if x not in self._scopes:
            _, cap = scope_depths(flat, x, self.scope, self.k)
            root = int(flat.anc[x, cap])
            seed = _seed(ctx, x, root)
            self._scopes[x] = None if seed is None else (root, np.array(seed[1:], np.int64))
        scope = self._scopes[x]
        if scope is None:
            return None
        root, forced = scope
        table = st.seen_table(self.k)
        use_pairs = st.okpair is not None  # partners of x at the pair cap are exactly excludable
        status, value = EK.exact_first_unseen(
            flat.pre, flat.tin, flat.tout, flat.depth, flat.child_ptr, flat.child_idx, flat.parent, flat.leaf_node,
            flat.leaf_pos, flat.leaf_lo, flat.leaf_hi, flat.height, st.value, st.selectable,
            st.okpair if use_pairs else self._no_pairs, use_pairs, int(x), root, self.k - 1, forced, ctx.keys, table.h, table.m, table.used, _PULL, self._chosen)
        if status == EK.FOUND:
            return value, [int(x), *self._chosen[: self.k - 1].tolist()]
        return "beam" if status == EK.SCREENED_OUT else None

    def _beam(self, x):
        st, ctx, flat = self.state, self.state.ctx, self.state.ctx.flat
        depths, cap = scope_depths(flat, x, self.scope, self.k, self.max_level)
        seed = _seed(ctx, x, int(flat.anc[x, cap]))
        if seed is None or len(seed) > self.k or not st.pair_ok(seed) or not st.allowed[seed[1:]].all():
            return None
        init = float(st.value[new_cover(ctx, seed)].sum()) if len(seed) > 1 else 0.0
        okpair = st.okpair if st.okpair is not None else np.ones((1, 1), bool)
        mm = ctx.constraints.min_mean_similarity
        beam = self.beam
        for _ in range(2):  # a second, 4x wider beam when every set the first found is taken
            members, scores = K.beam_search(
                flat.anc, flat.leaf_node, flat.parent, st.dcum, flat.cum, flat.sorted_ptr, flat.sorted_leaves,
                st.allowed, okpair, st.okpair is not None, ctx.keys, np.array(seed, np.int64), init, int(self.k),
                depths, int(cap), int(beam))
            for row, sc in zip(members, scores):
                positions = [int(p) for p in row]
                if frozenset(positions) in st.seen:
                    continue
                if mm is not None and ctx.coherence([ctx.name(p) for p in positions]) < mm:
                    continue
                return float(sc), positions
            if len(members) < beam:
                return None
            beam *= 4
        return None


def _key(v: float) -> float:
    """Comparison key: values equal to 1e-12 are ties (broken by start order), so that
    different summation orders of the same value do not decide between starts."""
    return round(float(v), 12)


class _Groups:
    """Exact scopes: starts grouped by scope root; one pass of `knapsack_all_starts` gives
    every start's value in a group. A pick only changes values inside its scope root, so
    only groups whose subtree holds a node of the pick are recomputed. Inside a group the
    starts are searched in order of an upper bound on their value until the best one's value
    equals its bound (so the pick is the best start's, ties to the earlier start, whatever
    the bounds). The bound is the knapsack without the seen sets and pair caps, or a start's
    last exact value when smaller: values only shrink as the greedy goes on, so that is a
    bound too, and a start whose best sets are all taken is not searched again each round."""

    def __init__(self, ev: _Evaluator, starts: list[int], order: dict[int, int]):
        self.ev, self.state = ev, ev.state
        flat = ev.state.ctx.flat
        self.flat = flat
        self.m = ev.k - 1
        roots: dict[int, list[int]] = {}
        for x in starts:
            _, cap = scope_depths(flat, x, ev.scope, ev.k)
            roots.setdefault(int(flat.anc[x, cap]), []).append(x)
        self.groups = {r: np.array(xs, np.int64) for r, xs in roots.items()}
        self.order = order
        self.last = np.full(flat.n_leaves, np.nan)  # a start's last exact value (not a beam's), by position
        self.cand: dict[int, tuple | None] = {}
        self.f = np.empty((flat.n_nodes, self.m + 1))
        self.P = np.empty((flat.n_nodes, self.m + 1))
        self.cnt = np.zeros(flat.n_nodes, np.int64)
        self.out = np.empty((flat.n_nodes, self.m + 1))
        self.roots = np.array(list(self.groups), np.int64)  # one entry per group: arrays, not loops, per pick
        self.rtin, self.rtout = flat.tin[self.roots], flat.tout[self.roots]
        self.ckey = np.full(len(self.roots), -np.inf)  # _key of each group's candidate
        self.crank = np.zeros(len(self.roots), np.int64)  # and its start's order
        for gi in range(len(self.roots)):
            self._set(gi)

    def _set(self, gi: int) -> None:
        r = int(self.roots[gi])
        c = self.cand[r] = self._candidate(r)
        self.ckey[gi] = -np.inf if c is None else _key(c[0])
        self.crank[gi] = 0 if c is None else self.order[c[1]]

    def _candidate(self, r: int):
        st, flat, xs, ev = self.state, self.flat, self.groups[r], self.ev
        K.knapsack_all_starts(flat.pre, flat.tin, flat.tout, flat.child_ptr, flat.child_idx, st.value,
                              st.selectable, r, self.m, self.f, self.P, self.cnt, self.out)
        ev.evaluations += 1
        vals = self.out[flat.leaf_node[xs], self.m].copy()
        mode = start_mode(st.count_start, st.scope)
        if mode == "path":
            vals += st.dcum[flat.leaf_node[xs]] - st.dcum[r]
        elif mode == "leaf":
            vals += st.value[flat.leaf_node[xs]]
        if st.max_skill_uses is not None:
            vals[st.uses[xs] >= st.max_skill_uses] = -np.inf
        last = self.last[xs] + 1e-9  # + 1e-9: summation-order noise must not make it a non-bound
        vals = np.where(ev.dead[xs], -np.inf, np.where(last < vals, last, vals))  # (NaN: no last value)
        rank = np.array([self.order[int(x)] for x in xs], np.int64)
        n, table, use_pairs = len(xs), st.seen_table(ev.k), st.okpair is not None
        checked, c_val, c_ord = np.zeros(n, bool), np.empty(n), np.zeros(n, bool)
        c_pos, evals = np.empty((n, ev.k), np.int64), np.zeros(1, np.int64)
        while True:
            # the search loop (`_exact_kernels.group_candidate`): the best bound's start is searched
            # exactly (seen sets and pair caps included) until the best value equals its bound
            status, i, got = EK.group_candidate(
                flat.pre, flat.tin, flat.tout, flat.depth, flat.child_ptr, flat.child_idx, flat.parent, flat.leaf_node,
                flat.leaf_pos, flat.leaf_lo, flat.leaf_hi, flat.height, st.value, st.dcum, st.selectable,
                st.okpair if use_pairs else ev._no_pairs, use_pairs, self.m, st.ctx.keys, table.h, table.m, table.used,
                _PULL, r, xs, rank, vals, {None: 0, "path": 1, "leaf": 2}[mode], st.uses,
                -1 if st.max_skill_uses is None else int(st.max_skill_uses), ev.dead, self.last, checked, c_val, c_pos,
                c_ord, evals)
            ev.evaluations += int(evals[0])
            evals[0] = 0
            if status == EK.LOOP_DONE:
                return None if i < 0 else (float(c_val[i]), int(xs[i]), c_pos[i].tolist(), bool(c_ord[i]))
            x, key = int(xs[i]), float(np.round(vals[i: i + 1], 12)[0])
            if status == EK.LOOP_BEAM:  # _PULL untaken sets in a row break a pair cap: the beam decides
                ev.exact_value = False
                res = ev._beam(x)
                if res is None:
                    vals[i] = -np.inf
                    continue
                got = res[0] + st.start_credit(x)
                checked[i], c_val[i], c_pos[i], c_ord[i] = True, got, res[1], True
            if _key(got) == key:  # (LOOP_KEY: the kernel could not be sure of Python's rounding)
                return float(c_val[i]), x, c_pos[i].tolist(), bool(c_ord[i])
            vals[i] = got

    def best(self):
        """The candidate with the largest value, ties to the earlier start; None when none is left."""
        if not len(self.roots) or not np.isfinite(self.ckey).any():
            return None
        r = int(self.roots[np.lexsort((self.crank, -self.ckey))[0]])
        value, x, positions, ordered = self.cand[r]
        if not ordered:
            positions = greedy_order(self.flat, x, positions[1:])
            self.cand[r] = (value, x, positions, True)
        return value, x, positions

    def update(self, positions: list[int], nodes: np.ndarray) -> None:
        flat = self.flat
        touched = np.concatenate([nodes, flat.leaf_node[np.asarray(positions, np.int64)]])
        t = flat.tin[touched]
        hit = ((self.rtin[:, None] <= t[None, :]) & (t[None, :] < self.rtout[:, None])).any(axis=1)
        for gi in np.flatnonzero(hit).tolist():
            self._set(gi)


def select_budget(
    state: BudgetState,
    k: int,
    budget: int,
    starts: list[int],
    scope="level:1",
    max_level: int = 1,
    beam: int = 100,
    lazy: bool = True,
    sample_epsilon: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> BudgetResult:
    """`budget` distinct k-combinations from `starts` by greedy on F (module docstring).
    Each has `rank` (1 = first picked) and `marginal_gain` (its value under F when picked).
    A budget above `BudgetState.capacity` (an upper bound on what can exist under the caps)
    stops at that bound at the latest; `progress(done, total)` counts against the smaller of
    the two and, when fewer are found, ends with done == total (the bar reaches 100 %).
    lazy=False evaluates every start every round (the plain greedy, for tests). Exact scopes
    use the grouped exact evaluation; otherwise `sample_epsilon` (e.g. 0.01) switches the lazy
    greedy to the stochastic one: each round only ceil(n/N ln(1/eps)) random live starts
    (seeded) compete, which is within (1 - 1/e - eps) in expectation (Mirzasoleiman et al. 2015)."""
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    state.scope, state.max_level = parse_scope(scope), int(max_level)
    start_mode(state.count_start, state.scope)  # validates
    ev = _Evaluator(state, int(k), scope, max_level, beam)
    label = str(parse_scope(scope))
    order = {x: i for i, x in enumerate(dict.fromkeys(int(s) for s in starts))}
    room, binding = state.capacity(int(k), list(order), scope, max_level)
    target = min(budget, room)  # no search can find more than `room`: stop there at the latest
    out: list[Combination] = []

    def pick(x, positions):
        marginal, nodes = state.add(positions)
        combo = make_combination(state.ctx, positions, "steps", label)
        combo.marginal_gain, combo.rank = marginal, len(out) + 1
        out.append(combo)
        if progress is not None:
            progress(len(out), target)
        return nodes

    if not lazy:
        live = list(order)
        while live and len(out) < target:
            best, keep = None, []
            for x in live:
                got = ev(x)
                if got is None:
                    continue
                keep.append(x)
                if best is None or _key(got[0]) > _key(best[0]):  # strict: ties keep the earlier start
                    best = (got[0], x, got[1])
            live = keep
            if best is not None:
                pick(best[1], best[2])
    elif ev.exact and not len(state.ctx.forced):
        groups = _Groups(ev, list(order), order)
        while len(out) < target:
            best = groups.best()
            if best is None:
                break
            nodes = pick(best[1], best[2])
            groups.update(best[2], nodes)
    elif sample_epsilon is None:
        # lazy greedy: entries (-key, start order, start, round evaluated, value, positions)
        heap = [(-np.inf, i, x, -1, 0.0, None) for x, i in order.items()]
        while heap and len(out) < target:
            negk, i, x, rnd, value, positions = heapq.heappop(heap)
            if rnd == len(out):
                pick(x, positions)
                heapq.heappush(heap, (negk, i, x, -1, 0.0, None))  # stale now: its key is a bound
                continue
            got = ev(x)
            if got is not None:
                heapq.heappush(heap, (-_key(got[0]), i, x, len(out), got[0], got[1]))
    else:
        # stochastic lazy greedy: each round the best of a seeded sample of the live starts,
        # evaluated in order of their last value (a bound) until no bound can win
        rng = np.random.default_rng([seed, int(k)])
        live = np.array(list(order), np.int64)
        bound = {int(x): np.inf for x in live}
        n_sample = max(1, math.ceil(len(live) / max(target, 1) * math.log(1.0 / sample_epsilon)))
        while len(live) and len(out) < target:
            sample = live if n_sample >= len(live) else rng.choice(live, n_sample, replace=False)
            sample = sorted((int(x) for x in sample), key=lambda x: (-bound[x], order[x]))
            best, dead = None, set()
            for x in sample:
                if best is not None and (_key(bound[x]), -order[x]) < (_key(best[0]), -order[best[1]]):
                    break
                got = ev(x)
                if got is None:
                    dead.add(x)
                    continue
                bound[x] = got[0]
                if best is None or (_key(got[0]), -order[x]) > (_key(best[0]), -order[best[1]]):
                    best = (got[0], x, got[1])
            if dead:
                live = live[~np.isin(live, list(dead))]
            if best is not None:
                pick(best[1], best[2])
    shortfall = None
    if len(out) < budget:
        shortfall = _shortfall(state, ev, len(out), budget, k, label, room, binding)
        if progress is not None:
            progress(len(out), len(out))  # the search is over: the bar ends full
    return BudgetResult(out, shortfall, ev.evaluations)


_BOUND = {"sets": "distinct sets of k allowed skills in the starts' scopes", "pairs": "uses left to admissible pairs",
          "skills": "uses left to skills"}


def _shortfall(state: BudgetState, ev: _Evaluator, got: int, budget: int, k: int, scope: str, room: int,
               binding: str) -> str:
    head = f"selected {got} of the {budget} combinations asked for (k = {k}, scope {scope}): "
    if room < budget:
        head += f"at most {room:,} can exist here ({_BOUND[binding]}); "
    caps = []
    if state.capped_skills():
        caps.append(f"{state.capped_skills()} skill(s) are at --max-skill-uses {state.max_skill_uses}")
    if state.capped_pairs():
        caps.append(f"{state.capped_pairs()} pair(s) are at --max-pair-uses {state.max_pair_uses}")
    if caps:
        return head + "every further admissible set would break a cap (" + "; ".join(caps) + \
            "); raise the caps, widen the scope or add starts"
    if ev.exact:
        return head + "these starts admit no further distinct set in this scope under the constraints; " \
            "widen the scope, add starts or relax the constraints"
    return head + "the beam search found no further distinct admissible set; a wider --beam, a wider scope " \
        "or more starts may find more"
