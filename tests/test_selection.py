"""Skill-combination selection: hand values, brute force for the optimisers, invariants,
baselines, dataset-level selection and real-data comparisons."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_engine.selection.combos import parse_starts, select_combinations
from steps_engine.taxonomy.graph import SkillGraph, build_graph
from steps_engine.selection.search import (
    Constraints,
    candidate_gains,
    chain_gains,
    conditional_entropy,
    covered_nodes,
    iter_combinations,
    best_combination,
    parse_scope,
    prepare,
    scope_depths,
)
from steps_engine.selection.strategies import combination_metrics, cooccur_combinations, random_combinations
from steps_engine.taxonomy.tree import EncodingTree

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------- helpers
def hand_tree():
    """root
       A (t=1): a1 (t=2) x1, a2 (t=4) x2
       B (t=8): B1 (t=16): b1 (t=32) x3, b2 (t=64) x4
                b3 (t=128) x5
    Powers of two make every sum identify its nodes."""
    #         0    1  2  3  4  5  6  7  8
    parent = [-1, 0, 1, 1, 0, 4, 5, 5, 4]
    leaf = [-1, -1, 0, 1, -1, -1, 2, 3, 4]
    ids = ["root", "A", "a1", "a2", "B", "B1", "b1", "b2", "b3"]
    tree = EncodingTree.from_parents(parent, leaf, ["x1", "x2", "x3", "x4", "x5"], ids=ids)
    t = {"root": 0, "A": 1, "a1": 2, "a2": 4, "B": 8, "B1": 16, "b1": 32, "b2": 64, "b3": 128}
    term = np.array([t[i] for i in tree.ids], dtype=float)
    return tree, term


def random_tree(rng, n_leaves, height):
    """Random tree: internal levels with 1-3 children each, leaves hung under random
    internal nodes (so leaf depths vary); childless internal nodes are dropped."""
    parent, leaf, depth = [-1], [-1], [0]
    frontier = [0]
    for d in range(1, height):
        nxt = []
        for a in frontier:
            for _ in range(int(rng.integers(1, 4))):
                parent.append(a)
                leaf.append(-1)
                depth.append(d)
                nxt.append(len(parent) - 1)
        frontier = nxt
    internal = list(range(len(parent)))
    for i in range(n_leaves):
        parent.append(int(rng.choice(internal)))
        leaf.append(i)
    # drop internal nodes without a leaf below
    n = len(parent)
    has = [leaf[i] >= 0 for i in range(n)]
    for i in range(n - 1, 0, -1):
        if has[i]:
            has[parent[i]] = True
    keep = [i for i in range(n) if has[i]]
    new = {o: j for j, o in enumerate(keep)}
    parent = [-1 if parent[o] < 0 else new[parent[o]] for o in keep]
    leaf = [leaf[o] for o in keep]
    return EncodingTree.from_parents(parent, leaf, [f"s{i}" for i in range(n_leaves)])


def random_graph(rng, n, p=0.4):
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < p]
    src = np.array([a for a, _ in pairs], np.int64)
    dst = np.array([b for _, b in pairs], np.int64)
    cnt = rng.integers(1, 6, len(pairs))
    counts = rng.integers(1, 30, n)
    graph, _ = build_graph([f"s{i}" for i in range(n)], counts, 100, src, dst, cnt)
    return graph


def random_ctx(seed, n_leaves=9, height=4, cons=None, with_graph=True):
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, n_leaves, height)
    graph = random_graph(rng, n_leaves) if with_graph else None
    term = rng.random(tree.n_nodes)
    term[0] = 0.0
    return prepare(tree, graph, cons or Constraints(k=3), term=term)


def brute_best(ctx, start, k, root, banned=(), forced=()):
    """max over all (k-1)-subsets of admissible leaves under root of H(Y | {start})."""
    flat = ctx.flat
    cands = [p for p in range(flat.leaf_lo[root], flat.leaf_hi[root])
             if p != start and ctx.allowed[p] and p not in banned]
    vals = []
    for Y in itertools.combinations(cands, k - 1):
        if set(forced) - {start} <= set(Y):
            vals.append(conditional_entropy(flat, Y, [start]))
    return sorted(vals, reverse=True)


def in_subtree(flat, node, p):
    return flat.leaf_lo[node] <= p < flat.leaf_hi[node]


# ---------------------------------------------------------------- hand values
def test_conditional_entropy_hand_values():
    tree, term = hand_tree()
    ctx = prepare(tree, None, term=term)
    H = lambda Y, X: conditional_entropy(ctx, Y, X)  # noqa: E731
    assert H(["x2"], ["x1"]) == 4  # A is covered by x1: only a2
    assert H(["x3"], ["x1"]) == 8 + 16 + 32  # B, B1, b1
    assert H(["x3", "x4"], ["x1"]) == 8 + 16 + 32 + 64  # B counted once
    assert H(["x4", "x5"], ["x3"]) == 64 + 128  # B, B1 covered by x3
    assert H(["x1", "x5"], ["x3", "x4"]) == 1 + 2 + 128
    assert H(["x1"], ["x1"]) == 0
    # chain rule in the order x1, x5 given {x3, x4}: x1 adds A + a1, then x5 adds b3
    assert chain_gains(ctx.flat, [ctx.position(s) for s in ["x3", "x4", "x1", "x5"]])[1:] == [3.0, 128.0]


def test_conditional_entropy_from_graph_terms():
    # graph a-b, b-c, c-d (weight 1): degrees a=1, b=2, c=2, d=1, vol(G)=6
    # tree root -> A{a,b}, B{c,d}; vol(A) = vol(B) = 3, g_A = g_B = 1 (edge b-c)
    # t_A = -(1/6) log2(3/6) = 1/6;  leaf b: vol 2, g 2: t_b = -(2/6) log2(2/3)
    # leaf c: same as b; leaf d: vol 1, g 1: t_d = -(1/6) log2(1/3) = log2(3)/6 > t_c
    # H({b} | {a}) = t_b;  H({c} | {a}) = t_B + t_c = 1/6 + t_b;  H({d} | {a}) = 1/6 + t_d
    graph = SkillGraph(["a", "b", "c", "d"], np.array([1, 1, 1, 1]), 3, np.array([0, 1, 2]), np.array([1, 2, 3]),
                       np.ones(3))
    tree = EncodingTree.from_parents([-1, 0, 0, 1, 1, 2, 2], [-1, -1, -1, 0, 1, 2, 3], graph.skills)
    ctx = prepare(tree, graph)
    t_b = -(2 / 6) * math.log2(2 / 3)
    assert conditional_entropy(ctx, ["b"], ["a"]) == pytest.approx(t_b, abs=1e-12)
    assert conditional_entropy(ctx, ["c"], ["a"]) == pytest.approx(1 / 6 + t_b, abs=1e-12)
    assert conditional_entropy(ctx, ["d"], ["a"]) == pytest.approx(1 / 6 + math.log2(3) / 6, abs=1e-12)
    assert best_combination(ctx, "a", 2, "global").skills == ["a", "d"]
    assert best_combination(ctx, "a", 2, "level:1").skills == ["a", "b"]


def test_candidate_gains_vectorised_matches_definition():
    ctx = random_ctx(3, n_leaves=12)
    flat = ctx.flat
    sets = [[0], [1, 5], [2, 3, 7]]
    cov = np.stack([covered_nodes(flat, s) for s in sets])
    cands = np.arange(flat.n_leaves)
    g = candidate_gains(flat, cov, cands)
    for b, s in enumerate(sets):
        for c in cands:
            assert g[b, c] == pytest.approx(conditional_entropy(flat, [c], s), abs=1e-12)


# ---------------------------------------------------------------- exact DP vs brute force
@pytest.mark.parametrize("seed", range(6))
def test_level_dp_equals_brute_force(seed):
    ctx = random_ctx(seed)
    flat = ctx.flat
    for start in range(flat.n_leaves):
        for level in range(flat.height):
            scope = parse_scope(f"level:{level}")
            for k in range(2, 6):
                _, cap = scope_depths(flat, start, scope, k)
                root = int(flat.anc[start, cap])
                brute = brute_best(ctx, start, k, root)
                got = list(itertools.islice(iter_combinations(ctx, start, k, scope), 3))
                if not brute:
                    assert got == []
                    continue
                assert got[0].gain == pytest.approx(brute[0], abs=1e-9)
                # N-best: distinct sets whose gains are the brute-force top values
                assert len({frozenset(c.skills) for c in got}) == len(got) == min(3, len(brute))
                assert [c.gain for c in got] == pytest.approx(brute[: len(got)], abs=1e-9)
                for c in got:
                    assert all(in_subtree(flat, root, ctx.position(s)) for s in c.skills)


@pytest.mark.parametrize("seed", range(4))
def test_level_dp_with_exclusions_and_must_include_equals_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    base = random_ctx(seed, n_leaves=10)
    names = [base.name(p) for p in range(base.flat.n_leaves)]
    excl = tuple(rng.choice(names, 2, replace=False))
    must = (str(rng.choice([s for s in names if s not in excl])),)
    ctx = random_ctx(seed, n_leaves=10, cons=Constraints(k=3, exclude=excl, must_include=must))
    flat = ctx.flat
    m = ctx.position(must[0])
    for start in range(flat.n_leaves):
        if not ctx.allowed[start]:
            continue
        for level in range(flat.height):
            scope = parse_scope(f"level:{level}")
            for k in range(2, 6):
                _, cap = scope_depths(flat, start, scope, k)
                root = int(flat.anc[start, cap])
                brute = brute_best(ctx, start, k, root, forced=[m]) if in_subtree(flat, root, m) else []
                got = best_combination(ctx, start, k, scope)
                if not brute:
                    assert got is None
                    continue
                assert got.gain == pytest.approx(brute[0], abs=1e-9)
                assert must[0] in got.skills and not set(excl) & set(got.skills)


# ---------------------------------------------------------------- beam search
def brute_schedule(ctx, start, k, depths, cap):
    """Exhaustive search over ordered choices following the beam's scope schedule."""
    flat = ctx.flat
    best = -1.0

    def rec(chosen):
        nonlocal best
        t = len(chosen)
        if t == k:
            best = max(best, conditional_entropy(flat, chosen[1:], chosen[:1]))
            return
        d = int(depths[t])
        while True:
            a = int(flat.anc[start, d])
            cands = [p for p in range(flat.leaf_lo[a], flat.leaf_hi[a]) if ctx.allowed[p] and p not in chosen]
            if ctx.okpair is not None:
                cands = [p for p in cands if all(ctx.okpair[p, q] for q in chosen)]
            if cands or d <= cap:
                break
            d -= 1
        for p in cands:
            rec(chosen + [p])

    rec([start])
    return best


