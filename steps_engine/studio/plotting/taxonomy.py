"""The encoding tree as a plotly sunburst, icicle or treemap."""

from __future__ import annotations

import html
import re

import numpy as np
import plotly.graph_objects as go

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree
from steps_engine.studio.plotting._palette import ROOT_COLOUR, colour, shade

__all__ = ["KINDS", "SIZE_BY", "taxonomy_figure", "skill_counts", "top_cluster", "auto_depth", "drill", "wrap_label", "member_lists"]

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


def wrap_label(text: str, width: int = 16, lines: int = 3) -> str:
    """`text` wrapped onto at most `lines` lines of about `width` characters (joined by <br>),
    HTML-escaped; only text beyond the last line is cut (with an ellipsis)."""
    chunks = [c for c in re.split(r"(?<=[_:/])|\s+", str(text)) if c]  # breaks at spaces and after _ : /
    parts: list[str] = []
    cur = ""
    for c in chunks:
        while len(c) > width:  # a chunk longer than a line: hard split
            if cur:
                parts.append(cur)
                cur = ""
            parts.append(c[:width])
            c = c[width:]
        glue = "" if (not cur or cur.endswith(("_", ":", "/"))) else " "
        if len(cur) + len(glue) + len(c) <= width:
            cur = cur + glue + c
        else:
            parts.append(cur)
            cur = c
    if cur or not parts:
        parts.append(cur)
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: max(width - 1, 1)] + "…"
    return "<br>".join(html.escape(p) for p in parts)


def member_lists(tree: EncodingTree, counts: np.ndarray, nodes, top: int = 10) -> list[str]:
    """For each node in `nodes`: its `top` most frequent member skills joined by ', ', then
    '+N more' (HTML-escaped, for hover text)."""
    pos = {s: k for k, s in enumerate(tree.skills)}
    out = []
    for i in nodes:
        i = int(i)
        if tree.leaf_skill[i] >= 0:
            out.append("")
            continue
        m = tree.members(i)
        if len(m) > 2000:  # a huge cluster: the members list would be slow and unreadable
            out.append(f"{len(m):,} skills")
            continue
        m.sort(key=lambda s: (-counts[pos[s]], s))
        text = ", ".join(html.escape(s) for s in m[:top])
        out.append(text + (f" +{len(m) - top} more" if len(m) > top else ""))
    return out


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
    label_width: int = 16,
    legend: bool = True,
    status: dict[str, str] | None = None,
) -> go.Figure:
    """Size by skill frequency or by entropy term (a node's value is the sum of the terms in
    its subtree). Each child of the shown root gets its own palette colour and its
    descendants lighter shades of it (at the top these are the top-level clusters, coloured
    as on the skill map), with a legend naming them. Only `maxdepth` levels below the
    shown root are put in the figure (-1: all), so thousands of skills stay fast in the
    browser; re-root with `root_id` to go deeper (see `drill`). Labels are wrapped
    (`wrap_label`); hovering shows the most frequent members. `terms` are the per-node
    entropy terms (`entropy.node_terms(graph, tree).term`), needed for size_by="entropy".
    `status` maps node ids to a name status ("stale" is shown on hover)."""
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

    # colour group: the node's ancestor among the shown root's children; shade by depth below it
    kids = tree.children()[root]
    group = {int(c): k for k, c in enumerate(kids)}
    order = group
    depth = tree.depth()
    anc = np.full(tree.n_nodes, -1, dtype=np.int64)
    for i in idx:
        if i == root:
            continue
        p = int(tree.parent[i])
        anc[i] = i if p == root else anc[p]
    colours = [
        ROOT_COLOUR if i == root else shade(colour(order[int(anc[i])]), 0.22 * (depth[i] - depth[root] - 1))
        for i in idx
    ]
    ids = [tree.ids[i] for i in idx]
    parents = ["" if i == root else tree.ids[tree.parent[i]] for i in idx]
    full = [tree.labels[i] or tree.ids[i] for i in idx]
    labels = [wrap_label(x, label_width) for x in full]
    status = status or {}
    notes = [" (name stale: members changed)" if status.get(tree.ids[i]) == "stale" else "" for i in idx]
    custom = np.empty((idx.shape[0], 7), dtype=object)
    custom[:, 0], custom[:, 1], custom[:, 2], custom[:, 3], custom[:, 4] = (
        n_members[idx], freq[idx], terms[idx], term_sum[idx], [html.escape(x) + n for x, n in zip(full, notes)]
    )
    custom[:, 5] = member_lists(tree, counts, idx)
    custom[:, 6] = [tree.ids[i] for i in idx]
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
            "<b>%{customdata[4]}</b> · %{customdata[6]}<br>skills: %{customdata[0]:.0f}<br>frequency: %{customdata[1]:.0f}"
            "<br>entropy term: %{customdata[2]:.4f} bits<br>subtree terms: %{customdata[3]:.4f} bits"
            "<br>members: %{customdata[5]}<extra></extra>"
        ),
    )
    if kind == "sunburst":
        trace = go.Sunburst(insidetextorientation="auto", **trace_kw)
    elif kind == "icicle":
        trace = go.Icicle(**trace_kw)
    else:
        trace = go.Treemap(**trace_kw)
    fig = go.Figure(trace)
    if legend:  # one entry per colour group, named (a sunburst has no legend of its own)
        for c in kids:
            if tree.leaf_skill[c] >= 0 or c not in set(idx.tolist()):
                continue
            fig.add_trace(
                go.Scatter(
                    x=[None], y=[None], mode="markers", name=tree.labels[c] or tree.ids[c],
                    marker=dict(size=12, color=colour(order[int(c)]), symbol="square"), hoverinfo="skip",
                )
            )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    title = "Top-level clusters" if root == 0 else f"Inside {tree.labels[root] or tree.ids[root]}"
    fig.update_layout(
        margin=dict(t=10, l=10, r=10, b=10),
        height=height,
        uniformtext=dict(minsize=9, mode="hide"),
        showlegend=legend,
        legend=dict(title=dict(text=html.escape(title)), itemclick=False, itemdoubleclick=False, x=1.0, xanchor="left",
                    y=0.92, yanchor="top"),  # below the toolbar
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig
