"""Embedding backend + cache, skill map layout, coherence, semantic edges, cluster names."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps_engine.selection.coherence import Coherence, coherence, similarity_matrix, skill_similarity
from steps_engine.semantic.embeddings import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder, default_cache_dir
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.naming import name_nodes
from steps_engine.studio.plotting.skill_map import plot_skill_map
from steps_engine.taxonomy.semantic_edges import blend_semantic_edges, knn_edges
from steps_engine.semantic.skillmap import layout_2d, skill_map
from steps_engine.taxonomy.tree import EncodingTree

from _embedding_fakes import CountingEmbedder, shared_real_model


@pytest.fixture(scope="session")
def real_model():
    """The bundled all-MiniLM-L6-v2, loaded once per test process (no cache)."""
    return shared_real_model()


# ---------------------------------------------------------------- cache
def test_second_run_computes_nothing(tmp_path):
    fake = CountingEmbedder()
    emb = CachedEmbedder(fake, EmbeddingCache(tmp_path))
    texts = ["public speaking", "wood sculpting", "public speaking", "budgeting"]
    first = emb.encode(texts)
    assert fake.texts_encoded == 3  # duplicates computed once
    assert (emb.hits, emb.misses) == (0, 3)
    # A new wrapper on the same folder: everything comes from disk.
    fake2 = CountingEmbedder()
    emb2 = CachedEmbedder(fake2, EmbeddingCache(tmp_path))
    second = emb2.encode(texts)
    assert fake2.texts_encoded == 0 and fake2.calls == 0
    assert (emb2.hits, emb2.misses) == (3, 0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first[0], first[2])


def test_cache_misses_only_new_texts_and_keeps_input_order(tmp_path):
    fake = CountingEmbedder()
    emb = CachedEmbedder(fake, EmbeddingCache(tmp_path), chunk_size=2)
    emb.encode(["a", "b"])
    out = emb.encode(["c", "a", "d", "b", "e"])
    assert fake.texts_encoded == 2 + 3
    direct = CountingEmbedder().encode(["c", "a", "d", "b", "e"])
    np.testing.assert_allclose(out, direct, atol=1e-7)


def test_cache_is_keyed_by_model_id(tmp_path):
    cache = EmbeddingCache(tmp_path)
    CachedEmbedder(CountingEmbedder(model_id="m1"), cache).encode(["x"])
    other = CountingEmbedder(model_id="m2")
    CachedEmbedder(other, cache).encode(["x"])
    assert other.texts_encoded == 1
    assert cache.count("m1") == 1 and cache.count("m2") == 1


def test_cache_progress_reaches_total(tmp_path):
    seen = []
    emb = CachedEmbedder(CountingEmbedder(), EmbeddingCache(tmp_path), chunk_size=3)
    emb.encode([f"t{i}" for i in range(7)], batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 7) and seen[-1] == (7, 7)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("STEPS_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("STEPS_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "steps-studio"


def test_real_model_is_cached_and_meaningful(real_model, tmp_path):
    texts = ["public speaking", "giving a talk to a large audience", "soldering circuit boards"]
    emb = CachedEmbedder(real_model, EmbeddingCache(tmp_path))
    v = emb.encode(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    again = CachedEmbedder(real_model, EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(again.encode(texts), v)
    assert again.misses == 0 and again.hits == 3


_OFFLINE_PROBE = """
import json, os, shutil, socket, sys
from pathlib import Path
for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.pop(k, None)
os.environ["HF_HOME"] = sys.argv[1]
tried = []
def refuse(*a, **k):
    tried.append(repr(a[:2]))
    raise OSError("network refused by the test")
socket.socket.connect = refuse
socket.getaddrinfo = refuse
from steps_engine.semantic.embeddings.sentence_transformers import SentenceTransformerEmbedder, default_model_path
shapes = [list(SentenceTransformerEmbedder().encode(["hello world"]).shape)]
# the same model as a hub name in the (test's own) Hugging Face cache
repo = Path(sys.argv[1]) / "hub" / "models--org--mini"
shutil.copytree(default_model_path(), repo / "snapshots" / ("a" * 40))
(repo / "refs").mkdir()
(repo / "refs" / "main").write_text("a" * 40)
shapes.append(list(SentenceTransformerEmbedder("org/mini").encode(["hello world"]).shape))
try:
    SentenceTransformerEmbedder("org/not-cached").encode(["x"])
    missing = "loaded"
except ValueError as exc:
    missing = str(exc)
import huggingface_hub.constants as c
print(json.dumps({"shapes": shapes, "env": os.environ.get("HF_HUB_OFFLINE"), "hub_offline": c.HF_HUB_OFFLINE,
                  "tried": tried, "missing": missing}))