@pytest.mark.parametrize("seed", range(5))
def test_exhaustive_beam_equals_brute_force_over_the_local_schedule(seed):
    ctx = random_ctx(seed, n_leaves=9, height=4)
    flat = ctx.flat
    for start in range(flat.n_leaves):
        for k in (2, 3, 4):
            for max_level in (0, 1, 2):
                depths, cap = scope_depths(flat, start, parse_scope("local"), k, max_level)
                brute = brute_schedule(ctx, start, k, depths, cap)
                got = best_combination(ctx, start, k, "local", max_level=max_level, beam=10_000)
                if brute < 0:
                    assert got is None
                else:
                    assert got.gain == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_exhaustive_beam_equals_dp_on_level_scopes(seed):
    from steps_engine.selection.search import _beam_sets, make_combination

    ctx = random_ctx(seed, n_leaves=10)
    for start in range(ctx.flat.n_leaves):
        for level in (0, 1):
            dp = best_combination(ctx, start, 4, f"level:{level}")
            beam = next(_beam_sets(ctx, start, 4, parse_scope(f"level:{level}"), 1, 10_000), None)
            if dp is None:
                assert beam is None
                continue
            assert make_combination(ctx, beam, "steps", "x").gain == pytest.approx(dp.gain, abs=1e-9)


