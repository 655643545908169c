"""The encoding tree as a plotly sunburst, icicle or treemap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree
from steps_engine.studio.plotting._palette import ROOT_COLOUR, colour

__all__ = ["KINDS", "SIZE_BY", "taxonomy_figure", "skill_counts", "top_cluster", "auto_depth", "drill"]

KINDS = ("sunburst", "icicle", "treemap")
SIZE_BY = ("frequency", "entropy")


def skill_counts(tree: EncodingTree, graph: SkillGraph | None) -> np.ndarray:
    """Frequency of each of `tree.skills` (0 when the graph does not know it; 1s without a graph)."""
    if graph is None:
        return np.ones(len(tree.skills))
    if graph.skills == tree.skills:
        return graph.counts.astype(np.float64)
    pos = {s: i for i, s in enumerate(graph.skills)}
    return np.array([graph.counts[pos[s]] if s in pos else 0 for s in tree.skills], dtype=np.float64)


def top_cluster(tree: EncodingTree) -> np.ndarray:
    """Index of each node's depth-1 ancestor (the root maps to 0)."""
    top = np.zeros(tree.n_nodes, dtype=np.int64)
    for i in range(1, tree.n_nodes):
        p = tree.parent[i]
        top[i] = i if p == 0 else top[p]
    return top


def _shown(tree: EncodingTree, root: int, maxdepth: int) -> np.ndarray:
    """Indices of `root`'s subtree down to `maxdepth` levels below it (-1: all)."""
    n = tree.n_nodes
    rel = np.full(n, -1, dtype=np.int64)  # depth below root, -1 outside the subtree
    rel[root] = 0
    for i in range(root + 1, n):  # parent[i] < i: one pass
        p = rel[tree.parent[i]]
        if p >= 0:
            rel[i] = p + 1
    keep = rel >= 0 if maxdepth == -1 else (rel >= 0) & (rel <= maxdepth)
    return np.flatnonzero(keep)


def auto_depth(tree: EncodingTree, root_id: str | None = None, max_nodes: int = 600, cap: int = 3) -> int:
    """The most levels (1..cap) whose nodes below `root_id` number at most `max_nodes`:
    the browser draws a few hundred segments instantly and thousands in seconds."""
    root = 0 if root_id is None else tree.node_index(root_id)
    best, prev = 1, 1
    for d in range(1, cap + 1):
        count = _shown(tree, root, d).shape[0]
        if count == prev or count > max_nodes:  # below the leaves, or too many
            break
        best, prev = d, count
    return best


def drill(tree: EncodingTree, clicked_id: str, root_id: str | None) -> tuple[str, str | None]:
    """Where a click on the chart leads: (new root id, cluster to show in detail).
    A cluster becomes the new root; the current root takes you one level up; a skill
    keeps the root and details its cluster."""
    i = tree.node_index(clicked_id)
    root = 0 if root_id is None else tree.node_index(root_id)
    if tree.leaf_skill[i] >= 0:
        p = int(tree.parent[i])
        return tree.ids[root], (tree.ids[p] if p > 0 else None)
    if i == root:
        up = int(tree.parent[i]) if i > 0 else 0
        return tree.ids[up], (tree.ids[up] if up > 0 else None)
    return tree.ids[i], tree.ids[i]


def taxonomy_figure(
    tree: EncodingTree,
    graph: SkillGraph | None = None,
    *,
    kind: str = "sunburst",
    size_by: str = "frequency",
    maxdepth: int = 3,
    root_id: str | None = None,
    terms: np.ndarray | None = None,
    height: int = 650,
    label_chars: int = 28,
) -> go.Figure:
    """Size by skill frequency or by entropy term (a node's value is the sum of the terms in
    its subtree), colour by top-level cluster. Only `maxdepth` levels below the shown root are
    put in the figure (-1: all), so thousands of skills stay fast in the browser; re-root
    with `root_id` to go deeper (see `drill`). Labels are cut to `label_chars`. `root_id` draws only that node's subtree. `terms` are the
    per-node entropy terms (`entropy.node_terms(graph, tree).term`), needed for size_by="entropy"."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if size_by not in SIZE_BY:
        raise ValueError(f"size_by must be one of {', '.join(SIZE_BY)}, got {size_by!r}")
    if not isinstance(maxdepth, (int, np.integer)) or (maxdepth < 1 and maxdepth != -1):
        raise ValueError(f"maxdepth must be >= 1 or -1 (all levels), got {maxdepth!r}")
    n = tree.n_nodes
    if terms is None:
        if size_by == "entropy" and graph is None:
            raise ValueError("size_by='entropy' needs graph or terms")
        if graph is not None:
            from steps_engine.taxonomy.entropy import node_terms

            terms = node_terms(graph, tree).term
        else:
            terms = np.zeros(n)
    terms = np.asarray(terms, dtype=np.float64)
    if terms.shape[0] != n:
        raise ValueError(f"terms must have one value per node ({n}), got {terms.shape[0]}")

    counts = skill_counts(tree, graph)
    is_leaf = tree.leaf_skill >= 0
    leaf_count = np.zeros(n)
    leaf_count[is_leaf] = counts[tree.leaf_skill[is_leaf]]
    freq = tree.subtree_sum(leaf_count)
    term_sum = tree.subtree_sum(terms)
    n_members = tree.member_counts()
    values = freq if size_by == "frequency" else term_sum

    root = 0 if root_id is None else tree.node_index(root_id)
    idx = _shown(tree, root, maxdepth)

    top = top_cluster(tree)
    order = {int(c): k for k, c in enumerate(tree.children()[0])}
    colours = [ROOT_COLOUR if i == 0 else colour(order[int(top[i])]) for i in idx]
    ids = [tree.ids[i] for i in idx]
    parents = ["" if i == root else tree.ids[tree.parent[i]] for i in idx]
    full = [tree.labels[i] or tree.ids[i] for i in idx]
    labels = [x if len(x) <= label_chars else x[: label_chars - 1] + "…" for x in full]
    custom = np.empty((idx.shape[0], 5), dtype=object)
    custom[:, 0], custom[:, 1], custom[:, 2], custom[:, 3], custom[:, 4] = (
        n_members[idx], freq[idx], terms[idx], term_sum[idx], full
    )
    trace_kw = dict(
        ids=ids,
        parents=parents,
        labels=labels,
        values=values[idx],
        branchvalues="total",
        maxdepth=-1 if maxdepth == -1 else maxdepth + 1,  # plotly counts the root as a level
        marker=dict(colors=colours, line=dict(width=0.5, color="white")),
        customdata=custom,
        hovertemplate=(
            "<b>%{customdata[4]}</b><br>%{id}<br>skills: %{customdata[0]:.0f}<br>frequency: %{customdata[1]:.0f}"
            "<br>entropy term: %{customdata[2]:.4f} bits<br>subtree terms: %{customdata[3]:.4f} bits<extra></extra>"
        ),
    )
    if kind == "sunburst":
        trace = go.Sunburst(insidetextorientation="radial", **trace_kw)
    elif kind == "icicle":
        trace = go.Icicle(**trace_kw)
    else:
        trace = go.Treemap(**trace_kw)
    fig = go.Figure(trace)
    fig.update_layout(margin=dict(t=10, l=10, r=10, b=10), height=height, uniformtext=dict(minsize=9, mode="hide"))
    return fig