"""


def test_loading_the_model_leaves_hub_offline_mode_alone_and_uses_no_network(tmp_path):
    # A fresh process, so huggingface_hub is first imported by the model load: it reads
    # HF_HUB_OFFLINE into a module constant then, and a later hf:// read in the same process
    # (ingest after tagging) would fail as offline if the load had set it. Loaded: the bundled
    # folder, a cached hub name, and a name not in the cache (a clear error), all without network.
    import json, os, subprocess, sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["PYTHONPATH"] = str(root)
    r = subprocess.run([sys.executable, "-c", _OFFLINE_PROBE, str(tmp_path / "hf")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert "not in the Hugging Face cache" in got.pop("missing")
    assert got == {"shapes": [[1, 384], [1, 384]], "env": None, "hub_offline": False, "tried": []}

def test_bad_arguments_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        SentenceTransformerEmbedder(model=tmp_path / "nope").encode(["x"], batch_size=0)
    with pytest.raises(ValueError, match="cannot load"):
        SentenceTransformerEmbedder(model=tmp_path / "nope").encode(["x"])
    with pytest.raises(ValueError, match="chunk_size"):
        CachedEmbedder(CountingEmbedder(), EmbeddingCache(tmp_path), chunk_size=0)


# ---------------------------------------------------------------- skill map
@pytest.mark.parametrize("n", [0, 1, 2, 5, 14])
def test_tiny_skill_sets_get_a_layout_without_umap(n):
    vecs = CountingEmbedder().encode([f"s{i}" for i in range(n)])
    xy = layout_2d(vecs, cache_dir=False)
    assert xy.shape == (n, 2) and np.all(np.isfinite(xy))
    if n >= 2:  # distinct skills get distinct points
        assert len({tuple(np.round(p, 9)) for p in xy}) == n
    np.testing.assert_array_equal(xy, layout_2d(vecs, cache_dir=False))


def test_identical_skills_are_spread_on_a_circle():
    xy = layout_2d(np.ones((6, 4)), cache_dir=False)
    np.testing.assert_allclose(np.linalg.norm(xy, axis=1), 1.0)


def test_umap_layout_is_deterministic_and_cached(tmp_path):
    # One UMAP fit compiles numba code (tens of seconds cold); the rest reuse it.
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(3, 16)) * 4
    vecs = np.concatenate([c + rng.normal(size=(15, 16)) for c in centers])
    a = layout_2d(vecs, seed=7, cache_dir=tmp_path)
    files = list((tmp_path / "skillmap").glob("*.npy"))
    assert len(files) == 1
    b = layout_2d(vecs, seed=7, cache_dir=False)  # recomputed, not read back
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.load(files[0]), a)
    # The three planted groups stay apart: each point's nearest neighbour is in its group.
    d = np.linalg.norm(a[:, None] - a[None], axis=2)
    np.fill_diagonal(d, np.inf)
    group = np.repeat(np.arange(3), 15)
    assert np.mean(group[d.argmin(1)] == group) > 0.95


def test_skill_map_frame_and_figure():
    skills = [f"skill_{i}" for i in range(6)]
    df = skill_map(skills, [1, 2, 3, 4, 5, 6], {"skill_0": "A", "skill_1": "A", "skill_2": "B"},
                   embedder=CountingEmbedder(), cache_dir=False)
    assert list(df.columns) == ["skill", "x", "y", "cluster", "count"]
    assert list(df["skill"]) == skills and list(df["cluster"]) == ["A", "A", "B", "", "", ""]
    fig = plot_skill_map(df, title="t", highlight=["skill_2"])
    assert sorted(t.name for t in fig.data) == ["(none)", "A", "B"]
    got = sorted(s for t in fig.data for s, _ in t.customdata)
    assert got == skills
    with pytest.raises(ValueError, match="counts"):
        skill_map(skills, [1, 2], ["A"] * 6, embedder=CountingEmbedder(), cache_dir=False)
    with pytest.raises(ValueError, match="missing columns"):
        plot_skill_map(pd.DataFrame({"skill": []}))


# ---------------------------------------------------------------- coherence
def test_coherence_hand_checked():
    # a=(1,0), b=(0,1), c=(1,1)/sqrt2: cos ab = 0, ac = bc = 1/sqrt2.
    sim = similarity_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]))
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(sim, [[1, 0, r], [0, 1, r], [r, r, 1]], atol=1e-7)
    c = coherence(sim, [0, 1, 2])
    assert c.mean == pytest.approx(2 * r / 3) and c.min == pytest.approx(0.0, abs=1e-7)
    assert coherence(sim, [0, 2]) == Coherence(pytest.approx(r), pytest.approx(r))
    assert coherence(sim, [1]) == Coherence(1.0, 1.0)  # no pairs
    assert coherence(sim, [2, 2, 0]).mean == pytest.approx(r)  # duplicates ignored
    with pytest.raises(ValueError, match="skill_idx"):
        coherence(sim, [0, 3])


def test_selection_honours_minimum_coherence_from_skill_similarity():
    from steps_engine.selection.search import Constraints, best_combination, prepare

    # Two meaning groups: {a1, a2, a3} along e1, {b1, b2, b3} along e2.
    e1, e2 = np.eye(2)
    table = {"a1": e1, "a2": e1 + 0.1 * e2, "a3": e1 + 0.2 * e2, "b1": e2, "b2": e2 + 0.1 * e1, "b3": e2 + 0.2 * e1}
    fake = CountingEmbedder(dim=2, table=table)
    skills = list(table)
    # One flat cluster: the structure alone does not separate the groups.
    tree = EncodingTree.from_parents([-1] + [0] * 6, [-1] + list(range(6)), skills)
    term = np.arange(7, dtype=float)  # later skills carry more information
    hook = lambda names: skill_similarity(names, fake)  # noqa: E731
    free = best_combination(prepare(tree, None, Constraints(k=3), term=term), "a1", scope="global")
    assert set(free.skills) == {"a1", "b2", "b3"}  # unconstrained: highest terms
    ctx = prepare(tree, None, Constraints(k=3, similarity=hook, min_mean_similarity=0.9), term=term)
    combo = best_combination(ctx, "a1", scope="global")
    assert set(combo.skills) == {"a1", "a2", "a3"}
    sim = skill_similarity(skills, fake)
    assert combo.coherence == pytest.approx(coherence(sim, [skills.index(s) for s in combo.skills]).mean)
    assert combo.coherence >= 0.9


# ---------------------------------------------------------------- semantic edges
def _toy_graph():
    # skills 0-1 and 2-3 co-occur; 0 and 2 mean the same thing but never co-occur.
    return SkillGraph(skills=["a", "b", "c", "d"], counts=np.array([3, 3, 3, 3]), n_rows=6,
                      src=np.array([0, 2]), dst=np.array([1, 3]), weight=np.array([2.0, 2.0]),
                      cooc=np.array([3, 3]), weighting="count")


_TOY_VECS = np.array([[1.0, 0, 0], [0, 1, 0], [0.96, 0.28, 0], [0, 0, 1]])


def test_knn_edges_are_symmetric_positive_and_unique():
    src, dst, s = knn_edges(_TOY_VECS, k=1)
    # nearest: a->c (0.96), b->c (0.28), c->a, d has no positive neighbour.
    assert list(zip(src.tolist(), dst.tolist())) == [(0, 2), (1, 2)]
    np.testing.assert_allclose(s, [0.96, 0.28], atol=1e-6)


def test_semantic_blend_shares_and_shape():
    g = _toy_graph()
    same = blend_semantic_edges(g, _TOY_VECS, k=1, semantic_weight=0.0)
    np.testing.assert_array_equal(same.weight, g.weight)
    b = blend_semantic_edges(g, _TOY_VECS, k=1, semantic_weight=0.25)
    assert b.skills == g.skills and b.n_skills == 4
    edges = {(int(x), int(y)): w for x, y, w in zip(b.src, b.dst, b.weight)}
    # total C = 4: co-occurrence share 0.75 * 4 = 3 split 1.5/1.5; semantic share 1 split 0.96:0.28.
    assert edges[(0, 1)] == pytest.approx(1.5) and edges[(2, 3)] == pytest.approx(1.5)
    assert edges[(0, 2)] == pytest.approx(0.96 / 1.24) and edges[(1, 2)] == pytest.approx(0.28 / 1.24)
    assert b.weight.sum() == pytest.approx(g.weight.sum())
    assert dict(zip(zip(b.src.tolist(), b.dst.tolist()), b.cooc.tolist())) == {(0, 1): 3, (0, 2): 0, (1, 2): 0, (2, 3): 3}
    assert np.all(b.src < b.dst)
    pure = blend_semantic_edges(g, _TOY_VECS, k=1, semantic_weight=1.0)
    assert {(int(x), int(y)) for x, y in zip(pure.src, pure.dst)} == {(0, 2), (1, 2)}
    with pytest.raises(ValueError, match="semantic_weight"):
        blend_semantic_edges(g, _TOY_VECS, semantic_weight=1.5)
    with pytest.raises(ValueError, match="embeddings"):
        blend_semantic_edges(g, _TOY_VECS[:3])


# ---------------------------------------------------------------- naming
def test_cluster_names_follow_weighted_centroid():
    # root -> {n1: a, b}, {n2: c, d}
    tree = EncodingTree.from_parents([-1, 0, 0, 1, 1, 2, 2], [-1, -1, -1, 0, 1, 2, 3], ["a", "b", "c", "d"])
    vecs = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.2, 1.0]])
    # n1 with b five times as frequent: centroid ~ b, so b first.
    labels = name_nodes(tree, vecs, [1, 5, 1, 1], top=1)
    assert labels[1] == "b" and labels[3:] == ["a", "b", "c", "d"]
    # Unweighted root: centroid ~ (2.19, 2.09)/|.|, closest d (0.2, 1) then b.
    assert name_nodes(tree, vecs, top=2)[0] == "d / b"
    with pytest.raises(ValueError, match="embeddings"):
        name_nodes(tree, vecs[:3])


def test_semantic_blend_embeds_skill_names_when_no_vectors_given():
    g = _toy_graph()
    fake = CountingEmbedder()
    b = blend_semantic_edges(g, semantic_weight=0.5, k=2, embedder=fake)
    assert fake.texts_encoded == 4
    assert b.weight.sum() == pytest.approx(g.weight.sum())
