"""The co-occurrence layout of the skill map (`steps_engine.studio.layout`)."""

from pathlib import Path

import numpy as np
import pytest

from steps_engine.studio import layout
from steps_engine.taxonomy.graph import SkillGraph

ISM = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix" / "ism_sda_k2_1000.json"


def graph_of(n, edges):
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    return SkillGraph([f"s{i:03d}" for i in range(n)], np.ones(n, np.int64), 10, src, dst, np.ones(len(edges)), cooc=np.ones(len(edges), np.int64))


def components_graph(seed=0):
    """A 60-skill random component, 30 small ones (2-6 skills: paths) and 20 isolated skills,
    with the skills of different components interleaved."""
    rng = np.random.default_rng(seed)
    groups = [list(range(60))]
    nxt = 60
    for _ in range(30):
        size = int(rng.integers(2, 7))
        groups.append(list(range(nxt, nxt + size)))
        nxt += size
    groups += [[nxt + i] for i in range(20)]
    n = nxt + 20
    perm = rng.permutation(n)
    edges = set()
    big = groups[0]
    for i in range(1, 60):  # a random tree, then extra edges
        edges.add((big[i], big[int(rng.integers(0, i))]))
    for _ in range(60):
        a, b = rng.choice(60, 2, replace=False)
        edges.add((big[a], big[b]))
    for g in groups[1:]:
        edges.update((g[i], g[i + 1]) for i in range(len(g) - 1))
    edges = sorted({(min(perm[a], perm[b]), max(perm[a], perm[b])) for a, b in edges})
    comp = np.empty(n, np.int64)
    for c, g in enumerate(groups):
        comp[perm[g]] = c
    return graph_of(n, edges), comp


def boxes_disjoint(xy, comp):
    """True when the bounding boxes of different components do not overlap."""
    boxes = [(xy[comp == c].min(axis=0), xy[comp == c].max(axis=0)) for c in np.unique(comp)]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (lo1, hi1), (lo2, hi2) = boxes[i], boxes[j]
            if np.all(lo1 <= hi2) and np.all(lo2 <= hi1):
                return False
    return True


def test_components_never_overlap_and_the_layout_is_deterministic():
    g, comp = components_graph()
    xy = layout.component_layout(g, seed=3)
    assert xy.shape == (g.n_skills, 2) and np.isfinite(xy).all()
    assert np.abs(xy).max() == pytest.approx(1.0)
    assert boxes_disjoint(xy, comp)
    np.testing.assert_array_equal(xy, layout.component_layout(g, seed=3))
    # components get room by size: the 60-skill one spans more than any 2-6 skill path
    span = lambda c: float(np.ptp(xy[comp == c], axis=0).max())  # noqa: E731
    assert span(0) > max(span(c) for c in range(1, 31))


def test_big_components_fall_back_to_the_spectral_layout(monkeypatch):
    monkeypatch.setattr(layout, "FR_MAX_NODES", 10)
    g, comp = components_graph(1)
    xy = layout.component_layout(g)
    assert np.isfinite(xy).all() and boxes_disjoint(xy, comp)
    assert len(np.unique(np.round(xy[comp == 0], 6), axis=0)) > 50  # the 60-skill one is spread out


def test_two_triangles_lie_apart():
    from _studio_fixtures import two_triangles

    xy = layout.component_layout(two_triangles())
    d = lambda a, b: float(np.linalg.norm(xy[a] - xy[b]))  # noqa: E731  skills a..f = 0..5
    inside = np.mean([d(0, 1), d(3, 4), d(4, 5)])
    across = np.mean([d(0, 4), d(1, 5), d(0, 5)])
    assert inside < across


def test_one_fruchterman_reingold_step_matches_the_force_law():
    # 4-cycle 0-1-2-3 plus chord 0-2; one step from fixed positions, against numpy's own sums
    edges = [(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)]
    n = 4
    adj = np.zeros((n, n))
    for a, b in edges:
        adj[a, b] = adj[b, a] = 1
    ptr = np.concatenate([[0], np.cumsum(adj.sum(axis=1))]).astype(np.int64)
    idx = np.concatenate([np.flatnonzero(adj[i]) for i in range(n)]).astype(np.int64)
    pos = np.array([[0.1, 0.2], [0.8, 0.3], [0.6, 0.9], [0.2, 0.7]])
    k = 1 / np.sqrt(n)
    delta = pos[:, None, :] - pos[None, :, :]
    dist = np.sqrt((delta**2).sum(axis=2))
    np.fill_diagonal(dist, 1.0)
    rep = k * k / np.maximum(dist**2, 1e-4)
    np.fill_diagonal(rep, 0.0)  # the kernel's self term is 0 * f
    disp = (delta * (rep - adj * np.maximum(dist, 1e-2) / k)[:, :, None]).sum(axis=1)
    step = 0.1  # the first iteration's step
    want = pos + disp * step / np.maximum(np.linalg.norm(disp, axis=1), 1e-2)[:, None]
    got = pos.copy()
    layout._fruchterman_reingold(ptr, idx, got, 1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_iterations_are_validated():
    g, _ = components_graph()
    with pytest.raises(ValueError, match="iterations must be an integer >= 1, got 0"):
        layout.component_layout(g, iterations=0)


def test_empty_graph():
    assert layout.component_layout(graph_of(0, [])).shape == (0, 2)


@pytest.mark.skipif(not ISM.exists(), reason="needs ../shared/data")
def test_instruct_skillmix_points_do_not_pile_up(tmp_path):
    # a big sparse component (812 skills, 998 edges in all) and 44 small ones: a spectral
    # layout of the whole graph put most skills on one spot
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import ingest_graph

    g = ingest_graph(ISM, FieldMapping("skills_joined_str", skills_sep=", "))[0]
    xy = layout.component_layout(g)
    _, comp = connected_components(g.adjacency(), directed=False)
    assert boxes_disjoint(xy, comp)
    nearest, _ = cKDTree(xy).query(xy, k=2)
    assert np.mean(nearest[:, 1] < 1e-3) < 0.02  # under 2 % of skills within 0.1 % of the span of another
