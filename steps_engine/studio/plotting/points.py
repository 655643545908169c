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
    width_px: int = 900,
) -> go.Figure:
    """`df` has columns skill, x, y, cluster (label), count. One trace per cluster so the
    legend toggles clusters; each point's customdata is its skill name (for selections).
    `colour_index` maps cluster labels to palette positions (to match the taxonomy chart);
    clusters it does not name follow, in order of appearance. SVG markers up to `webgl_above`
    points (faster to draw than WebGL without a GPU), WebGL above. The `label_top` most
    frequent skills carry their name; with `centroid_names` each cluster's name sits at the
    count-weighted centroid of its points. `highlight` (a skill) is ringed and the axes
    zoom to a window of `zoom` times the map's span around it. The legend sits under the
    map, clear of the toolbar, with names in full; the figure grows by the legend's rows.
    No two labels overlap on the first view (at least `width_px` wide): the searched skill,
    then cluster names by weight, then skill labels by count, each kept only where its
    estimated text box meets no kept one (`_free_labels`)."""
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
    x_all, y_all = df["x"].to_numpy(np.float64), df["y"].to_numpy(np.float64)
    hit = df[df["skill"].astype(str) == str(highlight)] if highlight is not None and len(df) else df.iloc[:0]
    xr = yr = None
    if not hit.empty:
        hx, hy = float(hit["x"].iloc[0]), float(hit["y"].iloc[0])
        span = max(float(np.ptp(x_all)), float(np.ptp(y_all)), 1e-9) * zoom
        xr, yr = [hx - span, hx + span], [hy - span, hy + span]
    legend_rows = _legend_rows(clusters, width_px)
    height = height + 20 * max(legend_rows - 1, 0)  # the map keeps its size however many clusters
    w = np.maximum(counts, 1.0)
    centroids, weight = {}, {}
    for c in clusters:
        m = cl == c
        centroids[c] = (float(np.average(x_all[m], weights=w[m])), float(np.average(y_all[m], weights=w[m])))
        weight[c] = float(counts[m].sum())
    labelled: set[str] = set()
    named: set[str] = set()
    if len(df):
        top = np.lexsort((df["skill"].astype(str).to_numpy(), -counts))[:max(label_top, 0)]
        wanted = [("search", str(highlight), hx, hy, len(str(highlight)), 12, "below")] if not hit.empty else []
        if centroid_names:
            wanted += [("cluster", c, *centroids[c], len(c), 12, "centre") for c in sorted(clusters, key=lambda c: -weight[c])]
        wanted += [("skill", str(df["skill"].iloc[i]), x_all[i], y_all[i], len(str(df["skill"].iloc[i])), 10, "above")
                   for i in top]
        kept = _free_labels(wanted, xr or _padded(x_all), yr or _padded(y_all), width_px, height - 20 - 20 * legend_rows)
        labelled = {name for kind, name in kept if kind == "skill"}
        named = {name for kind, name in kept if kind == "cluster"}
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
    for c in clusters:
        if c in named:
            fig.add_annotation(
                x=centroids[c][0], y=centroids[c][1],
                text=f"<b>{html.escape(c)}</b>", showarrow=False, font=dict(size=12, color=colour(index[c])),
                bgcolor="rgba(255,255,255,0.75)",
            )
    if not hit.empty:
        fig.add_trace(
            go.Scatter(
                x=[hx], y=[hy], mode="markers+text", name="search", showlegend=False,
                text=[f"<b>{html.escape(str(highlight))}</b>"], textposition="bottom center",
                marker=dict(size=24, color="rgba(0,0,0,0)", line=dict(width=3, color="black")),
                hoverinfo="skip", customdata=[str(highlight)],
            )
        )
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


def _padded(v: np.ndarray) -> list[float]:
    """The axis range plotly's autorange shows for values `v` (about 5 % padding each side)."""
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
    pad = max(hi - lo, 1e-9) * 0.05
    return [lo - pad, hi + pad]


def _legend_rows(names: list[str], width_px: int) -> int:
    """Rows of the horizontal legend: items of ~40 px + 6.5 px per character, wrapped at the width."""
    rows, used = 1, 0.0
    for n in names:
        item = 40 + 6.5 * len(n)
        if used and used + item > width_px:
            rows, used = rows + 1, 0.0
        used += item
    return rows


def _free_labels(wanted, xr, yr, width_px: float, height_px: float) -> list[tuple[str, str]]:
    """(kind, name) of the labels kept, in the order of `wanted`: (kind, name, x, y, chars,
    font px, where), `where` "above" / "below" the point (a marker's text) or "centre" (an
    annotation). A label is kept when its box (0.62 em per character, 1.3 em high, plus 4 px)
    meets no box kept before it. Both axes share one pixel scale (the map's scaleanchor)."""
    scale = min(width_px / max(xr[1] - xr[0], 1e-12), height_px / max(yr[1] - yr[0], 1e-12))  # px per unit
    boxes: list[tuple[float, float, float, float]] = []
    kept = []
    for kind, name, x, y, chars, font, where in wanted:
        px, py = (x - xr[0]) * scale, (y - yr[0]) * scale
        w, h = 0.62 * font * chars + 4, 1.3 * font + 4
        if where == "centre":
            box = (px - w / 2, py - h / 2, px + w / 2, py + h / 2)
        elif where == "above":
            box = (px - w / 2, py + 4, px + w / 2, py + 4 + h)
        else:
            box = (px - w / 2, py - 12 - h, px + w / 2, py - 12)
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
            boxes.append(box)
            kept.append((kind, name))
    return kept
