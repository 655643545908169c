"""Thin, UI-free helpers the studio pages call (so pages only read state, call, show).

    demo_path(), demo_mapping()         the bundled demo and its field mapping
    build_into_workspace(ws, ...)       input file -> taxonomy folder inside the workspace
    ensure_taxonomy(ws, progress)       a workspace with nothing loaded gets the demo
    entropy_readout(graph, tree)        H^T, H^1 and their ratio
    never_seen_share(graph)             share of skill pairs never seen together
    cluster_table(tree, graph, terms)   one row per cluster (id, label, depth, skills, term)
    members_table(tree, graph, node)    member skills of one node with their counts
    graph_layout(graph, tree)           2-D spring layout (the skill map before embeddings)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .entropy import node_terms, one_dim_entropy
from .graph import SkillGraph
from .plotting.taxonomy import skill_counts, top_cluster
from .tree import EncodingTree
from .workspace import Workspace

__all__ = [
    "demo_path",
    "demo_mapping",
    "build_into_workspace",
    "ensure_taxonomy",
    "entropy_readout",
    "never_seen_share",
    "cluster_table",
    "members_table",
    "graph_layout",
]


def demo_path() -> Path:
    return Path(__file__).resolve().parents[1] / "assets" / "demo" / "demo.jsonl"


def demo_mapping():
    from .ingest import FieldMapping

    return FieldMapping(skills_field="skills", text_field="instruction")


def build_into_workspace(
    ws: Workspace,
    input_path: str | Path,
    mapping,
    weighting: str = "steps",
    min_count: int = 1,
    height: int = 4,
    progress=None,
):
    """Build the taxonomy of `input_path` into `ws.taxonomy_dir`; the edit history restarts.
    `progress(stage, done, total)` as in `pipeline.build_taxonomy`. Returns the Taxonomy."""
    from .pipeline import build_taxonomy, save_taxonomy

    path = Path(input_path)
    if not path.is_file():
        raise ValueError(f"input_path: {path} is not a file")
    tax = build_taxonomy(path, mapping, weighting=weighting, min_count=min_count, height=height, progress=progress)
    save_taxonomy(tax, ws.taxonomy_dir)
    ws.set_taxonomy(ws.taxonomy_dir)
    return tax


def ensure_taxonomy(ws: Workspace, progress=None) -> bool:
    """Build the bundled demo into an empty workspace. True when it built something."""
    if ws.has_taxonomy:
        return False
    if not demo_path().is_file():
        raise ValueError(f"the bundled demo {demo_path()} is missing; load your own data on the Data page")
    build_into_workspace(ws, demo_path(), demo_mapping(), height=3, progress=progress)
    return True


def entropy_readout(graph: SkillGraph, tree: EncodingTree, terms=None) -> dict:
    h = float((terms if terms is not None else node_terms(graph, tree).term).sum())
    h1 = one_dim_entropy(graph)
    return {"structural": h, "one_dim": h1, "ratio": h / h1 if h1 > 0 else float("nan")}


def never_seen_share(graph: SkillGraph) -> float:
    """Share of distinct skill pairs that never occur in the same row."""
    n = graph.n_skills
    pairs = n * (n - 1) / 2
    if pairs == 0:
        return 0.0
    seen = graph.n_edges if graph.cooc is None else int((np.asarray(graph.cooc) > 0).sum())
    return 1.0 - seen / pairs


def cluster_table(tree: EncodingTree, graph: SkillGraph | None, terms: np.ndarray | None = None) -> pd.DataFrame:
    """Internal nodes (root first, breadth-first) with label, depth, member count, frequency, term."""
    internal = np.flatnonzero(tree.leaf_skill < 0)
    counts = skill_counts(tree, graph)
    leaf_count = np.zeros(tree.n_nodes)
    leaves = tree.leaves()
    leaf_count[leaves] = counts[tree.leaf_skill[leaves]]
    freq = tree.subtree_sum(leaf_count)
    members = tree.member_counts()
    depth = tree.depth()
    term = np.zeros(tree.n_nodes) if terms is None else np.asarray(terms)
    return pd.DataFrame(
        {
            "id": [tree.ids[i] for i in internal],
            "label": [tree.labels[i] for i in internal],
            "depth": depth[internal],
            "skills": members[internal],
            "frequency": freq[internal].astype(np.int64),
            "term": term[internal],
        }
    )


def members_table(tree: EncodingTree, graph: SkillGraph | None, node_id: str) -> pd.DataFrame:
    """Skills under `node_id` with their frequency and the child cluster they sit in."""
    node = tree.node_index(node_id)
    counts = skill_counts(tree, graph)
    pos = {s: k for k, s in enumerate(tree.skills)}
    rows = []
    for c in tree.children()[node]:
        sub = tree.labels[c] if tree.leaf_skill[c] < 0 else "-"
        for s in tree.members(c):
            rows.append((s, int(counts[pos[s]]), sub))
    df = pd.DataFrame(rows, columns=["skill", "count", "child cluster"])
    return df.sort_values(["count", "skill"], ascending=[False, True], ignore_index=True)


def graph_layout(graph: SkillGraph, tree: EncodingTree, seed: int = 0, iterations: int = 50) -> pd.DataFrame:
    """Skills in 2-D by a force-directed layout of the co-occurrence graph (fixed seed):
    DataFrame(skill, x, y, cluster, count), cluster = top-level cluster label."""
    import networkx as nx

    leaves = tree.leaves()
    names = [tree.skills[s] for s in tree.leaf_skill[leaves]]
    pos_in_graph = {s: i for i, s in enumerate(graph.skills)}
    g = nx.Graph()
    g.add_nodes_from(range(len(names)))
    local = {s: k for k, s in enumerate(names)}
    for a, b, w in zip(graph.src, graph.dst, graph.weight):
        sa, sb = graph.skills[a], graph.skills[b]
        if sa in local and sb in local:
            g.add_edge(local[sa], local[sb], weight=float(w))
    if len(names) == 0:
        xy = np.zeros((0, 2))
    else:
        layout = nx.spring_layout(g, seed=seed, iterations=iterations, weight=None)
        xy = np.array([layout[k] for k in range(len(names))])
    top = top_cluster(tree)
    counts = [int(graph.counts[pos_in_graph[s]]) if s in pos_in_graph else 0 for s in names]
    return pd.DataFrame(
        {
            "skill": names,
            "x": xy[:, 0],
            "y": xy[:, 1],
            "cluster": [
                "(no cluster)" if tree.leaf_skill[top[i]] >= 0 else (tree.labels[top[i]] or tree.ids[top[i]]) for i in leaves
            ],
            "count": counts,
        }
    )
