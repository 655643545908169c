"""Dataset-level selection (`selection.budget`): the greedy against brute force and an outside
greedy, lazy == plain, gamma = 1 == top-N, caps on every line, exactly N or a reason, and
the objective / marginal gains recomputed from scratch."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from steps_engine.selection.budget import BudgetState, dataset_objective, new_cover, select_budget
from steps_engine.selection.combos import select_combinations
from steps_engine.selection.search import Constraints, conditional_entropy, parse_scope, prepare, scope_depths
from steps_engine.selection.strategies import combination_metrics
from steps_engine.taxonomy.tree import EncodingTree
from test_selection import random_graph, random_tree


def small_ctx(seed, n_leaves=8, height=4, cons=None):
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, n_leaves, height)
    term = rng.random(tree.n_nodes)
    term[0] = 0.0
    return prepare(tree, random_graph(rng, n_leaves), cons or Constraints(k=3), term=term)


def all_candidates(ctx, k, scope, starts=None):
    """Every admissible (start, set) of the scope by enumeration: list of (start, frozenset)."""
    flat, sc = ctx.flat, parse_scope(scope)
    out = []
    for x in starts if starts is not None else range(flat.n_leaves):
        if not ctx.allowed[x]:
            continue
        _, cap = scope_depths(flat, x, sc, k)
        root = int(flat.anc[x, cap])
        pool = [p for p in range(flat.leaf_lo[root], flat.leaf_hi[root]) if p != x and ctx.allowed[p]]
        for Y in itertools.combinations(pool, k - 1):
            if set(ctx.forced.tolist()) - {x} <= set(Y):
                out.append((x, frozenset((x, *Y))))
    return out


def outside_F(ctx, picks, g, count_start, g_leaf=None, scope="global"):
    """F from its definition: node a's j-th cover (j = 1, 2, ...) is worth t_a g^(j-1)
    (g_leaf instead of g on leaves when given)."""
    flat = ctx.flat
    leaves = set(flat.leaf_node.tolist())
    count = {}
    total = 0.0
    for x, S in picks:
        cov_x = set(flat.anc[x][flat.anc[x] >= 0].tolist())
        nodes = set()
        for y in S - {x}:
            nodes |= set(flat.anc[y][flat.anc[y] >= 0].tolist())
        nodes -= cov_x
        d = int(flat.depth[flat.leaf_node[x]])
        if count_start and scope == "local":  # local: the start's own leaf
            nodes.add(int(flat.leaf_node[x]))
        elif count_start:  # level:L: the start's path below its scope root (depth min(L, depth(x) - 1))
            nodes |= set(flat.anc[x, min(parse_scope(scope).level, d - 1) + 1: d + 1].tolist())
        for a in nodes:
            ga = g_leaf if g_leaf is not None and a in leaves else g
            total += flat.term[a] * ga ** count.get(a, 0)
            count[a] = count.get(a, 0) + 1
    return total


def outside_greedy(ctx, cands, n, g, count_start, scope="global"):
    """Plain greedy over the explicit candidate list, F recomputed from scratch each time.
    Returns the marginal values in pick order."""
    picks, seen, marg = [], set(), []
    base = 0.0
    for _ in range(n):
        best = None
        for x, S in cands:
            if S in seen:
                continue
            v = outside_F(ctx, picks + [(x, S)], g, count_start, scope=scope) - base
            if best is None or v > best[0] + 1e-12:
                best = (v, x, S)
        if best is None:
            break
        picks.append(best[1:])
        seen.add(best[2])
        base += best[0]
        marg.append(best[0])
    return marg, picks


def run(ctx, k, n, scope, g=0.5, count_start=True, lazy=True, **kw):
    state = BudgetState(ctx, g, kw.pop("max_skill_uses", None), kw.pop("max_pair_uses", None), count_start,
                        kw.pop("leaf_discount", None))
    return select_budget(state, k, n, list(range(ctx.flat.n_leaves)), scope, lazy=lazy, **kw)


# ---------------------------------------------------------------- the greedy against brute force
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("count_start", [True, False])
def test_greedy_matches_an_outside_greedy_and_the_bound_against_brute_force(seed, count_start):
    ctx = small_ctx(seed, n_leaves=6)
    k, g = 3, 0.5
    for scope in ("global", "level:1"):
        cands = all_candidates(ctx, k, scope)
        got = run(ctx, k, 8, scope, g, count_start).combinations
        marg, _ = outside_greedy(ctx, cands, 8, g, count_start, scope)
        assert [c.marginal_gain for c in got] == pytest.approx(marg, abs=1e-9)
        if scope == "global":
            continue  # brute force below on the smaller level:1 candidate list
        # brute force over all n-subsets of distinct candidate sets (each with any start)
        n = min(3, len({S for _, S in cands}))
        got = got[:n]
        best = 0.0
        for combo in itertools.combinations(range(len(cands)), n):
            if len({cands[i][1] for i in combo}) == n:
                best = max(best, outside_F(ctx, [cands[i] for i in combo], g, count_start, scope=scope))
        F = sum(c.marginal_gain for c in got)
        assert F >= (1 - 1 / math.e) * best - 1e-9
        assert F <= best + 1e-9


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scope", ["global", "level:1", "level:2"])
def test_lazy_greedy_returns_what_plain_greedy_returns(seed, scope):
    ctx = small_ctx(seed, n_leaves=12)
    for k in (2, 3, 4):
        lazy = run(ctx, k, 15, scope, 0.6).combinations
        plain = run(ctx, k, 15, scope, 0.6, lazy=False).combinations
        assert [c.skills for c in lazy] == [c.skills for c in plain]
        assert [c.marginal_gain for c in lazy] == pytest.approx([c.marginal_gain for c in plain], abs=1e-12)


def test_lazy_heap_with_must_include_returns_what_plain_greedy_returns():
    base = small_ctx(2, n_leaves=12)
    must = base.name(5)
    ctx = small_ctx(2, n_leaves=12, cons=Constraints(k=3, must_include=(must,)))
    lazy = run(ctx, 3, 10, "global", 0.5).combinations
    plain = run(ctx, 3, 10, "global", 0.5, lazy=False).combinations
    assert lazy and [c.skills for c in lazy] == [c.skills for c in plain]
    assert all(must in c.skills for c in lazy)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("count_start", [False, True])
def test_gamma_one_without_caps_gives_the_top_n_distinct_sets(seed, count_start):
    ctx = small_ctx(seed, n_leaves=9)
    flat = ctx.flat
    k = 3
    for scope in ("global", "level:1"):
        best: dict[frozenset, float] = {}
        for x, S in all_candidates(ctx, k, scope):
            v = conditional_entropy(flat, sorted(S - {x}), [x])
            if count_start:  # + the start's path below its scope root
                d = int(flat.depth[flat.leaf_node[x]])
                cap = min(parse_scope(scope).level, d - 1)
                v += flat.term[flat.anc[x, cap + 1: d + 1]].sum()
            best[S] = max(best.get(S, -1.0), v)
        n = min(12, len(best))
        got = run(ctx, k, n, scope, 1.0, count_start).combinations
        top = sorted(best.values(), reverse=True)[:n]
        assert sorted((c.marginal_gain for c in got), reverse=True) == pytest.approx(top, abs=1e-9)
        assert len({frozenset(c.skills) for c in got}) == n
        if not count_start:
            assert all(c.marginal_gain == pytest.approx(c.gain, abs=1e-12) for c in got)


# ---------------------------------------------------------------- caps, budget, recomputation
@pytest.mark.parametrize("scope", ["level:1", "local", "global"])
def test_caps_hold_on_every_line(scope):
    ctx = small_ctx(11, n_leaves=24, height=4)
    M, P = 3, 1
    got = select_combinations(ctx, 3, scope=scope, budget=60, max_skill_uses=M, max_pair_uses=P,
                              reuse_discount=0.8, sample_epsilon=None)
    uses, pairs = {}, {}
    for c in got.combinations:
        for s in c.skills:
            uses[s] = uses.get(s, 0) + 1
        for a, b in itertools.combinations(sorted(c.skills), 2):
            pairs[a, b] = pairs.get((a, b), 0) + 1
    assert max(uses.values()) <= M and max(pairs.values()) <= P
    # 24 skills x 3 uses / 3 per combination = at most 24 lines
    assert len(got.combinations) <= 24
    if len(got.combinations) < 60:
        assert got.shortfall and "--max-skill-uses 3" in got.shortfall[0] or "--max-pair-uses 1" in got.shortfall[0]


@pytest.mark.parametrize("scope", ["level:1", "global", "local"])
def test_exactly_n_when_the_scope_admits_n_and_a_reason_otherwise(scope):
    ctx = small_ctx(4, n_leaves=9)
    k = 3
    distinct = len({S for _, S in all_candidates(ctx, k, scope if scope != "local" else "level:1")})
    if scope == "local":  # local reaches at most the level:1 sets; count what it can reach
        distinct = len(select_combinations(ctx, k, scope=scope, budget=10_000, max_pair_uses=None,
                                           sample_epsilon=None).combinations)
    for n in (1, distinct):
        got = select_combinations(ctx, k, scope=scope, budget=n, max_pair_uses=None)
        assert len(got.combinations) == n and not got.shortfall
        assert len({frozenset(c.skills) for c in got.combinations}) == n
        assert [c.rank for c in got.combinations] == list(range(1, n + 1))
    got = select_combinations(ctx, k, scope=scope, budget=distinct + 5, max_pair_uses=None)
    assert len(got.combinations) == distinct
    assert got.shortfall and got.shortfall[0].startswith(f"selected {distinct} of the {distinct + 5}")
    if scope != "local":
        assert "admit no further distinct set" in got.shortfall[0]


def test_written_gains_and_marginals_recompute_from_scratch():
    ctx = small_ctx(7, n_leaves=30, height=5)
    g, gl = 0.7, 0.4
    for scope in ("level:1", "local"):
        got = select_combinations(ctx, 4, scope=scope, budget=25, reuse_discount=g, leaf_discount=gl).combinations
        assert len(got) == 25
        picks = []
        prev = 0.0
        for c in got:
            pos = [ctx.position(s) for s in c.skills]
            assert c.gain == pytest.approx(conditional_entropy(ctx.flat, pos[1:], pos[:1]), abs=1e-9)
            assert sum(c.step_gains) == pytest.approx(c.gain, abs=1e-9)
            picks.append((pos[0], frozenset(pos)))
            F = outside_F(ctx, picks, g, True, gl, scope)
            assert c.marginal_gain == pytest.approx(F - prev, abs=1e-9)
            prev = F
        assert dataset_objective(ctx, got, g, leaf_discount=gl) == pytest.approx(prev, abs=1e-9)
        assert combination_metrics(ctx, got, g, leaf_discount=gl)["objective"] == pytest.approx(prev, abs=1e-9)


def test_new_cover_hand_values():
    # hand tree of test_selection: x3 covers B, B1, b1; the start x4 covers B, B1, b2
    from test_selection import hand_tree

    tree, term = hand_tree()
    ctx = prepare(tree, None, term=term)
    nodes = new_cover(ctx, [ctx.position("x4"), ctx.position("x3"), ctx.position("x1")])
    assert sorted(tree.ids[a] for a in nodes) == ["A", "a1", "b1"]
    c1 = [ctx.position("x4"), ctx.position("x3")]
    c2 = [ctx.position("x5"), ctx.position("x3")]
    from steps_engine.selection.search import make_combination

    combos = [make_combination(ctx, c1, "steps", "global"), make_combination(ctx, c2, "steps", "global")]
    # with the start's path below the root (scope global): [x4, x3] counts b1 + (B, B1, b2) = 32 + 8 + 16 + 64;
    # [x5, x3] counts B1 (2nd: 8), b1 (2nd: 16), then its start path B (2nd: 4), b3 (128)
    assert dataset_objective(ctx, combos, 0.5, leaf_discount=None) == pytest.approx(120 + 156)
    # without the start leaves: 32, then B1 16 + b1 32 * 0.5 = 32
    assert dataset_objective(ctx, combos, 0.5, count_start=False, leaf_discount=None) == pytest.approx(32 + 32)
    assert dataset_objective(ctx, combos, 1.0, count_start=False, leaf_discount=None) == pytest.approx(32 + 16 + 32)
    # leaf discount 0.25 on b1's second cover, internal B1 undiscounted: 32, then 16 + 8
    assert dataset_objective(ctx, combos, 1.0, count_start=False, leaf_discount=0.25) == pytest.approx(32 + 24)


def test_dataset_metrics_by_hand():
    # 4 skills in a star tree; combinations {a,b}, {a,c}, {a,b}: a in 3 of 3, pair a+b twice
    tree = EncodingTree.from_parents([-1, 0, 0, 0, 0], [-1, 0, 1, 2, 3], ["a", "b", "c", "d"])
    ctx = prepare(tree, None, term=np.array([0, 1.0, 2.0, 3.0, 4.0]))
    from steps_engine.selection.search import make_combination

    combos = [make_combination(ctx, [ctx.position(s) for s in c], "steps", "global")
              for c in (["a", "b"], ["a", "c"], ["b", "a"])]
    m = combination_metrics(ctx, combos, 0.5, leaf_discount=None)
    assert m["skills_used"] == 3 and m["max_skill_share"] == 1.0
    assert m["max_pair_uses"] == 2 and m["distinct_pairs"] == 2
    # usage a 3, b 2, c 1 of 6: H = -(1/2 log 1/2 + 1/3 log 1/3 + 1/6 log 1/6); / log2(4)
    h = -(0.5 * math.log2(0.5) + (1 / 3) * math.log2(1 / 3) + (1 / 6) * math.log2(1 / 6))
    assert m["usage_efficiency"] == pytest.approx(h / 2)
    # F(0.5), start counted (its path below the root is its leaf here):
    # [a,b]: b + a = 2 + 1; [a,c]: c + a/2 = 3 + 0.5; [b,a]: a/4 + b/2 = 0.25 + 1
    assert m["objective"] == pytest.approx(3 + 3.5 + 1.25)


def test_reuse_spreads_skills_on_a_planted_taxonomy():
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.taxonomy.planted import planted_graph

    g = planted_graph(200, 4000, seed=3)
    ctx = prepare(build_tree(g, height=4), g)
    per_start = select_combinations(ctx, 4, scope="level:1").combinations
    budget = select_combinations(ctx, 4, scope="level:1", budget=len(per_start)).combinations
    rand = select_combinations(ctx, 4, scope="level:1", budget=len(per_start), strategy="random").combinations
    mp, mb, mr = (combination_metrics(ctx, c) for c in (per_start, budget, rand))
    assert mb["combinations"] == len(per_start)
    assert mb["max_skill_share"] < mp["max_skill_share"] and mb["usage_efficiency"] > mp["usage_efficiency"]
    assert mb["max_pair_uses"] <= 3
    assert mb["mean_gain"] > mr["mean_gain"]
    assert mb["objective"] > mp["objective"] and mb["objective"] > mr["objective"]


def test_bad_budget_arguments():
    ctx = small_ctx(1)
    with pytest.raises(ValueError, match="reuse_discount must be in"):
        BudgetState(ctx, 0.0)
    with pytest.raises(ValueError, match="max_skill_uses must be >= 1"):
        BudgetState(ctx, 0.5, 0)
    with pytest.raises(ValueError, match="budget must be >= 1"):
        select_budget(BudgetState(ctx), 3, 0, [0])


def test_skill_usage_figure_counts_skills_per_number_of_uses():
    from steps_engine.studio.plotting.usage import skill_usage_figure

    # steps: a in 2, b in 2, c in 0 -> bars [1, 0, 2]; random: a 1, b 1, c 1 -> [0, 3, 0]
    fig = skill_usage_figure({"steps": {"a": 2, "b": 2, "c": 0}, "random": {"a": 1, "b": 1, "c": 1}})
    assert [list(t.y) for t in fig.data] == [[1, 0, 2], [0, 3, 0]]
    assert [t.name for t in fig.data] == ["steps", "random"]
    with pytest.raises(ValueError, match="at least one strategy"):
        skill_usage_figure({})


def test_explain_names_the_path_the_steps_and_every_pair():
    from test_selection import hand_tree

    from steps_engine.selection.explain import explain_combination
    from steps_engine.selection.search import make_combination

    tree, term = hand_tree()
    ctx = prepare(tree, None, term=term)
    combo = make_combination(ctx, [ctx.position(s) for s in ("x3", "x4", "x5")], "steps", "global")
    why = explain_combination(ctx, combo)
    assert why["lca_path"] == ["root", "B"]  # x3, x4 under B1, x5 right under B
    assert why["skill_paths"] == {"x3": ["B1"], "x4": ["B1"], "x5": []}
    assert [s["step_gain"] for s in why["steps"]] == combo.step_gains and why["gain"] == combo.gain
    assert [(p["a"], p["b"], p["cooccurrence"]) for p in why["pairs"]] == [
        ("x3", "x4", 0), ("x3", "x5", 0), ("x4", "x5", 0)]  # no graph: never seen together
