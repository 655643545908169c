"""Skills as 2-D points coloured by cluster, sized by frequency (selectable by box/lasso)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from steps_engine.studio.plotting._palette import colour

__all__ = ["skill_points_figure"]


def skill_points_figure(
    df: pd.DataFrame,
    height: int = 650,
    title: str | None = None,
    colour_index: Mapping[str, int] | None = None,
    webgl_above: int = 5000,
) -> go.Figure:
    """`df` has columns skill, x, y, cluster (label), count. One trace per cluster so the
    legend toggles clusters; each point's customdata is its skill name (for selections).
    `colour_index` maps cluster labels to palette positions (to match the taxonomy chart);
    clusters it does not name follow, in order of appearance. SVG markers up to `webgl_above`
    points (faster to draw than WebGL without a GPU), WebGL above."""
    missing = {"skill", "x", "y", "cluster", "count"} - set(df.columns)
    if missing:
        raise ValueError(f"df is missing columns: {', '.join(sorted(missing))}")
    fig = go.Figure()
    counts = df["count"].to_numpy(np.float64)
    size = 4 + 14 * np.sqrt(counts / max(counts.max(), 1.0)) if len(df) else counts
    clusters = list(dict.fromkeys(df["cluster"].astype(str)))
    index = dict(colour_index or {})
    nxt = max(index.values(), default=-1) + 1
    for c in clusters:
        if c not in index:
            index[c], nxt = nxt, nxt + 1
    clusters.sort(key=index.get)
    cl = df["cluster"].astype(str).to_numpy()
    trace = go.Scattergl if len(df) > webgl_above else go.Scatter
    for c in clusters:
        k = index[c]
        m = cl == c
        sub = df[m]
        fig.add_trace(
            trace(
                x=sub["x"],
                y=sub["y"],
                mode="markers",
                name=c[:40],
                marker=dict(size=size[m], color=colour(k), opacity=0.8, line=dict(width=0)),
                customdata=sub["skill"],
                hovertext=[f"{s}<br>{c[:60]}<br>count {n:.0f}" for s, n in zip(sub["skill"], sub["count"])],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        margin=dict(t=30 if title else 10, l=10, r=10, b=10),
        height=height,
        title=title,
        dragmode="lasso",
        legend=dict(itemsizing="constant"),
    )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig
