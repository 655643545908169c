"""The skill map figure: one point per skill at its 2-D layout, coloured by cluster.

Input: the DataFrame from `steps_engine.semantic.skillmap.skill_map` (skill, x, y, cluster, count).
Each point carries its skill name in `customdata[0]`, so a box/lasso selection in the
studio maps straight back to skills.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["plot_skill_map"]

_COLUMNS = ("skill", "x", "y", "cluster", "count")


def plot_skill_map(df, title: str | None = None, highlight: Iterable[str] | None = None, height: int = 640):
    """plotly Figure: one trace per cluster (legend toggles clusters), marker size grows
    with log(count); skills in `highlight` are drawn with a black outline."""
    import plotly.graph_objects as go

    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"df is missing columns {missing}; expected {list(_COLUMNS)}")
    hl = set(highlight or ())
    fig = go.Figure()
    counts = df["count"].to_numpy(dtype=float)
    size = 6 + 4 * np.log1p(np.maximum(counts, 0)) / max(np.log1p(max(counts.max(), 1) if len(counts) else 1), 1e-9)
    kind = go.Scattergl if len(df) > 1500 else go.Scatter
    for cluster in sorted(df["cluster"].astype(str).unique()):
        mask = (df["cluster"].astype(str) == cluster).to_numpy()
        part = df[mask]
        line_w = [2 if s in hl else 0 for s in part["skill"]]
        fig.add_trace(
            kind(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=cluster or "(none)",
                customdata=np.stack([part["skill"].astype(str), part["count"].astype(int)], axis=1),
                marker=dict(size=size[mask], line=dict(width=line_w, color="black"), opacity=0.85),
                hovertemplate="%{customdata[0]}<br>count %{customdata[1]}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title=title,
        height=height,
        dragmode="lasso",
        xaxis=dict(visible=False),
        yaxis=dict(visible=False, scaleanchor="x"),
        legend=dict(title="cluster", itemsizing="constant"),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
    )
    return fig
