"""Selection strategies side by side: one bar group per metric (gain, coherence, ...)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from steps_engine.studio.plotting._palette import colour

__all__ = ["strategy_figure"]


def strategy_figure(metrics: Mapping[str, Mapping[str, float]], height: int = 360) -> go.Figure:
    """`metrics` maps strategy -> {metric name: value}, e.g.
    {"steps": {"mean gain (bits)": 3.2, "mean LCA depth": 1.9}, "random": {...}}.
    Metrics missing for a strategy are left out of its bars."""
    if not metrics:
        raise ValueError("metrics must name at least one strategy")
    names: list[str] = []
    for m in metrics.values():
        names.extend(k for k in m if k not in names)
    if not names:
        raise ValueError("metrics has no metric values")
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    for s, (strategy, vals) in enumerate(metrics.items()):
        for c, name in enumerate(names, start=1):
            if name not in vals or vals[name] is None:
                continue
            fig.add_trace(
                go.Bar(
                    x=[strategy],
                    y=[float(vals[name])],
                    name=strategy,
                    marker_color=colour(s),
                    showlegend=c == 1,
                    legendgroup=strategy,
                    hovertemplate=f"{strategy}<br>{name}: %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=c,
            )
    fig.update_layout(margin=dict(t=40, l=10, r=10, b=10), height=height, barmode="group")
    return fig