def crafted_local_tree():
    """root
       C1 (t=1)
         P (t=1): x (t=1), y (t=0.1)           <- the start x's own community
         Q (t=50): q1 (t=50), q2 (t=40)        <- far more informative sibling community
       C2 (t=1000): z (t=1000)                 <- outside the depth-1 cap
    """
    parent = [-1, 0, 1, 2, 2, 1, 5, 5, 0, 8]
    leaf = [-1, -1, -1, 0, 1, -1, 2, 3, -1, 4]
    ids = ["root", "C1", "P", "x", "y", "Q", "q1", "q2", "C2", "z"]
    t = {"root": 0, "C1": 1, "P": 1, "x": 1, "y": 0.1, "Q": 50, "q1": 50, "q2": 40, "C2": 1000, "z": 1000}
    tree = EncodingTree.from_parents(parent, leaf, ["x", "y", "q1", "q2", "z"], ids=ids)
    return prepare(tree, None, term=np.array([t[i] for i in tree.ids]))


def test_local_scope_searches_bottom_up_from_the_start_community():
    ctx = crafted_local_tree()
    # step 1 must come from x's parent community P even though q1 is worth far more
    c = best_combination(ctx, "x", 2, "local")
    assert c.skills == ["x", "y"] and c.step_gains == pytest.approx([0.1])
    # step 2 climbs to C1 (depth 1), never to the root (z is out of reach)
    c = best_combination(ctx, "x", 3, "local")
    assert c.skills == ["x", "y", "q1"] and c.step_gains == pytest.approx([0.1, 100.0])
    # the exact level:1 search is free to skip y; global takes z
    assert set(best_combination(ctx, "x", 3, "level:1").skills) == {"x", "q1", "q2"}
    assert set(best_combination(ctx, "x", 2, "global").skills) == {"x", "z"}
    # max_level 0 lets step 3 search the whole tree (depth 3 - 3 = 0): z
    assert best_combination(ctx, "x", 4, "local", max_level=0).skills == ["x", "y", "q1", "z"]
    assert best_combination(ctx, "x", 4, "local").skills == ["x", "y", "q1", "q2"]


