"""The tree builder: exact bookkeeping, brute-force checks on small graphs, laws on random graphs."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_engine.taxonomy.entropy import one_dim_entropy, structural_entropy
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.partition import build_tree, merge_units, split_node
from steps_engine.taxonomy.planted import planted_graph
from steps_engine.taxonomy.tree import EncodingTree

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def random_graph(seed, n, p=0.35):
    rng = np.random.default_rng(seed)
    pairs = [q for q in itertools.combinations(range(n), 2) if rng.random() < p] or [(0, 1)]
    e = np.array(pairs)
    return SkillGraph([f"s{i:02d}" for i in range(n)], rng.integers(1, 50, n), 100, e[:, 0], e[:, 1], rng.uniform(0.1, 2, len(pairs)))


def two_level_tree(graph, labels):
    """root -> one cluster per distinct label (size >= 2) -> skills; singletons under root."""
    parent, leaf = [-1], [-1]
    cluster = {}
    for lab in sorted(set(labels)):
        if list(labels).count(lab) >= 2:
            cluster[lab] = len(parent)
            parent.append(0)
            leaf.append(-1)
    for s, lab in enumerate(labels):
        parent.append(cluster.get(lab, 0))
        leaf.append(s)
    return EncodingTree.from_parents(parent, leaf, graph.skills)


def set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1 :]
        yield [[first]] + part


def best_two_level(graph):
    best = np.inf
    for part in set_partitions(list(range(graph.n_skills))):
        labels = [0] * graph.n_skills
        for k, block in enumerate(part):
            for s in block:
                labels[s] = k
        best = min(best, structural_entropy(graph, two_level_tree(graph, labels)))
    return best


@pytest.mark.parametrize("fresh", [-1, 1, 8])  # exact greedy, and lazy with 1 or 8 queued pairs per unit
def test_merge_delta_equals_entropy_change(fresh):
    g = random_graph(7, 9)
    groups, delta = merge_units(
        g.n_skills, g.src, g.dst, g.weight, g.degrees(), np.full(g.n_skills, g.volume()), g.volume(), fresh
    )
    after = structural_entropy(g, two_level_tree(g, groups))
    assert delta < 0
    assert after - one_dim_entropy(g) == pytest.approx(delta, rel=1e-9)


def test_two_cliques_joined_by_an_edge_reach_the_brute_force_optimum():
    # K4 {0..3} and K4 {4..7} joined by 3-4: the optimum 2-level tree is the two cliques
    pairs = list(itertools.combinations(range(4), 2)) + list(itertools.combinations(range(4, 8), 2)) + [(3, 4)]
    e = np.array(pairs)
    g = SkillGraph([f"s{i}" for i in range(8)], np.ones(8, np.int64), 1, e[:, 0], e[:, 1], np.ones(len(pairs)))
    tree = build_tree(g, height=2)
    assert structural_entropy(g, tree) == pytest.approx(best_two_level(g), rel=1e-12)
    clusters = sorted(sorted(tree.members(c)) for c in tree.children()[0])
    assert clusters == [[f"s{i}" for i in range(4)], [f"s{i}" for i in range(4, 8)]]


@pytest.mark.parametrize("seed", range(6))
def test_greedy_two_level_is_close_to_brute_force(seed):
    g = random_graph(seed, 7, p=0.45)
    opt = best_two_level(g)
    got = structural_entropy(g, build_tree(g, height=2))
    assert opt - 1e-9 <= got <= one_dim_entropy(g) + 1e-9
    assert got <= opt * 1.10 + 1e-9  # greedy within 10% of the optimum on these graphs


@pytest.mark.parametrize("seed", range(4))
def test_refinement_ends_in_a_local_optimum_of_single_moves(seed):
    g = planted_graph(60, 400, seed=seed)
    tree = build_tree(g, height=2)
    h = structural_entropy(g, tree)
    ch = tree.children()
    clusters = [c for c in ch[0] if tree.leaf_skill[c] < 0]
    for c in clusters:
        for leaf in ch[c]:
            for other in clusters:
                if other == c:
                    continue
                parent = tree.parent.copy()
                parent[leaf] = other
                moved = EncodingTree.from_parents(parent, tree.leaf_skill, tree.skills)
                assert structural_entropy(g, moved) >= h - 1e-9


def check_tree(g, tree, height):
    leaves = tree.leaves()
    assert sorted(tree.skills[s] for s in tree.leaf_skill[leaves]) == sorted(g.skills)
    assert tree.height <= height
    internal = tree.leaf_skill < 0
    assert all(len(tree.children()[i]) >= 1 for i in np.flatnonzero(internal))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 30))
def test_laws_on_random_graphs(seed, n):
    g = random_graph(seed, n, p=0.25)
    h1 = one_dim_entropy(g)
    prev = h1
    for height in (1, 2, 3, 4):
        tree = build_tree(g, height=height)
        check_tree(g, tree, height)
        h = structural_entropy(g, tree)
        assert h >= -1e-12
        assert h <= h1 + 1e-9
        assert h <= prev + 1e-9  # one more level never raises the minimum found
        prev = h


def test_build_is_deterministic_and_round_trips():
    g = planted_graph(300, 3000, seed=1)
    a, b = build_tree(g, height=4), build_tree(g, height=4)
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    back = EncodingTree.from_json(json.loads(json.dumps(a.to_json())), skills=g.skills)
    assert structural_entropy(g, back) == pytest.approx(structural_entropy(g, a), rel=1e-12)
    assert back.ids == a.ids and back.labels == a.labels


def test_planted_hierarchy_is_recovered_better_than_flat():
    g = planted_graph(400, 8000, seed=2)
    tree = build_tree(g, height=3)
    assert structural_entropy(g, tree) < 0.8 * one_dim_entropy(g)
    # most top-level clusters are dominated by one planted top group (names start t<k>_)
    purity = []
    for c in tree.children()[0]:
        members = tree.members(c)
        if len(members) >= 5:
            tops = [m.split("_")[0] for m in members]
            purity.append(max(tops.count(t) for t in set(tops)) / len(tops))
    assert np.mean(purity) > 0.7


def test_height_must_be_positive():
    g = random_graph(0, 5)
    with pytest.raises(ValueError, match="height must be an integer >= 1, got 0"):
        build_tree(g, height=0)


def test_split_node_repartitions_a_cluster_without_raising_entropy():
    g = planted_graph(120, 1500, seed=3)
    tree = build_tree(g, height=2)
    big = max((c for c in tree.children()[0] if tree.leaf_skill[c] < 0), key=lambda c: len(tree.members(c)))
    before = structural_entropy(g, tree)
    out = split_node(g, tree, big)
    check_tree(g, out, 3)
    assert sorted(out.members(out.node_index(tree.ids[big]))) == sorted(tree.members(big))
    assert structural_entropy(g, out) <= before + 1e-9


@pytest.mark.parametrize(
    "path, field, sep, n_skills",
    [
        ("ifeval/input_data.jsonl", "instruction_id_list", None, 25),
        ("instruct_skillmix/ism_sda_k2_1000.json", "skills_joined_str", ", ", 942),
    ],
)
def test_taxonomy_from_real_data(path, field, sep, n_skills):
    if not (DATA / path).exists():
        pytest.skip("shared data not available")
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import build_taxonomy

    tax = build_taxonomy(DATA / path, FieldMapping(field, sep), height=3)
    assert tax.graph.n_skills == n_skills
    check_tree(tax.graph, tax.tree, 3)
    assert 0 < tax.structural_entropy < tax.one_dim_entropy
    if path.startswith("ifeval"):
        # the 9 id categories are a human two-level taxonomy; the entropy tree should put most
        # ids of a category together more often than chance
        cat = {s: s.split(":")[0] for s in tax.graph.skills}
        same = sum(
            1
            for c in tax.tree.children()[0]
            for a, b in itertools.combinations(tax.tree.members(c), 2)
            if cat[a] == cat[b]
        )
        assert same > 0


def test_two_triangles_builder_finds_the_obvious_two_community_tree():
    # greedy merging alone stops at {a,b} {c,d} {e,f} (H = 1.8656); dissolving {c,d} into its
    # neighbours reaches the two triangles, H = 1.69951 (worked out in test_entropy.py)
    pairs = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]
    e = np.array(pairs)
    g = SkillGraph(list("abcdef"), np.ones(6, np.int64), 1, e[:, 0], e[:, 1], np.ones(7))
    tree = build_tree(g, height=2)
    assert structural_entropy(g, tree) == pytest.approx(1.6995138503199658, rel=1e-12)
    assert sorted(sorted(tree.members(c)) for c in tree.children()[0]) == [list("abc"), list("def")]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_refinement_never_raises_entropy_from_any_start(seed):
    from steps_engine.taxonomy.refine import refine_leaves

    rng = np.random.default_rng(seed)
    g = planted_graph(60, 400, seed=int(seed % 7))
    labels = rng.integers(0, 5, g.n_skills)  # a random 2-level tree
    start = two_level_tree(g, labels)
    out = refine_leaves(g, start)
    check_tree(g, out, 2)
    assert structural_entropy(g, out) <= structural_entropy(g, start) + 1e-9
