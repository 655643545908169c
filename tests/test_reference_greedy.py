"""The benchmark's baseline (benchmarks/reference_greedy.py, a port of the reference STEPS/SEP
greedy): it follows the reference's rules on a hand-traced graph, its trees are valid, and our
builder's entropy is never above it on small planted graphs."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from steps_engine.taxonomy.entropy import structural_entropy
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.multilevel import build_tree_multilevel
from steps_engine.taxonomy.partition import build_tree
from steps_engine.taxonomy.planted import planted_graph

_spec = importlib.util.spec_from_file_location(
    "reference_greedy", Path(__file__).resolve().parents[1] / "benchmarks" / "reference_greedy.py"
)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def two_triangles():
    # triangles {0,1,2} and {3,4,5} joined by the edge 2-3, unit weights; vol(G) = 14
    e = np.array([(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)])
    return SkillGraph([f"s{i}" for i in range(6)], np.ones(6, int), 10, e[:, 0], e[:, 1], np.ones(7))


def dense(graph):
    a = np.zeros((graph.n_skills, graph.n_skills))
    a[graph.src, graph.dst] = graph.weight
    a[graph.dst, graph.src] = graph.weight
    return a


def test_port_follows_the_reference_merge_and_compress_rules_on_two_triangles():
    # Merge priority (v1-g1)log2(v12/v1) + (v2-g2)log2(v12/v2) - 2c log2(14/v12), over 14.
    # Skill pairs (g = v): {0,1} and {4,5}: -2 log2(14/4)/14 = -0.2531 (taken first, in that order);
    # {2,3}: -2 log2(14/6)/14 = -0.1747 beats {0,1}+2: (2 log2(7/4) - 4 log2(2))/14 = -0.1704,
    # so the bridge 2-3 is merged next; then {0,1}+{2,3} (cut 2), then the root.
    # Compress to height 2, cheapest c_x ln(vol(parent)/vol(x)) first: {2,3}: 1*ln(10/6) = 0.51
    # < {0,1,2,3}: 2*ln(14/10) = 0.67 < {0,1}: 1*ln(10/4) = 0.92; after it, {0,1,2,3} costs
    # 3*ln(1.4) = 1.01 > 0.92, so {0,1} goes. Result: {0,1,2,3} and {4,5}, not the triangles.
    g = two_triangles()
    d = g.degrees()
    labels = ref.two_level_partition(dense(g), d, d, g.volume())
    assert labels.tolist() == [0, 0, 0, 0, 1, 1]
    tree = ref.reference_tree(g, 2)
    # H = clusters {0,1,2,3} (vol 10) and {4,5} (vol 4), each cut g = 2 (edges 3-4, 3-5),
    # plus each skill's term -(d/14) log2(d / vol(its cluster))
    expected = -(2 / 14) * np.log2(10 / 14) - (2 / 14) * np.log2(4 / 14)
    expected += -sum((di / 14) * np.log2(di / 10) for di in d[:4]) - 2 * (2 / 14) * np.log2(2 / 4)
    assert structural_entropy(g, tree) == pytest.approx(expected, rel=1e-12)


def test_components_never_share_a_group():
    # two disjoint triangles: merging stops at the components; the root goes over both
    e = np.array([(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)])
    g = SkillGraph([f"s{i}" for i in range(6)], np.ones(6, int), 10, e[:, 0], e[:, 1], np.ones(6))
    d = g.degrees()
    assert ref.two_level_partition(dense(g), d, d, g.volume()).tolist() == [0, 0, 0, 1, 1, 1]


def test_height_one_is_root_over_skills():
    g = two_triangles()
    tree = ref.reference_tree(g, 1)
    assert tree.height == 1 and tree.n_nodes == 7
    with pytest.raises(ValueError, match="height"):
        ref.reference_tree(g, 0)


@pytest.mark.parametrize("builder", [build_tree, build_tree_multilevel])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("height", [2, 3])
def test_reference_tree_is_valid_and_our_builders_are_not_worse(seed, height, builder):
    g = planted_graph(100, 1000, seed=seed)
    r = ref.reference_tree(g, height)
    leaves = r.leaves()
    assert sorted(r.leaf_skill[leaves].tolist()) == list(range(g.n_skills))  # each skill one leaf
    assert r.height <= height
    assert np.all(r.depth()[leaves] == height)  # the reference keeps every skill at depth k
    h_ref = structural_entropy(g, r)
    h_ours = structural_entropy(g, builder(g, height))
    assert 0.0 <= h_ours <= h_ref + 1e-9, f"ours {h_ours:.6f} > reference port {h_ref:.6f}"