def test_local_scope_climbs_when_the_community_is_exhausted():
    ctx = crafted_local_tree()
    # y's community has only x besides y: after x (excluded here) nothing is left, climb to C1
    ctx2 = prepare(ctx.tree, None, Constraints(k=2, exclude=("x",)), term=ctx.flat.term)
    c = best_combination(ctx2, "y", 2, "local")
    assert c.skills == ["y", "q1"]
    # z sits alone under C2 at depth 1: its local search may not leave C2, so nothing
    assert best_combination(ctx, "z", 2, "local") is None
    assert best_combination(ctx, "z", 2, "local", max_level=0) is not None


def test_beam_returns_distinct_sets_best_first():
    ctx = random_ctx(7, n_leaves=12)
    combos = list(iter_combinations(ctx, 0, 4, "local", max_level=0, beam=50))
    sets = [frozenset(c.skills) for c in combos]
    assert len(sets) == len(set(sets)) > 1
    gains = [c.gain for c in combos]
    assert gains == sorted(gains, reverse=True)


# ---------------------------------------------------------------- invariants
def check_invariants(ctx, combos, k, scope, max_level=1):
    flat = ctx.flat
    cons = ctx.constraints
    never = {frozenset(p) for p in cons.never_together}
    seen = set()
    for c in combos:
        pos = [ctx.position(s) for s in c.skills]
        assert len(set(pos)) == len(pos) == k
        assert c.start == c.skills[0]
        assert sum(c.step_gains) == pytest.approx(c.gain, abs=1e-9)
        assert c.gain == pytest.approx(conditional_entropy(ctx, c.skills[1:], c.skills[:1]), abs=1e-9)
        _, cap = scope_depths(flat, pos[0], parse_scope(scope), k, max_level)
        root = int(flat.anc[pos[0], cap])
        assert all(in_subtree(flat, root, p) for p in pos), (c, scope)
        assert not set(cons.exclude) & set(c.skills)
        assert set(cons.must_include) <= set(c.skills)
        for a, b in itertools.combinations(c.skills, 2):
            assert frozenset((a, b)) not in never
            if cons.min_support:
                assert ctx.cooc[ctx.position(a), ctx.position(b)] >= cons.min_support
        key = frozenset(c.skills)
        assert key not in seen
        seen.add(key)


@pytest.mark.parametrize("strategy", ["steps", "random", "cooccur"])
@pytest.mark.parametrize("scope", ["local", "level:1", "global"])
def test_constraints_hold_on_every_combination(strategy, scope):
    base = random_ctx(11, n_leaves=14)
    names = [base.name(p) for p in range(base.flat.n_leaves)]
    must = names[5]
    cons = Constraints(k=4, exclude=(names[0], names[9]), must_include=(must,),
                       never_together=((names[2], names[3]), (names[6], names[7])))
    ctx = random_ctx(11, n_leaves=14, cons=cons)
    run = select_combinations(ctx, 4, starts="all", per_start=3, scope=scope, strategy=strategy, beam=20)
    assert run.combinations
    check_invariants(ctx, run.combinations, 4, scope)
    # must-include holds whatever the start; excluded skills never start
    assert names[0] not in {c.start for c in run.combinations}


def test_min_support_makes_every_pair_observed():
    ctx = random_ctx(5, n_leaves=12, cons=Constraints(k=3, min_support=2))
    run = select_combinations(ctx, 3, scope="global", per_start=2)
    assert run.combinations
    check_invariants(ctx, run.combinations, 3, "global")


def test_similarity_constraints_and_coherence():
    rng = np.random.default_rng(0)
    base = random_ctx(2, n_leaves=12)
    n = len(base.tree.skills)
    v = rng.normal(size=(n, 4))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sim = v @ v.T
    cons = Constraints(k=3, similarity=sim, min_pair_similarity=-0.2, min_mean_similarity=0.1)
    ctx = random_ctx(2, n_leaves=12, cons=cons)
    run = select_combinations(ctx, 3, scope="global", per_start=2)
    assert run.combinations
    idx = {s: i for i, s in enumerate(ctx.tree.skills)}
    for c in run.combinations:
        ii = [idx[s] for s in c.skills]
        pair = [sim[a, b] for a, b in itertools.combinations(ii, 2)]
        assert min(pair) >= -0.2
        assert c.coherence == pytest.approx(np.mean(pair), abs=1e-12) and c.coherence >= 0.1
        assert ctx.coherence(c.skills) == pytest.approx(c.coherence, abs=1e-12)
    # the hook form gets the leaf skill names and returns their matrix
    hook = lambda names: sim[np.ix_([idx[s] for s in names], [idx[s] for s in names])]  # noqa: E731
    ctx2 = random_ctx(2, n_leaves=12, cons=Constraints(k=3, similarity=hook, min_pair_similarity=-0.2,
                                                       min_mean_similarity=0.1))
    run2 = select_combinations(ctx2, 3, scope="global", per_start=2)
    assert [c.to_json() for c in run2.combinations] == [c.to_json() for c in run.combinations]


def test_constraints_and_combinations_round_trip_through_json():
    cons = Constraints(k=4, k_max=5, exclude=("a",), must_include=("b",), never_together=(("c", "d"),),
                       min_support=2, min_pair_similarity=0.1)
    assert Constraints.from_json(cons.to_json()) == cons
    ctx = random_ctx(0)
    c = best_combination(ctx, 0, 3, "global")
    from steps_engine.selection.search import Combination

    assert Combination.from_json(c.to_json()) == c


