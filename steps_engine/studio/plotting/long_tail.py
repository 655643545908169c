"""Skill frequency against frequency rank on log-log axes (the long tail)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

__all__ = ["long_tail_figure", "log_ticks"]


def log_ticks(high: float, low: float = 1.0) -> list[int]:
    """Tick values 1, 2, 5, 10, 20, 50, ... covering [low, high] (plain numbers, so a log axis
    never shows plotly's bare minor digits such as "8 9 1 2 3")."""
    high, low = max(float(high), 1.0), max(float(low), 1.0)
    out, k = [], 0
    while 10**k <= high * 10:
        for m in (1, 2, 5):
            v = m * 10**k
            if low / 10 < v <= high * 2:
                out.append(v)
        k += 1
    return out or [1]


def long_tail_figure(counts, names: list[str] | None = None, height: int = 380) -> go.Figure:
    """One point per skill with count > 0, most frequent first (rank 1)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got shape {counts.shape}")
    if names is not None and len(names) != counts.shape[0]:
        raise ValueError(f"names must have one entry per count ({counts.shape[0]}), got {len(names)}")
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    ranks = np.arange(1, order.shape[0] + 1)
    fig = go.Figure(
        go.Scatter(
            x=ranks,
            y=counts[order],
            mode="lines+markers",
            marker=dict(size=4),
            text=None if names is None else [names[i] for i in order],
            hovertemplate="rank %{x}<br>%{text}<br>%{y:.0f} rows<extra></extra>" if names else "rank %{x}<br>%{y:.0f} rows<extra></extra>",
        )
    )
    xt = log_ticks(ranks.max() if ranks.size else 1)
    yt = log_ticks(counts[order].max() if order.size else 1, counts[order].min() if order.size else 1)
    fig.update_xaxes(type="log", title="skill rank", tickmode="array", tickvals=xt, ticktext=[f"{v:,}" for v in xt])
    fig.update_yaxes(type="log", title="rows with the skill", tickmode="array", tickvals=yt, ticktext=[f"{v:,}" for v in yt])
    fig.update_layout(margin=dict(t=30, l=10, r=10, b=10), height=height, title="Skill frequency (long tail)")
    return fig
