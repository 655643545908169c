"""Skills as 2-D points coloured by cluster, sized by frequency (selectable by box/lasso),
with the largest skills labelled, cluster names at their centroids and a searched skill
highlighted and zoomed to."""

from __future__ import annotations

import html
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
    label_top: int = 20,
    centroid_names: bool = True,
    highlight: str | None = None,
    zoom: float = 0.18,
) -> go.Figure:
    """`df` has columns skill, x, y, cluster (label), count. One trace per cluster so the
    legend toggles clusters; each point's customdata is its skill name (for selections).
    `colour_index` maps cluster labels to palette positions (to match the taxonomy chart);
    clusters it does not name follow, in order of appearance. SVG markers up to `webgl_above`
    points (faster to draw than WebGL without a GPU), WebGL above. The `label_top` most
    frequent skills carry their name; with `centroid_names` each cluster's name sits at the
    count-weighted centroid of its points. `highlight` (a skill) is ringed and the axes
    zoom to a window of `zoom` times the map's span around it. The legend sits under the
    map, clear of the toolbar, with names in full."""
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
    labelled = set()
    if label_top > 0 and len(df):
        top = np.lexsort((df["skill"].astype(str).to_numpy(), -counts))[:label_top]
        labelled = set(df["skill"].iloc[top].astype(str))
    for c in clusters:
        k = index[c]
        m = cl == c
        sub = df[m]
        text = [html.escape(s) if s in labelled else "" for s in sub["skill"].astype(str)]
        fig.add_trace(
            trace(
                x=sub["x"],
                y=sub["y"],
                mode="markers+text" if any(text) else "markers",
                name=html.escape(c),
                text=text,
                textposition="top center",
                textfont=dict(size=10, color="#333"),
                marker=dict(size=size[m], color=colour(k), opacity=0.8, line=dict(width=0)),
                customdata=sub["skill"],
                hovertext=[f"{html.escape(str(s))}<br>{html.escape(c)}<br>count {n:.0f}" for s, n in zip(sub["skill"], sub["count"])],
                hoverinfo="text",
            )
        )
    if centroid_names and len(df):
        x, y = df["x"].to_numpy(np.float64), df["y"].to_numpy(np.float64)
        w = np.maximum(counts, 1.0)
        for c in clusters:
            m = cl == c
            fig.add_annotation(
                x=float(np.average(x[m], weights=w[m])), y=float(np.average(y[m], weights=w[m])),
                text=f"<b>{html.escape(c)}</b>", showarrow=False, font=dict(size=12, color=colour(index[c])),
                bgcolor="rgba(255,255,255,0.75)",
            )
    xr = yr = None
    if highlight is not None and len(df):
        hit = df[df["skill"].astype(str) == str(highlight)]
        if not hit.empty:
            hx, hy = float(hit["x"].iloc[0]), float(hit["y"].iloc[0])
            fig.add_trace(
                go.Scatter(
                    x=[hx], y=[hy], mode="markers+text", name="search", showlegend=False,
                    text=[f"<b>{html.escape(str(highlight))}</b>"], textposition="bottom center",
                    marker=dict(size=24, color="rgba(0,0,0,0)", line=dict(width=3, color="black")),
                    hoverinfo="skip", customdata=[str(highlight)],
                )
            )
            span = max(float(np.ptp(df["x"])), float(np.ptp(df["y"])), 1e-9) * zoom
            xr, yr = [hx - span, hx + span], [hy - span, hy + span]
    fig.update_layout(
        margin=dict(t=30 if title else 10, l=10, r=10, b=10),
        height=height,
        title=title,
        dragmode="lasso",
        legend=dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0),
        uirevision=str(highlight),
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None, range=xr)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None, scaleanchor="x", range=yr)
    return fig