def test_bad_constraints_are_rejected_with_the_argument_named():
    ctx = random_ctx(0)
    with pytest.raises(ValueError, match="k must be >= 2"):
        prepare(ctx.tree, None, Constraints(k=1), term=ctx.flat.term)
    with pytest.raises(ValueError, match="not in the taxonomy"):
        prepare(ctx.tree, None, Constraints(exclude=("nope",)), term=ctx.flat.term)
    with pytest.raises(ValueError, match="both excluded and must-include"):
        prepare(ctx.tree, None, Constraints(exclude=("s1",), must_include=("s1",)), term=ctx.flat.term)
    with pytest.raises(ValueError, match="scope must be"):
        parse_scope("level:x")
    with pytest.raises(ValueError, match="min_support needs co-occurrence"):
        prepare(ctx.tree, None, Constraints(min_support=1), term=ctx.flat.term)


# ---------------------------------------------------------------- chain rule (property)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6), data=st.data())
def test_chain_rule_step_gains_sum_to_the_gain_in_any_order(seed, k, data):
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, 10, 4)
    term = rng.random(tree.n_nodes)
    ctx = prepare(tree, None, term=term)
    flat = ctx.flat
    seq = data.draw(st.permutations(list(range(flat.n_leaves))))[:k]
    steps = chain_gains(flat, seq)
    assert all(s >= 0 for s in steps)
    total = conditional_entropy(flat, seq[1:], seq[:1])
    assert sum(steps) == pytest.approx(total, abs=1e-9)
    perm = [seq[0]] + list(reversed(seq[1:]))
    assert sum(chain_gains(flat, perm)) == pytest.approx(total, abs=1e-9)


# ---------------------------------------------------------------- baselines and metrics
def test_cooccur_walk_follows_observed_edges():
    # a's only neighbour is b; b's only other neighbour is c; d is isolated from all
    graph = SkillGraph(["a", "b", "c", "d"], np.array([5, 5, 5, 5]), 10, np.array([0, 1]), np.array([1, 2]),
                       np.ones(2), cooc=np.array([3, 2]))
    tree = EncodingTree.from_parents([-1, 0, 0, 0, 0], [-1, 0, 1, 2, 3], graph.skills)
    ctx = prepare(tree, graph)
    for seed in range(5):
        (c,) = cooccur_combinations(ctx, "a", 3, "global", rng=np.random.default_rng(seed))
        assert c.skills == ["a", "b", "c"]


def test_random_baseline_is_uniform_within_the_scope():
    ctx = crafted_local_tree()
    got = random_combinations(ctx, "x", 2, "local", n=10, rng=np.random.default_rng(0))
    # local with max level 1: only y, q1, q2 are reachable from x; all 3 distinct sets
    assert {c.skills[1] for c in got} == {"y", "q1", "q2"} and len(got) == 3


def test_metrics_hand_values():
    # pairs: (a,b) seen 3 times, (b,c) seen 2 times, everything else never
    graph = SkillGraph(["a", "b", "c", "d"], np.array([5, 5, 5, 5]), 10, np.array([0, 1]), np.array([1, 2]),
                       np.ones(2), cooc=np.array([3, 2]))
    tree = EncodingTree.from_parents([-1, 0, 0, 1, 1, 2, 2], [-1, -1, -1, 0, 1, 2, 3], graph.skills)
    ctx = prepare(tree, graph)
    from steps_engine.selection.search import make_combination

    c1 = make_combination(ctx, [ctx.position("a"), ctx.position("b")], "steps", "global")  # LCA depth 1, seen
    c2 = make_combination(ctx, [ctx.position(s) for s in "acd"], "steps", "global")  # 3 pairs, none seen
    m = combination_metrics(ctx, [c1, c2])
    assert m["combinations"] == 2
    assert m["mean_lca_depth"] == pytest.approx((1 + 0) / 2)
    assert m["unseen_pair_fraction"] == pytest.approx(3 / 4)
    assert m["skill_coverage"] == pytest.approx(4 / 4)
    assert m["mean_gain"] == pytest.approx((c1.gain + c2.gain) / 2)


