"""Selection strategies side by side: one bar group per metric (gain, coherence, ...)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from steps_engine.studio.plotting._palette import colour

__all__ = ["strategy_figure"]


def strategy_figure(metrics: Mapping[str, Mapping[str, float]], height: int | None = None, columns: int = 2) -> go.Figure:
    """`metrics` maps strategy -> {metric name: value}, e.g.
    {"steps": {"mean gain (bits)": 3.2, "mean LCA depth": 1.9}, "random": {...}}.
    One panel per metric, `columns` panels to a row (so their titles have room in a half-width
    column); `height` defaults to 200 px per row. Metrics missing for a strategy are left out
    of its bars."""
    if not metrics:
        raise ValueError("metrics must name at least one strategy")
    names: list[str] = []
    for m in metrics.values():
        names.extend(k for k in m if k not in names)
    if not names:
        raise ValueError("metrics has no metric values")
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be an integer >= 1, got {columns!r}")
    n_cols = min(columns, len(names))
    n_rows = -(-len(names) // n_cols)
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=names, vertical_spacing=0.3 / n_rows)
    for s, (strategy, vals) in enumerate(metrics.items()):
        for c, name in enumerate(names):
            if name not in vals or vals[name] is None:
                continue
            fig.add_trace(
                go.Bar(
                    x=[strategy],
                    y=[float(vals[name])],
                    name=strategy,
                    marker_color=colour(s),
                    showlegend=c == 0,
                    legendgroup=strategy,
                    hovertemplate=f"{strategy}<br>{name}: %{{y:.3f}}<extra></extra>",
                ),
                row=c // n_cols + 1,
                col=c % n_cols + 1,
            )
    fig.update_xaxes(showticklabels=False)  # the legend names the strategies
    fig.update_layout(margin=dict(t=40, l=10, r=10, b=10), height=height or 200 * n_rows + 40, barmode="group")
    return fig
