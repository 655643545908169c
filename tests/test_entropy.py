"""Structural entropy: hand-computed values, LCA, and laws on random graphs."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_engine.taxonomy.entropy import lca, node_terms, one_dim_entropy, structural_entropy
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree


def make_graph(n, edges, weights=None):
    skills = [chr(ord("a") + i) if n <= 26 else f"s{i}" for i in range(n)]
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    w = np.ones(len(edges)) if weights is None else np.asarray(weights, dtype=float)
    return SkillGraph(skills, np.ones(n, np.int64), 1, np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1]), w)


TWO_TRIANGLES = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]


def flat_tree(n):
    return EncodingTree.from_parents([-1] + [0] * n, [-1] + list(range(n)), [chr(97 + i) for i in range(n)])


def two_community_tree():
    # root(0) -> A(1) = {a,b,c}, B(2) = {d,e,f}
    return EncodingTree.from_parents([-1, 0, 0, 1, 1, 1, 2, 2, 2], [-1, -1, -1, 0, 1, 2, 3, 4, 5], list("abcdef"))


def test_one_dim_entropy_of_two_triangles_by_hand():
    # degrees a=b=e=f=2, c=d=3; vol = 14
    # H1 = 4 * (2/14) log2(14/2) + 2 * (3/14) log2(14/3)
    g = make_graph(6, TWO_TRIANGLES)
    expected = 4 * (2 / 14) * math.log2(7) + 2 * (3 / 14) * math.log2(14 / 3)
    assert one_dim_entropy(g) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(2.556656707, rel=1e-9)
    # the flat tree root -> leaves gives the same value
    assert structural_entropy(g, flat_tree(6)) == pytest.approx(expected, rel=1e-12)


def test_two_community_tree_of_two_triangles_by_hand():
    # each community: vol 7, cut 1 (the bridge c-d): term -(1/14) log2(7/14) = 1/14
    # leaves of A: a, b: -(2/14) log2(2/7); c: -(3/14) log2(3/7); B is symmetric
    g = make_graph(6, TWO_TRIANGLES)
    community = -(1 / 14) * math.log2(7 / 14)
    leaves = 2 * (-(2 / 14) * math.log2(2 / 7)) + (-(3 / 14) * math.log2(3 / 7))
    expected = 2 * (community + leaves)
    assert expected == pytest.approx(1.699513850, rel=1e-9)
    t = node_terms(g, two_community_tree())
    assert t.entropy == pytest.approx(expected, rel=1e-12)
    assert t.volume.tolist() == [14, 7, 7, 2, 2, 3, 3, 2, 2]
    assert t.cut.tolist() == pytest.approx([0, 1, 1, 2, 2, 3, 3, 2, 2])
    assert t.term[0] == 0.0


def test_isolated_skill_and_empty_graph_contribute_zero():
    g = make_graph(3, [(0, 1)])  # c is isolated
    t = node_terms(g, flat_tree(3))
    assert t.term[3] == 0.0  # leaf c
    assert t.entropy == pytest.approx(1.0)  # two leaves of degree 1 out of vol 2
    empty = SkillGraph(["a"], np.ones(1, np.int64), 1, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    assert structural_entropy(empty, flat_tree(1)) == 0.0
    assert one_dim_entropy(empty) == 0.0


def test_lca_matches_walking_paths():
    rng = np.random.default_rng(3)
    parent = [-1] + [int(rng.integers(0, i)) for i in range(1, 60)]
    tree = EncodingTree.from_parents(parent, [-1] * 60, [])
    u = rng.integers(0, 60, 200)
    v = rng.integers(0, 60, 200)
    got = lca(tree, u, v)
    for a, b, c in zip(u, v, got):
        pa = tree.path_to_root(int(a))
        pb = set(tree.path_to_root(int(b)))
        assert c == next(x for x in pa if x in pb)


def _random_tree(rng, n_skills, max_height):
    """Random tree over n_skills leaves with height <= max_height."""
    parent, leaf = [-1], [-1]
    internal_at = {0: [0]}
    for d in range(1, max_height):
        internal_at[d] = []
        for _ in range(int(rng.integers(1, 4))):
            p = int(rng.choice(internal_at[d - 1]))
            parent.append(p)
            leaf.append(-1)
            internal_at[d].append(len(parent) - 1)
    internals = [i for d in internal_at for i in internal_at[d]]
    for s in range(n_skills):
        parent.append(int(rng.choice(internals)))
        leaf.append(s)
    return parent, leaf


def _brute_entropy(graph, parent, leaf):
    """Direct transcription of the definition over explicit skill sets."""
    n = len(parent)
    sets = [set() for _ in range(n)]
    for i in range(n):
        if leaf[i] >= 0:
            a = i
            while a >= 0:
                sets[a].add(leaf[i])
                a = parent[a]
    deg = graph.degrees()
    vol = deg.sum()
    h = 0.0
    for a in range(n):
        if parent[a] < 0 or not sets[a]:
            continue
        va = sum(deg[s] for s in sets[a])
        vp = sum(deg[s] for s in sets[parent[a]])
        g = sum(w for s, t, w in zip(graph.src, graph.dst, graph.weight) if (s in sets[a]) != (t in sets[a]))
        if va > 0:
            h -= g / vol * math.log2(va / vp)
    return h


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.integers(1, 4))
def test_entropy_matches_definition_and_is_nonnegative(seed, n, height):
    rng = np.random.default_rng(seed)
    pairs = [p for p in itertools.combinations(range(n), 2) if rng.random() < 0.4]
    if not pairs:
        pairs = [(0, 1)]
    g = make_graph(n, pairs, rng.uniform(0.1, 3.0, len(pairs)))
    parent, leaf = _random_tree(rng, n, height)
    tree = EncodingTree.from_parents(parent, leaf, g.skills)
    h = structural_entropy(g, tree)
    assert h >= -1e-12
    assert h == pytest.approx(_brute_entropy(g, parent, leaf), rel=1e-9, abs=1e-12)