# ---------------------------------------------------------------- dataset level
def test_starts_tail_quantile_uses_skill_frequencies():
    ctx = random_ctx(1, n_leaves=10)
    counts = ctx.counts
    got = parse_starts(ctx, "tail:0.3")
    thr = np.quantile(counts, 0.3)
    assert sorted(got) == [p for p in range(ctx.flat.n_leaves) if counts[p] <= thr]
    assert parse_starts(ctx, "s1,s2") == [ctx.position("s1"), ctx.position("s2")]
    with pytest.raises(ValueError, match="tail:Q"):
        parse_starts(ctx, "tail:0")


def test_per_start_gives_distinct_sets_and_global_dedup():
    ctx = random_ctx(4, n_leaves=12)
    run = select_combinations(ctx, 3, per_start=3, scope="level:1")
    sets = [frozenset(c.skills) for c in run.combinations]
    assert len(sets) == len(set(sets))
    by_start = {}
    for c in run.combinations:
        by_start.setdefault(c.start, []).append(c.gain)
    assert all(len(v) <= 3 for v in by_start.values())
    assert run.duplicates_dropped > 0  # small tree: starts share optimal sets


def test_k_range_runs_every_size():
    ctx = random_ctx(4, n_leaves=12)
    run = select_combinations(ctx, 2, k_max=4, scope="global")
    assert {len(c.skills) for c in run.combinations} == {2, 3, 4}


# ---------------------------------------------------------------- real data
def _real_ctx(name):
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import ingest_graph
    from steps_engine.taxonomy.partition import build_tree

    if name == "ifeval":
        path, mapping = DATA / "ifeval" / "input_data.jsonl", FieldMapping("instruction_id_list")
    else:
        path, mapping = DATA / "instruct_skillmix" / "ism_sda_k2_1000.json", FieldMapping("skills_joined_str", ", ")
    if not path.exists():
        pytest.skip(f"{path} not available")
    graph, _, _ = ingest_graph(path, mapping)
    tree = build_tree(graph, height=4)
    return prepare(tree, graph)


@pytest.mark.parametrize("name,k", [("ifeval", 3), ("instruct_skillmix", 4)])
def test_real_data_steps_beats_random_and_scopes_are_nested(name, k):
    ctx = _real_ctx(name)
    steps1 = select_combinations(ctx, k, scope="level:1").combinations
    rand1 = select_combinations(ctx, k, scope="level:1", strategy="random", seed=1).combinations
    glob = select_combinations(ctx, k, scope="global").combinations
    local = select_combinations(ctx, k, scope="local", max_level=1).combinations
    mean = lambda cs: float(np.mean([c.gain for c in cs]))  # noqa: E731
    assert mean(steps1) >= mean(rand1)
    assert mean(glob) >= mean(steps1)
    # per start, without de-dup effects: exact global >= exact level:1 >= local beam
    for s in range(0, ctx.flat.n_leaves, max(1, ctx.flat.n_leaves // 60)):
        g = best_combination(ctx, s, k, "global")
        l1 = best_combination(ctx, s, k, "level:1")
        lo = best_combination(ctx, s, k, "local")
        if l1 is not None:
            assert g.gain >= l1.gain - 1e-12
            if lo is not None:
                assert l1.gain >= lo.gain - 1e-12
    check_invariants(ctx, glob, k, "global")
    check_invariants(ctx, steps1, k, "level:1")
    check_invariants(ctx, local, k, "local")


def test_select_combinations_reports_progress_through_a_callback():
    from steps_engine.selection.combos import select_combinations
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.selection.search import prepare
    from steps_engine.taxonomy.planted import planted_graph

    g = planted_graph(80, 800, seed=5)
    ctx = prepare(build_tree(g, height=3), g)
    calls = []
    run = select_combinations(ctx, 3, scope="level:1", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(calls), len(calls)) and len(calls) == ctx.flat.n_leaves
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1))
    calls.clear()
    select_combinations(ctx, 3, scope="level:1", budget=10, progress=lambda d, t: calls.append((d, t)))
    assert calls and all(t == 10 for _, t in calls) and calls[-1][0] <= 10
    assert run.combinations
