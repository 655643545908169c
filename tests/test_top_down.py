"""The multilevel builder's top-down start: Louvain on modularity (local optimality by brute
force, scopes kept apart, hand-made graphs), the recursive split, and the builder's law that it
is never worse than that start."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_engine.taxonomy import _modularity_kernels as MK
from steps_engine.taxonomy import _multilevel_kernels as K
from steps_engine.taxonomy.entropy import structural_entropy
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.multilevel import SATURATED_LEVELS, _Layers, build_tree_multilevel
from steps_engine.taxonomy.planted import planted_graph
from test_partition import random_graph


def csr(g):
    return K.adjacency(g.n_skills, g.src.astype(np.int64), g.dst.astype(np.int64), g.weight.astype(np.float64))


def modularity(ptr, idx, val, comm):
    """sum_c in_c / m2 - (V_c / m2)^2, straight from the definition."""
    deg = np.array([val[ptr[u] : ptr[u + 1]].sum() for u in range(ptr.shape[0] - 1)])
    m2 = deg.sum()
    q = 0.0
    for c in np.unique(comm):
        members = comm == c
        inner = sum(val[k] for u in np.flatnonzero(members) for k in range(ptr[u], ptr[u + 1]) if members[idx[k]])
        q += inner / m2 - (deg[members].sum() / m2) ** 2
    return q


def test_two_cliques_and_a_bridge_by_hand():
    # K4 {0..3} and K4 {4..7} joined by 3-4: two communities; Q = 2 (12/26 - (13/26)^2) = 0.4231
    e = [(a, b) for a in range(4) for b in range(a + 1, 4)] + [(a + 4, b + 4) for a in range(4) for b in range(a + 1, 4)] + [(3, 4)]
    e = np.array(e)
    g = SkillGraph([f"s{i}" for i in range(8)], np.ones(8, np.int64), 1, e[:, 0], e[:, 1], np.ones(len(e)))
    ptr, idx, val = csr(g)
    for seed in range(5):
        comm = MK.louvain(ptr, idx, val, seed, 30, 2)
        assert len(set(comm[:4])) == 1 and len(set(comm[4:])) == 1 and comm[0] != comm[4]
        assert modularity(ptr, idx, val, comm) == pytest.approx(2 * (12 / 26 - 0.25), rel=1e-12)


def test_no_edges_keeps_singletons():
    ptr = np.zeros(4, np.int64)
    comm = MK.louvain(ptr, np.zeros(0, np.int32), np.zeros(0), 0, 30, 2)
    assert comm.tolist() == [0, 1, 2]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.integers(2, 16))
def test_converged_louvain_is_a_local_optimum(seed, n):
    """With iterations until no node moves, no single node can raise modularity (brute force
    over every node and every community, an empty one included)."""
    g = random_graph(seed, n, p=0.35)
    if not g.n_edges:
        return
    ptr, idx, val = csr(g)
    comm = MK.louvain(ptr, idx, val, seed, 30, 50)
    q = modularity(ptr, idx, val, comm)
    assert q >= modularity(ptr, idx, val, np.arange(n)) - 1e-12
    for u in range(n):
        for c in list(np.unique(comm)) + [n + 1]:
            moved = comm.copy()
            moved[u] = c
            assert modularity(ptr, idx, val, moved) <= q + 1e-9


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.integers(4, 30), st.integers(1, 4))
def test_scoped_louvain_stays_inside_scopes(seed, n, n_scope):
    g = random_graph(seed, n, p=0.4)
    scope = np.random.default_rng(seed).integers(0, n_scope, n)
    ptr, idx, val = K.rows_within(scope, *csr(g))
    comm = MK.louvain_scoped(ptr, idx, val, scope, seed, 30, 2)
    for c in np.unique(comm):
        assert len(set(scope[comm == c])) == 1  # a community never spans two scopes
    # and inside a scope it is Louvain on that scope's edges alone: a community is one
    # connected piece there whenever the scope's own edges connect it
    for x in np.unique(scope):
        members = np.flatnonzero(scope == x)
        local = np.empty(n, np.int64)
        lptr, lidx, lval = K.scope_csr(ptr, idx, val, members, 0, members.shape[0], local)
        alone = MK.louvain(lptr, lidx, lval, seed, 30, 2)
        assert np.array_equal(K._relabel(alone)[0], K._relabel(comm[members])[0])


def test_split_top_down_nests_and_stops():
    g = planted_graph(600, 30_000, seed=3, n_top=4, n_sub=3)
    lay = _Layers.flat(g).split_top_down(SATURATED_LEVELS, 0)
    assert 2 <= lay.top <= SATURATED_LEVELS + 1
    assert np.all(lay.anc[lay.top] == 0)
    for l in range(1, lay.top):  # each level refines the one above it
        pairs = set(zip(lay.anc[l].tolist(), lay.anc[l + 1].tolist()))
        assert len(pairs) == lay.n_at(l)
    sizes = [lay.n_at(l) for l in range(lay.top, 0, -1)]
    assert sizes == sorted(sizes) and len(set(sizes[1:])) == len(sizes[1:])  # stops once nothing splits
    assert sizes[1] == 4  # the planted top groups first
    assert lay.entropy() == pytest.approx(structural_entropy(g, lay.to_tree(g.skills)), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 100_000), st.integers(3, 40), st.integers(2, 5))
def test_builder_never_worse_than_the_top_down_start(seed, n, height):
    g = random_graph(seed, n, p=0.25)
    start = _Layers.flat(g).split_top_down(SATURATED_LEVELS, seed).compressed(height)
    tree = build_tree_multilevel(g, height=height, seed=seed)
    assert structural_entropy(g, tree) <= start.entropy() + 1e-9


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.integers(2, 30), st.integers(2, 6))
def test_greedy_trees_of_one_run_are_the_trees_of_each_height(seed, n, height):
    """The builder takes the greedy start of every height from one run (`build_trees`)."""
    from steps_engine.taxonomy.partition import build_tree, build_trees

    g = random_graph(seed, n, p=0.3)
    trees = build_trees(g, height)
    assert len(trees) == height - 1
    for k, tree in zip(range(2, height + 1), trees):
        alone = build_tree(g, height=k)
        assert np.array_equal(tree.parent, alone.parent) and np.array_equal(tree.leaf_skill, alone.leaf_skill)
