"""Skill usage of a selection: how many skills are in 0, 1, 2, ... combinations."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from steps_engine.studio.plotting._palette import colour

__all__ = ["skill_usage_figure"]


def skill_usage_figure(usage: Mapping[str, Mapping[str, int]], height: int = 340) -> go.Figure:
    """`usage` maps strategy -> {skill: combinations that contain it}. One bar series per
    strategy: x = combinations per skill, y = number of skills. An even spread is a narrow
    peak; hubs show as a long right tail."""
    if not usage:
        raise ValueError("usage must name at least one strategy")
    fig = go.Figure()
    top = max((max(u.values(), default=0) for u in usage.values()), default=0)
    x = np.arange(top + 1)
    for i, (strategy, per_skill) in enumerate(usage.items()):
        counts = np.bincount(np.fromiter(per_skill.values(), np.int64, len(per_skill)), minlength=top + 1)
        fig.add_trace(go.Bar(x=x, y=counts, name=strategy, marker_color=colour(i), opacity=0.75,
                             hovertemplate=f"{strategy}<br>%{{y}} skills in %{{x}} combinations<extra></extra>"))
    fig.update_layout(barmode="overlay", height=height, margin=dict(t=40, l=10, r=10, b=10),
                      title="Skill usage (narrow = evenly spread)")
    fig.update_xaxes(title="combinations that contain the skill")
    fig.update_yaxes(title="skills")
    return fig
